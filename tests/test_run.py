"""run.py: one Run per tap, handed to every stream; its one read, its range, its end.

In process, against the sandbox (a real HTTP server on loopback) where a request is made.
"""

from __future__ import annotations

import datetime as dt
import io
from contextlib import redirect_stderr, redirect_stdout

import pytest

from tap_lp_audittrail import run as run_module
from tap_lp_audittrail.run import RETENTION_MONTHS, configured_range, months_ago
from tap_lp_audittrail.sandbox import DataSpec
from tap_lp_audittrail.tap import TapLPAuditTrail
from tap_lp_audittrail.windows import DAY, floor_day

from .helpers import run_inproc, tap_config

UTC = dt.timezone.utc
CONFIG = {"account_id": "12345678", "bearer_token": "t0ken-for-the-run"}


def audit_args(sb) -> list[dict]:
    return [e.args for e in sb.stats.log if e.endpoint == "audit" and e.args is not None]


# ----------------------------------------------------------------------------- one Run
def test_the_tap_makes_one_run_and_hands_it_to_every_stream():
    tap = TapLPAuditTrail(config=CONFIG, parse_env_config=False)
    assert len(tap.streams) > 1
    assert all(stream.run is tap.run for stream in tap.streams.values())


def test_a_run_makes_its_client_at_its_first_request_not_before():
    tap = TapLPAuditTrail(config=CONFIG, parse_env_config=False)
    assert tap.run.made_client is None
    assert tap.run.credential_names is None
    tap.run.end()  # nothing to end: no client, no log-out, no report
    assert tap.run.made_client is None


def test_the_read_runs_once_for_every_selected_stream_and_the_run_ends_after_it(
    sandbox_factory, monkeypatch
):
    sb = sandbox_factory(data=DataSpec(seed=7, records=300))
    reads = []
    real = run_module.run_read
    monkeypatch.setattr(run_module, "run_read", lambda *a: reads.append(a) or real(*a))
    outcome = run_inproc(tap_config(sb, "bearer"), streams=("audit_trail", "users", "skills"))
    assert outcome.error is None
    assert len(reads) == 1, "the first stream synced runs the read; the others find it done"
    names = [stream.name for stream in reads[0][1]]
    assert sorted(names) == ["audit_trail", "skills", "users"]
    assert names == [name for name in outcome.tap.streams if name in names], "in the SDK's order"
    assert len(outcome.run.stream("audit_trail")) == 300
    client = outcome.tap.run.made_client
    assert client is not None
    assert client.closed, "the run logs out after its read"
    assert outcome.tap.run.credential_names == "bearer_token"


# ----------------------------------------------------------------------------- the read
def test_the_server_filters_by_componenttypes_only_when_every_selected_stream_has_codes(
    sandbox_factory,
):
    sb = sandbox_factory(data=DataSpec(seed=8, records=200))
    run_inproc(tap_config(sb, "bearer"), streams=("users", "skills"))
    asked = {frozenset(args.get("componentTypes") or ()) for args in audit_args(sb)}
    assert asked == {frozenset({"ACUserObject", "ACSkillObject"})}, "the union of their codes"
    sb.stats.log.clear()
    run_inproc(tap_config(sb, "bearer"), streams=("audit_trail", "users"))
    assert all(not args.get("componentTypes") for args in audit_args(sb))


def test_a_connection_test_reads_one_page_and_writes_one_record_per_stream_found(sandbox):
    tap = TapLPAuditTrail(config=tap_config(sandbox, "bearer"), parse_env_config=False)
    with redirect_stdout(io.StringIO()) as out, redirect_stderr(io.StringIO()):
        assert tap.run_connection_test()
    assert len(audit_args(sandbox)) == 1
    lines = [line for line in out.getvalue().splitlines() if '"type":"RECORD"' in line]
    streams = [line.split('"stream":"')[1].split('"')[0] for line in lines]
    assert "audit_trail" in streams
    assert len(streams) == len(set(streams)), "one record per stream, no more"


# ----------------------------------------------------------------------------- the range
@pytest.mark.parametrize(
    ("now", "months", "expected"),
    [
        (dt.datetime(2026, 12, 7, 5, tzinfo=UTC), 13, dt.datetime(2025, 11, 7, tzinfo=UTC)),
        (dt.datetime(2026, 1, 15, tzinfo=UTC), 1, dt.datetime(2025, 12, 15, tzinfo=UTC)),
        # no 30 February: the day is at most the 28th
        (dt.datetime(2026, 3, 30, tzinfo=UTC), 1, dt.datetime(2026, 2, 28, tzinfo=UTC)),
    ],
)
def test_months_ago_is_midnight_utc_that_many_calendar_months_before(now, months, expected):
    assert months_ago(now, months) == expected


def test_the_range_is_the_configured_dates_else_retention_to_two_days_past_today():
    start, end = configured_range(
        {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-02-01T00:00:00Z"}
    )
    assert (start, end) == (
        dt.datetime(2026, 1, 1, tzinfo=UTC),
        dt.datetime(2026, 2, 1, tzinfo=UTC),
    )
    before = dt.datetime.now(tz=UTC)
    start, end = configured_range({})
    after = dt.datetime.now(tz=UTC)
    assert start in {months_ago(before, RETENTION_MONTHS), months_ago(after, RETENTION_MONTHS)}
    two_days_past = {floor_day(before) + 2 * DAY, floor_day(after) + 2 * DAY}
    assert end in two_days_past


def test_a_replays_host_time_is_the_one_its_capture_pinned():
    pinned = "2026-03-04T05:06:07Z"
    tap = TapLPAuditTrail(config={**CONFIG, "replay_host_time": pinned}, parse_env_config=False)
    assert tap.run.host_time == dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
