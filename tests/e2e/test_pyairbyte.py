"""A real Airbyte client: PyAirbyte runs source-lp-audittrail from its local executable and reads
every stream from the sandbox into its DuckDB cache, then reads again from the state it kept.

PyAirbyte lives in a virtualenv of its own (`.venv-airbyte`, made by scripts/test): it pins
many packages of its own, and airbyte-cdk's `backoff` would clash with singer-sdk's
`python-backoff`. It runs offline: no registry, no telemetry, and a proxy that answers nothing
for every host but this machine.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tap_lp_audittrail.client import AUDIT_SCHEMA
from tap_lp_audittrail.elements import STREAM_NAMES
from tap_lp_audittrail.sandbox import Sandbox

from .._reliability import now_sandbox
from ..helpers import assert_same_records
from .conftest import IN_CI, REPO

SCRIPT = Path(__file__).with_name("pyairbyte_read.py")
#: PyAirbyte folds column names to lower case; the tap's names, back from them.
COLUMNS = {name.lower(): name for name in AUDIT_SCHEMA["properties"]}


def pyairbyte_python() -> str:
    candidates = [
        os.environ.get("PYAIRBYTE_PYTHON"),
        str(REPO / ".venv-airbyte" / "bin" / "python"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    if IN_CI:
        pytest.fail("PyAirbyte's virtualenv is missing; scripts/test installs it", pytrace=False)
    pytest.skip("PyAirbyte's virtualenv is missing (run scripts/test to install it)")
    raise AssertionError  # unreachable


def offline_env(home: Path) -> dict[str, str]:
    """PyAirbyte without the network: offline mode, no tracking, its files under `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRBYTE_", "PYTHON"))}
    env.update(
        AIRBYTE_OFFLINE_MODE="true",
        DO_NOT_TRACK="1",
        AIRBYTE_PROJECT_DIR=str(home),
        AIRBYTE_CACHE_ROOT=str(home / "cache"),
        AIRBYTE_TEMP_DIR=str(home / "tmp"),
        # Anything that still tried to go out would meet a port where nothing answers.
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        NO_PROXY="127.0.0.1,localhost",
    )
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    return env


def pyairbyte_read(
    python: str,
    config: dict,
    home: Path,
    name: str,
    write_strategy: str = "auto",
    *,
    full_refresh: bool = False,
    docker_image: str | None = None,
) -> dict[str, Any]:
    """One PyAirbyte read into the DuckDB cache under `home`; its result and the cache's rows.

    `write_strategy` is PyAirbyte's: "auto" (its default) merges on the primary key, "append"
    appends what was read, as an append-only loader does. `full_refresh` reads everything
    again, whatever the state. `docker_image` runs the source from that image, not from this
    virtualenv's executable.
    """
    job = home / f"{name}.json"
    job.write_text(
        json.dumps(
            {
                **(
                    {"docker_image": docker_image}
                    if docker_image
                    else {"executable": str(Path(sys.executable).parent / "source-lp-audittrail")}
                ),
                "config": config,
                "db_path": str(home / "cache.duckdb"),
                "write_strategy": write_strategy,
                "force_full_refresh": full_refresh,
            }
        )
    )
    proc = subprocess.run(
        [python, str(SCRIPT), str(job)],
        capture_output=True,
        text=True,
        env=offline_env(home),
        cwd=home,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def as_tap_records(rows: list[dict]) -> list[dict]:
    return [{COLUMNS[k]: v for k, v in row.items()} for row in rows]


def truth_of(sb: Sandbox, stream: str) -> list[dict]:
    if stream == "audit_trail":
        return sb.ground_truth()
    return sb.ground_truth(object_types=[sb.readings.object_types[stream]])


def test_pyairbyte_reads_every_stream_then_only_the_new_changes(sandbox_factory, tmp_path):
    python = pyairbyte_python()
    sb, config = now_sandbox(sandbox_factory, 51, 2000, page_size=200, window_days=30)
    first = pyairbyte_read(python, config, tmp_path, "first")
    assert set(first["rows"]) == set(STREAM_NAMES)
    for stream in STREAM_NAMES:
        rows = as_tap_records(first["rows"][stream])
        assert_same_records(rows, truth_of(sb, stream), what=f"first read: {stream}")
        assert len({r["id"] for r in rows}) == len(rows)
    assert first["processed"] == sum(len(truth_of(sb, s)) for s in STREAM_NAMES)
    before = {stream: len(truth_of(sb, stream)) for stream in STREAM_NAMES}

    now = dt.datetime.now(dt.timezone.utc)
    sb.append(sb.make_records(40, now, now + dt.timedelta(seconds=3), seed=52))
    new = {stream: len(truth_of(sb, stream)) - before[stream] for stream in STREAM_NAMES}
    second = pyairbyte_read(python, config, tmp_path, "second")
    # Incremental from the state PyAirbyte kept: only the new changes pass through.
    assert second["processed"] == sum(new.values())
    assert new["audit_trail"] == 40
    for stream in STREAM_NAMES:
        rows = as_tap_records(second["rows"][stream])
        by_id = {r["id"]: r for r in rows}
        assert_same_records(list(by_id.values()), truth_of(sb, stream), what=f"second: {stream}")
    counts = Counter({s: len(first["rows"][s]) for s in STREAM_NAMES})
    print(
        json.dumps(
            {
                "rows_per_stream": dict(counts),
                "first_read_records": first["processed"],
                "first_read_seconds": round(first["seconds"], 2),
                "second_read_records": second["processed"],
                "second_read_new_per_stream": new,
            }
        )
    )
