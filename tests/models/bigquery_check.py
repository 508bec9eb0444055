"""Transpile SQL to BigQuery with sqlglot and say what would not run there. Run by the Python
of .venv-dbt-snowflake (it has sqlglot):

    python bigquery_check.py STATEMENTS.json   ([{"name", "sql", "dialect"}, ...])

Prints a JSON list of problems, one {"name", "problem"} each; empty when every statement
carries over. A problem is: sqlglot cannot transpile it (or reads back what it wrote), a
function BigQuery does not have (sqlglot writes an unknown one as it found it), or arithmetic
between a date or timestamp and a bare number (`CURRENT_DATE - 30`: BigQuery wants an
INTERVAL). Types beyond that (DATETIME against TIMESTAMP) are not checked.
"""

from __future__ import annotations

import json
import sys

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types

#: BigQuery's functions (its SQL reference), as sqlglot writes their names.
BIGQUERY_FUNCTIONS = frozenset(
    [
        "ABS",
        "ANY_VALUE",
        "ARRAY",
        "ARRAY_AGG",
        "ARRAY_CONCAT",
        "ARRAY_LENGTH",
        "ARRAY_TO_STRING",
        "AVG",
        "BIT_COUNT",
        "BOOL",
        "CAST",
        "CEIL",
        "COALESCE",
        "CONCAT",
        "COUNT",
        "COUNTIF",
        "CURRENT_DATE",
        "CURRENT_DATETIME",
        "CURRENT_TIMESTAMP",
        "DATE",
        "DATE_ADD",
        "DATE_DIFF",
        "DATE_SUB",
        "DATE_TRUNC",
        "DATETIME",
        "DATETIME_ADD",
        "DATETIME_DIFF",
        "DATETIME_SUB",
        "DATETIME_TRUNC",
        "DENSE_RANK",
        "ENDS_WITH",
        "EXTRACT",
        "FIRST_VALUE",
        "FLOOR",
        "FORMAT",
        "FORMAT_DATE",
        "FORMAT_DATETIME",
        "FORMAT_TIMESTAMP",
        "GENERATE_ARRAY",
        "GREATEST",
        "IF",
        "IFNULL",
        "INSTR",
        "LAG",
        "LAST_VALUE",
        "LEAD",
        "LEAST",
        "LEFT",
        "LENGTH",
        "LOGICAL_AND",
        "LOGICAL_OR",
        "LOWER",
        "LPAD",
        "LTRIM",
        "MAX",
        "MD5",
        "MIN",
        "MOD",
        "NTH_VALUE",
        "NULLIF",
        "OFFSET",
        "ORDINAL",
        "PARSE_DATE",
        "PARSE_DATETIME",
        "PARSE_TIMESTAMP",
        "RANK",
        "REGEXP_CONTAINS",
        "REGEXP_EXTRACT",
        "REGEXP_REPLACE",
        "REPEAT",
        "REPLACE",
        "REVERSE",
        "RIGHT",
        "ROUND",
        "ROW_NUMBER",
        "RPAD",
        "RTRIM",
        "SAFE_CAST",
        "SAFE_OFFSET",
        "SAFE_ORDINAL",
        "SHA256",
        "SPLIT",
        "STARTS_WITH",
        "STRPOS",
        "STRING",
        "STRING_AGG",
        "SUBSTR",
        "SUBSTRING",
        "SUM",
        "TIMESTAMP",
        "TIMESTAMP_ADD",
        "TIMESTAMP_DIFF",
        "TIMESTAMP_SUB",
        "TIMESTAMP_TRUNC",
        "TO_HEX",
        "TO_JSON_STRING",
        "TRIM",
        "UNNEST",
        "UPPER",
    ]
)
TEMPORAL = {
    exp.DataType.Type.DATE,
    exp.DataType.Type.DATETIME,
    exp.DataType.Type.TIMESTAMP,
    exp.DataType.Type.TIMESTAMPTZ,
}


def problems(name: str, sql: str, dialect: str) -> list[str]:
    """What would not run on BigQuery in one statement."""
    try:
        written = sqlglot.transpile(
            sql, read=dialect, write="bigquery", unsupported_level=ErrorLevel.RAISE
        )
        trees = [sqlglot.parse_one(statement, read="bigquery") for statement in written]
    except SqlglotError as error:
        return [f"sqlglot: {str(error).splitlines()[0]}"]
    found = []
    for tree in trees:
        for function in tree.find_all(exp.Func):
            if isinstance(function, (exp.Connector, exp.Case, exp.If, exp.Cast, exp.Bracket)):
                continue  # syntax, not a call
            written_name = function.sql("bigquery").split("(", 1)[0].strip().upper()
            if written_name not in BIGQUERY_FUNCTIONS:
                found.append(f"BigQuery has no function {written_name}")
        for arithmetic in annotate_types(tree).find_all(exp.Add, exp.Sub):
            sides = (arithmetic.left.type, arithmetic.right.type)
            if any(t and t.this in TEMPORAL for t in sides) and any(
                t and t.is_type(*exp.DataType.NUMERIC_TYPES) for t in sides
            ):
                found.append(f"date arithmetic with a bare number: {arithmetic.sql(dialect)}")
    return sorted(set(found))


def main() -> None:
    statements = json.loads(open(sys.argv[1]).read())  # noqa: PTH123, SIM115
    out = [
        {"name": s["name"], "problem": problem}
        for s in statements
        for problem in problems(s["name"], s["sql"], s["dialect"])
    ]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
