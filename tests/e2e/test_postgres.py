"""`meltano run` into a real PostgreSQL through MeltanoLabs target-postgres, and a fleet of
Meltano projects that share one state backend in PostgreSQL."""

from __future__ import annotations

from collections import Counter

from tap_lp_audittrail.sandbox import DataSpec

from .landed import (
    STREAMS,
    changes_from_now,
    content,
    diff,
    jsonl_by_stream,
    multiset,
    pg_tables,
    truth_by_stream,
)

SCHEMA = "liveperson_sandbox"  # the sandbox environment's default_target_schema


def use_postgres(project, postgres, database):
    project.set_loader(
        "target-postgres",
        host=postgres.host,
        port=postgres.port,
        user=postgres.user,
        password="unused",  # trust authentication; target-postgres insists on one
        database=database,
    )


def duplicate_ids(conn, stream):
    return conn.execute(
        f'SELECT id, count(*) FROM "{SCHEMA}"."{stream}" GROUP BY id HAVING count(*) > 1'
    ).fetchall()


def assert_tables_equal_truth(conn, sb):
    tables = pg_tables(conn, SCHEMA)
    truth = truth_by_stream(sb)
    for stream in STREAMS:
        got, want = multiset(tables[stream]), multiset(truth[stream])
        assert got == want, f"{stream}: {diff(got, want)}"
        assert not duplicate_ids(conn, stream), f"{stream}: duplicate ids"
    return tables


def test_postgres_exact_rows_incremental_upserts(sandbox_factory, make_project, postgres):
    sb = sandbox_factory(data=DataSpec(records=2000))
    database = postgres.create_database("e2e_upserts")
    project = make_project()
    project.use_sandbox(sb)
    use_postgres(project, postgres, database)

    project.elt("target-postgres")
    with postgres.connect(database) as conn:
        first = assert_tables_equal_truth(conn, sb)
        long_values = conn.execute(
            f'SELECT count(*) FROM "{SCHEMA}".audit_trail WHERE length("newValue") > 10000 '
            f'OR length("oldValue") > 10000'
        ).fetchone()[0]
        assert long_values > 0, "the data had no very long value to round-trip"

    # New changes arrive; the incremental run adds exactly them (what it reads again of the
    # last six hours it does not emit again).
    new, since = changes_from_now(sb, 80, seed=42)
    sb.append(new)
    project.elt("target-postgres")
    with postgres.connect(database) as conn:
        second = assert_tables_equal_truth(conn, sb)
    added = sum(len(second[s]) - len(first[s]) for s in ("audit_trail",))
    assert added == len(sb.ground_truth(start=since)) == len(new)

    # A full refresh reads everything again: upserts on `id` leave every table as it was.
    project.elt("target-postgres", "--full-refresh")
    with postgres.connect(database) as conn:
        again = assert_tables_equal_truth(conn, sb)
    assert {s: len(r) for s, r in again.items()} == {s: len(r) for s, r in second.items()}


def test_fleet_shares_state_through_a_postgres_system_database(
    sandbox_factory, make_project, postgres
):
    """Two separate copies of the project (two workers) on one PostgreSQL system database:
    the second worker's run continues from the state the first one saved."""
    sb = sandbox_factory(data=DataSpec(records=1500))
    state_db = postgres.create_database("meltano_system")
    uri = postgres.url(state_db)
    worker_a, worker_b = make_project("worker-a"), make_project("worker-b")
    for worker in (worker_a, worker_b):
        worker.use_sandbox(sb)
        worker.env["MELTANO_DATABASE_URI"] = uri

    worker_a.elt("target-jsonl")
    loaded_by_a = jsonl_by_stream(worker_a.output)
    assert multiset(loaded_by_a["audit_trail"]) == multiset(sb.ground_truth())

    listed = worker_b.run("--environment=sandbox", "state", "list").check().output
    assert "sandbox:tap-lp-audittrail-to-target-jsonl" in listed

    new, since = changes_from_now(sb, 30, seed=5)
    sb.append(new)
    worker_b.elt("target-jsonl")
    loaded_by_b = jsonl_by_stream(worker_b.output)
    for stream in STREAMS:
        before = {r["id"]: content(r) for r in loaded_by_a[stream]}
        fresh = [r for r in loaded_by_b[stream] if r["id"] not in before]
        got = multiset(fresh)
        want = multiset(truth_by_stream(sb, start=since)[stream])
        assert got == want, f"{stream}: {diff(got, want)}"
        reread = Counter(r["id"] in before for r in loaded_by_b[stream])[True]
        assert reread <= 50, f"{stream}: worker B re-read {reread} rows: it did not resume"

    # Nothing of the state lives in either project folder.
    for worker in (worker_a, worker_b):
        assert not (worker.root / ".meltano" / "meltano.db").exists()
