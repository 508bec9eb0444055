"""State files as users have them: Meltano's wrapped form (`meltano state get` writes
{"singer_state": {...}}) is read as the state inside it, and a state that holds no bookmark
for any of the tap's streams is said to be so. Nothing is silently ignored."""

from __future__ import annotations

import json
import logging
import subprocess

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_lp_audittrail.sandbox import DataSpec
from tap_lp_audittrail.tap import TapLPAuditTrail

from ._reliability import tap_command
from .helpers import END, Run, parse_messages, run_tap, tap_config

BOOKMARK = "2026-10-01T00:00:00.000000+00:00"
STATE = {
    "bookmarks": {
        "audit_trail": {
            "replication_key": "changeDate",
            "replication_key_value": BOOKMARK,
            "reread_from": "2026-09-30T23:55:00.000000+00:00",
            "seen": [],
        }
    }
}
#: Exactly what `meltano state get` prints (checked with Meltano 4.4.1).
MELTANO_STATE = {"singer_state": STATE}
WRAPPED = "Meltano's form"
NO_BOOKMARK = "State holds no bookmark for any of this tap's streams"


def messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]


def test_meltanos_wrapped_state_is_read_as_the_state_inside(sandbox_factory, caplog):
    sb = sandbox_factory(data=DataSpec(seed=21, records=400, end=END))
    config = tap_config(sb)
    with caplog.at_level(logging.INFO, logger="tap-lp-audittrail"):
        wrapped = run_tap(config, state=MELTANO_STATE)
    assert any(WRAPPED in m for m in messages(caplog))
    assert not any(NO_BOOKMARK in m for m in messages(caplog))
    plain = run_tap(config, state=STATE)
    records = wrapped.stream("audit_trail")
    assert records
    assert records == plain.stream("audit_trail")
    assert min(r["changeDate"] for r in records) >= "2026-09-30T23:55"  # reread_from
    assert (
        wrapped.final_state["bookmarks"]["audit_trail"]
        == plain.final_state["bookmarks"]["audit_trail"]
    )


@pytest.mark.parametrize(
    ("state", "named"),
    [
        ({"bookmarks": {"some-other-tap-stream": {"replication_key_value": BOOKMARK}}}, True),
        ({"singer_state": {"bookmarks": {}}}, False),
        ({"bookmarks": {}}, False),
    ],
)
def test_a_state_without_a_bookmark_of_this_tap_says_so(sandbox, caplog, state, named):
    with caplog.at_level(logging.INFO, logger="tap-lp-audittrail"):
        TapLPAuditTrail(config=tap_config(sandbox), state=state, parse_env_config=False)
    notes = [m for m in messages(caplog) if NO_BOOKMARK in m]
    assert len(notes) == 1, messages(caplog)
    assert ("some-other-tap-stream" in notes[0]) is named


def test_a_state_with_a_bookmark_of_this_tap_says_nothing_of_the_kind(sandbox, caplog):
    with caplog.at_level(logging.INFO, logger="tap-lp-audittrail"):
        TapLPAuditTrail(config=tap_config(sandbox), state=STATE, parse_env_config=False)
    assert not any(NO_BOOKMARK in m or WRAPPED in m for m in messages(caplog))


@pytest.mark.parametrize(
    ("state", "named"),
    [
        ({"singer_state": STATE, "bookmarks": {}}, "keep one"),
        ({"singer_state": []}, "state: singer_state: expected an object"),
        (
            {"singer_state": {"bookmarks": {"users": {"seen": [{"a": 1}]}}}},
            "state: singer_state.bookmarks.users.seen[0]: expected a string",
        ),
    ],
)
def test_a_wrapped_state_that_is_not_one_is_refused(sandbox, state, named):
    with pytest.raises(ConfigValidationError) as caught:
        TapLPAuditTrail(config=tap_config(sandbox), state=state, parse_env_config=False)
    assert any(named in e for e in caught.value.errors)


def run_cli_with_state(sandbox, tmp_path, text: str):
    command = tap_command(tmp_path, tap_config(sandbox), None, None)
    (tmp_path / "state.json").write_text(text)
    command += ["--state", str(tmp_path / "state.json")]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_the_command_line_reads_a_file_from_meltano_state_get(sandbox, tmp_path):
    proc = run_cli_with_state(sandbox, tmp_path, json.dumps(MELTANO_STATE))
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = [line for line in proc.stderr.splitlines() if "| INFO" in line]
    assert any(WRAPPED in line for line in info)
    records = parse_messages(proc.stdout, Run()).stream("audit_trail")
    assert records
    assert min(r["changeDate"] for r in records) >= "2026-09-30T23:55"


def test_the_command_line_says_an_empty_state_file_has_no_bookmark(sandbox, tmp_path):
    proc = run_cli_with_state(sandbox, tmp_path, "{}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sum(NO_BOOKMARK in line for line in proc.stderr.splitlines()) == 1
