"""Completeness under every reading of the API: across two runs, the emitted records equal the
sandbox's ground truth exactly, per stream, and no run emits an `id` an earlier run emitted.

The readings matrix is a 16-run two-level orthogonal array (the columns of a Sylvester Hadamard
matrix): every pair of switch values meets in four runs, so an interaction of two readings
cannot hide. Each run of the matrix is two runs of the tap, the second with the first's state
and the sandbox's clock moved on, so that changes shown late are in play.
"""

from __future__ import annotations

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
EVERY_STREAM = ["audit_trail", *(e.stream for e in ELEMENTS)]
#: Streams whose componentTypes codes are known: selected alone, the read filters on the server.
CODED = ["users", "skills", "agent_groups", "profiles"]
#: Zones the "server" reading of the dates takes, one per run (DST, half hours, both ends).
SERVER_ZONES = [
    "US/Eastern",
    "Etc/GMT+12",
    "Asia/Kolkata",
    "Pacific/Kiritimati",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Pacific/Chatham",
    "Europe/London",
]

# Each factor: (name, value at "-", value at "+"). Readings fields, and three of the run's own.
FACTORS = [
    ("to_date_inclusive", True, False),
    ("dates_timezone", "requested", "server"),
    ("total_count", "total", "page"),
    ("above_max_page_size", "cap", "error"),
    ("tie_order", "stable", "shuffled"),
    ("utc_accepted", True, False),
    ("action_type", "served", "refused"),
    ("unknown_component_type", "error", "ignore"),
    ("subsecond", False, True),
    ("validation_error_status", 400, 200),
    ("max_page_size", 1000, 45),  # bursts reach 40: above a page under shuffled ties is an error
    ("date_header", True, False),
    ("late", False, True),  # changes of the last hours become visible up to 5 h late
    ("streams", "every", "coded"),  # every stream, or only the four with componentTypes codes
]
READINGS_FIELDS = {name for name, _, _ in FACTORS} - {"late", "streams"}


def hadamard(order: int) -> list[list[int]]:
    rows = [[1]]
    while len(rows) < order:
        rows = [r + r for r in rows] + [r + [-x for x in r] for r in rows]
    return rows


DESIGN = ["".join("+" if x > 0 else "-" for x in row[1 : len(FACTORS) + 1]) for row in hadamard(16)]


def settings_for(signs: str) -> dict:
    return {
        name: (plus if sign == "+" else minus)
        for (name, minus, plus), sign in zip(FACTORS, signs, strict=True)
    }


def test_the_design_is_orthogonal():
    for i in range(len(FACTORS)):
        for j in range(i + 1, len(FACTORS)):
            pairs = Counter((row[i], row[j]) for row in DESIGN)
            assert set(pairs.values()) == {4}, (FACTORS[i][0], FACTORS[j][0])


@pytest.mark.parametrize("signs", DESIGN)
def test_every_stream_equals_ground_truth_across_two_runs(sandbox_factory, signs):
    settings = settings_for(signs)
    number = DESIGN.index(signs)
    # With late changes in play, the zone is the furthest behind UTC: the second run then
    # starts (03:00 UTC) before that zone's midnight, where the dates' edges matter most.
    zone = "Etc/GMT+12" if settings["late"] else SERVER_ZONES[number % len(SERVER_ZONES)]
    readings = Readings(
        **{k: v for k, v in settings.items() if k in READINGS_FIELDS}, server_timezone=zone
    )
    late = {"late_share": 0.4, "late_by": 5 * HOUR} if settings["late"] else {}
    sb = sandbox_factory(
        data=DataSpec(seed=100 + number, records=1200, span_days=10, end=END + 8 * HOUR, **late),
        readings=readings,
        seed=7,
    )
    streams = EVERY_STREAM if settings["streams"] == "every" else CODED
    config = tap_config(sb, page_size=60, window_days=30)
    config["start_date"] = (END - 12 * 24 * HOUR).isoformat()
    config.pop("end_date")
    sb.set_clock(END + 9 * HOUR)
    first = run_tap(config, streams=streams)
    sb.set_clock(END + 15 * HOUR)
    second = run_tap(config, state=first.final_state, streams=streams)

    served = readings.action_type == "served"
    for name in streams:
        emitted = first.stream(name) + second.stream(name)
        if name == "audit_trail":
            truth = sb.ground_truth()
        else:
            truth = sb.ground_truth(object_types=[sb.readings.object_types[name]])
        assert_same_records(emitted, truth, action_type=served, what=name)
        again = {r["id"] for r in first.stream(name)} & {r["id"] for r in second.stream(name)}
        assert not again, f"{name}: {len(again)} ids emitted by both runs"
        assert_in_order_with_unique_ids(first.stream(name))
        assert_in_order_with_unique_ids(second.stream(name))
    if settings["late"]:
        assert any(second.stream(name) for name in streams), "no late change was in play"
