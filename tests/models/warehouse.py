"""Load an audit trail into a warehouse as a loader writes it, build transform/ with dbt, and
dump the models. Run by the Python of a dbt virtualenv (it imports dbt and the adapter's driver):

    python warehouse.py load   ADAPTER WORK ROWS.jsonl [--case tap|lower|upper]
    python warehouse.py build  ADAPTER WORK [--vars YAML] [--full-refresh]
    python warehouse.py dump   ADAPTER WORK MODEL...
    python warehouse.py sql    ADAPTER WORK FILE.sql    (one query; its rows as JSON)

Each prints its JSON, or writes it to the file named by --out (dbt logs to stdout).

ADAPTER is duckdb (a file in WORK), postgres (the server of the DBT_POSTGRES_* variables) or
snowflake (fakesnow: Snowflake's SQL played on DuckDB, in WORK, with dbt's own connector
calls patched). `build` runs dbt's `dbtRunner` over a copy of transform/ in WORK with the
profile of transform/profiles/ADAPTER, and prints a JSON summary: counts by status, and the
node and message of everything that did not pass.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SOURCE_SCHEMA = "liveperson"
MODELS_SCHEMA = "lp_audittrail"
#: The tap's fields in the order of its schema, and their SQL types.
FIELDS = (
    ("id", "text"),
    ("accountId", "text"),
    ("objectType", "text"),
    ("objectName", "text"),
    ("actionType", "text"),
    ("element", "text"),
    ("oldValue", "text"),
    ("newValue", "text"),
    ("changeDate", "timestamptz"),
    ("originator", "text"),
    ("originatorLoginName", "text"),
    ("originatorUserId", "text"),
    ("originatorUserAgent", "text"),
    ("originatorAuthType", "text"),
    ("originatorIsLpa", "boolean"),
)
TYPES = {
    "duckdb": {"text": "varchar", "timestamptz": "timestamp with time zone", "boolean": "boolean"},
    "postgres": {"text": "text", "timestamptz": "timestamp with time zone", "boolean": "boolean"},
    "snowflake": {"text": "varchar", "timestamptz": "timestamp_tz", "boolean": "boolean"},
}


def column_name(field: str, case: str) -> str:
    """A field's column as a loader names it: the tap's name, lower-cased or upper-cased."""
    return {"tap": field, "lower": field.lower(), "upper": field.upper()}[case]


@contextlib.contextmanager
def connect(adapter: str, work: Path) -> Iterator[Any]:
    """A DB-API connection to the warehouse (autocommit where the driver has it)."""
    if adapter == "duckdb":
        import duckdb

        con = duckdb.connect(str(work / "warehouse.duckdb"))
        try:
            yield con
        finally:
            con.close()
    elif adapter == "postgres":
        import psycopg2

        con = psycopg2.connect(
            host=os.environ["DBT_POSTGRES_HOST"],
            port=int(os.environ["DBT_POSTGRES_PORT"]),
            user=os.environ["DBT_POSTGRES_USER"],
            dbname=os.environ["DBT_POSTGRES_DBNAME"],
        )
        con.autocommit = True
        try:
            yield con
        finally:
            con.close()
    else:
        import snowflake.connector

        with fakesnow_patch(work):
            con = snowflake.connector.connect(database="ANALYTICS", schema=SOURCE_SCHEMA)
            try:
                yield con
            finally:
                con.close()


@contextlib.contextmanager
def fakesnow_patch(work: Path) -> Iterator[None]:
    """Snowflake's connector answered by fakesnow, its databases kept in WORK between calls."""
    import fakesnow

    (work / "fakesnow").mkdir(exist_ok=True)
    with fakesnow.patch(db_path=str(work / "fakesnow")):
        yield


def load(adapter: str, work: Path, rows_file: Path, case: str) -> None:
    """Create the source table as the loader would, and insert every row of ROWS_FILE."""
    types = TYPES[adapter]
    quote = (lambda n: n) if adapter == "snowflake" else (lambda n: f'"{n}"')
    columns = [(column_name(f, case), types[t]) for f, t in FIELDS]
    rows = [json.loads(line) for line in rows_file.read_text().splitlines() if line]
    values = [tuple(row.get(f) for f, _ in FIELDS) for row in rows]
    table = f"{SOURCE_SCHEMA}.audit_trail"
    if adapter == "duckdb":  # read in bulk: row-by-row inserts take a minute for 5,000
        read = {f: types[t] for f, t in FIELDS}
        with connect(adapter, work) as con:
            con.execute(f"create schema if not exists {SOURCE_SCHEMA}")
            con.execute(f"drop table if exists {table}")
            con.execute(
                f"create table {table} ({', '.join(f'{quote(n)} {t}' for n, t in columns)})"
            )
            if rows:
                con.execute(
                    f"insert into {table} select {', '.join(quote(f) for f, _ in FIELDS)} "
                    "from read_json(?, format = 'newline_delimited', columns = ?)",
                    [str(rows_file), read],
                )
        return
    with connect(adapter, work) as con:
        cur = con.cursor()
        if adapter == "snowflake":
            cur.execute("create database if not exists ANALYTICS")
            cur.execute("use database ANALYTICS")
        cur.execute(f"create schema if not exists {SOURCE_SCHEMA}")
        cur.execute(f"drop table if exists {table}" + (" cascade" if adapter == "postgres" else ""))
        cur.execute(f"create table {table} ({', '.join(f'{quote(n)} {t}' for n, t in columns)})")
        marks = ", ".join("%s" for _ in columns)
        if adapter == "postgres":
            from psycopg2.extras import execute_values

            execute_values(cur, f"insert into {table} values %s", values, page_size=5000)
        else:
            for start in range(0, len(values), 2000):
                cur.executemany(
                    f"insert into {table} values ({marks})", values[start : start + 2000]
                )


def project(work: Path) -> Path:
    """A copy of transform/ in WORK, without what dbt wrote beside the models (another version
    of the package, e.g. an older one to compare with, when LP_AUDITTRAIL_TRANSFORM names it)."""
    target = work / "transform"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(
        os.environ.get("LP_AUDITTRAIL_TRANSFORM") or REPO / "transform",
        target,
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml"),
    )
    return target


def dbt_env(adapter: str, work: Path) -> None:
    """The variables the profiles of transform/profiles/ read."""
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ["LP_AUDITTRAIL_SCHEMA"] = SOURCE_SCHEMA
    if adapter == "duckdb":
        os.environ["DBT_DUCKDB_PATH"] = str(work / "warehouse.duckdb")
    if adapter == "snowflake":
        os.environ.update(
            DBT_SNOWFLAKE_ACCOUNT="fakesnow",
            DBT_SNOWFLAKE_USER="fake",
            DBT_SNOWFLAKE_PASSWORD="fake",  # fakesnow takes any
            DBT_SNOWFLAKE_DATABASE="ANALYTICS",
        )


def build(adapter: str, work: Path, dbt_vars: str | None, full_refresh: bool) -> dict:
    """`dbt build` through dbtRunner; counts by status and what did not pass."""
    from dbt.cli.main import dbtRunner

    dbt_env(adapter, work)
    folder = project(work)
    args = [
        "build",
        "--project-dir", str(folder),
        "--profiles-dir", str(folder / "profiles" / adapter),
        "--target-path", str(work / "target"),
        "--log-path", str(work / "logs"),
        "--threads", "1" if adapter == "snowflake" else "2",
    ]  # fmt: skip
    if dbt_vars:
        args += ["--vars", dbt_vars]
    if full_refresh:
        args.append("--full-refresh")
    with fakesnow_patch(work) if adapter == "snowflake" else contextlib.nullcontext():
        result = dbtRunner().invoke(args)
    if result.exception is not None:
        return {"error": repr(result.exception)}
    statuses: Counter[str] = Counter()
    failed = []
    for node in result.result.results:
        status = str(node.status).split(".")[-1].upper()
        statuses[status] += 1
        if status not in ("PASS", "SUCCESS"):
            failed.append({"node": node.node.unique_id, "status": status, "message": node.message})
    return {"statuses": dict(statuses), "not_passed": failed, "success": result.success}


def plain(value: Any) -> Any:
    """A value in JSON: timestamps and dates as ISO text, decimals as numbers."""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def query(adapter: str, work: Path, sql: str) -> list[dict[str, Any]]:
    """The rows of one query, column names lower-cased."""
    with connect(adapter, work) as con:
        cur = con.cursor()
        if adapter == "snowflake":
            cur.execute("use database ANALYTICS")
        cur.execute(sql)
        names = [d[0].lower() for d in cur.description]
        return [{k: plain(v) for k, v in zip(names, row, strict=True)} for row in cur.fetchall()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["load", "build", "dump", "sql"])
    parser.add_argument("adapter", choices=["duckdb", "postgres", "snowflake"])
    parser.add_argument("work", type=Path)
    parser.add_argument("more", nargs="*")
    parser.add_argument("--case", choices=["tap", "lower", "upper"], default="tap")
    parser.add_argument("--vars")
    parser.add_argument("--full-refresh", action="store_true")
    parser.add_argument("--out", type=Path, help="write the JSON here (dbt logs to stdout)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.action == "load":
        load(args.adapter, args.work, Path(args.more[0]), args.case)
        out: Any = {"loaded": True}
    elif args.action == "build":
        out = build(args.adapter, args.work, args.vars, args.full_refresh)
    elif args.action == "dump":
        out = {
            model: query(args.adapter, args.work, f"select * from {MODELS_SCHEMA}.{model}")
            for model in args.more
        }
    else:
        out = query(args.adapter, args.work, Path(args.more[0]).read_text())
    if args.out:
        args.out.write_text(json.dumps(out))
    else:
        json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
