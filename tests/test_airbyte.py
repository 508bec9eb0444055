"""`source-lp-audittrail`, the Airbyte source: the same engine, the same guarantees.

Every line a command writes is checked against Airbyte's own protocol models
(airbyte-protocol-models), with no field they do not define. Reads are exact against the
sandbox's ground truth under two readings of the API, resume from state (after kill -9 too),
and fail on a 401 or a 403 with a TRACE message naming the setting or permission, and no secret.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pydantic
import pytest
from airbyte_protocol.models import AirbyteMessage, AirbyteStateBlob, ConfiguredAirbyteCatalog

from tap_lp_audittrail import airbyte
from tap_lp_audittrail.credentials import SECRET_SETTINGS
from tap_lp_audittrail.elements import STREAM_NAMES
from tap_lp_audittrail.records import parse_utc
from tap_lp_audittrail.sandbox import DataSpec, FaultRule, Readings, Sandbox
from tap_lp_audittrail.streams import ELEMENTS
from tap_lp_audittrail.tap import TapLPAuditTrail

from ._reliability import Process, SecretSpy, Union, now_sandbox, run_killable
from .helpers import (
    END,
    WIND_DOWN,
    assert_in_order_with_unique_ids,
    assert_same_records,
    tap_config,
)
from .markdown import block_after

AUDIT = "audit_trail"
SOURCE = [sys.executable, "-m", "tap_lp_audittrail.airbyte"]
STARTUP = 0.8  # seconds before a source process sends its first request


# ----------------------------------------------------------------------------- messages
def _no_undeclared_fields(model: pydantic.BaseModel, where: str) -> None:
    """Every field of `model` and its parts is one the protocol declares (the models allow
    extra fields, so a misspelt one would pass unseen)."""
    if isinstance(model, AirbyteStateBlob):
        return  # the stream's own state: any shape
    extra = model.model_extra or {}
    assert not extra, f"{where}: fields the Airbyte protocol does not declare: {sorted(extra)}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value if isinstance(value, list) else [value]
        for number, item in enumerate(items):
            if isinstance(item, pydantic.BaseModel):
                _no_undeclared_fields(item, f"{where}.{name}[{number}]")


def parse_airbyte(line: str) -> AirbyteMessage:
    """One stdout line as an Airbyte message, checked against the protocol's models."""
    message = AirbyteMessage.model_validate_json(line)
    _no_undeclared_fields(message, message.type.value)
    payload = {
        "RECORD": "record", "STATE": "state", "LOG": "log", "SPEC": "spec", "TRACE": "trace",
        "CATALOG": "catalog", "CONNECTION_STATUS": "connectionStatus",
    }[message.type.value]  # fmt: skip
    assert getattr(message, payload) is not None, f"{message.type.value} without {payload}"
    stamped = message.record or message.trace
    if stamped is not None:  # milliseconds since the epoch, now
        assert abs(stamped.emitted_at - time.time() * 1000) < 600_000, stamped.emitted_at
    if message.state is not None:
        assert message.state.type is not None
        assert message.state.type.value == "STREAM"
        assert message.state.stream is not None
    return message


@dataclass
class Output:
    """What one command wrote, every line an Airbyte message."""

    messages: list[AirbyteMessage] = field(default_factory=list)
    text: str = ""
    stderr: str = ""
    exit_code: int | None = 0
    error: BaseException | None = None

    def of(self, kind: str) -> list[AirbyteMessage]:
        return [m for m in self.messages if m.type.value == kind]

    def records(self, stream: str) -> list[dict]:
        return [m.record.data for m in self.of("RECORD") if m.record.stream == stream]

    @property
    def streams_read(self) -> set[str]:
        return {m.record.stream for m in self.of("RECORD")}

    def states(self) -> list[dict]:
        """The STATE messages as the next read takes them (a list of Airbyte states)."""
        return [m.state.model_dump(mode="json", exclude_none=True) for m in self.of("STATE")]

    def last_states(self) -> list[dict]:
        """The last STATE of each stream: what a platform keeps."""
        latest: dict[str, dict] = {}
        for state in self.states():
            latest[state["stream"]["stream_descriptor"]["name"]] = state
        return list(latest.values())

    def statuses(self, stream: str) -> list[str]:
        return [
            m.trace.stream_status.status.value
            for m in self.of("TRACE")
            if m.trace.stream_status and m.trace.stream_status.stream_descriptor.name == stream
        ]

    @property
    def errors(self) -> list[Any]:
        return [m.trace.error for m in self.of("TRACE") if m.trace.error is not None]

    @property
    def connection_status(self) -> Any:
        (message,) = self.of("CONNECTION_STATUS")
        return message.connectionStatus


def _parse(text: str, out: Output) -> Output:
    out.text = text
    out.messages = [parse_airbyte(line) for line in text.splitlines() if line.strip()]
    return out


def _files(tmp_path: Path, config: dict | None, catalog: Any, state: Any) -> list[str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    args: list[str] = []
    for name, value in (("config", config), ("catalog", catalog), ("state", state)):
        if value is not None:
            path = tmp_path / f"{name}.json"
            path.write_text(value if isinstance(value, str) else json.dumps(value))
            args += [f"--{name}", str(path)]
    return args


def source(
    tmp_path: Path,
    command: str,
    config: dict | None = None,
    *,
    catalog: Any = None,
    state: Any = None,
    debug: bool = False,
) -> Output:
    """Run one command in this process; stdout and stderr are both captured."""
    argv = [*(["--debug"] if debug else []), command, *_files(tmp_path, config, catalog, state)]
    stdout, stderr = io.StringIO(), io.StringIO()
    before = set(threading.enumerate())
    started = time.monotonic()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = airbyte.run(argv)
        # After a failure, window threads still in a request wind down (a process would exit).
        for thread in set(threading.enumerate()) - before:
            if thread.name.startswith("window-"):
                thread.join(timeout=max(0.0, started + WIND_DOWN - time.monotonic()))
    return _parse(stdout.getvalue(), Output(stderr=stderr.getvalue(), exit_code=code))


def configured_catalog(
    streams: Any = None, mode: str = "incremental", modes: dict[str, str] | None = None
) -> dict:
    """The ConfiguredAirbyteCatalog a platform would send for `streams` (default: all)."""
    tap = TapLPAuditTrail(
        config={"account_id": "1", "auth_method": "bearer"}, validate_config=False
    )
    catalog = airbyte.airbyte_catalog(tap)
    wanted = set(STREAM_NAMES if streams is None else streams)
    configured = {
        "streams": [
            {
                "stream": entry,
                "sync_mode": (modes or {}).get(entry["name"], mode),
                "destination_sync_mode": "append_dedup",
                "cursor_field": ["changeDate"],
                "primary_key": [["id"]],
            }
            for entry in catalog["streams"]
            if entry["name"] in wanted
        ]
    }
    ConfiguredAirbyteCatalog.model_validate(configured)
    return configured


def truth_of(sb: Sandbox, stream: str) -> list[dict]:
    if stream == AUDIT:
        return sb.ground_truth()
    return sb.ground_truth(object_types=[sb.readings.object_types[stream]])


# ----------------------------------------------------------------------------- spec
def test_spec_is_the_taps_settings_with_secrets_and_auth_groups(tmp_path):
    out = source(tmp_path, "spec")
    assert out.exit_code == 0
    assert out.stderr == ""
    (message,) = out.messages
    spec = message.spec.connectionSpecification
    settings = TapLPAuditTrail.config_jsonschema["properties"]
    assert list(spec["properties"]) == list(settings)  # the same names, in the same order
    assert spec["required"] == ["account_id"]
    secrets = {name for name, prop in spec["properties"].items() if prop.get("airbyte_secret")}
    assert secrets == set(SECRET_SETTINGS)
    groups = {g["id"]: g["title"] for g in spec["groups"]}
    for method in ("oauth1", "login", "client_credentials", "bearer"):
        assert method in groups
    assert {p["group"] for p in spec["properties"].values()} <= set(groups)
    assert spec["properties"]["app_secret"]["group"] == "oauth1"
    assert spec["properties"]["password"]["group"] == "login"
    assert spec["properties"]["bearer_token"]["group"] == "bearer"
    for group in groups:  # orders are unique within a group, as the form requires
        orders = [p["order"] for p in spec["properties"].values() if p["group"] == group]
        assert len(orders) == len(set(orders))
    for name, prop in spec["properties"].items():
        assert isinstance(prop["type"], str), f"{name}: one type for the form"
        assert prop.get("default") == settings[name].get("default")
    assert message.spec.supportsIncremental is True


@pytest.mark.parametrize("auth", ["oauth1", "login", "login_api_key", "client_credentials"])
def test_the_spec_accepts_every_auth_methods_config(sandbox, tmp_path, auth):
    """PyAirbyte validates a config against the spec before it runs the source."""
    (message,) = source(tmp_path, "spec").messages
    jsonschema.Draft7Validator(message.spec.connectionSpecification).validate(
        tap_config(sandbox, auth=auth)
    )


# ----------------------------------------------------------------------------- discover
def test_discover_gives_the_16_streams(sandbox, tmp_path):
    out = source(tmp_path, "discover", tap_config(sandbox))
    assert out.exit_code == 0, out.text[-2000:]
    assert out.stderr == ""
    (message,) = out.of("CATALOG")
    streams = message.catalog.streams
    assert [s.name for s in streams] == list(TapLPAuditTrail(config=tap_config(sandbox)).streams)
    assert {s.name for s in streams} == {AUDIT, *(e.stream for e in ELEMENTS)}
    assert len(streams) == 16
    for stream in streams:
        assert [m.value for m in stream.supported_sync_modes] == ["full_refresh", "incremental"]
        assert stream.source_defined_cursor is True
        assert stream.default_cursor_field == ["changeDate"]
        assert stream.source_defined_primary_key == [["id"]]
        assert stream.json_schema["type"] == "object"
        assert set(stream.json_schema["properties"]) >= {"id", "changeDate", "objectType"}


def test_discover_with_a_broken_config_is_a_config_error(tmp_path):
    out = source(tmp_path, "discover", {"account_id": "1", "page_size": 5})
    assert out.exit_code == 1
    (error,) = out.errors
    assert error.failure_type.value == "config_error"
    assert "page_size" in error.message


# ----------------------------------------------------------------------------- check
def test_check_succeeds_naming_the_credentials(sandbox, tmp_path):
    out = source(tmp_path, "check", tap_config(sandbox, auth="login"))
    assert out.exit_code == 0
    assert out.connection_status.status.value == "SUCCEEDED"
    assert "username, password" in out.connection_status.message
    assert not out.of("RECORD")  # the connection test's page stays inside
    assert not [m for m in out.of("LOG") if m.log.level.value in ("ERROR", "FATAL")]
    # A handful of lines: what was checked, not the SDK's per-stream sync lines and METRICs.
    logs = [m.log.message for m in out.of("LOG")]
    assert len(logs) <= 5, logs
    assert not [line for line in logs if "METRIC" in line or "Beginning sync" in line]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"account_id": None}, ["account_id", "is required"]),
        ({"auth_method": "bearer"}, ["bearer_token", "required"]),
        ({"app_secret": "wrong-app-secret-7a1c"}, ["refused", "app_secret", "HTTP 401"]),
        ("no permission", ["HTTP 403", "permission"]),
    ],
)
def test_check_fails_naming_the_setting_or_permission(sandbox, tmp_path, change, words):
    config = tap_config(sandbox, auth="oauth1")
    if change == "no permission":
        sandbox.permission_granted = False
    else:
        config.update(change)
        config = {k: v for k, v in config.items() if v is not None}
    out = source(tmp_path, "check", config)
    assert out.exit_code == 0  # a failed check is an answer, not a crash
    status = out.connection_status
    assert status.status.value == "FAILED"
    for word in words:
        assert word in status.message
    assert "wrong-app-secret-7a1c" not in out.text
    assert sandbox.credentials.app_secret not in out.text


# ----------------------------------------------------------------------------- read
@pytest.mark.parametrize(
    "readings",
    [Readings(), Readings(to_date_inclusive=False, tie_order="shuffled")],
    ids=["default", "exclusive-to-date-shuffled-ties"],
)
def test_full_read_equals_ground_truth(sandbox_factory, tmp_path, readings):
    sb = sandbox_factory(data=DataSpec(seed=31, records=1200, end=END), readings=readings, seed=3)
    config = tap_config(sb, page_size=40, window_days=30)
    out = source(tmp_path, "read", config, catalog=configured_catalog(), state=[])
    assert out.exit_code == 0, out.text[-3000:]
    assert out.stderr == ""
    assert not out.errors
    for stream in STREAM_NAMES:
        records = out.records(stream)
        assert_same_records(records, truth_of(sb, stream), what=stream)
        assert_in_order_with_unique_ids(records)
        statuses = out.statuses(stream)
        assert statuses[0] == "STARTED"
        assert statuses[-1] == "COMPLETE"
        assert statuses.count("RUNNING") == (1 if records else 0)
    # One STATE per stream at least; the last one of each covers the whole read.
    assert {s["stream"]["stream_descriptor"]["name"] for s in out.states()} == set(STREAM_NAMES)
    # Each STATE follows the records it counts.
    counted: Counter[str] = Counter()
    for message in out.messages:
        if message.record is not None:
            counted[message.record.stream] += 1
        elif message.state is not None:
            name = message.state.stream.stream_descriptor.name
            assert message.state.sourceStats.recordCount == counted.pop(name, 0)
    assert not +counted, "records after the last STATE of their stream"


def test_only_the_configured_streams_are_read(sandbox, tmp_path):
    catalog = configured_catalog(["users", "skills"])
    out = source(tmp_path, "read", tap_config(sandbox), catalog=catalog)
    assert out.exit_code == 0, out.text[-2000:]
    assert out.streams_read == {"users", "skills"}
    assert_same_records(out.records("users"), truth_of(sandbox, "users"), what="users")
    assert_same_records(out.records("skills"), truth_of(sandbox, "skills"), what="skills")
    traced = {m.trace.stream_status.stream_descriptor.name for m in out.of("TRACE")}
    assert traced == {"users", "skills"}


def test_incremental_read_from_state(sandbox_factory, tmp_path):
    sb, config = now_sandbox(sandbox_factory, 32, 600, page_size=50, window_days=30)
    catalog = configured_catalog([AUDIT, "users"])
    first = source(tmp_path / "1", "read", config, catalog=catalog)
    assert first.exit_code == 0, first.text[-2000:]
    now = dt.datetime.now(dt.timezone.utc)
    sb.append(sb.make_records(30, now, now + dt.timedelta(seconds=2), seed=5))
    state = first.last_states()
    second = source(tmp_path / "2", "read", config, catalog=catalog, state=state)
    assert second.exit_code == 0, second.text[-2000:]
    lookback = dt.timedelta(minutes=config.get("lookback_minutes", 5))
    for stream in (AUDIT, "users"):
        (entry,) = [s for s in state if s["stream"]["stream_descriptor"]["name"] == stream]
        bookmark = parse_utc(entry["stream"]["stream_state"]["replication_key_value"])
        records = second.records(stream)
        assert all(parse_utc(r["changeDate"]) >= bookmark - lookback for r in records)
        union = Union()
        union.add(first.records(stream))
        union.add(records)
        assert_same_records(union.records, truth_of(sb, stream), what=stream)
    assert len(second.records(AUDIT)) == 30  # only the new changes
    assert len(first.records(AUDIT)) == 600


def test_full_refresh_ignores_the_state(sandbox, tmp_path):
    first = source(tmp_path / "1", "read", tap_config(sandbox), catalog=configured_catalog([AUDIT]))
    state = first.last_states()
    catalog = configured_catalog([AUDIT, "users"], modes={AUDIT: "full_refresh"})
    again = source(tmp_path / "2", "read", tap_config(sandbox), catalog=catalog, state=state)
    assert again.exit_code == 0
    assert_same_records(again.records(AUDIT), sandbox.ground_truth(), what=AUDIT)


@pytest.mark.parametrize("form", ["stream", "global", "legacy-singer", "legacy-message"])
def test_every_state_form_resumes_alike(sandbox, tmp_path, form):
    first = source(tmp_path / "1", "read", tap_config(sandbox), catalog=configured_catalog([AUDIT]))
    (state,) = first.last_states()
    bookmark = state["stream"]["stream_state"]
    given: Any = {
        "stream": [state],
        "global": [{"type": "GLOBAL", "global": {"stream_states": [state["stream"]]}}],
        "legacy-singer": {"bookmarks": {AUDIT: bookmark}},
        "legacy-message": [{"type": "LEGACY", "data": {AUDIT: bookmark}}],
    }[form]
    again = source(
        tmp_path / "2",
        "read",
        tap_config(sandbox),
        catalog=configured_catalog([AUDIT]),
        state=given,
    )
    assert again.exit_code == 0, again.text[-2000:]
    assert len(again.records(AUDIT)) < len(first.records(AUDIT)) / 10


@pytest.mark.parametrize(
    ("catalog", "state", "words"),
    [
        ({"streams": [{"stream": {"name": "widgets"}, "sync_mode": "incremental"}]}, None,
         ["'widgets' is not a stream"]),
        (None, [{"type": "STREAM", "stream": {"stream_descriptor": {"name": AUDIT},
                 "stream_state": {"replication_key_value": "yesterday"}}}],
         ["replication_key_value", "'yesterday'"]),
        (None, "{not json", ["--state", "not valid JSON"]),
        (None, [{"type": "PER_PLANET"}], ["PER_PLANET"]),
    ],
)  # fmt: skip
def test_an_unusable_catalog_or_state_is_a_config_error(sandbox, tmp_path, catalog, state, words):
    out = source(
        tmp_path, "read", tap_config(sandbox), catalog=catalog or configured_catalog(), state=state
    )
    assert out.exit_code == 1
    (error,) = out.errors
    assert error.failure_type.value == "config_error"
    for word in words:
        assert word in error.message
    assert not out.of("RECORD")


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("auth", "arrange", "failure", "words"),
    [
        ("oauth1", {"access_token_secret": "wrong-token-secret-4e2b"}, "config_error",
         ["HTTP 401", "access_token_secret", "Check these settings"]),
        ("login", {"password": "wrong-password-81fd"}, "config_error", ["password"]),
        ("login", "no permission", "config_error",
         ["HTTP 403", "permission", "username, password"]),
        ("client_credentials", "5xx", "transient_error", ["HTTP 500", "max_retry_seconds"]),
    ],
)  # fmt: skip
def test_errors_end_the_read_with_a_trace(tmp_path, auth, arrange, failure, words):
    sb = Sandbox(data=DataSpec(seed=33, records=300, end=END), seed=33)
    spy = SecretSpy(sb)
    with sb:
        config = tap_config(sb, auth=auth, page_size=50, max_retry_seconds=1)
        if arrange == "no permission":
            sb.permission_granted = False
        elif arrange == "5xx":
            sb.set_faults([FaultRule("500", at=range(1, 10_000))])
        else:
            config.update(arrange)
            spy.values.update(arrange.values())
        out = source(
            tmp_path, "read", config, catalog=configured_catalog([AUDIT, "users"]), debug=True
        )
    assert out.exit_code == 1
    (error,) = out.errors
    assert error.failure_type.value == failure
    for word in words:
        assert word in error.message, error.message
    for stream in (AUDIT, "users"):
        assert out.statuses(stream)[-1] == "INCOMPLETE"
    assert out.messages[-1].trace is not None  # the error is the last word
    assert not spy.leaks(out.text + out.stderr)


@pytest.mark.parametrize(
    "auth", ["oauth1", "login", "login_api_key", "client_credentials", "bearer"]
)
def test_no_secret_in_any_output_at_debug_level(tmp_path, auth):
    sb = Sandbox(data=DataSpec(seed=34, records=200, end=END), seed=34)
    spy = SecretSpy(sb)
    with sb:
        config = tap_config(sb, auth=auth, page_size=50)
        if auth == "bearer":
            spy.values.add(config["bearer_token"])
        outputs = [
            source(tmp_path / "check", "check", config, debug=True),
            source(tmp_path / "read", "read", config, catalog=configured_catalog(), debug=True),
        ]
    assert outputs[0].connection_status.status.value == "SUCCEEDED"
    assert outputs[1].exit_code == 0
    assert any(m.log.level.value == "DEBUG" for m in outputs[1].of("LOG")), "debug was not on"
    text = "".join(o.text + o.stderr for o in outputs)
    leaks = spy.leaks(text)
    assert not leaks, f"{len(leaks)} secret(s) in the output, e.g. {leaks[0][:6]}..."


# ----------------------------------------------------------------------------- processes
class SourceProcess(Process):
    """What one real source process wrote before it ended or was killed."""

    def output(self) -> Output:
        """Whole lines only: a line cut by the kill is what a platform would drop too."""
        return _parse("\n".join(self.lines), Output(stderr=self.stderr, exit_code=self.returncode))


def run_source_process(
    tmp_path: Path,
    args: list[str],
    kill_after_lines: int | None = None,
    kill_after_seconds: float | None = None,
    command: list[str] = SOURCE,
    timeout: float = 120,
) -> SourceProcess:
    """Run the real source; SIGKILL it after N stdout lines or N seconds (if it still runs)."""
    return run_killable(
        [*command, *args],
        tmp_path,
        SourceProcess(),
        kill_after_lines=kill_after_lines,
        kill_after_seconds=kill_after_seconds,
        timeout=timeout,
    )


def test_the_console_script_speaks_only_airbyte_on_stdout(sandbox, tmp_path):
    script = Path(sys.executable).parent / "source-lp-audittrail"
    assert script.exists(), "pip install -e . installs the console script"
    args = _files(tmp_path, tap_config(sandbox), configured_catalog([AUDIT]), [])
    proc = run_source_process(tmp_path, ["read", *args], command=[str(script)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.output()  # every line parses as an Airbyte message
    assert_same_records(out.records(AUDIT), sandbox.ground_truth(), what=AUDIT)
    assert out.of("LOG"), "logging goes out as LOG messages"
    assert proc.stderr == ""


def test_kill_9_then_resume_from_the_last_state(sandbox_factory, tmp_path):
    sb = sandbox_factory(
        data=DataSpec(seed=35, records=1200, end=END), latency=0.03, jitter=0.03, seed=35
    )
    config = tap_config(sb, page_size=25, window_days=20, max_concurrency=3)
    streams = (AUDIT, "users", "skills")
    catalog = configured_catalog(streams)
    whole = run_source_process(
        tmp_path / "whole", ["read", *_files(tmp_path / "whole", config, catalog, [])]
    )
    assert whole.returncode == 0, whole.stderr[-2000:]
    rng = random.Random(11)
    kills = chains = resumed = 0
    while kills < 6 and chains < 6:
        chains += 1
        unions = {stream: Union() for stream in streams}
        kept: dict[str, dict] = {}  # the platform's state: the last STATE of each stream
        for attempt in range(4):
            last = attempt == 3
            where = tmp_path / f"c{chains}a{attempt}"
            args = ["read", *_files(where, config, catalog, list(kept.values()))]
            # Kill somewhere in what is left to read: after N lines, or after a delay.
            by_lines = rng.random() < 0.5
            left = 1 - len(unions[AUDIT].by_id) / len(sb.ground_truth())
            lines = rng.randint(5, max(6, int(len(whole.lines) * left * 0.9)))
            seconds = STARTUP + rng.uniform(0, (whole.seconds - STARTUP) * left * 0.9)
            proc = run_source_process(
                where,
                args,
                kill_after_lines=None if last or not by_lines else lines,
                kill_after_seconds=None if last or by_lines else seconds,
            )
            out = proc.output()
            for stream in streams:
                records = out.records(stream)
                assert_in_order_with_unique_ids(records)
                if stream in kept and records:
                    # A resumed read starts at its bookmark minus the look-back.
                    bookmark = kept[stream]["stream"]["stream_state"]["replication_key_value"]
                    floor = parse_utc(bookmark) - dt.timedelta(minutes=5)
                    assert parse_utc(records[0]["changeDate"]) >= floor
                    resumed += 1
                unions[stream].add(records)
            for state in out.states():
                kept[state["stream"]["stream_descriptor"]["name"]] = state
            if not proc.killed:
                assert proc.returncode == 0, proc.stderr[-2000:]
                break
            kills += 1
        for stream in streams:
            assert_same_records(unions[stream].records, truth_of(sb, stream), what=stream)
    assert kills >= 6, f"only {kills} runs were still running when killed"
    assert resumed >= 3, "too few reads resumed from a bookmark"


def test_the_error_that_ends_a_command_is_its_last_word_whatever_logs_after_it():
    """A window thread still finishing a request may log after the error: it is dropped."""
    text = io.StringIO()
    out = airbyte.Stdout(text)
    out.log("INFO", "before")
    out.error("it failed", "config_error")
    out.log("DEBUG", "urllib3.connectionpool: a request still in flight")
    lines = [json.loads(line) for line in text.getvalue().splitlines()]
    assert [line["type"] for line in lines] == ["LOG", "TRACE"]
    assert lines[-1]["trace"]["error"]["message"] == "it failed"


def test_the_documented_resume_from_a_state_file_reads_only_the_new_changes(
    sandbox_factory, tmp_path
):
    """docs/airbyte.md's commands as written: a read, its STATEs made into state.json with
    grep and sed, and a read from that file, which gets exactly the changes made between."""
    block = block_after("<!-- read from a state:", "sh")
    *first, resume = [line for line in block.body.splitlines() if line and line[0] != "#"]
    sb, config = now_sandbox(sandbox_factory, 36, 400, page_size=50)
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps(configured_catalog([AUDIT, "users"])))
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}

    def run(script: str) -> None:
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, f"{script}\n{proc.stderr[-2000:]}"

    run("\n".join(first))
    assert json.loads((tmp_path / "state.json").read_text())[0]["type"] == "STATE"
    now = dt.datetime.now(dt.timezone.utc)
    sb.append(sb.make_records(25, now, now + dt.timedelta(seconds=2), seed=6))
    run(resume)
    outputs = [
        _parse((tmp_path / name).read_text(), Output(stderr="", exit_code=0))
        for name in ("first.jsonl", "second.jsonl")
    ]
    assert len(outputs[1].records(AUDIT)) == 25
    for stream in (AUDIT, "users"):
        union = Union()
        for out in outputs:
            union.add(out.records(stream))
        assert_same_records(union.records, truth_of(sb, stream), what=stream)
