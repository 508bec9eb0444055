"""Every row of some tables of a DuckDB file, as JSON; run by a Python that has duckdb.

    python duckdb_tables.py DB_PATH SCHEMA TABLE...

Prints one JSON object: table -> rows (column -> value; timestamps and dates as ISO text).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from decimal import Decimal
from typing import Any

import duckdb


def plain(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def main() -> None:
    path, schema, *tables = sys.argv[1:]
    con = duckdb.connect(path, read_only=True)
    out = {}
    for table in tables:
        cur = con.execute(f'select * from "{schema}"."{table}"')
        names = [d[0] for d in cur.description]
        out[table] = [
            {k: plain(v) for k, v in zip(names, row, strict=True)} for row in cur.fetchall()
        ]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
