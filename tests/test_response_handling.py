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

from tap_lp_audittrail.api import AuditClient, _total
from tap_lp_audittrail.errors import ServerAnswerError
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
QUERY_WINDOW = Window(dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2025, 1, 8, tzinfo=UTC))
QUERY = CLIENT.query(QUERY_WINDOW, 0, 50, ())


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
    return found if isinstance(found, list) else None  # null is no page: never "no changes"


def _count_fits(header: str | None, served: int, offset: int) -> bool:
    """Whether X-Total-Count reads as the page's size, or as a total that fits the page."""
    try:
        count = int(header) if header is not None else None
    except ValueError:
        return True  # unreadable: ignored
    if count is None or count == served:
        return True
    return count >= 0 and (count <= offset if served == 0 else count >= offset + served)


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
        assert 200 <= status < 300, f"a page was read from an HTTP {status}"
        assert len(rows) == len(expected), "a record was dropped or invented"
        count = next((v for k, v in header.items() if k.lower() == "x-total-count"), None)
        assert _count_fits(count, len(rows), QUERY.offset), "a count that contradicts its page"
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
@example(status=200, body=b'{"data": {"auditData": []}}', header={"X-Total-Count": "-5"})
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


@st.composite
def pages_and_counts(draw: st.DrawFn) -> tuple[list, str | None]:
    """A page of records, and an X-Total-Count that fits it (or none, or an unreadable one)."""
    page = draw(st.lists(good_records, max_size=40))
    fitting = st.integers(len(page), 10**6) if page else st.just(0)
    unreadable = st.text(max_size=4).filter(lambda text: _total(text) is None)
    total = draw(st.one_of(st.none(), fitting.map(str), unreadable))
    return page, total


@settings(max_examples=300, deadline=None, database=None)
@given(page_and_total=pages_and_counts())
def test_a_page_of_records_loses_none(page_and_total):
    """Records whose changeDate reads, with any other field values: every one comes out."""
    page, total = page_and_total
    body = json.dumps({"data": {"auditData": page}}).encode()
    outcome = check(200, body, {} if total is None else {"X-Total-Count": total})
    assert outcome == f"{len(page)} records"


#: Answers that hold no list of records: each is malformed, never an empty page.
NOT_A_PAGE = {
    "auditData null": {"data": {"auditData": None}},
    "auditData an object": {"data": {"auditData": {}}},
    "auditData a string": {"data": {"auditData": ""}},
    "auditData a number": {"data": {"auditData": 0}},
    "no auditData": {"data": {}},
    "data null": {"data": None},
    "data a list": {"data": []},
    "an empty object": {},
    "a record that is a number": {"data": {"auditData": [1]}},
    "a record that is null": {"data": {"auditData": [None]}},
    "a record that is a list": {"data": {"auditData": [[]]}},
    "an empty errors list beside a null auditData": {"errors": [], "data": {"auditData": None}},
}


@pytest.mark.parametrize("case", list(NOT_A_PAGE))
def test_an_answer_without_a_list_of_records_is_retried_never_read_as_no_changes(case):
    body = json.dumps(NOT_A_PAGE[case]).encode()
    with pytest.raises(ServerAnswerError):
        CLIENT._read_page(answer(200, body, {}), query=QUERY, label="page")


#: (records on the page, its offset, X-Total-Count): whether the count fits the page.
COUNTS = {
    "an empty page whose count announces records from its offset on": (0, 0, "500", False),
    "an empty page past the end of its count": (0, 600, "500", True),
    "an empty page, count 0": (0, 0, "0", True),
    "an empty page, a negative count": (0, 0, "-1", False),
    "a count below the records served": (10, 0, "3", False),
    "a negative count": (10, 0, "-5", False),
    "a count of 0 beside records": (10, 0, "0", False),
    "the page's size": (10, 40, "10", True),
    "a total": (10, 40, "500", True),
    "a total ending with the page": (10, 40, "50", True),
    "a total ending before the page does": (10, 40, "49", False),
    "no count": (10, 40, None, True),
    "an unreadable count": (10, 40, "many", True),
}


@pytest.mark.parametrize("case", list(COUNTS))
def test_a_count_that_contradicts_its_page_makes_the_answer_malformed(case):
    served, offset, count, fits = COUNTS[case]
    page = [{"changeDate": f"2025-01-01 00:00:{i:02d}.0"} for i in range(served)]
    body = json.dumps({"data": {"auditData": page}}).encode()
    query = CLIENT.query(QUERY_WINDOW, offset, 50, ())
    headers = {} if count is None else {"X-Total-Count": count}
    if fits:
        rows, _ = CLIENT._read_page(answer(200, body, headers), query=query, label="page")
        assert len(rows) == served
    else:
        with pytest.raises(ServerAnswerError, match="X-Total-Count"):
            CLIENT._read_page(answer(200, body, headers), query=query, label="page")


@pytest.mark.parametrize("status", [300, 302, 304, 307])
def test_an_answer_of_another_status_than_2xx_is_never_a_page(status):
    body = json.dumps({"data": {"auditData": []}}).encode()
    with pytest.raises(FatalAPIError, match=f"HTTP {status}"):
        CLIENT._read_page(
            answer(status, body, {"Location": "http://127.0.0.1:9/"}), query=QUERY, label="page"
        )


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
