"""The audit endpoint: arguments, filters, rendering, every Readings switch, ground truth."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tap_lp_audittrail.sandbox import ELEMENTS, DataSpec, Readings
from tests.sandbox.helpers import fetch_all, gql, post, records

UTC = timezone.utc
END = datetime(2026, 11, 1, tzinfo=UTC)
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+$")
ALL = 'fromDate: "2025-01-01", toDate: "2026-12-31", lpa: true, automaticUpdates: true'


def _utc(change_date: str, tz: str) -> datetime:
    """A changeDate string in zone tz -> aware UTC (ambiguous in the DST hour: fold=0)."""
    return datetime.fromisoformat(change_date).replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


def test_elements_interface():
    assert len(ELEMENTS) == 15
    assert list(ELEMENTS)[:3] == ["users", "skills", "agent_groups"]
    assert ELEMENTS["lines_of_business"] == "LOBs"


def test_full_extraction_equals_ground_truth(sandbox):
    got = fetch_all(sandbox, ALL + ', orderDirection: ["ASC"], timezone: "UTC"')
    truth = sandbox.ground_truth()
    assert len(got) == len(truth) == 2000
    assert X_total(sandbox, ALL) == 2000
    for g, t in zip(got, truth, strict=True):
        assert _utc(g["changeDate"], "UTC") == datetime.fromisoformat(t["changeDate"])
        assert {k: v for k, v in g.items() if k != "changeDate"} == {
            k: v for k, v in t.items() if k != "changeDate"
        }
        assert DATE_RE.match(g["changeDate"])
    # realism: bursts, duplicates, DST hour, foreign types, awkward values, nulls
    seconds = Counter(t["changeDate"][:19] for t in truth)
    assert max(seconds.values()) >= 5
    keys = Counter(tuple(sorted(t.items())) for t in truth)
    assert max(keys.values()) >= 2
    dst = [t for t in truth if "2025-11-02T05:00" <= t["changeDate"] < "2025-11-02T07:00"]
    assert len(dst) >= 10
    types = {t["objectType"] for t in truth}
    assert set(ELEMENTS.values()) <= types
    assert types - set(ELEMENTS.values())
    values = [t["oldValue"] for t in truth] + [t["newValue"] for t in truth]
    assert None in values
    assert "" in values
    assert any(v and "\n" in v for v in values)
    assert any(v and '"' in v for v in values)
    assert any(t["element"] == "N/A" and t["oldValue"] == "" for t in truth)
    assert any(t["originatorIsLpa"] for t in truth)


def X_total(sb, args):
    return int(post(sb, gql(args + ", first: 1")).headers["X-Total-Count"])


def test_defaults_filter_lpa_and_automatic(sandbox):
    truth = sandbox.ground_truth()
    visible = sandbox.ground_truth(lpa=False, automatic_updates=False)
    assert len(visible) < len(truth)
    args = 'fromDate: "2025-01-01", toDate: "2026-12-31"'
    assert X_total(sandbox, args) == len(visible)
    assert X_total(sandbox, args + ", lpa: true") == len(
        sandbox.ground_truth(automatic_updates=False)
    )
    assert X_total(sandbox, args + ", automaticUpdates: true") == len(
        sandbox.ground_truth(lpa=False)
    )
    # default page size 50, default order DESC, default timezone US/Eastern
    page = records(sandbox, args)
    assert len(page) == 50
    instants = [_utc(r["changeDate"], "US/Eastern") for r in page]
    assert instants[0] >= instants[-1]


def test_users_and_component_types(sandbox):
    truth = sandbox.ground_truth()
    login = truth[0]["originatorLoginName"]
    uid = truth[5]["originatorUserId"]
    want = sandbox.ground_truth(users=[login, uid])
    got = fetch_all(sandbox, ALL + f', users: ["{login}", "{uid}"]')
    assert len(got) == len(want) > 0
    got = fetch_all(sandbox, ALL + ', componentTypes: ["ACSkillObject", "ACUserObject"]')
    assert {r["objectType"] for r in got} == {"Skills", "Users"}
    assert len(got) == len(sandbox.ground_truth(object_types=["Skills", "Users"]))
    # a single value for a list argument is GraphQL-coerced
    assert {
        r["objectType"] for r in records(sandbox, ALL + ', componentTypes: "ACSkillObject"')
    } == {"Skills"}


def test_unknown_component_type(sandbox):
    r = post(sandbox, gql(ALL + ', componentTypes: ["ACNope"]'))
    assert r.status_code == 400
    assert "ACNope" in r.json()["message"]
    sandbox.readings.unknown_component_type = "empty"
    assert records(sandbox, ALL + ', componentTypes: ["ACNope"]') == []
    sandbox.readings.unknown_component_type = "ignore"
    assert X_total(sandbox, ALL + ', componentTypes: ["ACNope"]') == 2000
    sandbox.readings.component_types["ACCampaignObject"] = ["Campaigns"]
    got = records(sandbox, ALL + ', componentTypes: ["ACCampaignObject"]')
    assert {r["objectType"] for r in got} == {"Campaigns"}


def test_object_types_rename(sandbox):
    sandbox.readings.object_types["skills"] = "Skill"
    got = fetch_all(sandbox, ALL)
    types = {r["objectType"] for r in got}
    assert "Skill" in types
    assert "Skills" not in types
    assert {t["objectType"] for t in sandbox.ground_truth()} == types


def test_dates_inclusive_and_timezones(sandbox_factory):
    sb = sandbox_factory(data=DataSpec(records=3000, end=END, span_days=30))
    args = 'fromDate: "2026-10-10", toDate: "2026-10-12", lpa: true, automaticUpdates: true'
    ny = ZoneInfo("US/Eastern")
    lo = datetime(2026, 10, 10, tzinfo=ny)
    assert X_total(sb, args) == len(sb.ground_truth(lo, datetime(2026, 10, 13, tzinfo=ny)))
    sb.readings.to_date_inclusive = False
    assert X_total(sb, args) == len(sb.ground_truth(lo, datetime(2026, 10, 12, tzinfo=ny)))
    sb.readings.dates_timezone = "utc"
    lo_utc = datetime(2026, 10, 10, tzinfo=UTC)
    assert X_total(sb, args) == len(sb.ground_truth(lo_utc, datetime(2026, 10, 12, tzinfo=UTC)))
    sb.readings.dates_timezone = "requested"
    tokyo = ZoneInfo("Asia/Tokyo")
    want = sb.ground_truth(
        datetime(2026, 10, 10, tzinfo=tokyo), datetime(2026, 10, 12, tzinfo=tokyo)
    )
    assert X_total(sb, args + ', timezone: "Asia/Tokyo"') == len(want)
    sb.readings.default_timezone = "Asia/Tokyo"
    assert X_total(sb, args) == len(want)


def test_bad_dates_and_arguments(sandbox):
    for bad in ('fromDate: "2026/01/01"', 'fromDate: "2026-1-1"', 'toDate: "2026-02-30"'):
        r = post(sandbox, gql(bad))
        assert r.status_code == 400, bad
        assert "yyyy-MM-dd" in r.json()["message"]
    assert post(sandbox, gql('timezone: "Mars/Olympus"')).status_code == 400
    assert "Mars/Olympus" in post(sandbox, gql('timezone: "Mars/Olympus"')).json()["message"]
    assert post(sandbox, gql('orderBy: ["objectName"]')).status_code == 400
    assert post(sandbox, gql('orderDirection: ["UP"]')).status_code == 400
    assert post(sandbox, gql("first: -1")).status_code == 400
    assert post(sandbox, gql('language: "en-US", first: 1')).status_code == 200
    assert post(sandbox, "{auditData { accountId } }").status_code == 400  # no argument at all


def test_utc_accepted(sandbox):
    for tz in ("UTC", "Etc/UTC", "Z", "GMT", "Etc/GMT", "Atlantic/Reykjavik"):
        assert post(sandbox, gql(f'timezone: "{tz}", first: 1')).status_code == 200, tz
    sandbox.readings.utc_accepted = False
    for tz in ("UTC", "Etc/UTC", "Z"):
        r = post(sandbox, gql(f'timezone: "{tz}", first: 1'))
        assert r.status_code == 400
        assert tz in r.json()["message"]
    for tz in ("GMT", "Etc/GMT", "Atlantic/Reykjavik"):
        assert post(sandbox, gql(f'timezone: "{tz}", first: 1')).status_code == 200, tz


def test_dst_rendering_repeats_wall_time(sandbox):
    args = ('fromDate: "2025-11-02", toDate: "2025-11-02", lpa: true, automaticUpdates: true, '
            'orderDirection: ["ASC"], first: 1000')  # fmt: skip
    eastern = records(sandbox, args)
    one_am = [e["changeDate"] for e in eastern if e["changeDate"].startswith("2025-11-02 01:")]
    assert len(one_am) >= 10
    # wall times go backwards once (01:59 EDT -> 01:00 EST)
    walls = [e["changeDate"] for e in eastern]
    assert any(b < a for a, b in itertools.pairwise(walls))
    assert len(set(one_am)) < len(one_am) or any(b < a for a, b in itertools.pairwise(one_am))


def test_page_size_cap_and_error(sandbox):
    sandbox.readings.max_page_size = 100
    assert len(records(sandbox, ALL + ", first: 500")) == 100
    sandbox.readings.above_max_page_size = "error"
    assert post(sandbox, gql(ALL + ", first: 500")).status_code == 400
    assert len(records(sandbox, ALL + ", first: 100")) == 100


def test_total_count_modes(sandbox):
    r = post(sandbox, gql(ALL + ", first: 10"))
    assert r.headers["X-Total-Count"] == "2000"
    sandbox.readings.total_count = "page"
    assert post(sandbox, gql(ALL + ", first: 10")).headers["X-Total-Count"] == "10"
    assert post(sandbox, gql(ALL + ", first: 10, offset: 1995")).headers["X-Total-Count"] == "5"


def test_tie_order(sandbox_factory):
    sb = sandbox_factory(data=DataSpec(records=400, end=END, span_days=2, burst_rate=0.2,
                                       burst_max=40))  # fmt: skip
    args = ALL + ', orderDirection: ["ASC"], first: 400'
    a = records(sb, args)
    assert a == records(sb, args)
    sb.readings.tie_order = "shuffled"
    seen = {tuple(r["objectName"] + r["changeDate"] for r in records(sb, args)) for _ in range(5)}
    assert len(seen) > 1
    shuffled = records(sb, args)
    assert [r["changeDate"] for r in shuffled] == [r["changeDate"] for r in a]
    assert Counter(map(str, shuffled)) == Counter(map(str, a))


def test_action_type_and_validation_errors(sandbox):
    q = gql("first: 1", "actionType objectName")
    assert "actionType" in post(sandbox, q).json()["data"]["auditData"][0]
    sandbox.readings.action_type = "refused"
    r = post(sandbox, q)
    assert r.status_code == 400
    assert "actionType" in r.json()["errors"][0]["message"]
    assert "data" not in r.json()
    sandbox.readings.validation_error_status = 200
    r = post(sandbox, q)
    assert r.status_code == 200
    assert "actionType" in r.json()["errors"][0]["message"]
    r = post(sandbox, gql("first: 1, bogus: 2"))
    assert "bogus" in r.json()["errors"][0]["message"]
    r = post(sandbox, "{auditData(first: 1) { accountId }")
    assert "Syntax Error" in r.json()["errors"][0]["message"]


def test_subsecond(sandbox):
    dates = [r["changeDate"] for r in fetch_all(sandbox, ALL)]
    assert all(d.endswith(".0") for d in dates)
    sandbox.readings.subsecond = True
    dates = [r["changeDate"] for r in fetch_all(sandbox, ALL)]
    fracs = {d.rsplit(".", 1)[1] for d in dates}
    assert "0" in fracs
    assert fracs - {"0"}
    assert all(not f.endswith("0") or f == "0" for f in fracs)
    assert "5" in fracs
    truth = sandbox.ground_truth()
    assert any(not t["changeDate"].endswith(".000000+00:00") for t in truth)


def test_variables_aliases_fragments(sandbox):
    q = ("query Q($first: Int, $from: String) { page: auditData(fromDate: $from, first: $first,"
         " lpa: true, automaticUpdates: true) { ...F when: changeDate } }"
         " fragment F on AuditRecord { objectName originatorIsLpa }")  # fmt: skip
    r = post(sandbox, q, variables={"first": 3, "from": "2025-01-01"})
    assert r.status_code == 200, r.text
    page = r.json()["data"]["page"]
    assert len(page) == 3
    assert list(page[0]) == ["objectName", "originatorIsLpa", "when"]
    log = sandbox.stats.log[-1]
    assert log.args["first"] == 3
    assert log.args["fromDate"] == "2025-01-01"


def test_append_and_delayed_writes(sandbox):
    args = ALL + ', orderDirection: ["ASC"], timezone: "UTC"'
    before = X_total(sandbox, args)
    recs = sandbox.make_records(5, datetime(2025, 12, 1, tzinfo=UTC),
                                datetime(2025, 12, 2, tzinfo=UTC), seed=7)  # fmt: skip
    assert len(recs) == 5
    sandbox.append(recs)
    assert X_total(sandbox, args) == before + 5
    sandbox.append([recs[0].at(datetime(2025, 12, 1, 3, tzinfo=UTC))])
    got = fetch_all(sandbox, args)
    truth = sandbox.ground_truth()
    assert len(got) == len(truth) == before + 6
    assert [g["objectName"] for g in got] == [t["objectName"] for t in truth]


def test_made_records_stay_before_an_end_inside_a_second(sandbox):
    start = datetime(2025, 12, 1, 0, 0, 0, 250_000, tzinfo=UTC)
    end = start + timedelta(seconds=3)  # 00:00:03.25: its second 03 holds fractions from .5 on
    for seed in range(20):
        for record in sandbox.make_records(40, start, end, seed=seed):
            assert start <= record.instant < end


def test_on_audit_request_and_offset_cost(sandbox_factory):
    sb = sandbox_factory(data=DataSpec(records=5000, end=END))
    seen = []

    def hook(n):
        seen.append(n)
        if n == 2:
            sb.append(sb.make_records(3, END - timedelta(days=1), END, seed=3))

    sb.on_audit_request = hook
    got = fetch_all(sb, ALL, page=1000)
    assert seen == [1, 2, 3, 4, 5, 6]
    assert len(got) == 5000 + 3
    assert len(sb.ground_truth()) == 5003


def test_ground_truth_window(sandbox):
    lo, hi = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    part = sandbox.ground_truth(lo, hi)
    assert part
    assert all(lo <= datetime.fromisoformat(t["changeDate"]) < hi for t in part)
    assert list(part[0]) == [
        "accountId", "objectType", "objectName", "actionType", "element", "oldValue", "newValue",
        "changeDate", "originator", "originatorLoginName", "originatorUserId",
        "originatorUserAgent", "originatorAuthType", "originatorIsLpa",
    ]  # fmt: skip


@pytest.mark.slow
def test_large_data_and_big_burst():
    from tap_lp_audittrail.sandbox import Sandbox

    with Sandbox(data=DataSpec(records=120_000, end=END)) as sb:
        seconds = Counter(sb.store.inst[i] // 1_000_000 for i in range(sb.store.n))
        assert max(seconds.values()) >= 5000
        r = post(sb, gql(ALL + ", first: 1000, offset: 100000"))
        assert len(r.json()["data"]["auditData"]) == 1000


def test_readings_validation():
    with pytest.raises(ValueError, match="tie_order"):
        Readings(tie_order="random").check()
