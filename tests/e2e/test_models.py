"""The dbt models of transform/ over what real loaders wrote, compared with what the sandbox's
ground truth implies (tests/models/audit_models.py computes it in Python):

- `meltano run tap-lp-audittrail target-postgres dbt-postgres:build` into a real PostgreSQL,
  append-only: a first run, then an incremental one after new changes;
- PyAirbyte reading source-lp-audittrail into its DuckDB cache (lower-cased columns), then
  `meltano run dbt-duckdb:build` over that file, twice, with new changes between the reads,
  then once more after a full refresh appended every change a second time (the staging model
  keeps each once).

dbt's own tests run in each `build`: a failing one fails the run.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from pathlib import Path
from typing import Any

from tap_lp_audittrail.sandbox import DataSpec

from .._reliability import now_sandbox
from ..models.audit_models import MODELS, assert_models_match
from .landed import changes_from_now, utc_text
from .test_postgres import SCHEMA, use_postgres
from .test_pyairbyte import offline_env, pyairbyte_python, pyairbyte_read

MODELS_SCHEMA = "lp_audittrail"
DUMP = Path(__file__).with_name("duckdb_tables.py")
#: Rows and distinct ids of the DuckDB cache's audit_trail (run by PyAirbyte's Python).
COUNT = (
    "import duckdb, json, sys; print(json.dumps(duckdb.connect(sys.argv[1], read_only=True)"
    ".execute('select count(*), count(distinct id) from main.audit_trail').fetchall()))"
)


def dbt_summary(output: str) -> dict[str, int]:
    """The counts of dbt's last `Done. PASS=.. WARN=.. ERROR=.. SKIP=.. ... TOTAL=..` line."""
    found = re.findall(r"Done\. (PASS=\d+ WARN=\d+ ERROR=\d+ SKIP=\d+.*?TOTAL=\d+)", output)
    assert found, f"no dbt summary in the output:\n{output[-3000:]}"
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", found[-1])}


def assert_dbt_passed(output: str) -> dict[str, int]:
    summary = dbt_summary(output)
    assert summary["ERROR"] == summary["WARN"] == summary["SKIP"] == 0, summary
    assert summary["PASS"] == summary["TOTAL"] > 100, summary  # 10 models and their tests
    return summary


def pg_models(conn: Any) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for model in MODELS:
        cur = conn.execute(f'SELECT * FROM "{MODELS_SCHEMA}"."{model}"')
        names = [d.name for d in cur.description]
        out[model] = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    return out


def test_models_over_target_postgres_append_only(sandbox_factory, make_project, postgres):
    sb = sandbox_factory(data=DataSpec(records=1500))
    database = postgres.create_database("e2e_models")
    project = make_project()
    project.use_sandbox(sb)
    use_postgres(project, postgres, database)
    project.set_loader("target-postgres", load_method="append-only")
    project.env.update(
        DBT_POSTGRES_HOST=postgres.host,
        DBT_POSTGRES_PORT=str(postgres.port),
        DBT_POSTGRES_USER=postgres.user,
        DBT_POSTGRES_DBNAME=database,
    )
    pipeline = ("tap-lp-audittrail", "target-postgres", "dbt-postgres:build")

    def run(*extra: str) -> dict[str, int]:
        result = project.run("--environment=sandbox", "run", "--no-install", *extra, *pipeline)
        return assert_dbt_passed(result.check().output)

    run()
    with postgres.connect(database) as conn:
        first = assert_models_match(pg_models(conn), sb)

    # New changes; the second run is incremental and appends only them.
    new, since = changes_from_now(sb, 60, seed=7)
    sb.append(new)
    run()
    with postgres.connect(database) as conn:
        second = assert_models_match(pg_models(conn), sb)
        loaded = conn.execute(f'SELECT count(*) FROM "{SCHEMA}".audit_trail').fetchone()[0]
        newest = conn.execute(
            f'SELECT max(as_of) FROM "{MODELS_SCHEMA}".lp_audittrail__current_values'
        ).fetchone()[0]
    assert second["stg_lp_audittrail__changes"] - first["stg_lp_audittrail__changes"] == len(new)
    assert loaded == second["stg_lp_audittrail__changes"], "the incremental run loaded repeats"
    assert utc_text(newest) >= since.isoformat(timespec="microseconds")


def duckdb_models(python: str, path: Path, home: Path) -> dict[str, list[dict[str, Any]]]:
    """The models' rows in the DuckDB file, read by PyAirbyte's Python (it has duckdb)."""
    proc = subprocess.run(
        [python, str(DUMP), str(path), MODELS_SCHEMA, *MODELS],
        capture_output=True,
        text=True,
        env=offline_env(home),
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_models_over_pyairbyte_duckdb_cache(sandbox_factory, make_project, tmp_path):
    python = pyairbyte_python()
    sb, config = now_sandbox(sandbox_factory, 61, 1500, page_size=200, window_days=30)
    home = tmp_path / "pyairbyte"
    home.mkdir()
    db = home / "cache.duckdb"
    project = make_project()
    project.env.update(DBT_DUCKDB_PATH=str(db))  # the cache's file; source_schema: main

    def build() -> dict[str, int]:
        result = project.run("run", "--no-install", "dbt-duckdb:build").check()
        return assert_dbt_passed(result.output)

    first_read = pyairbyte_read(python, {**config}, home, "first", write_strategy="append")
    assert first_read["processed"] > 0
    build()
    first = assert_models_match(duckdb_models(python, db, home), sb)

    now = dt.datetime.now(dt.timezone.utc)
    sb.append(sb.make_records(30, now, now + dt.timedelta(seconds=3), seed=62))
    second_read = pyairbyte_read(python, {**config}, home, "second", write_strategy="append")
    assert 0 < second_read["processed"] < first_read["processed"]  # incremental
    build()
    second = assert_models_match(duckdb_models(python, db, home), sb)
    assert second["stg_lp_audittrail__changes"] == first["stg_lp_audittrail__changes"] + 30

    # A full refresh appended to the cache: each change is there twice, once in the models.
    pyairbyte_read(python, {**config}, home, "third", write_strategy="append", full_refresh=True)
    (raw,) = json.loads(
        subprocess.run(
            [python, "-c", COUNT, str(db)], capture_output=True, text=True, check=True
        ).stdout
    )
    assert raw == [2 * second["stg_lp_audittrail__changes"], second["stg_lp_audittrail__changes"]]
    build()
    assert assert_models_match(duckdb_models(python, db, home), sb) == second
