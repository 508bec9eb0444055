"""Running `source-lp-audittrail` and reading what it wrote, every line checked against
Airbyte's own protocol models (airbyte-protocol-models), with no field they do not define."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
from airbyte_protocol.models import AirbyteMessage, AirbyteStateBlob, ConfiguredAirbyteCatalog

from tap_lp_audittrail.airbyte import commands
from tap_lp_audittrail.airbyte.catalog import airbyte_catalog
from tap_lp_audittrail.elements import STREAM_NAMES
from tap_lp_audittrail.sandbox import Sandbox
from tap_lp_audittrail.tap import TapLPAuditTrail

from .._reliability import Process, run_killable
from ..helpers import WIND_DOWN

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


def parse_output(text: str, out: Output) -> Output:
    out.text = text
    out.messages = [parse_airbyte(line) for line in text.splitlines() if line.strip()]
    return out


def command_files(tmp_path: Path, config: dict | None, catalog: Any, state: Any) -> list[str]:
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
    argv = [
        *(["--debug"] if debug else []),
        command,
        *command_files(tmp_path, config, catalog, state),
    ]
    stdout, stderr = io.StringIO(), io.StringIO()
    before = set(threading.enumerate())
    started = time.monotonic()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = commands.run(argv)
        # After a failure, window threads still in a request wind down (a process would exit).
        for thread in set(threading.enumerate()) - before:
            if thread.name.startswith("window-"):
                thread.join(timeout=max(0.0, started + WIND_DOWN - time.monotonic()))
    return parse_output(stdout.getvalue(), Output(stderr=stderr.getvalue(), exit_code=code))


def configured_catalog(
    streams: Any = None, mode: str = "incremental", modes: dict[str, str] | None = None
) -> dict:
    """The ConfiguredAirbyteCatalog a platform would send for `streams` (default: all)."""
    tap = TapLPAuditTrail(
        config={"account_id": "1", "auth_method": "bearer"}, validate_config=False
    )
    catalog = airbyte_catalog(tap)
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


class SourceProcess(Process):
    """What one real source process wrote before it ended or was killed."""

    def output(self) -> Output:
        """Whole lines only: a line cut by the kill is what a platform would drop too."""
        return parse_output(
            "\n".join(self.lines), Output(stderr=self.stderr, exit_code=self.returncode)
        )


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


def run_standard_tests(
    python: str, folder: Path, args: list[str], env: Mapping[str, str]
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """airbyte-cdk's standard tests of the connector in `folder` (its integration_tests/), run by
    pytest: the process, and each test's outcome (passed, failure, error or skipped) as its JUnit
    report (beside `folder`) tells it."""
    report = folder.parent / "junit.xml"
    proc = subprocess.run(
        [
            python, "-m", "pytest", "integration_tests",
            "-c", "integration_tests/pytest.ini", *args,
            f"--junitxml={report}", "-q",
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )  # fmt: skip
    assert report.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    root = ET.parse(report).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    outcomes: dict[str, str] = {}
    for case in suite.iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = next((k for k in ("failure", "error", "skipped") if k in kinds), "passed")
        outcomes[case.get("name", "?")] = outcome
    return proc, outcomes


#: Loads a metadata.yaml as airbyte-cdk does and prints the model it validated, as JSON.
VALIDATE_METADATA = r"""
import json, sys
from pathlib import Path
from airbyte_cdk.models.connector_metadata import MetadataFile
metadata = MetadataFile.from_file(Path(sys.argv[1]))
print(json.dumps({"model": metadata.model_dump(mode="json"),
                  "language": metadata.data.language.value}))
"""


def validated_metadata(python: str, path: Path, env: Mapping[str, str] | None = None) -> dict:
    """`path` (a metadata.yaml) as airbyte-cdk's `MetadataFile`, in the Python `python` (one
    with airbyte-cdk), validated: {"model": the model as JSON, "language": its language}."""
    proc = subprocess.run(
        [python, "-c", VALIDATE_METADATA, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])
