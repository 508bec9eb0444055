"""How a record becomes a row: its changeDate in UTC whatever the rendering, and its `id`."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_lp_audittrail.records import (
    IdAssigner,
    MalformedRecordError,
    format_utc,
    parse_change_date,
    to_row,
)

UTC = dt.timezone.utc
GMT = ZoneInfo("GMT")


@pytest.mark.parametrize(
    ("rendered", "expected"),
    [
        ("2019-11-12 06:10:46.0", "2019-11-12T06:10:46.000000+00:00"),
        ("2019-11-12 06:10:46.123", "2019-11-12T06:10:46.123000+00:00"),
        ("2019-11-12 06:10:46.5", "2019-11-12T06:10:46.500000+00:00"),
        ("2019-11-12 06:10:46", "2019-11-12T06:10:46.000000+00:00"),
        ("2019-11-12T06:10:46.123456789Z", "2019-11-12T06:10:46.123456+00:00"),
        ("2019-11-12T01:10:46-05:00", "2019-11-12T06:10:46.000000+00:00"),
    ],
)
def test_change_date_is_read_as_utc(rendered, expected):
    assert format_utc(parse_change_date(rendered, GMT)) == expected


def test_the_autumn_dst_hour_cannot_be_ambiguous_in_the_zones_the_tap_asks_for():
    # 2025-11-02 01:30 happens twice in US/Eastern; the tap asks for zero-offset zones, in
    # which every rendered time is one instant.
    for zone in ("UTC", "GMT", "Etc/GMT", "Atlantic/Reykjavik", "Africa/Abidjan"):
        first = parse_change_date("2025-11-02 05:30:00.0", ZoneInfo(zone))
        second = parse_change_date("2025-11-02 06:30:00.0", ZoneInfo(zone))
        assert second - first == dt.timedelta(hours=1)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        17,
        "",
        "yesterday",
        "2019-13-12 06:10:46.0",
        "2019-11-12 25:10:46.0",
        "2019/11/12 06:10:46",
    ],
)
def test_an_unreadable_change_date_is_an_error_not_a_guess(bad):
    with pytest.raises(MalformedRecordError):
        parse_change_date(bad, GMT)


def record(**fields):
    base = {
        "accountId": "1",
        "objectType": "Users",
        "objectName": "a",
        "element": "b",
        "oldValue": "x",
        "newValue": "y",
        "changeDate": "2024-01-01T00:00:00.000000+00:00",
    }
    return {**base, **fields}


def test_identical_records_get_distinct_ids_and_the_same_ids_on_every_read():
    first, second = IdAssigner(), IdAssigner()
    ids_a = [first.assign(record()) for _ in range(3)]
    ids_b = [second.assign(record()) for _ in range(3)]
    assert len(set(ids_a)) == 3
    assert ids_a == ids_b


def test_the_id_does_not_depend_on_action_type_or_on_the_order_of_ties():
    a, b = record(objectName="a"), record(objectName="b")
    one, two = IdAssigner(), IdAssigner()
    ids_one = {one.assign(dict(r)): r["objectName"] for r in (a, b)}
    ids_two = {two.assign(dict(r, actionType="Edit")): r["objectName"] for r in (b, a)}
    assert ids_one == ids_two


def test_any_change_of_content_changes_the_id():
    base = IdAssigner().assign(record())
    for field in ("accountId", "objectType", "objectName", "element", "oldValue", "newValue"):
        assert IdAssigner().assign(record(**{field: "other"})) != base
    assert IdAssigner().assign(record(changeDate="2024-01-01T00:00:01.000000+00:00")) != base


def test_api_values_are_kept_as_text_and_booleans():
    row = to_row(
        {
            "changeDate": "2024-01-01 00:00:00.0",
            "accountId": 123,
            "originatorIsLpa": "true",
            "oldValue": "",
            "newValue": None,
            "unexpected": "dropped",
        },
        GMT,
    )
    assert row.record["accountId"] == "123"
    assert row.record["originatorIsLpa"] is True
    assert row.record["oldValue"] == ""
    assert row.record["newValue"] is None
    assert "unexpected" not in row.record
    assert row.instant == dt.datetime(2024, 1, 1, tzinfo=UTC)


@given(
    instant=st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2999, 12, 31)),
    digits=st.integers(min_value=0, max_value=9),
    zone=st.sampled_from(["UTC", "GMT", "Etc/GMT", "Atlantic/Reykjavik"]),
)
def test_the_quick_path_for_utc_renderings_agrees_with_the_general_one(instant, digits, zone):
    fraction = f"{instant.microsecond:06d}{'123'}"[:digits]
    rendered = instant.strftime("%Y-%m-%d %H:%M:%S") + (f".{fraction}" if digits else "")
    row = to_row({"changeDate": rendered}, ZoneInfo(zone))
    assert row.record["changeDate"] == format_utc(parse_change_date(rendered, ZoneInfo(zone)))
    assert row.instant == parse_change_date(rendered, ZoneInfo(zone))
