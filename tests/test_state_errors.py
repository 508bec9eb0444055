"""Bad state: a state file that is not JSON, or not a state this tap writes, stops the real CLI
with one clear line naming the file and the field, before any request."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

from ._reliability import AUDIT, Process, catalog_for, note, run_process, tap_command
from .helpers import END, Run, parse_messages, tap_config

GOOD = {
    "replication_key": "changeDate",
    "replication_key_value": "2026-10-01T00:00:00.000000+00:00",
    "reread_from": "2026-09-30T23:55:00.000000+00:00",
    "seen": ["22268e0554d982310cd57adc17348f61"],
}


def bookmark(stream: str = "audit_trail", **fields: object) -> str:
    """A state holding one bookmark this tap could write, but for `fields`."""
    return json.dumps({"bookmarks": {stream: {**GOOD, **fields}}})


#: case -> (the state file's text, words of the ERROR line: the field it names)
BAD_STATES = {
    "garbage JSON": ('{"bookmarks": {"audit_trail": ', "state"),
    "empty file": ("", "state"),
    "a list": ("[]", "state"),
    "bookmarks a list": ('{"bookmarks": []}', "bookmarks: expected an object"),
    "bookmark a string": ('{"bookmarks": {"audit_trail": "2025-01-01"}}', "audit_trail"),
    "bookmark a number": (
        '{"bookmarks": {"audit_trail": {"replication_key_value": 1735689600}}}',
        "replication_key_value",
    ),
    "bookmark not a date": (
        '{"bookmarks": {"audit_trail": {"replication_key_value": "yesterday"}}}',
        "replication_key_value",
    ),
    "bookmark an impossible date": (
        '{"bookmarks": {"users": {"replication_key_value": "2025-02-30T00:00:00Z"}}}',
        "replication_key_value",
    ),
    # On dd2ab9d each of the following ran: a traceback, or a run steered wrong.
    "seen holding an object": (
        bookmark(seen=[1, {"a": 1}]),
        'bookmarks.audit_trail.seen[1]: expected a string, got an object, {"a": 1}',
    ),
    "seen a string": (bookmark(seen="abc"), "bookmarks.audit_trail.seen: expected a list"),
    "reread_from not a date": (
        bookmark(reread_from="garbage"),
        "bookmarks.audit_trail.reread_from: 'garbage' is not a date-time",
    ),
    "reread_from a number": (
        bookmark(reread_from=5),
        "bookmarks.audit_trail.reread_from: expected a string or null, got a number, 5",
    ),
    "a bookmark of year 1": (
        bookmark("users", replication_key_value="0001-01-01", reread_from=None),
        "bookmarks.users.replication_key_value: '0001-01-01' is before 1970",
    ),
    "another replication key": (
        bookmark(replication_key="objectName"),
        "bookmarks.audit_trail.replication_key: 'objectName'; this tap's is 'changeDate'",
    ),
    "the SDK's progress markers a number": (
        bookmark(progress_markers=5),
        "bookmarks.audit_trail.progress_markers: expected an object",
    ),
    "the SDK's partitions a number": (
        bookmark(partitions=5),
        "bookmarks.audit_trail.partitions: expected a list",
    ),
    "Meltano's form, seen holding a list": (
        json.dumps({"singer_state": json.loads(bookmark("skills", seen=[["x"]]))}),
        "singer_state.bookmarks.skills.seen[0]: expected a string",
    ),
}


@pytest.mark.parametrize("case", list(BAD_STATES))
def test_bad_state_is_refused_clearly(sandbox, tmp_path, case):
    text, named = BAD_STATES[case]
    command = tap_command(tmp_path, tap_config(sandbox), None, None)
    (tmp_path / "state.json").write_text(text)
    command += ["--state", str(tmp_path / "state.json")]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode not in (0, None)
    errors = [line for line in proc.stderr.splitlines() if "| ERROR" in line]
    assert any(named in line for line in errors), proc.stderr[-3000:]
    assert any(f"--state {tmp_path / 'state.json'}" in line for line in errors), errors
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert not proc.stdout.strip()
    assert sum(sandbox.stats.requests.values()) == 0
    note("state", case=case, exit_code=proc.returncode, requests=0)


def test_a_good_state_is_taken(sandbox, tmp_path):
    """The control: a state this tap wrote is read, and the run starts where it says."""
    bookmark = {
        "replication_key": "changeDate",
        "replication_key_value": "2026-10-01T00:00:00.000000+00:00",
        "reread_from": "2026-09-30T23:55:00.000000+00:00",
        "seen": [],
    }
    state = {"bookmarks": {"audit_trail": bookmark}}
    command = tap_command(tmp_path, tap_config(sandbox, lookback_minutes=5), state, None)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = parse_messages(proc.stdout, Run()).stream("audit_trail")
    assert records
    assert min(r["changeDate"] for r in records) >= "2026-09-30T23:55"


#: The sandbox's clock, what its answers' `Date` headers say, in the tests below.
SERVER_NOW = END + dt.timedelta(hours=1)


def run_with_bookmarks(sandbox, tmp_path, streams: dict[str, str]) -> Process:
    """A run of the CLI from a state with these bookmarks, every one of these streams selected."""
    sandbox.set_clock(SERVER_NOW)
    config = tap_config(sandbox)
    state = {"bookmarks": {name: {**GOOD, "replication_key_value": value, "reread_from": None}
                           for name, value in streams.items()}}  # fmt: skip
    return run_process(tmp_path, config, state=state, catalog=catalog_for(config, streams))


#: case -> (bookmark of `users`, whether the run stops); `audit_trail`'s is ordinary.
FUTURE = {
    "a day past the server's clock": (SERVER_NOW + dt.timedelta(days=1), False),
    "three days past it": (SERVER_NOW + dt.timedelta(days=3), True),
    "the year 9999": (dt.datetime(9999, 12, 31, tzinfo=dt.timezone.utc), True),
}


@pytest.mark.parametrize("case", list(FUTURE))
def test_a_bookmark_from_the_future_stops_the_run_before_any_record(sandbox, tmp_path, case):
    """On dd2ab9d: exit 0, and `users` keeps its bookmark, emitting nothing, forever."""
    ahead, stops = FUTURE[case]
    run = run_with_bookmarks(
        sandbox,
        tmp_path,
        {"audit_trail": "2026-10-01T00:00:00+00:00", "users": ahead.isoformat()},
    )
    records = run.parsed().records
    if not stops:
        assert run.returncode == 0, run.stderr[-3000:]
        assert records[AUDIT]
        return
    assert run.returncode == 1, run.stderr[-3000:]
    last = run.stderr.strip().splitlines()[-1]
    assert "| ERROR" in last, run.stderr[-3000:]
    assert "bookmarks.users.replication_key_value" in last
    assert "days past the server's clock (2026-11-01T01:00:00+00:00" in last
    assert not records, "a record was written before the bookmark was refused"


def test_a_bookmark_from_the_future_is_told_when_nothing_else_is_read(sandbox, tmp_path):
    """Past the end of the range, the bookmark alone would end the run with nothing read: one
    request learns the server's clock."""
    run = run_with_bookmarks(sandbox, tmp_path, {"audit_trail": "9999-12-31T00:00:00+00:00"})
    assert run.returncode == 1, run.stderr[-3000:]
    assert "bookmarks.audit_trail.replication_key_value: 9999-12-31" in run.stderr
    assert sandbox.stats.requests["audit"] == 1
