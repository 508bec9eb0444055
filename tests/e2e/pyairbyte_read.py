"""One PyAirbyte read of source-lp-audittrail into a DuckDB cache; run by PyAirbyte's own Python.

    python pyairbyte_read.py JOB.json

JOB.json: {"executable" (a local executable) or "docker_image" (an image PyAirbyte runs with
`docker run`, on the host's network), "config", "db_path", and optionally "write_strategy"
(PyAirbyte's, default "auto") and "force_full_refresh" (default false)}. Prints one JSON object:
the records this read processed, its seconds, and every row of every stream in the cache
(columns as PyAirbyte names them, without its own `_airbyte_*` columns; date-times as UTC ISO text).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import airbyte as ab
from airbyte.caches import DuckDBCache


def plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")
    return value


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    if "docker_image" in job:
        how: dict[str, Any] = {"docker_image": job["docker_image"], "use_host_network": True}
    else:
        how = {"local_executable": job["executable"]}
    source = ab.get_source("source-lp-audittrail", config=job["config"], streams="*", **how)
    cache = DuckDBCache(db_path=job["db_path"])
    started = time.monotonic()
    result = source.read(
        cache=cache,
        write_strategy=job.get("write_strategy", "auto"),
        force_full_refresh=job.get("force_full_refresh", False),
    )
    seconds = time.monotonic() - started
    rows = {
        name: [
            {k: plain(v) for k, v in row.items() if not k.startswith("_airbyte_")}
            for row in cache[name]
        ]
        for name in source.get_selected_streams()
    }
    print(json.dumps({"processed": result.processed_records, "seconds": seconds, "rows": rows}))


if __name__ == "__main__":
    main()
