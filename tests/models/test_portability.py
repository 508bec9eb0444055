"""The package beyond PostgreSQL and DuckDB: built for real with dbt-snowflake against fakesnow
(Snowflake's connector answered by an emulator on DuckDB) over an AUDIT_TRAIL with upper-case
columns, as target-snowflake writes them; and every compiled model and every query of the docs
transpiled to BigQuery by sqlglot, failing on anything BigQuery would not take."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tap_lp_audittrail.sandbox import DataSpec, Sandbox

from .audit_models import assert_models_match, changes
from .conftest import HERE, REPO, assert_build_passed, venv_python
from .planted import TRAIL, with_ids

CHECK = HERE / "bigquery_check.py"


@pytest.fixture(scope="module")
def trail() -> list[dict]:
    """The planted trail and 1,000 of the sandbox's changes."""
    sandbox = changes(Sandbox(data=DataSpec(seed=5, records=1000)))
    return with_ids([{k: v for k, v in r.items() if k != "id"} for r in TRAIL + sandbox])


def test_the_package_builds_on_snowflake_over_upper_case_columns(load_and_build, trail):
    built = load_and_build("snowflake", trail, case="upper")
    statuses = assert_build_passed(built.result, warn=1)  # the planted unknown spelling
    assert statuses["SUCCESS"] == 10  # every model
    assert statuses["PASS"] > 100  # and every test but the one that warns
    assert_models_match(built.models(), trail)


def bigquery_problems(tmp_path, statements: list[dict]) -> list[dict]:
    path = tmp_path / "statements.json"
    path.write_text(json.dumps(statements))
    proc = subprocess.run(
        [venv_python("snowflake"), str(CHECK), str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def doc_queries() -> list[dict]:
    """docs/models.md's queries (PostgreSQL and DuckDB SQL), and docs/queries.md's PostgreSQL
    and BigQuery ones (its \\copy lines are psql's, not SQL)."""
    out = []
    for block in re.findall(r"```sql\n(.*?)```", (REPO / "docs" / "models.md").read_text(), re.S):
        out.append({"name": block.splitlines()[0], "sql": block, "dialect": "postgres"})
    for block in re.findall(r"```sql\n(.*?)```", (REPO / "docs" / "queries.md").read_text(), re.S):
        title = block.splitlines()[0]
        dialect = {"-- PostgreSQL": "postgres", "-- BigQuery": "bigquery"}.get(title.split(":")[0])
        if dialect:
            sql = "\n".join(ln for ln in block.splitlines() if not ln.startswith("\\copy"))
            out.append({"name": f"queries.md {title}", "sql": sql, "dialect": dialect})
    return out


def test_every_compiled_model_and_query_of_the_docs_transpiles_to_bigquery(
    load_and_build, trail, tmp_path
):
    built = load_and_build("duckdb", trail)
    compiled = sorted(
        (built.work / "target" / "compiled" / "lp_audittrail" / "models").glob("*/*.sql")
    )
    assert len(compiled) == 10
    statements = [{"name": p.name, "sql": p.read_text(), "dialect": "duckdb"} for p in compiled]
    statements += doc_queries()
    assert len(statements) > 20
    assert bigquery_problems(tmp_path, statements) == []


def test_the_bigquery_check_fails_on_what_bigquery_would_not_take(tmp_path):
    bad = [
        {
            "name": "days",
            "sql": "SELECT * FROM t WHERE d >= CURRENT_DATE - 30",
            "dialect": "postgres",
        },
        {"name": "split", "sql": "SELECT split_part(a, ',', 2) FROM t", "dialect": "postgres"},
        {
            "name": "frame",
            "sql": "SELECT min(a) OVER (ORDER BY b ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED "
            "FOLLOWING) FROM t",
            "dialect": "duckdb",
        },
    ]
    found = {p["name"] for p in bigquery_problems(tmp_path, bad)}
    assert found == {"days", "split", "frame"}
