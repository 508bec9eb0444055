"""commands.py: `source-lp-audittrail`'s commands, the same engine, the same guarantees.

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
from collections import Counter
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import pytest

from tap_lp_audittrail.airbyte import commands
from tap_lp_audittrail.credentials import CREDENTIAL_SETTINGS
from tap_lp_audittrail.elements import STREAM_NAMES
from tap_lp_audittrail.records import parse_utc
from tap_lp_audittrail.sandbox import DataSpec, FaultRule, Readings, Sandbox
from tap_lp_audittrail.streams import ELEMENTS
from tap_lp_audittrail.tap import TapLPAuditTrail

from .._reliability import SecretSpy, Union, now_sandbox
from ..helpers import (
    END,
    assert_in_order_with_unique_ids,
    assert_same_records,
    run_script,
    tap_config,
)
from ..markdown import block_after
from .helpers import (
    AUDIT,
    STARTUP,
    Output,
    command_files,
    configured_catalog,
    parse_output,
    run_source_process,
    source,
    truth_of,
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
    # What it says is true: it wrote no record, and LivePerson answered for that account.
    assert not [line for line in logs if "written" in line], logs
    assert out.connection_status.message.startswith("LivePerson accepted the Login Service")
    assert f"for account {sandbox.account_id} and the Audit Trail answered" in (
        out.connection_status.message
    )


def _in_credentials(config: dict) -> dict:
    """`config` as Airbyte's form writes it: the credentials in `credentials`."""
    keys = ("auth_method", *CREDENTIAL_SETTINGS)
    moved = {k: config[k] for k in keys if k in config}
    return {**{k: v for k, v in config.items() if k not in keys}, "credentials": moved}


def test_a_config_from_the_form_reads_exactly_as_the_flat_one(sandbox, tmp_path):
    flat = tap_config(sandbox, auth="oauth1")
    form = _in_credentials({**flat, "auth_method": "oauth1"})
    catalog = configured_catalog([AUDIT, "users"])
    outs = [source(tmp_path / n, "read", c, catalog=catalog) for n, c in (("f", flat), ("c", form))]
    for out in outs:
        assert out.exit_code == 0, out.text[-2000:]
    for stream in (AUDIT, "users"):
        assert outs[0].records(stream) == outs[1].records(stream)
        assert_same_records(outs[1].records(stream), truth_of(sandbox, stream), what=stream)
    # The same bookmarks at the end (the checkpoints between follow the threads' timing).
    assert outs[0].last_states() == outs[1].last_states()
    check = source(tmp_path / "check", "check", form)
    assert check.connection_status.status.value == "SUCCEEDED"


def test_credentials_that_disagree_with_the_flat_settings_are_refused_naming_the_field(
    sandbox, tmp_path
):
    config = tap_config(sandbox, auth="oauth1")
    given = {**_in_credentials(config), "app_secret": "other-app-secret-5d2e"}
    checked = source(tmp_path / "check", "check", given)
    assert checked.connection_status.status.value == "FAILED"
    assert "credentials.app_secret differs from the flat setting `app_secret`" in (
        checked.connection_status.message
    )
    read = source(tmp_path / "read", "read", given, catalog=configured_catalog([AUDIT]))
    assert read.exit_code == 1
    (error,) = read.errors
    assert error.failure_type.value == "config_error"
    assert "config.json: credentials.app_secret" in error.message
    assert sandbox.stats.requests["audit"] == 0
    for secret in ("other-app-secret-5d2e", sandbox.credentials.app_secret):
        assert secret not in checked.text + read.text


def _nulls(value: Any, path: str = "") -> list[str]:
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _nulls(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _nulls(v, f"{path}[{i}]")]
    return []


def test_no_state_message_holds_a_null(sandbox, tmp_path):
    """Airbyte's platform refuses a null in a stream's state (`starting_replication_value`)."""
    with_start = tap_config(sandbox)
    without = {k: v for k, v in with_start.items() if k not in ("start_date", "end_date")}
    catalog = configured_catalog([AUDIT, "users", "skills"])
    first = source(tmp_path / "1", "read", without, catalog=catalog)
    again = source(tmp_path / "2", "read", without, catalog=catalog, state=first.last_states())
    dated = source(tmp_path / "3", "read", with_start, catalog=catalog)
    modes = {AUDIT: "full_refresh", "users": "incremental"}
    mixed = source(
        tmp_path / "4",
        "read",
        with_start,
        catalog=configured_catalog([AUDIT, "users"], modes=modes),
        state=dated.last_states(),
    )
    for out in (first, again, dated, mixed):
        assert out.exit_code == 0, out.text[-2000:]
        assert out.states()
        for message in out.of("STATE"):
            raw = message.model_dump(mode="json")["state"]["stream"]["stream_state"]
            assert not _nulls(raw), f"nulls at {_nulls(raw)} in {raw}"


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
        ({"streams": [{"stream": {"name": "users"}, "sync_mode": "sometimes"}]}, None,
         ["streams[0].sync_mode", "'sometimes'"]),
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


def test_a_stream_the_source_does_not_have_ends_incomplete_and_the_others_are_read(
    sandbox, tmp_path
):
    """As airbyte-cdk's AbstractSource.read: the stream is INCOMPLETE, with a line saying why."""
    catalog = configured_catalog([AUDIT, "users"])
    widgets = {**catalog["streams"][0], "stream": {**catalog["streams"][0]["stream"]}}
    widgets["stream"]["name"] = "widgets"
    catalog["streams"].insert(1, widgets)
    out = source(tmp_path, "read", tap_config(sandbox), catalog=catalog)
    assert out.exit_code == 0, out.text[-2000:]
    assert not out.errors
    assert out.statuses("widgets") == ["INCOMPLETE"]
    (why,) = [m.log for m in out.of("LOG") if "widgets" in m.log.message]
    assert why.level.value == "WARN"
    assert "catalog.json: streams[1]: 'widgets' is not a stream of this source" in why.message
    assert "Refresh the connection's schema" in why.message
    for stream in (AUDIT, "users"):
        assert_same_records(out.records(stream), truth_of(sandbox, stream), what=stream)
        assert out.statuses(stream)[-1] == "COMPLETE"


def test_a_catalog_of_unknown_streams_alone_reads_nothing_and_ends_well(sandbox, tmp_path):
    catalog = {"streams": [{"stream": {"name": "widgets"}, "sync_mode": "incremental"}]}
    out = source(tmp_path, "read", tap_config(sandbox), catalog=catalog)
    assert out.exit_code == 0, out.text[-2000:]
    assert out.statuses("widgets") == ["INCOMPLETE"]
    assert not out.of("RECORD")
    assert sandbox.stats.requests["audit"] == 0


# ----------------------------------------------------------------------------- command line
def _debug_read(tmp_path: Path, config: dict, form: str, monkeypatch) -> Output:
    files = command_files(tmp_path, config, configured_catalog([AUDIT]), None)
    argv = {
        "read --debug": ["read", "--debug", *files],
        "--debug read": ["--debug", "read", *files],
        "LOG_LEVEL=debug": ["read", *files],
        "neither": ["read", *files],
    }[form]
    if form == "LOG_LEVEL=debug":
        monkeypatch.setenv("LOG_LEVEL", "debug")
    else:
        monkeypatch.delenv("LOG_LEVEL", raising=False)
    stdout = io.StringIO()
    with redirect_stderr(io.StringIO()) as stderr:
        code = commands.run(argv, stdout)
    return parse_output(stdout.getvalue(), Output(stderr=stderr.getvalue(), exit_code=code))


@pytest.mark.parametrize("form", ["read --debug", "--debug read", "LOG_LEVEL=debug"])
def test_debug_is_on_in_each_form_airbytes_platform_and_cdk_use(tmp_path, monkeypatch, form):
    sb = Sandbox(data=DataSpec(seed=37, records=100, end=END), seed=37)
    spy = SecretSpy(sb)
    with sb:
        out = _debug_read(tmp_path, tap_config(sb, page_size=50), form, monkeypatch)
    assert out.exit_code == 0, out.text[-2000:]
    assert out.stderr == ""
    assert any(m.log.level.value == "DEBUG" for m in out.of("LOG")), "debug was not on"
    assert len(out.records(AUDIT)) == 100
    assert not spy.leaks(out.text)


def test_without_debug_no_debug_line(sandbox, tmp_path, monkeypatch):
    out = _debug_read(tmp_path, tap_config(sandbox), "neither", monkeypatch)
    assert out.exit_code == 0
    assert not [m for m in out.of("LOG") if m.log.level.value == "DEBUG"]


#: command line -> words the TRACE's message holds (`CONFIG` stands for a config file's path).
USAGE_ERRORS = {
    "no command": ([], ["required: command", "Usage: source-lp-audittrail"]),
    "an unknown command": (["frobnicate"], ["invalid choice: 'frobnicate'"]),
    "check without --config": (["check"], ["required: --config"]),
    "read without --catalog": (["read", "--config", "CONFIG"], ["required: --catalog",
                               "Usage: source-lp-audittrail read"]),
    "an unknown option": (["discover", "--config", "CONFIG", "--bogus"],
                          ["unrecognized arguments: --bogus"]),
    "--config before the command": (
        ["--config", "CONFIG", "check"],
        ["invalid choice", "config.json", "{spec,check,discover,read}"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(USAGE_ERRORS))
def test_a_command_line_that_is_not_one_ends_with_a_config_error_trace(tmp_path, case):
    argv, words = USAGE_ERRORS[case]
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"account_id": "1", "bearer_token": "t0ken-of-usage"}))
    argv = [str(config) if arg == "CONFIG" else arg for arg in argv]
    stdout = io.StringIO()
    with redirect_stderr(io.StringIO()) as stderr:
        code = commands.run(argv, stdout)
    out = parse_output(stdout.getvalue(), Output(stderr=stderr.getvalue(), exit_code=code))
    assert code == 2
    assert out.stderr == ""
    assert len(out.messages) == 1  # the TRACE alone: nothing was run
    (error,) = out.errors
    assert error.failure_type.value == "config_error"
    for word in words:
        assert word in error.message, error.message
    assert "\n" not in error.message


def test_the_console_script_ends_a_usage_error_with_a_trace_and_a_non_zero_exit(tmp_path):
    script = Path(sys.executable).parent / "source-lp-audittrail"
    proc = subprocess.run(
        [str(script), "read", "--config", "nowhere.json"],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2
    (line,) = proc.stdout.splitlines()
    error = json.loads(line)["trace"]["error"]
    assert error["failure_type"] == "config_error"
    assert "--catalog" in error["message"]


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
def test_the_console_script_speaks_only_airbyte_on_stdout(sandbox, tmp_path):
    script = Path(sys.executable).parent / "source-lp-audittrail"
    assert script.exists(), "pip install -e . installs the console script"
    args = command_files(tmp_path, tap_config(sandbox), configured_catalog([AUDIT]), [])
    proc = run_source_process(tmp_path, ["read", *args], command=[str(script)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.output()  # every line parses as an Airbyte message
    assert_same_records(out.records(AUDIT), sandbox.ground_truth(), what=AUDIT)
    assert out.of("LOG"), "logging goes out as LOG messages"
    assert proc.stderr == ""


@pytest.mark.parametrize("debug", [False, True])
def test_a_closed_stdout_ends_the_source_quietly_with_the_shells_status(
    sandbox_factory, tmp_path, debug
):
    """`source-lp-audittrail read | head -3`: ended by SIGPIPE, as `yes | head`, and no log
    line of a window thread, written after the reader left, complains on stderr."""
    sb = sandbox_factory(data=DataSpec(seed=38, records=600, end=END), latency=0.02, seed=38)
    script = Path(sys.executable).parent / "source-lp-audittrail"
    files = command_files(tmp_path, tap_config(sb, page_size=50), configured_catalog(), None)
    command = " ".join([str(script), *(["--debug"] if debug else []), "read", *files])
    proc = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command} | head -3 > {tmp_path / 'head.txt'}"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 141, proc.stderr[-3000:]
    assert proc.stderr == "", proc.stderr[-3000:]
    assert len((tmp_path / "head.txt").read_text().splitlines()) == 3


def test_kill_9_then_resume_from_the_last_state(sandbox_factory, tmp_path):
    sb = sandbox_factory(
        data=DataSpec(seed=35, records=1200, end=END), latency=0.03, jitter=0.03, seed=35
    )
    config = tap_config(sb, page_size=25, window_days=20, max_concurrency=3)
    streams = (AUDIT, "users", "skills")
    catalog = configured_catalog(streams)
    whole = run_source_process(
        tmp_path / "whole", ["read", *command_files(tmp_path / "whole", config, catalog, [])]
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
            args = ["read", *command_files(where, config, catalog, list(kept.values()))]
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
    run_script("\n".join(first), tmp_path, env, timeout=120)
    assert json.loads((tmp_path / "state.json").read_text())[0]["type"] == "STATE"
    now = dt.datetime.now(dt.timezone.utc)
    sb.append(sb.make_records(25, now, now + dt.timedelta(seconds=2), seed=6))
    run_script(resume, tmp_path, env, timeout=120)
    outputs = [
        parse_output((tmp_path / name).read_text(), Output(stderr="", exit_code=0))
        for name in ("first.jsonl", "second.jsonl")
    ]
    assert len(outputs[1].records(AUDIT)) == 25
    for stream in (AUDIT, "users"):
        union = Union()
        for out in outputs:
            union.add(out.records(stream))
        assert_same_records(union.records, truth_of(sb, stream), what=stream)
