"""The run's one read, against the sandbox: nothing lost, nothing emitted twice.

- Changes LivePerson shows late (up to `lookback_minutes`, default 6 hours, after their
  changeDate) are read by a later run, in a quiet account, in a busy one, and inside a
  second whose other changes were read already; later than that is the documented miss.
- The bookmark follows the server's clock (its `Date` header), not the host's.
- Consecutive runs with their state never emit an `id` again, look-back included.
- The dates are right whatever zone the server reads fromDate/toDate in, toDate inclusive or
  not, and an incremental run starting just before a date boundary of that zone loses nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter

import pytest

from tap_lp_audittrail.sandbox import DataSpec, Readings
from tap_lp_audittrail.streams import ELEMENTS

from .helpers import (
    END,
    assert_in_order_with_unique_ids,
    assert_same_records,
    run_tap,
    tap_config,
)

HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)
STREAMS = ["audit_trail", *(e.stream for e in ELEMENTS)]


def late(sb, n: int, at: dt.datetime, visible_after: dt.timedelta, seed: int) -> list:
    """`n` changes at `at` (one instant), visible `visible_after` later on the sandbox's clock."""
    records = sb.make_records(n, at, at + dt.timedelta(microseconds=1), seed=seed)
    return [dataclasses.replace(r, visible_after=visible_after) for r in records]


class Runs:
    """Consecutive runs with their state carried, as a scheduler would make them."""

    def __init__(self, sb, streams=("audit_trail",), **settings):
        self.sb = sb
        self.config = tap_config(sb, **settings)
        self.config.pop("end_date")  # scheduled runs read up to the newest change
        self.streams = list(streams)
        self.state: dict | None = None
        self.emitted: dict[str, list[dict]] = {name: [] for name in self.streams}

    def run_at(self, server_time: dt.datetime):
        self.sb.set_clock(server_time)
        run = run_tap(self.config, state=self.state, streams=self.streams)
        self.state = run.final_state
        for name in self.streams:
            self.emitted[name] += run.stream(name)
        return run

    def assert_each_change_once(self, truth_of=None):
        for name in self.streams:
            ids = Counter(r["id"] for r in self.emitted[name])
            again = [i for i, n in ids.items() if n > 1]
            assert not again, f"{name}: {len(again)} ids emitted by more than one run"
            if truth_of is not None:
                assert_same_records(self.emitted[name], truth_of(name), what=name)


def truth_for(sb):
    def of(name: str) -> list[dict]:
        if name == "audit_trail":
            return sb.ground_truth()
        return sb.ground_truth(object_types=[sb.readings.object_types[name]])

    return of


# ---------------------------------------------------------------- late visibility


def test_a_late_change_in_a_quiet_account_is_read_by_the_next_run(sandbox_factory):
    # the last change is five hours before the run; one more, ten minutes before the run,
    # shows up only after the run
    sb = sandbox_factory(data=DataSpec(seed=31, records=300, end=END - 5 * HOUR))
    sb.append(late(sb, 1, END - 10 * MINUTE, visible_after=30 * MINUTE, seed=1))
    runs = Runs(sb)
    first = runs.run_at(END)
    assert len(first.stream("audit_trail")) == 300
    second = runs.run_at(END + HOUR)
    assert len(second.stream("audit_trail")) == 1
    runs.assert_each_change_once(truth_for(sb))


def test_a_late_change_in_a_busy_account_is_read_by_the_next_run(sandbox_factory):
    sb = sandbox_factory(data=DataSpec(seed=32, records=3000, span_days=10, end=END))
    sb.append(late(sb, 3, END - 2 * HOUR, visible_after=3 * HOUR, seed=2))
    runs = Runs(sb, streams=STREAMS, page_size=100)
    runs.run_at(END)
    second = runs.run_at(END + 2 * HOUR)
    assert len(second.stream("audit_trail")) == 3
    runs.assert_each_change_once(truth_for(sb))


def test_a_late_member_of_a_second_already_read_is_read_and_the_others_are_not_again(
    sandbox_factory,
):
    sb = sandbox_factory(data=DataSpec(seed=33, records=200, end=END - 3 * HOUR))
    at = END - 30 * MINUTE
    stamp = at.isoformat(timespec="microseconds")
    sb.append(late(sb, 3, at, visible_after=dt.timedelta(0), seed=3))
    sb.append(late(sb, 1, at, visible_after=2 * HOUR, seed=4))
    runs = Runs(sb)
    first = runs.run_at(END)
    group = [r for r in first.stream("audit_trail") if r["changeDate"] == stamp]
    assert len(group) == 3
    second = runs.run_at(END + 3 * HOUR)
    assert [r["changeDate"] for r in second.stream("audit_trail")] == [stamp]
    runs.assert_each_change_once(truth_for(sb))


@pytest.mark.parametrize("lag_hours", [0.5, 2, 5.5])
def test_changes_late_by_up_to_the_default_bound_are_recovered(sandbox_factory, lag_hours):
    sb = sandbox_factory(data=DataSpec(seed=34, records=500, span_days=5, end=END))
    lag = dt.timedelta(hours=lag_hours)
    for k, minutes in enumerate((1, 45, 180, 359)):
        sb.append(late(sb, 2, END - dt.timedelta(minutes=minutes), visible_after=lag, seed=k))
    runs = Runs(sb, page_size=80)
    for hour in range(8):  # hourly runs
        runs.run_at(END + hour * HOUR)
    runs.assert_each_change_once(truth_for(sb))


def test_a_change_later_than_the_bound_is_the_documented_miss_and_full_refresh_reads_it(
    sandbox_factory,
):
    sb = sandbox_factory(data=DataSpec(seed=35, records=200, end=END - HOUR))
    missed = late(sb, 1, END - 10 * MINUTE, visible_after=7 * HOUR, seed=5)
    sb.append(missed)
    runs = Runs(sb, lookback_minutes=360)
    runs.run_at(END)
    runs.run_at(END + 6 * HOUR)  # not visible yet; this run moves past it
    third = runs.run_at(END + 8 * HOUR)  # visible now, but 7 h late: past the bound
    assert third.stream("audit_trail") == []
    full = run_tap(runs.config, state=None)  # --full-refresh: no state
    assert_same_records(full.stream("audit_trail"), sb.ground_truth(), what="full refresh")


def test_a_longer_lookback_raises_the_bound(sandbox_factory):
    sb = sandbox_factory(data=DataSpec(seed=36, records=200, end=END - HOUR))
    sb.append(late(sb, 1, END - 10 * MINUTE, visible_after=20 * HOUR, seed=6))
    runs = Runs(sb, lookback_minutes=24 * 60)
    for hours in (0, 6, 12, 18, 24):
        runs.run_at(END + hours * HOUR)
    runs.assert_each_change_once(truth_for(sb))


# ---------------------------------------------------------------- clocks


def test_the_bookmark_follows_the_server_clock_not_the_host_clock(sandbox_factory):
    # the host's clock runs a month ahead of the server's here (END is a month ago)
    sb = sandbox_factory(data=DataSpec(seed=37, records=300, end=END - 2 * HOUR))
    runs = Runs(sb)
    first = runs.run_at(END)
    bookmark = first.final_state["bookmarks"]["audit_trail"]
    assert bookmark["replication_key_value"] == END.isoformat(timespec="microseconds")
    assert bookmark["reread_from"] == (END - 6 * HOUR).isoformat(timespec="microseconds")
    sb.append(late(sb, 2, END - 5 * MINUTE, visible_after=HOUR, seed=7))
    runs.run_at(END + 2 * HOUR)
    runs.assert_each_change_once(truth_for(sb))


def test_without_a_date_header_the_bookmark_follows_the_changes(sandbox_factory):
    sb = sandbox_factory(
        data=DataSpec(seed=38, records=300, end=END - 2 * HOUR),
        readings=Readings(date_header=False),
    )
    runs = Runs(sb)
    first = runs.run_at(END)
    last = first.stream("audit_trail")[-1]["changeDate"]
    assert first.final_state["bookmarks"]["audit_trail"]["replication_key_value"] == last
    sb.append(late(sb, 2, END - 5 * MINUTE, visible_after=HOUR, seed=8))
    runs.run_at(END + 2 * HOUR)
    runs.assert_each_change_once(truth_for(sb))


# ---------------------------------------------------------------- one emission per change


def test_consecutive_runs_never_emit_an_id_twice_for_any_stream(sandbox_factory):
    sb = sandbox_factory(
        data=DataSpec(seed=39, records=2500, span_days=4, end=END, late_share=0.3, late_by=4 * HOUR)
    )
    runs = Runs(sb, streams=STREAMS, page_size=70)
    for hours in (0, 1, 3, 6):
        now = END + hours * HOUR
        sb.append(sb.make_records(40, now - 50 * MINUTE, now - MINUTE, seed=hours))
        runs.run_at(now)
    runs.run_at(END + 10 * HOUR)
    runs.assert_each_change_once(truth_for(sb))


# ---------------------------------------------------------------- the dates, in any zone

ZONES = [
    "Etc/GMT+12",  # -12:00, no DST
    "Pacific/Marquesas",  # -09:30
    "US/Eastern",  # -05:00 / -04:00, DST
    "Asia/Kolkata",  # +05:30
    "Australia/Lord_Howe",  # +10:30 / +11:00: a half-hour DST
    "Pacific/Chatham",  # +12:45 / +13:45
    "Pacific/Kiritimati",  # +14:00
]


@pytest.mark.parametrize("inclusive", [False, True], ids=["toDate-exclusive", "toDate-inclusive"])
@pytest.mark.parametrize("zone", ZONES)
def test_the_dates_read_in_a_zone_of_the_servers_own_lose_nothing(sandbox_factory, zone, inclusive):
    readings = Readings(dates_timezone="server", server_timezone=zone, to_date_inclusive=inclusive)
    sb = sandbox_factory(data=DataSpec(seed=40, records=1200, span_days=40), readings=readings)
    config = tap_config(sb, page_size=40, start_date=(END - 41 * 24 * HOUR).isoformat())
    run = run_tap(config)
    assert_same_records(run.stream("audit_trail"), sb.ground_truth(), what=zone)
    assert_in_order_with_unique_ids(run.stream("audit_trail"))


@pytest.mark.parametrize("zone", ["Etc/GMT+12", "Pacific/Kiritimati"])
def test_an_incremental_run_starting_before_the_zones_first_midnight_loses_nothing(
    sandbox_factory, zone
):
    readings = Readings(dates_timezone="server", server_timezone=zone, to_date_inclusive=False)
    # the run starts at 09:00 UTC: before midnight of that date in a zone 12 h behind UTC
    sb = sandbox_factory(data=DataSpec(seed=41, records=600, span_days=3, end=END + 14 * HOUR),
                         readings=readings)  # fmt: skip
    runs = Runs(sb)
    runs.run_at(END + 15 * HOUR)
    sb.append(late(sb, 3, END + 9 * HOUR + 30 * MINUTE, visible_after=2 * HOUR, seed=9))
    second = runs.run_at(END + 17 * HOUR)
    assert len(second.stream("audit_trail")) == 3
    runs.assert_each_change_once(truth_for(sb))


def test_under_the_utc_reading_the_first_window_starts_at_the_start_date(sandbox_factory):
    sb = sandbox_factory(data=DataSpec(seed=42, records=400, span_days=20))
    start = END - 10 * 24 * HOUR + 5 * HOUR
    run_tap(tap_config(sb, start_date=start.isoformat()))
    asked = [e.args for e in sb.stats.log if e.endpoint == "audit" and e.args]
    assert min(a["fromDate"] for a in asked) == start.date().isoformat()


def test_given_a_state_the_run_asks_from_reread_from_and_skips_the_ids_seen(sandbox_factory):
    """In the style of a request test: this state, so these dates asked, these ids skipped."""
    sb = sandbox_factory(data=DataSpec(seed=43, records=600, span_days=6, end=END))
    config = tap_config(sb)
    config.pop("end_date")
    sb.set_clock(END)
    full = run_tap(config).stream("audit_trail")
    reread_from = END - 20 * HOUR  # 04:00 UTC: after the -12:00 midnight, no day-before read
    already = [r for r in full if r["changeDate"] >= reread_from.isoformat()][:5]
    state = {
        "bookmarks": {
            "audit_trail": {
                "replication_key": "changeDate",
                "replication_key_value": END.isoformat(timespec="microseconds"),
                "reread_from": reread_from.isoformat(timespec="microseconds"),
                "seen": [r["id"] for r in already],
            }
        }
    }
    sb.stats.reset()
    again = run_tap(config, state=state).stream("audit_trail")
    asked = [e.args for e in sb.stats.log if e.endpoint == "audit" and e.args]
    assert min(a["fromDate"] for a in asked) == reread_from.date().isoformat()
    assert min(r["changeDate"] for r in again) >= reread_from.isoformat()
    expected = [r for r in full if r["changeDate"] >= reread_from.isoformat()]
    assert {r["id"] for r in again} == {r["id"] for r in expected} - {r["id"] for r in already}
