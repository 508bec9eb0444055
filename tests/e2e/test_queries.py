"""Every PostgreSQL query of docs/queries.md, run as written against a real PostgreSQL that
target-postgres loaded from the sandbox, and compared with the sandbox's ground truth."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

import pytest
import yaml

from tap_lp_audittrail.sandbox import DataSpec, Sandbox

from .conftest import REPO, MeltanoProject, project_yaml
from .landed import changes_from_now, utc_text
from .test_postgres import SCHEMA, use_postgres

UTC = dt.timezone.utc
DOCS = (REPO / "docs" / "queries.md").read_text()
#: The skill the docs ask about; the data is chosen so that it changed in the last week.
SKILL = "Sales"


def postgres_queries() -> dict[str, str]:
    """The docs' PostgreSQL blocks by their title (`-- PostgreSQL: <title>`), for this schema."""
    found = {}
    for block in re.findall(r"```sql\n(.*?)```", DOCS, re.S):
        first, _, body = block.partition("\n")
        if first.startswith("-- PostgreSQL: "):
            found[first.removeprefix("-- PostgreSQL: ")] = body.replace("liveperson.", f"{SCHEMA}.")
    return found


QUERIES = postgres_queries()


def rows(conn, sql: str) -> list[dict]:
    cur = conn.execute(sql)
    names = [d.name for d in cur.description]
    return [{k: utc_text(v) for k, v in zip(names, row, strict=True)} for row in cur.fetchall()]


def since(truth: list[dict], days: int, now: dt.datetime) -> list[dict]:
    cut = (now - dt.timedelta(days=days)).isoformat(timespec="microseconds")
    return [r for r in truth if r["changeDate"] >= cut]


def test_the_docs_have_the_postgres_queries():
    assert set(QUERIES) == {
        "who changed a skill",
        "permission changes by person",
        "each permission change, by person",
        "a table for the CSV files",
        "one row per id",
    }


@pytest.fixture(scope="module")
def loaded(meltano_bin, plugin_cache, postgres, tmp_path_factory):
    """A sandbox whose history runs up to now, loaded by target-postgres and by target-csv
    (twice, the second a full refresh, so the CSV files hold every row twice). Built once for the
    module, the way `make_project` builds a project."""
    root = tmp_path_factory.mktemp("queries") / "project"
    (root / ".meltano").mkdir(parents=True)
    (root / "meltano.yml").write_text(yaml.safe_dump(project_yaml(), sort_keys=False))
    for kind in ("extractors", "loaders"):
        (root / ".meltano" / kind).symlink_to(plugin_cache / ".meltano" / kind)
    project = MeltanoProject(root, meltano_bin)
    hour = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with Sandbox(data=DataSpec(seed=7, records=3000, end=hour, span_days=120)) as sb:
        project.use_sandbox(sb)
        database = postgres.create_database("e2e_queries")
        use_postgres(project, postgres, database)
        new, _ = changes_from_now(sb, 30, seed=8)
        sb.append(new)
        project.elt("target-postgres")
        project.elt("target-csv")
        # a full refresh into the same files: every row is in both, as after a re-run, or an
        # interrupted run resumed, whatever was written twice
        project.elt("target-csv", "--full-refresh")
        yield sb, project, database


def test_who_changed_a_skill_last_week(loaded, postgres):
    sb, _, database = loaded
    truth = [r for r in sb.ground_truth(object_types=["skills"]) if r["objectName"] == SKILL]
    before = dt.datetime.now(UTC)
    with postgres.connect(database) as conn:
        got = rows(conn, QUERIES["who changed a skill"])
    after = dt.datetime.now(UTC)
    key = ("changeDate", "originatorLoginName", "element", "oldValue", "newValue")
    got_keys = Counter(tuple(r[k] for k in key) for r in got)
    at_least = Counter(tuple(r[k] for k in key) for r in since(truth, 7, after))
    at_most = Counter(tuple(r[k] for k in key) for r in since(truth, 7, before))
    assert at_least, "the skill did not change in the last week of the data"
    assert not at_least - got_keys, "the query missed changes"
    assert not got_keys - at_most, "the query returned changes it should not"
    dates = [r["changeDate"] for r in got]
    assert dates == sorted(dates, reverse=True)
    assert {"originator", "originatorIsLpa", "actionType"} <= set(got[0])


def test_permission_changes_by_person(loaded, postgres):
    sb, _, database = loaded
    truth = sb.ground_truth(object_types=["profiles"])
    with postgres.connect(database) as conn:
        got = rows(conn, QUERIES["permission changes by person"])
    want = Counter(r["originatorLoginName"] for r in truth)
    assert {r["person"]: r["permission_changes"] for r in got} == dict(want)
    profiles: dict[str, set[str]] = {}
    last: dict[str, str] = {}
    for r in truth:
        profiles.setdefault(r["originatorLoginName"], set()).add(r["objectName"])
        last[r["originatorLoginName"]] = max(
            last.get(r["originatorLoginName"], ""), r["changeDate"]
        )
    for r in got:
        assert r["profiles_changed"] == len(profiles[r["person"]])
        assert r["last_change"] == last[r["person"]]
    counts = [r["permission_changes"] for r in got]
    assert counts == sorted(counts, reverse=True)


def test_each_permission_change_by_person(loaded, postgres):
    sb, _, database = loaded
    truth = sb.ground_truth(object_types=["profiles"])
    before = dt.datetime.now(UTC)
    with postgres.connect(database) as conn:
        got = rows(conn, QUERIES["each permission change, by person"])
    after = dt.datetime.now(UTC)

    def key(r: dict, *names: str) -> tuple:
        return tuple(r[n] for n in names)

    fields = ("originatorLoginName", "objectName", "element", "oldValue", "newValue", "changeDate")
    named = ("person", "profile", "permission", "old_value", "new_value", "changeDate")
    got_keys = Counter(key(r, *named) for r in got)
    at_least = Counter(key(r, *fields) for r in since(truth, 30, after))
    at_most = Counter(key(r, *fields) for r in since(truth, 30, before))
    assert at_least
    assert not at_least - got_keys
    assert not got_keys - at_most
    people = [r["person"] for r in got]
    blocks = [p for i, p in enumerate(people) if i == 0 or people[i - 1] != p]
    assert len(blocks) == len(set(blocks)), "a person's changes are not together"
    for person in blocks:
        dates = [r["changeDate"] for r in got if r["person"] == person]
        assert dates == sorted(dates), person


def test_one_row_per_id_from_the_csv_files(loaded, postgres):
    sb, project, database = loaded
    files = sorted((project.output / "audit_trail").glob("*.csv"))
    assert len(files) == 2
    create, copy = QUERIES["a table for the CSV files"].split("\\copy ")
    target, _, options = copy.partition(" FROM ")
    options = options.split(" WITH ", 1)[1].strip()
    with postgres.connect(database) as conn:
        conn.execute(create)
        loaded_rows = 0
        for path in files:
            with conn.cursor().copy(f"COPY {target} FROM STDIN WITH {options}") as out:
                out.write(path.read_bytes())
            loaded_rows += len(path.read_text().splitlines()) - 1
        total = conn.execute("SELECT count(*) FROM raw.audit_trail_files").fetchone()[0]
        got = rows(conn, QUERIES["one row per id"])
    truth = sb.ground_truth()
    assert total > len(truth), "the files held no row twice: nothing to deduplicate"
    assert len(got) == len(truth) == len({r["id"] for r in got})
    assert Counter(r["changeDate"] for r in got) == Counter(r["changeDate"] for r in truth)
