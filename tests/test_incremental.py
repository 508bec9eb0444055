"""Incremental runs: each run resumes from the last one's state, re-reads the bookmark's
instant (at-least-once), and loses nothing — also when a run is cut short at any message."""

from __future__ import annotations

import datetime as dt
import random

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
    sb = sandbox_factory(data=DataSpec(seed=21, records=1200, end=END - dt.timedelta(days=2)))
    config = tap_config(sb, page_size=80, lookback_minutes=0)
    first = run_tap(config)
    assert_same_records(first.stream("audit_trail"), sb.ground_truth(), what="first run")
    assert "progress_markers" not in str(first.final_state)

    new = sb.make_records(150, END - dt.timedelta(days=2), END - dt.timedelta(hours=1), seed=9)
    sb.append(new)
    second = run_tap(config, state=first.final_state)
    bookmark = first.final_state["bookmarks"]["audit_trail"]["replication_key_value"]
    # the second run reads from the bookmark on: the new records plus the bookmark's own instant
    expected = [r for r in sb.ground_truth() if r["changeDate"] >= bookmark]
    assert_same_records(second.stream("audit_trail"), expected, what="second run")
    everything = dedupe(first.stream("audit_trail") + second.stream("audit_trail"))
    assert_same_records(everything, sb.ground_truth(), what="union")


def test_ties_at_the_bookmark_are_read_again_with_the_same_ids(sandbox_factory):
    sb = sandbox_factory(data=DataSpec(seed=22, records=300, end=END))
    last = sb.ground_truth()[-1]
    instant = dt.datetime.fromisoformat(last["changeDate"])
    config = tap_config(sb, lookback_minutes=0)
    first = run_tap(config)
    # three more changes land in the bookmark's second, after the first run read it
    sb.append(sb.make_records(3, instant, instant + dt.timedelta(microseconds=1), seed=5))
    second = run_tap(config, state=first.final_state)
    at_bookmark = [r for r in second.stream("audit_trail") if r["changeDate"] == last["changeDate"]]
    old_ids = {r["id"] for r in first.stream("audit_trail")}
    assert len([r for r in at_bookmark if r["id"] in old_ids]) >= 1
    assert_same_records(
        dedupe(first.stream("audit_trail") + second.stream("audit_trail")),
        sb.ground_truth(),
        what="union",
    )


def test_a_late_write_within_the_look_back_is_caught(sandbox_factory):
    sb = sandbox_factory(data=DataSpec(seed=23, records=400, end=END - dt.timedelta(days=1)))
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
    for name, records in run.records.items():
        assert bookmarks[name]["replication_key_value"] == records[-1]["changeDate"]
