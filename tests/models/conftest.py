"""Real parts for the tests of transform/: dbt in the virtualenvs scripts/test makes, a real
PostgreSQL server, DuckDB files, and fakesnow for Snowflake.

`.venv-dbt` holds dbt-core with dbt-duckdb and dbt-postgres at meltano.yml's pins;
`.venv-dbt-snowflake` holds dbt-snowflake with fakesnow (which needs a newer duckdb) and
sqlglot. Every build goes through tests/models/warehouse.py, run by one of their Pythons.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import REPO, _missing, postgres  # noqa: F401 - the fixture, shared

from .audit_models import MODELS

HERE = Path(__file__).parent
WAREHOUSE = HERE / "warehouse.py"
#: The virtualenv of each adapter (scripts/test makes them).
VENVS = {"duckdb": ".venv-dbt", "postgres": ".venv-dbt", "snowflake": ".venv-dbt-snowflake"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here builds the models with dbt: end-to-end, together in one worker (beside
    the worker of tests/e2e, not in it: tests/conftest.py, `WORKER_GROUPS`)."""
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def venv_python(adapter: str) -> str:
    """The Python of the adapter's dbt virtualenv; missing fails in CI, skips elsewhere."""
    python = REPO / VENVS[adapter] / "bin" / "python"
    if not python.exists():
        _missing(f"{VENVS[adapter]} (dbt for {adapter})")
    return str(python)


@dataclass
class Built:
    """One trail loaded into one warehouse and the models built over it."""

    adapter: str
    work: Path
    env: dict[str, str]
    result: dict[str, Any]

    def run(self, *args: str) -> Any:
        """warehouse.py ACTION ADAPTER WORK ARGS..., its JSON answer."""
        return warehouse(self.adapter, self.work, self.env, *args)

    def models(self, names: Iterable[str] = MODELS) -> dict[str, list[dict[str, Any]]]:
        """Every row of the named models."""
        return self.run("dump", *names)

    def query(self, sql: str) -> list[dict[str, Any]]:
        """The rows of one query."""
        path = self.work / "query.sql"
        path.write_text(sql)
        return self.run("sql", str(path))

    def build(self, *extra: str) -> dict[str, Any]:
        """dbt build again (e.g. after more changes were loaded)."""
        self.result = self.run("build", *extra)
        return self.result


def warehouse(adapter: str, work: Path, env: dict[str, str], *args: str) -> Any:
    out = work / "answer.json"
    out.unlink(missing_ok=True)
    action, *rest = args
    proc = subprocess.run(
        [
            venv_python(adapter),
            str(WAREHOUSE),
            action,
            adapter,
            str(work),
            *rest,
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert out.exists(), proc.stdout[-4000:]
    return json.loads(out.read_text())


def write_rows(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


_databases = itertools.count()


@pytest.fixture(scope="module")
def load_and_build(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Built]:
    """load_and_build(adapter, rows, case="tap", vars=None): a warehouse of its own with the
    rows as the loader writes them, and `dbt build` over it."""

    def make(
        adapter: str, rows: list[dict[str, Any]], case: str = "tap", dbt_vars: str | None = None
    ) -> Built:
        work = tmp_path_factory.mktemp(f"models-{adapter}")
        env: dict[str, str] = {}
        if adapter == "postgres":
            server = request.getfixturevalue("postgres")
            database = server.create_database(f"models_{next(_databases)}")
            env = {
                "DBT_POSTGRES_HOST": server.host,
                "DBT_POSTGRES_PORT": str(server.port),
                "DBT_POSTGRES_USER": server.user,
                "DBT_POSTGRES_DBNAME": database,
            }
        rows_file = write_rows(work / "rows.jsonl", rows)
        warehouse(adapter, work, env, "load", str(rows_file), "--case", case)
        built = Built(adapter, work, env, {})
        built.build(*(["--vars", dbt_vars] if dbt_vars else []))
        return built

    return make


def assert_build_passed(result: dict[str, Any], warn: int = 0) -> dict[str, int]:
    """Every model built and every test passed (`warn` tests may warn); the counts."""
    assert "error" not in result, result
    statuses = result["statuses"]
    failed = [n for n in result["not_passed"] if n["status"] != "WARN"]
    assert not failed, failed
    assert statuses.get("WARN", 0) == warn, result["not_passed"]
    assert result["success"], result
    return statuses
