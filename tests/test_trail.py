"""trail.py, in process: TrailRead hands on every change of its range once, in changeDate
order, with a checkpoint after each window, whatever zone the server reads the dates in.

A real AuditClient against the sandbox (a real HTTP server on loopback); no tap, no streams.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from tap_lp_audittrail.api import AuditClient
from tap_lp_audittrail.elements import ObjectTypeIndex, elements_from_config
from tap_lp_audittrail.records import Row
from tap_lp_audittrail.sandbox import DataSpec, Readings
from tap_lp_audittrail.tap import TapLPAuditTrail
from tap_lp_audittrail.trail import Checkpoint, TrailRead

from .helpers import END, assert_same_records, tap_config

DAY = dt.timedelta(days=1)


def read(sb, start: dt.datetime, end: dt.datetime, **settings) -> list[list[Row] | Checkpoint]:
    """Everything a TrailRead of [start, end) hands on, in order."""
    config = TapLPAuditTrail(config=tap_config(sb, "bearer", **settings)).config
    client = AuditClient(config, ObjectTypeIndex(elements_from_config(config)))
    trail = TrailRead(
        client,
        start,
        end,
        (),
        window_days=int(config["window_days"]),
        concurrency=int(config["max_concurrency"]),
        host_time=end,
    )
    try:
        return list(trail)
    finally:
        client.close()


def changes(items: list[list[Row] | Checkpoint]) -> list[Row]:
    return [row for item in items if not isinstance(item, Checkpoint) for row in item]


def in_range(sb, start: dt.datetime, end: dt.datetime) -> list[dict]:
    return [r for r in sb.ground_truth() if start.isoformat() <= r["changeDate"] < end.isoformat()]


@pytest.mark.parametrize(
    "readings",
    [
        Readings(),
        Readings(dates_timezone="server", server_timezone="US/Eastern", to_date_inclusive=True),
        Readings(dates_timezone="server", server_timezone="Pacific/Kiritimati"),
    ],
    ids=["utc", "us-eastern-inclusive", "plus-14"],
)
def test_every_change_of_the_range_is_handed_on_once_in_order(sandbox_factory, readings):
    sb = sandbox_factory(data=DataSpec(seed=51, records=900, span_days=30), readings=readings)
    start, end = END - 31 * DAY, END + DAY
    rows = changes(read(sb, start, end, page_size=50))
    instants = [row.instant for row in rows]
    assert instants == sorted(instants), "handed on out of changeDate order"
    assert_same_records([row.record for row in rows], sb.ground_truth(), what="the trail")


@pytest.mark.parametrize(
    "readings",
    [Readings(), Readings(dates_timezone="server", server_timezone="Etc/GMT+12")],
    ids=["utc", "minus-12"],
)
def test_a_range_inside_the_data_hands_on_its_own_changes_only(sandbox_factory, readings):
    """Behind UTC, the first window's answer begins after the start: the day before is read."""
    sb = sandbox_factory(data=DataSpec(seed=52, records=600, span_days=20), readings=readings)
    start, end = END - 12 * DAY + dt.timedelta(hours=5), END - 3 * DAY + dt.timedelta(hours=7)
    rows = changes(read(sb, start, end, page_size=40))
    assert all(start <= row.instant < end for row in rows)
    assert_same_records([row.record for row in rows], in_range(sb, start, end), what="inside")


def test_each_checkpoint_covers_every_change_handed_on_before_it_and_none_after(sandbox_factory):
    sb = sandbox_factory(data=DataSpec(seed=53, records=600, span_days=20))
    items = read(sb, END - 21 * DAY, END + DAY, page_size=40)
    checkpoints = [item for item in items if isinstance(item, Checkpoint)]
    assert len(checkpoints) > 1, "a checkpoint after each window"
    before: list[Row] = []
    for item in items:
        if isinstance(item, Checkpoint):
            if before:
                assert item.position == before[-1].instant
            continue
        if before:
            assert item[0].instant >= before[-1].instant
        before.extend(item)
    assert Counter(row.instant for row in before).total() == len(sb.ground_truth())
