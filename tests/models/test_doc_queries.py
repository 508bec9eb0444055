"""Every query of docs/models.md, run as written on DuckDB and on PostgreSQL over a built trail,
and its answer compared with what the raw trail answers (the oracle, and the replay of
tests/models/points_in_time.py)."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict

import pytest

from tap_lp_audittrail.sandbox import DataSpec, Sandbox

from .audit_models import changes, expected, plain
from .conftest import REPO, assert_build_passed
from .points_in_time import NO_VALUE, Check, Trail

UTC = dt.timezone.utc
QUERIES = {
    block.splitlines()[0].removeprefix("-- "): block
    for block in re.findall(r"```sql\n(.*?)```", (REPO / "docs" / "models.md").read_text(), re.S)
}


def test_the_docs_hold_the_auditors_questions():
    assert set(QUERIES) == {
        "the point in time: a profile's permissions on a day",
        "grants and revocations of the last 30 days",
        "who did it: changes by kind of originator, by month",
        "the current settings of a skill",
        "the busiest people of a month",
    }


@pytest.fixture(scope="module")
def trail() -> list[dict]:
    """Eight months of changes up to mid-November 2026 (the docs' fixed dates are inside),
    and changes of the last 25 days (the docs' "last 30 days" is)."""
    sb = Sandbox(
        data=DataSpec(
            seed=7, records=3000, end=dt.datetime(2026, 11, 15, tzinfo=UTC), span_days=240
        )
    )
    now = dt.datetime.now(UTC).replace(microsecond=0)
    sb.append(
        sb.make_records(600, now - dt.timedelta(days=25), now - dt.timedelta(hours=1), seed=8)
    )
    return changes(sb)


@pytest.fixture(scope="module")
def want(trail):
    return expected(trail)


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def built(request, load_and_build, trail):
    built = load_and_build(request.param, trail)
    assert_build_passed(built.result)
    return built


def test_the_point_in_time_query_answers_what_the_trail_held_then(built, trail):
    got = built.query(QUERIES["the point in time: a profile's permissions on a day"])
    replay = Trail(trail)
    at = plain(dt.datetime(2026, 6, 1))
    permissions = {c["element"] for c in replay.by_object["Profiles", "Agent Manager"]} - {"N/A"}
    held = {p: replay.value_at(Check("Profiles", "Agent Manager", p, at)) for p in permissions}
    assert {r["permission"]: r["value_then"] for r in got} == {
        p: v for p, v in held.items() if v != NO_VALUE
    }
    assert got, "the profile held no permission that day: the check would prove nothing"
    assert [r["permission"] for r in got] == sorted(r["permission"] for r in got)


def test_the_grants_query_lists_every_grant_and_revocation_of_the_last_30_days(built, want):
    before = dt.datetime.now(UTC).date()
    got = built.query(QUERIES["grants and revocations of the last 30 days"])
    after = dt.datetime.now(UTC).date()
    key = ("changed_at", "subject_name", "permission", "item", "permission_effect")
    rows = want["lp_audittrail__permission_changes"].values()

    def since(day: dt.date) -> set[tuple]:
        cut = (day - dt.timedelta(days=30)).isoformat()
        return {
            tuple(r[k] for k in key)
            for r in rows
            if r["permission_effect"] in ("granted", "revoked") and r["changed_at"] >= cut
        }

    found = {tuple(plain(r[k]) for k in key) for r in got}
    assert found in (since(before), since(after))
    assert {r["permission_effect"] for r in got} == {"granted", "revoked"}
    assert len(got) == len(found)
    times = [plain(r["changed_at"]) for r in got]
    assert times == sorted(times, reverse=True)


def test_the_who_did_it_query_counts_each_kind_of_originator_by_month(built, want):
    got = built.query(QUERIES["who did it: changes by kind of originator, by month"])
    months: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in want["stg_lp_audittrail__changes"].values():
        kind = ("person", "lpa", "automatic").index(r["originator_kind"])
        months[int(r["changed_on"][:4]), int(r["changed_on"][5:7])][kind] += 1
    assert [(r["year"], r["month"], r["by_people"], r["by_lpas"], r["automatic"]) for r in got] == [
        (*month, *counts) for month, counts in sorted(months.items())
    ]
    assert all(sum(counts) for counts in months.values())
    assert sum(r["automatic"] for r in got) > 0


def test_the_current_settings_query_shows_the_skills_live_values(built, want):
    got = built.query(QUERIES["the current settings of a skill"])
    live = sorted(
        (r["element"], r["current_value"], r["last_changed_at"])
        for r in want["lp_audittrail__current_values"].values()
        if r["audited_element"] == "skills" and r["object_name"] == "Sales" and not r["is_deleted"]
    )
    assert live, "the skill has no live value: the check would prove nothing"
    assert [(r["element"], r["current_value"], plain(r["last_changed_at"])) for r in got] == live


def test_the_busiest_people_query_ranks_people_by_their_changes_of_a_month(built, want):
    got = built.query(QUERIES["the busiest people of a month"])
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for r in want["lp_audittrail__daily_activity"].values():
        if "2026-10-01" <= r["activity_date"] < "2026-11-01" and r["person_change_count"] > 0:
            total = totals[r["originator_login_name"], r["object_type"]]
            total[0] += r["change_count"]
            total[1] += r["objects_changed"]
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1][0], kv[0]))[:20]
    assert [
        (r["originator_login_name"], r["object_type"], r["changes"], r["objects_changed_per_day"])
        for r in got
    ] == [(*k, *v) for k, v in ranked]
    assert len(got) == 20
