"""Completeness under every reading of the API: the emitted records equal the sandbox's ground
truth, exactly, per stream.

The readings matrix is a 12-run two-level orthogonal array (Plackett-Burman): every pair of
switch values meets in at least one run, so an interaction of two readings cannot hide.
"""

from __future__ import annotations

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

# Each factor: (Readings field, value at "-", value at "+").
FACTORS = [
    ("to_date_inclusive", True, False),
    ("dates_timezone", "requested", "utc"),
    ("total_count", "total", "page"),
    ("above_max_page_size", "cap", "error"),
    ("tie_order", "stable", "shuffled"),
    ("utc_accepted", True, False),
    ("action_type", "served", "refused"),
    ("unknown_component_type", "error", "ignore"),
    ("subsecond", False, True),
    ("validation_error_status", 400, 200),
    ("max_page_size", 1000, 45),  # bursts reach 40: above a page under shuffled ties is an error
]
# Plackett-Burman design for 11 factors in 12 runs.
_ROW = "++-+++---+-"
DESIGN = [_ROW[-i:] + _ROW[:-i] for i in range(11)] + ["-" * 11]


def readings_for(signs: str) -> Readings:
    values = {
        name: (plus if sign == "+" else minus)
        for (name, minus, plus), sign in zip(FACTORS, signs, strict=True)
    }
    return Readings(**values)


@pytest.mark.parametrize("signs", DESIGN)
def test_every_stream_equals_ground_truth(sandbox_factory, signs):
    readings = readings_for(signs)
    sb = sandbox_factory(
        data=DataSpec(seed=len(signs) + signs.count("+"), records=1500, end=END),
        readings=readings,
        seed=7,
    )
    run = run_tap(tap_config(sb, page_size=60, window_days=30), streams=None)
    served = readings.action_type == "served"
    assert_same_records(
        run.stream("audit_trail"), sb.ground_truth(), action_type=served, what="audit_trail"
    )
    for element in ELEMENTS:
        object_type = sb.readings.object_types[element.stream]
        truth = sb.ground_truth(object_types=[object_type])
        assert_same_records(
            run.stream(element.stream), truth, action_type=served, what=element.stream
        )
    for records in run.records.values():
        assert_in_order_with_unique_ids(records)
