"""Figures of the Airbyte source, in one run against the sandbox.

    .venv/bin/python scripts/airbyte_figures.py [--records 100000] [--changes 20000] [--runs 2]

1. The adapter's own cost per record: the same read of `audit_trail` (`--records` changes)
   through `tap-lp-audittrail` and through `source-lp-audittrail read`, stdout to /dev/null,
   runs alternated.
2. A PyAirbyte read of every stream (`--changes` changes) into a fresh DuckDB cache, against
   `meltano --environment=sandbox run --full-refresh tap-lp-audittrail target-csv` of the same
   data. Needs .venv-airbyte and .venv-meltano with the project's plugins installed
   (`scripts/test` makes both venvs; `meltano install` the plugins).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tap_lp_audittrail.elements import STREAM_NAMES
from tap_lp_audittrail.sandbox import DataSpec, Sandbox
from tap_lp_audittrail.sandbox.cli import tap_config
from tap_lp_audittrail.tap import TapLPAuditTrail

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
END = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
READ_SCRIPT = REPO / "tests" / "e2e" / "pyairbyte_read.py"


def config_for(sb: Sandbox) -> dict:
    config = tap_config(sb, "oauth1")
    config["start_date"] = sb.start_time.isoformat()
    config["end_date"] = END.isoformat()
    return config


def timed(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    started = time.monotonic()
    proc = subprocess.run(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"{command[0]} failed:\n{proc.stderr.decode()[-3000:]}")
    return time.monotonic() - started


def adapter_cost(records: int, runs: int, tmp: Path) -> dict:
    with Sandbox(data=DataSpec(seed=1, records=records, end=END)) as sb:
        config = config_for(sb)
        (tmp / "config.json").write_text(json.dumps(config))
        tap = TapLPAuditTrail(config=config)
        singer = tap.catalog_dict
        for entry in singer["streams"]:
            for meta in entry["metadata"]:
                if meta["breadcrumb"] == []:
                    meta["metadata"]["selected"] = entry["tap_stream_id"] == "audit_trail"
        (tmp / "singer-catalog.json").write_text(json.dumps(singer))
        catalog = json.loads(
            subprocess.run(
                [
                    str(BIN / "source-lp-audittrail"),
                    "discover",
                    "--config",
                    str(tmp / "config.json"),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.splitlines()[-1]
        )["catalog"]
        configured = {
            "streams": [
                {"stream": s, "sync_mode": "incremental", "destination_sync_mode": "append"}
                for s in catalog["streams"]
                if s["name"] == "audit_trail"
            ]
        }
        (tmp / "configured.json").write_text(json.dumps(configured))
        config_arg = ["--config", str(tmp / "config.json")]
        singer_catalog = ["--catalog", str(tmp / "singer-catalog.json")]
        airbyte_catalog = ["--catalog", str(tmp / "configured.json")]
        commands = {
            "singer": [str(BIN / "tap-lp-audittrail"), *config_arg, *singer_catalog],
            "airbyte": [str(BIN / "source-lp-audittrail"), "read", *config_arg, *airbyte_catalog],
        }
        seconds: dict[str, list[float]] = {"singer": [], "airbyte": []}
        for _ in range(runs):
            for name, command in commands.items():
                seconds[name].append(timed(command))
    # The fastest run of each: the least disturbed by whatever else the machine runs.
    singer_s, airbyte_s = (min(seconds[k]) for k in ("singer", "airbyte"))
    return {
        "records": records,
        "singer_seconds": [round(s, 2) for s in seconds["singer"]],
        "airbyte_seconds": [round(s, 2) for s in seconds["airbyte"]],
        "singer_records_per_second": round(records / singer_s),
        "airbyte_records_per_second": round(records / airbyte_s),
        "adapter_microseconds_per_record": round((airbyte_s - singer_s) / records * 1e6, 2),
    }


def writers(records: int) -> dict:
    """The adapter's writer against the Singer tap's, in this process, on the same messages."""
    from contextlib import redirect_stdout

    from singer_sdk.singerlib.encoding.simple import RecordMessage

    from tap_lp_audittrail.airbyte.messages import AirbyteMessages, Stdout
    from tap_lp_audittrail.output import SingerOutput

    with Sandbox(data=DataSpec(seed=3, records=records, end=END)) as sb:
        rows = sb.ground_truth()
    messages = [
        RecordMessage(stream="audit_trail", record={"id": str(n), **row})
        for n, row in enumerate(rows)
    ]
    seconds: dict[str, float] = {}
    with Path(os.devnull).open("w") as null, redirect_stdout(null):
        for _ in range(3):
            for name, writer in (
                ("singer", SingerOutput()),
                ("airbyte", AirbyteMessages(Stdout(), streams=["audit_trail"])),
            ):
                started = time.perf_counter()
                for message in messages:
                    writer.write_message(message)
                writer.flush() if isinstance(writer, SingerOutput) else writer.out.flush()
                took = time.perf_counter() - started
                seconds[name] = min(seconds.get(name, took), took)
    return {
        "records": len(messages),
        "singer_writer_microseconds_per_record": round(seconds["singer"] / len(messages) * 1e6, 2),
        "airbyte_writer_microseconds_per_record": round(
            seconds["airbyte"] / len(messages) * 1e6, 2
        ),
    }


def pyairbyte_vs_meltano(changes: int, runs: int, tmp: Path) -> dict:
    python = REPO / ".venv-airbyte" / "bin" / "python"
    meltano = REPO / ".venv-meltano" / "bin" / "meltano"
    with Sandbox(data=DataSpec(seed=2, records=changes, end=END)) as sb:
        config = config_for(sb)
        rows = sum(len(_truth(sb, s)) for s in STREAM_NAMES)
        airbyte_env = {
            "AIRBYTE_OFFLINE_MODE": "true",
            "DO_NOT_TRACK": "1",
            "AIRBYTE_PROJECT_DIR": str(tmp),
            "AIRBYTE_CACHE_ROOT": str(tmp / "cache"),
        }
        meltano_env = {
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            **{f"TAP_LP_AUDITTRAIL_{k.upper()}": str(v) for k, v in config.items()},
        }
        seconds: dict[str, list[float]] = {"pyairbyte": [], "meltano": []}
        for run in range(runs):
            job = tmp / f"job{run}.json"
            job.write_text(
                json.dumps(
                    {
                        "executable": str(BIN / "source-lp-audittrail"),
                        "config": config,
                        "db_path": str(tmp / f"run{run}.duckdb"),
                    }
                )
            )
            seconds["pyairbyte"].append(
                timed([str(python), str(READ_SCRIPT), str(job)], env=airbyte_env, cwd=tmp)
            )
            command = [str(meltano), "--environment=sandbox", "run", "--full-refresh"]
            command += ["tap-lp-audittrail", "target-csv"]
            seconds["meltano"].append(timed(command, env=meltano_env, cwd=REPO))
    return {
        "changes": changes,
        "rows_all_streams": rows,
        "pyairbyte_seconds": [round(s, 2) for s in seconds["pyairbyte"]],
        "meltano_run_seconds": [round(s, 2) for s in seconds["meltano"]],
    }


def _truth(sb: Sandbox, stream: str) -> list[dict]:
    if stream == "audit_trail":
        return sb.ground_truth()
    return sb.ground_truth(object_types=[sb.readings.object_types[stream]])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--skip-clients", action="store_true", help="only the adapter's cost")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        figures = {"writers": writers(args.records)}
        print(json.dumps(figures["writers"]), flush=True)
        figures["adapter"] = adapter_cost(args.records, args.runs, tmp)
        print(json.dumps(figures["adapter"]), flush=True)
        if not args.skip_clients:
            figures["clients"] = pyairbyte_vs_meltano(args.changes, args.runs, tmp)
            print(json.dumps(figures["clients"]), flush=True)


if __name__ == "__main__":
    main()
