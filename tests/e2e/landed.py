"""Reading what a loader wrote (files, PostgreSQL tables) and comparing it with ground truth."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tap_lp_audittrail.sandbox import API_FIELDS, ELEMENTS, Sandbox, SandboxRecord

UTC = dt.timezone.utc

#: Every stream of the tap: the fifteen elements and `audit_trail`.
STREAMS: tuple[str, ...] = ("audit_trail", *ELEMENTS)


def truth_by_stream(
    sb: Sandbox, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> dict[str, list[dict[str, Any]]]:
    """What each stream must hold: every change for audit_trail, one objectType for the rest."""
    out = {"audit_trail": sb.ground_truth(start, end)}
    for stream in ELEMENTS:
        out[stream] = sb.ground_truth(start, end, object_types=[stream])
    return out


def changes_from_now(
    sb: Sandbox, n: int, seed: int, seconds: float = 2.0
) -> tuple[list[SandboxRecord], dt.datetime]:
    """`n` changes made from now on (after a run has finished), and when they start.

    Real changes never predate a run that already read past their time (the tap's bookmark
    reaches the start of the run that read it), so new records are placed in the next few
    seconds, and this waits until those seconds are past for the next run to see them all.
    """
    start = dt.datetime.now(UTC).replace(microsecond=0) + dt.timedelta(seconds=1)
    end = start + dt.timedelta(seconds=seconds)
    records = sb.make_records(n, start, end, seed=seed)
    time.sleep(max(0.0, (end - dt.datetime.now(UTC)).total_seconds()) + 0.2)
    return records, start


def content(row: dict[str, Any]) -> tuple[Any, ...]:
    """A row's 14 API fields (without `id`), in the API's order."""
    return tuple(row.get(f) for f in API_FIELDS)


def as_csv_text(row: dict[str, Any]) -> tuple[str, ...]:
    """What a CSV file can say of a row: text, None and "" alike, booleans as Python prints them.

    target-csv also rewrites date-times in Python's form ("2025-10-02 02:45:37+00:00"), so
    changeDate is compared as the instant it names.
    """
    out = []
    for f in API_FIELDS:
        value = row.get(f)
        if f == "changeDate" and value:
            value = utc_text(dt.datetime.fromisoformat(str(value)))
        out.append("" if value is None else str(value))
    return tuple(out)


def multiset(rows: Iterable[dict[str, Any]], key: Any = content) -> Counter[tuple[Any, ...]]:
    """Rows as a multiset of their content."""
    return Counter(key(r) for r in rows)


def diff(got: Counter[Any], want: Counter[Any], limit: int = 5) -> str:
    """A short account of how two multisets differ."""
    missing = list((want - got).elements())
    extra = list((got - want).elements())
    lines = [f"missing {len(missing)}, unexpected {len(extra)}"]
    lines += [f"  missing: {m}" for m in missing[:limit]]
    lines += [f"  unexpected: {e}" for e in extra[:limit]]
    return "\n".join(lines)


# --------------------------------------------------------------------------- files


def read_jsonl(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every record of some JSON Lines files."""
    rows: list[dict[str, Any]] = []
    for path in sorted(paths):
        with path.open(encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh if line.strip()]
    return rows


def jsonl_by_stream(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """target-jsonl output (`STREAM-YYYYmmddTHHMMSS.jsonl`, or `STREAM.jsonl`) by stream."""
    paths: dict[str, list[Path]] = {s: [] for s in STREAMS}
    for path in folder.glob("*.jsonl"):
        match = re.fullmatch(r"(.+)-\d{8}T\d{6}", path.stem)
        paths.setdefault(match.group(1) if match else path.stem, []).append(path)
    return {stream: read_jsonl(found) for stream, found in paths.items()}


def read_csv(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every row of some CSV files (header per file)."""
    rows: list[dict[str, Any]] = []
    for path in sorted(paths):
        with path.open(encoding="utf-8", newline="") as fh:
            rows += list(csv.DictReader(fh))
    return rows


def csv_by_stream(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """target-csv output as meltano.yml names it (`STREAM/TIMESTAMP.csv`), by stream."""
    return {s: read_csv((folder / s).glob("*.csv")) for s in STREAMS}


# --------------------------------------------------------------------------- PostgreSQL


def utc_text(value: Any) -> Any:
    """A timestamp column back to the tap's text form (UTC, microseconds)."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def pg_tables(conn: Any, schema: str) -> dict[str, list[dict[str, Any]]]:
    """Every stream's table in `schema`, rows as dicts (missing tables are empty)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for stream in STREAMS:
        exists = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            (schema, stream),
        ).fetchone()
        if not exists:
            out[stream] = []
            continue
        cur = conn.execute(f'SELECT * FROM "{schema}"."{stream}"')
        names = [d.name for d in cur.description]
        out[stream] = [
            {k: utc_text(v) for k, v in zip(names, row, strict=True)} for row in cur.fetchall()
        ]
    return out
