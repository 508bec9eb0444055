"""How a record becomes a row: its changeDate in UTC whatever the rendering, and its `id`."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_lp_audittrail.records import (
    API_FIELDS,
    FieldTypes,
    IdAssigner,
    MalformedRecordError,
    format_utc,
    parse_change_date,
    parse_utc,
    rows_of_plain_page,
    to_row,
)

UTC = dt.timezone.utc
GMT = ZoneInfo("GMT")
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@pytest.mark.parametrize(
    ("rendered", "expected"),
    [
        ("2019-11-12 06:10:46.0", "2019-11-12T06:10:46.000000+00:00"),
        ("2019-11-12 06:10:46.123", "2019-11-12T06:10:46.123000+00:00"),
        ("2019-11-12 06:10:46.5", "2019-11-12T06:10:46.500000+00:00"),
        ("2019-11-12 06:10:46", "2019-11-12T06:10:46.000000+00:00"),
        ("2019-11-12T06:10:46.123456789Z", "2019-11-12T06:10:46.123456+00:00"),
        ("2019-11-12T01:10:46-05:00", "2019-11-12T06:10:46.000000+00:00"),
        ("2019-11-12 11:10:46+05:00", "2019-11-12T06:10:46.000000+00:00"),
        ("2019-11-12 11:40:46.5+05:30", "2019-11-12T06:10:46.500000+00:00"),
        ("2019-11-12 00:40:46-0530", "2019-11-12T06:10:46.000000+00:00"),
        ("2019-11-12 06:10:46 Z", "2019-11-12T06:10:46.000000+00:00"),
    ],
)
def test_change_date_is_read_as_utc(rendered, expected):
    assert format_utc(parse_change_date(rendered, GMT)) == expected


@pytest.mark.parametrize(
    ("rendered", "expected"),
    [
        ("2025-03-09 01:30:00.0", "2025-03-09T06:30:00.000000+00:00"),  # EST, before the jump
        ("2025-03-09 03:30:00.0", "2025-03-09T07:30:00.000000+00:00"),  # EDT, after it
        ("2025-11-02 00:30:00.0", "2025-11-02T04:30:00.000000+00:00"),  # EDT
        ("2025-11-02 01:30:00.0", "2025-11-02T05:30:00.000000+00:00"),  # twice: the first
        ("2025-11-02 02:30:00.0", "2025-11-02T07:30:00.000000+00:00"),  # EST again
    ],
)
def test_a_time_rendered_in_a_zone_with_dst_takes_the_offset_of_its_date(rendered, expected):
    # The tap asks only for zero-offset zones (api.TIMEZONE_CANDIDATES), where no hour repeats;
    # the reading itself follows the zone's rules on each date, as a DST zone shows. The
    # repeated autumn hour cannot be told apart there, and reads as its first occurrence.
    assert format_utc(parse_change_date(rendered, ZoneInfo("US/Eastern"))) == expected


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


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (17, "changeDate is 17, not a date-time string"),
        ("yesterday", "changeDate 'yesterday' is not in the 'yyyy-MM-dd HH:mm:ss.S' form"),
        ("2019-13-12 06:10:46.0", "changeDate '2019-13-12 06:10:46.0' is not a valid date-time: "),
        ("2019-11-12 06:10:46+24:00", "changeDate '2019-11-12 06:10:46+24:00' is not a valid "),
        ("9999-12-31 23:59:59-05:00", "changeDate '9999-12-31 23:59:59-05:00' is not a valid "),
    ],
)
def test_an_unreadable_change_date_is_named_in_the_error(bad, message):
    with pytest.raises(MalformedRecordError, match="^" + re.escape(message)):
        parse_change_date(bad, GMT)


def test_a_change_date_is_read_in_the_zone_asked_for_not_the_hosts(host_zone_east_of_utc):
    for rendered in ("2019-11-12 06:10:46.0", "2019-11-12T06:10:46Z"):
        parsed = parse_change_date(rendered, GMT)
        assert parsed == dt.datetime(2019, 11, 12, 6, 10, 46, tzinfo=UTC)
        assert parsed.utcoffset() == dt.timedelta(0)
    offset = parse_change_date("2019-11-12 11:10:46+05:00", GMT)
    assert offset.utcoffset() == dt.timedelta(0)
    assert format_utc(offset) == "2019-11-12T06:10:46.000000+00:00"
    row = to_row({"changeDate": "2019-11-12 06:10:46.0"}, ZoneInfo("Atlantic/Reykjavik"))
    assert row.record["changeDate"] == "2019-11-12T06:10:46.000000+00:00"


def test_a_change_date_rendered_in_a_zone_with_an_offset_is_converted():
    row = to_row({"changeDate": "2024-07-01 02:00:00.0"}, ZoneInfo("Europe/Paris"))
    assert row.instant == dt.datetime(2024, 7, 1, tzinfo=UTC)
    assert row.record["changeDate"] == "2024-07-01T00:00:00.000000+00:00"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-01-01T00:00:00Z", dt.datetime(2025, 1, 1, tzinfo=UTC)),
        ("2025-01-01T00:00:00", dt.datetime(2025, 1, 1, tzinfo=UTC)),
        ("2025-01-01T05:00:00+05:00", dt.datetime(2025, 1, 1, tzinfo=UTC)),
        ("2025-01-01", dt.datetime(2025, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_bookmark_or_setting_is_read_as_an_instant_naive_ones_as_utc(value, expected):
    parsed = parse_utc(value)
    assert parsed == expected
    assert parsed.tzinfo is not None


def test_a_record_that_is_not_an_object_or_has_no_readable_date_is_an_error():
    with pytest.raises(MalformedRecordError) as raised:
        to_row(["2024-01-01 00:00:00.0"], GMT)
    assert str(raised.value) == "a record is list, not an object"
    with pytest.raises(MalformedRecordError) as raised:
        to_row({"objectName": "a"}, GMT)
    assert str(raised.value) == "changeDate is None, not a date-time string"
    with pytest.raises(MalformedRecordError) as raised:
        to_row({"changeDate": "2024-13-01 00:00:00.0"}, GMT)
    assert str(raised.value).startswith("changeDate '2024-13-01 00:00:00.0' is not a valid")


def test_other_values_are_kept_as_their_json_text():
    row = to_row(
        {
            "changeDate": "2024-01-01 00:00:00.0",
            "oldValue": True,
            "newValue": False,
            "element": ["On", "Off"],
            "objectName": 1.5,
            "originator": {"x": [1, 2], "name": "Zoë"},
        },
        GMT,
    )
    assert row.record["oldValue"] == "true"
    assert row.record["newValue"] == "false"
    assert row.record["element"] == '["On", "Off"]'
    assert row.record["objectName"] == "1.5"
    assert row.record["originator"] == '{"x": [1, 2], "name": "Zoë"}'


@given(value=json_values.filter(lambda v: v is not None and not isinstance(v, str)))
def test_a_value_of_another_type_is_kept_as_json_text_that_reads_back_as_it(value):
    row = to_row({"changeDate": "2024-01-01 00:00:00.0", "newValue": value}, GMT)
    assert json.loads(row.record["newValue"]) == value


def test_a_field_of_another_type_is_warned_of_once_per_field_and_run(caplog):
    caplog.set_level(logging.WARNING, logger="tap-lp-audittrail")
    types = FieldTypes()
    for n in range(3):
        raw = {
            "changeDate": "2024-01-01 00:00:00.0",
            "oldValue": [n],
            "newValue": {"n": n},
            "originatorIsLpa": "true",
            "objectName": "text, as documented",
        }
        to_row(raw, GMT, types)
    assert [r.getMessage() for r in caplog.records] == [
        "Record field oldValue: the server sent a JSON list where the API documents text; "
        "kept as JSON text (said once per field and run)",
        "Record field newValue: the server sent a JSON object where the API documents text; "
        "kept as JSON text (said once per field and run)",
        "Record field originatorIsLpa: the server sent a JSON string where the API documents "
        "a boolean; read as true when it is the text 'true', else false (said once per field "
        "and run)",
    ]
    caplog.clear()
    to_row({"changeDate": "2024-01-01 00:00:00.0", "oldValue": [9]}, GMT, FieldTypes())
    assert len(caplog.records) == 1, "another run says it again"


@pytest.mark.parametrize(
    ("flag", "read"),
    [(None, None), (True, True), (False, False), ("true", True), (" TRUE ", True), ("no", False)],
)
def test_the_lpa_flag_is_a_boolean_or_null(flag, read):
    raw = {"changeDate": "2024-01-01 00:00:00.0"}
    if flag is not None:
        raw["originatorIsLpa"] = flag
    assert to_row(raw, GMT).record["originatorIsLpa"] is read


def test_ids_are_the_same_in_every_version_of_the_tap():
    """A state's `seen` holds ids written by earlier runs: an id computed differently now would
    emit those changes again."""
    full = to_row(
        {
            "accountId": "1",
            "objectType": "Users",
            "objectName": "a",
            "actionType": "Edit",
            "element": "b",
            "oldValue": "x",
            "newValue": "y",
            "changeDate": "2024-01-01 00:00:00.0",
            "originator": "o",
            "originatorLoginName": "l",
            "originatorUserId": "7",
            "originatorUserAgent": "ua",
            "originatorAuthType": "SSO",
            "originatorIsLpa": False,
        },
        GMT,
    ).record
    ids = IdAssigner()
    assert [ids.assign(dict(full)) for _ in range(2)] == [
        "22268e0554d982310cd57adc17348f61",
        "bc546e056b0bc4eb478abdad0ef8da5d",
    ]
    partial = IdAssigner()  # a record without some fields: they count as null
    assert [partial.assign(record()) for _ in range(3)] == [
        "cf23c67d7a720038fa05e451af06d13e",
        "b3a8154b5d35da34c834a58633f0b33b",
        "26302f337581b1dff0b6f9fa0c9bc66f",
    ]


def test_the_occurrence_count_starts_again_at_each_instant():
    ids = IdAssigner()
    first = ids.assign(record())
    later = ids.assign(record(changeDate="2024-01-01T00:00:01.000000+00:00"))
    again = IdAssigner().assign(record(changeDate="2024-01-01T00:00:01.000000+00:00"))
    assert later == again
    assert ids.assign(record()) == first  # the same group read again gives the same ids


def documented(**fields):
    base = dict.fromkeys(API_FIELDS)
    base.update(changeDate="2024-01-01 00:00:00.0", objectName="a")
    return {**base, **fields}


def test_a_page_exactly_as_documented_gives_the_rows_to_row_gives():
    records = [
        documented(objectName="a", originatorIsLpa=True),
        documented(objectName="b"),
        documented(changeDate="2024-01-01 00:00:01.5", accountId="9"),
    ]
    body = json.dumps({"data": {"auditData": records}}).encode()
    rows = rows_of_plain_page(body, GMT)
    assert rows == [to_row(r, GMT) for r in records]
    assert rows[2].instant == dt.datetime(2024, 1, 1, 0, 0, 1, 500_000, tzinfo=UTC)
    assert rows_of_plain_page(b'{"data": {"auditData": []}}', GMT) == []


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"auditData": [documented(accountId=1)]}},
        {"data": {"auditData": [documented(changeDate="2024-13-01 00:00:00.0")]}},
        {"data": {"auditData": [documented(changeDate=None)]}},
        {"data": {"auditData": None}},
        {"data": None},
        {"errors": [{"message": "boom"}], "data": {"auditData": []}},
    ],
)
def test_an_answer_other_than_documented_is_left_to_the_reading_field_by_field(body):
    assert rows_of_plain_page(json.dumps(body).encode(), GMT) is None
    assert rows_of_plain_page(b"[" * 10_000 + b"]" * 10_000, GMT) is None
