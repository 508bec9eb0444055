"""Server answers: whatever body, status and headers the server sends, the tap's reading of an
answer yields valid records, one per record of the body, or a clear error the run knows how to
handle (retry, adapt, renew, or stop with a message), never a stray exception.

The answers are real `requests.Response` objects handed to the same method the transport calls
(`AuditClient._read_page`); the HTTP path itself is covered against the sandbox elsewhere.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_lp_audittrail.api import AuditClient
from tap_lp_audittrail.records import API_FIELDS, MalformedRecordError, parse_utc, to_row
from tap_lp_audittrail.streams import ObjectTypeIndex, elements_from_config
from tap_lp_audittrail.tap import TapLPAuditTrail
from tap_lp_audittrail.windows import Window

from ._reliability import note

UTC = dt.timezone.utc
CONFIG = {
    "account_id": "12345678",
    "app_key": "k" * 8,
    "app_secret": "s" * 8,
    "access_token": "t" * 8,
    "access_token_secret": "u" * 8,
    "domain": "127.0.0.1:9",
}
#: Every error a page answer may end in: each is retried, adapted to, or stops the run clearly.
HANDLED = (FatalAPIError, RetriableAPIError)
SEEN: dict[str, int] = {}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def change_dates(draw: st.DrawFn) -> Any:
    """Mostly plausible renderings of changeDate, with broken ones among them."""
    instant = draw(
        st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30))
    )
    text = instant.strftime("%Y-%m-%d %H:%M:%S")
    return draw(
        st.sampled_from(
            [
                f"{text}.0",
                f"{text}.{instant.microsecond:06d}",
                text.replace(" ", "T") + "Z",
                f"{text}+05:30",
                f"{text}-23:59",
                f"{text}+99:99",
                text[:10],
                "",
            ]
        )
        | json_values
    )


field_values = st.one_of(st.none(), st.text(max_size=30), json_values)
records = st.fixed_dictionaries(
    {"changeDate": change_dates()},
    optional={name: field_values for name in API_FIELDS if name != "changeDate"}
    | {"originatorIsLpa": st.one_of(st.booleans(), field_values), "extra": json_values},
)
audit_data = st.one_of(
    st.lists(records, max_size=6), st.lists(json_values, max_size=3), json_values
)
bodies = st.one_of(
    st.builds(lambda data: {"data": {"auditData": data}}, audit_data),
    st.builds(
        lambda data, errors: {"data": data, "errors": errors},
        st.one_of(st.none(), st.builds(lambda d: {"auditData": d}, audit_data)),
        st.one_of(
            st.lists(st.fixed_dictionaries({"message": st.text(max_size=40)}), max_size=2),
            json_values,
        ),
    ),
    json_values,
)
raw_bodies = st.one_of(
    bodies.map(lambda body: json.dumps(body).encode()),
    st.binary(max_size=60),
    st.text(max_size=60).map(str.encode),
)
statuses = st.sampled_from(
    [200, 200, 200, 200, 201, 204, 302, 400, 401, 403, 404, 409, 429, 500, 502, 503]
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "X-Total-Count": st.one_of(st.integers(-5, 10**20).map(str), st.text(max_size=8)),
        "Retry-After": st.one_of(st.integers(0, 5).map(str), st.text(max_size=12)),
        "Content-Type": st.sampled_from(
            ["application/json", "text/html", "application/json; charset=latin-1", ""]
        ),
    },
)


def _client() -> AuditClient:
    config = TapLPAuditTrail(config=CONFIG, parse_env_config=False).config
    return AuditClient(config, ObjectTypeIndex(elements_from_config(config)))


CLIENT = _client()
QUERY = CLIENT.query(
    Window(dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2025, 1, 8, tzinfo=UTC)), 0, 50, ()
)


def answer(status: int, body: bytes, header: dict[str, str]) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers = CaseInsensitiveDict(header)
    response.url = "http://127.0.0.1:9/api/account/12345678/configuration/metadata/audit"
    response.reason = "reason"
    response.request = requests.Request("POST", response.url).prepare()
    return response


def _records_in(body: bytes) -> list | None:
    """The list the tap must read records from, if the body is a readable answer."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or value.get("errors"):
        return None
    data = value.get("data")
    if not isinstance(data, dict) or "auditData" not in data:
        return None
    found = data["auditData"]
    return [] if found is None else found if isinstance(found, list) else None


def check(status: int, body: bytes, header: dict[str, str]) -> str:
    """One answer through the tap; returns how it ended."""
    try:
        rows, total = CLIENT._read_page(answer(status, body, header), query=QUERY, label="page")
    except HANDLED as exc:
        outcome, message = type(exc).__name__, str(exc)
    else:
        message = "read"
        expected = _records_in(body)
        assert expected is not None, "a page was read from an answer that holds none"
        assert len(rows) == len(expected), "a record was dropped or invented"
        for row in rows:
            assert set(row.record) == set(API_FIELDS)
            assert parse_utc(row.record["changeDate"]) == row.instant
            assert row.record["originatorIsLpa"] in (None, True, False)
        assert total is None or isinstance(total, int)
        outcome = f"{len(rows)} records"
    # (A 401's own text may be empty: the run's message names the credentials refused.)
    assert message or outcome == "UnauthorizedError", "an error without a message"
    SEEN[outcome] = SEEN.get(outcome, 0) + 1
    return outcome


@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
@given(status=statuses, body=raw_bodies, header=headers)
@example(status=200, body=b"[" * 100_000 + b"]" * 100_000, header={})
@example(status=500, body=b"[" * 100_000 + b"]" * 100_000, header={})
@example(status=200, body=b'{"data": {"auditData": null}}', header={"X-Total-Count": "x"})
@example(
    status=200,
    body=b'{"data": {"auditData": [{"changeDate": "9999-12-31 23:59:59-05:00"}]}}',
    header={},
)
@example(
    status=200,
    body=b'{"data": {"auditData": [{"changeDate": "2025-01-01 00:00:00+99:99"}]}}',
    header={},
)
@example(status=200, body=b'{"errors": [{"message": "Validation error"}]}', header={})
@example(status=200, body=b'{"errors": "boom", "data": {"auditData": []}}', header={})
@example(status=401, body=b"oauth_problem=signature_invalid", header={})
@example(status=200, body=b"\xff\xfe{", header={"Content-Type": "application/json"})
def test_any_answer_yields_records_or_a_clear_error(status, body, header):
    check(status, body, header)


good_dates = st.builds(
    lambda instant, form: instant.strftime(form),
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2035, 1, 1)),
    st.sampled_from(
        ["%Y-%m-%d %H:%M:%S.0", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S"]
    ),
)
good_records = st.fixed_dictionaries(
    {"changeDate": good_dates},
    optional={name: field_values for name in API_FIELDS if name != "changeDate"},
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    page=st.lists(good_records, max_size=40),
    total=st.one_of(st.none(), st.integers(0, 10**6).map(str), st.text(max_size=4)),
)
def test_a_page_of_records_loses_none(page, total):
    """Records whose changeDate reads, with any other field values: every one comes out."""
    body = json.dumps({"data": {"auditData": page}}).encode()
    outcome = check(200, body, {} if total is None else {"X-Total-Count": total})
    assert outcome == f"{len(page)} records"


@settings(max_examples=300, deadline=None, database=None)
@given(raw=st.one_of(records, json_values), zone=st.sampled_from(["UTC", "GMT", "Etc/UTC"]))
def test_to_row_reads_a_record_or_says_why_not(raw, zone):
    try:
        row = to_row(raw, ZoneInfo(zone))
    except MalformedRecordError as exc:
        message = str(exc)
    else:
        message = "read"
        assert row.record["changeDate"] == row.instant.astimezone(UTC).isoformat(
            timespec="microseconds"
        )
    assert message


@pytest.fixture(scope="module", autouse=True)
def _figures():
    yield
    note("answers", examples=sum(SEEN.values()), outcomes=dict(SEEN))
