"""Incremental runs: each run resumes from the last one's state, re-reads the bookmark's
instant (at-least-once), and loses nothing — also when a run is cut short at any message."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import pytest

from tap_lp_audittrail.sandbox import DataSpec, Readings

from .helpers import (
    END,
    Run,
    assert_in_order_with_unique_ids,
    assert_same_records,
    parse_messages,
    run_tap,
    tap_config,
)


def dedupe(records: list[dict]) -> list[dict]:
    """What a target upserting on `id` holds."""
    return list({r["id"]: r for r in records}.values())


def test_a_second_run_adds_exactly_what_is_new(sandbox_factory):
    sb = sandbox_factory(data=DataSpec(seed=21, records=1200, end=END))
    config = tap_config(sb, page_size=80, lookback_minutes=0)
    config.pop("end_date")  # read up to now, as a scheduled run does
    first = run_tap(config)
    assert_same_records(first.stream("audit_trail"), sb.ground_truth(), what="first run")
    assert "progress_markers" not in str(first.final_state)

    now = dt.datetime.now(tz=dt.timezone.utc)
    sb.append(sb.make_records(150, now, now + dt.timedelta(minutes=1), seed=9))
    second = run_tap(config, state=first.final_state)
    bookmark = first.final_state["bookmarks"]["audit_trail"]["replication_key_value"]
    expected = [r for r in sb.ground_truth() if r["changeDate"] >= bookmark]
    assert len(expected) == 150
    assert_same_records(second.stream("audit_trail"), expected, what="second run")
    everything = dedupe(first.stream("audit_trail") + second.stream("audit_trail"))
    assert_same_records(everything, sb.ground_truth(), what="union")


def test_ties_at_the_bookmark_are_read_again_with_the_same_ids(sandbox_factory):
    sb = sandbox_factory(data=DataSpec(seed=22, records=600, end=END))
    config = tap_config(sb, lookback_minutes=0)
    full = run_tap(config).stream("audit_trail")
    by_instant = Counter(r["changeDate"] for r in full)
    instant = next(i for i, n in by_instant.items() if n >= 3)  # a group of ties
    ids_then = sorted(r["id"] for r in full if r["changeDate"] == instant)
    # a run stopped with its bookmark on that instant; since then, two more changes landed in it
    at = dt.datetime.fromisoformat(instant)
    sb.append(sb.make_records(2, at, at + dt.timedelta(microseconds=1), seed=5))
    state = {
        "bookmarks": {
            "audit_trail": {"replication_key": "changeDate", "replication_key_value": instant}
        }
    }
    resumed = run_tap(config, state=state).stream("audit_trail")
    ids_now = [r["id"] for r in resumed if r["changeDate"] == instant]
    assert set(ids_then) < set(ids_now)
    assert len(ids_now) == len(ids_then) + 2
    expected = [r for r in sb.ground_truth() if r["changeDate"] >= instant]
    assert_same_records(resumed, expected, what="resumed at the bookmark's instant")


def test_a_late_write_within_the_look_back_is_caught(sandbox_factory):
    sb = sandbox_factory(data=DataSpec(seed=23, records=400, end=END - dt.timedelta(days=1)))
    sb.set_clock(END)  # the server's time: the look-back is counted back from it
    config = tap_config(sb, lookback_minutes=30)
    first = run_tap(config)
    bookmark = dt.datetime.fromisoformat(
        first.final_state["bookmarks"]["audit_trail"]["replication_key_value"]
    )
    late = sb.make_records(
        2, bookmark - dt.timedelta(minutes=20), bookmark - dt.timedelta(minutes=19), seed=8
    )
    sb.append(late)
    second = run_tap(config, state=first.final_state)
    assert_same_records(
        dedupe(first.stream("audit_trail") + second.stream("audit_trail")),
        sb.ground_truth(),
        what="union with the late write",
    )


@pytest.mark.parametrize(
    "readings",
    [Readings(), Readings(tie_order="shuffled", total_count="page", to_date_inclusive=False)],
)
def test_a_run_cut_at_any_message_resumes_from_its_last_state(sandbox_factory, readings):
    sb = sandbox_factory(data=DataSpec(seed=24, records=1500, end=END), readings=readings)
    config = tap_config(sb, page_size=50, window_days=20)
    full = run_tap(config)
    lines = full.stdout.splitlines()
    truth = sb.ground_truth()
    rng = random.Random(24)
    for cut in sorted(rng.sample(range(1, len(lines)), 12)):
        # The run died after `cut` messages: the target saw those, and the last STATE among them.
        partial = parse_messages("\n".join(lines[:cut]), Run())
        resumed = run_tap(config, state=partial.final_state or None)
        union = dedupe(partial.stream("audit_trail") + resumed.stream("audit_trail"))
        assert_same_records(union, truth, what=f"cut after message {cut}")
        assert_in_order_with_unique_ids(resumed.stream("audit_trail"))


def test_the_state_says_where_each_stream_stands(sandbox_factory):
    sb = sandbox_factory(data=DataSpec(seed=25, records=500, end=END))
    run = run_tap(tap_config(sb), streams=None)
    bookmarks = run.final_state["bookmarks"]
    for name in run.records:
        # a complete read marks the end of what it read, past its last record
        assert bookmarks[name]["replication_key_value"] == END.isoformat(timespec="microseconds")


@pytest.mark.parametrize(
    ("hour", "requests"),
    [
        (15, 1),  # one window, from the bookmark to past the end of the day
        (0, 2),  # and the day before: 12 h behind UTC, the bookmark's date begins after it
    ],
)
def test_a_quiet_stream_does_not_read_its_history_again(sandbox_factory, hour, requests):
    sb = sandbox_factory(data=DataSpec(seed=26, records=2000, end=END - dt.timedelta(days=3)))
    today = dt.datetime.now(tz=dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    sb.set_clock(today + dt.timedelta(hours=hour, minutes=30))  # not the time of day of the host
    config = tap_config(sb, lookback_minutes=5)
    config.pop("end_date")
    first = run_tap(config, streams=["mtls_certifications"])
    requests_first = sb.stats.requests["audit"]
    second = run_tap(config, state=first.final_state, streams=["mtls_certifications"])
    requests_second = sb.stats.requests["audit"] - requests_first
    assert second.stream("mtls_certifications") == []
    assert requests_second == requests < requests_first


def test_streams_filtering_on_the_tap_side_share_one_read(sandbox_factory):
    sb = sandbox_factory(data=DataSpec(seed=27, records=3000, end=END))
    config = tap_config(sb, page_size=100)
    run_tap(config, streams=["audit_trail"])
    one_pass = sb.stats.requests["audit"]
    sb.stats.reset()
    run = run_tap(config, streams=None)
    coded = {"users", "skills", "profiles", "agent_groups"}  # read with componentTypes
    unfiltered = [
        e for e in sb.stats.log if e.endpoint == "audit" and not e.args.get("componentTypes")
    ]
    # twelve streams, one read of everything (window sizes follow timing, so give or take a few)
    assert len(unfiltered) <= 1.2 * one_pass
    assert len(run.records) == 16
    for name, records in run.records.items():
        assert_in_order_with_unique_ids(records)
        if name not in coded and name != "audit_trail":
            object_type = sb.readings.object_types[name]
            assert_same_records(records, sb.ground_truth(object_types=[object_type]), what=name)
