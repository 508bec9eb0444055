"""The readings report keeps a few numbers per answer and per quarter hour, never per record,
and answers from them what it answered from every instant."""

from __future__ import annotations

import bisect
import datetime as dt
import json
import tracemalloc

import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from tap_lp_audittrail.readings import QUARTER, RunReadings, Seen

URL = "https://va.example/api/account/123/configuration/metadata/audit"
DAY = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)


def answer(day: dt.datetime, offset: int, seconds: list[int]) -> requests.Response:
    """An audit answer of the records at `day` + each of `seconds`, dates read in UTC."""
    to_date = (day + dt.timedelta(days=1)).date().isoformat()
    query = (
        f'{{auditData(fromDate: "{day.date().isoformat()}", toDate: "{to_date}", '
        f'first: {len(seconds)}, offset: {offset}, timezone: "UTC") {{ changeDate }}}}'
    )
    response = requests.Response()
    response.status_code = 200
    response.request = requests.Request("POST", URL, json={"query": query}).prepare()
    dates = [(day + dt.timedelta(seconds=s)).strftime("%Y-%m-%d %H:%M:%S.0") for s in seconds]
    response._content = json.dumps(
        {"data": {"auditData": [{"changeDate": d} for d in dates]}}
    ).encode()
    return response


def test_the_memory_kept_does_not_grow_with_the_records_of_a_day():
    """Ten times the records of one day, in as many answers of a hundred: the report keeps ten
    times the answers' few numbers, and nothing per record (it kept every instant)."""
    kept = []
    for records in (2_000, 20_000):
        seconds = sorted((i * 86_399) // records for i in range(records))
        pages = [answer(DAY, n, seconds[n : n + 100]) for n in range(0, records, 100)]
        readings = RunReadings()
        tracemalloc.start()
        for page in pages:
            readings.observe(page)
        kept.append(tracemalloc.get_traced_memory()[0])
        tracemalloc.stop()
        assert len(readings.pages) == records // 100
        assert readings.report()["audit_answers"] == records // 100
    per_answer = (kept[1] - kept[0]) / (20_000 // 100 - 2_000 // 100)
    assert per_answer < 1_000, f"{per_answer:.0f} bytes kept per answer of 100 records"


@settings(max_examples=300, deadline=None)
@given(
    seconds=st.lists(st.integers(0, 3 * 86_400), max_size=60),
    lo=st.integers(0, 3 * 86_400 // QUARTER),
    span=st.integers(0, 3 * 86_400),
    edge=st.sampled_from(["lo on the grid", "hi on the grid", "both"]),
    after_lo=st.booleans(),
)
def test_the_quarter_hours_answer_like_every_instant_when_one_end_is_a_midnight(
    seconds, lo, span, edge, after_lo
):
    """Every zone's midnight is on a quarter hour of UTC: a question with one end there (as
    every question of the report has) gets the answer the sorted instants gave."""
    instants = sorted(float(s) + 0.5 * (s % 3) for s in seconds)
    seen = Seen()
    seen.add(instants)
    seen.freeze()
    if edge == "lo on the grid":  # from a midnight, included, to an instant
        after_lo = False
        low, high = float(lo * QUARTER), float(lo * QUARTER + span) + 0.25
    elif edge == "hi on the grid":  # from an instant to a midnight
        high = float(lo * QUARTER)
        low = high - span - 0.25
    else:
        low, high = float(lo * QUARTER), float(lo * QUARTER + (span // QUARTER) * QUARTER)
    start = bisect.bisect_right(instants, low) if after_lo else bisect.bisect_left(instants, low)
    exact = start < bisect.bisect_left(instants, high)
    assert seen.between(low, high, after_lo=after_lo) == exact
