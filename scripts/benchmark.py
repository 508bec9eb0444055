"""Benchmark: the tap against a raw client, with and without latency, and its memory.

    .venv/bin/python scripts/benchmark.py [--records 300000] [--memory 100000,1000000]

Starts the sandbox in this process, runs the tap and a minimal raw client as subprocesses
(their stdout to /dev/null), and prints a Markdown table. All ratios come from one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tap_lp_audittrail.sandbox import DataSpec, Sandbox

END = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
START = END - dt.timedelta(days=400)
ROOT = Path(__file__).resolve().parent.parent
TAP = [sys.executable, "-m", "tap_lp_audittrail"]

# The raw ceiling: the same pages from the same sandbox, the same RECORD lines, no SDK: one
# thread, msgspec for JSON, changeDate rewritten by slicing.
RAW_CLIENT = r"""
import json, sys, msgspec, requests
cfg = json.load(open(sys.argv[1]))
url = f"http://{cfg['host']}/api/account/{cfg['account_id']}/configuration/metadata/audit"
s = requests.Session(); s.headers["Authorization"] = "Bearer " + cfg["bearer_token"]
fields = ("accountId objectType objectName actionType element oldValue newValue changeDate "
          "originator originatorLoginName originatorUserId originatorUserAgent "
          "originatorAuthType originatorIsLpa")
decode, encode = msgspec.json.decode, msgspec.json.encode
out = sys.stdout.buffer
for frm, to in cfg["windows"]:
    offset = 0
    while True:
        q = (f'{{auditData(fromDate: "{frm}", toDate: "{to}", first: {cfg["page_size"]}, '
             f'offset: {offset}, orderBy: ["changeTimestamp"], orderDirection: ["ASC"], '
             f'timezone: "UTC", lpa: true, automaticUpdates: true) {{ {fields} }}}}')
        rows = decode(s.post(url, json={"query": q}).content)["data"]["auditData"]
        lines = []
        for r in rows:  # "2019-11-12 06:10:46.0" -> "2019-11-12T06:10:46.000000+00:00"
            d = r["changeDate"]
            r["changeDate"] = f"{d[:10]}T{d[11:19]}.{d[20:26].ljust(6, '0')}+00:00"
            lines.append(encode({"type": "RECORD", "stream": "audit_trail", "record": r}))
        out.write(b"\n".join(lines) + b"\n" if lines else b"")
        if len(rows) < cfg["page_size"]:
            break
        offset += len(rows)
"""


def run_child(command: list[str]) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (MiB) and exit code of a child with stdout to /dev/null.

    The peak is the child's own VmHWM, read while it runs: getrusage would also count the
    pages it shared with this (large) process between fork and exec.
    """
    started = time.perf_counter()
    peak_kib = 0
    with Path(os.devnull).open("wb") as devnull, tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(command, stdout=devnull, stderr=stderr, cwd=ROOT)
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak_kib = max(peak_kib, int(line.split()[1]))
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        if proc.returncode:
            stderr.seek(0)
            sys.stderr.write(stderr.read().decode()[-3000:])
    return elapsed, peak_kib // 1024, proc.returncode


def tap_files(sb: Sandbox, folder: Path, **settings: object) -> list[str]:
    """Config and a catalog selecting `audit_trail`; returns the tap's arguments."""
    config = {
        "account_id": sb.account_id,
        "domain_api_url": sb.url,
        "bearer_token": sb.issue_bearer(),
        "start_date": START.isoformat(),
        "end_date": END.isoformat(),
        **settings,
    }
    (folder / "config.json").write_text(json.dumps(config))
    catalog = json.loads(
        subprocess.run(
            [*TAP, "--config", str(folder / "config.json"), "--discover"],
            capture_output=True,
            check=True,
            cwd=ROOT,
        ).stdout
    )
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] == "audit_trail"
    (folder / "catalog.json").write_text(json.dumps(catalog))
    return ["--config", str(folder / "config.json"), "--catalog", str(folder / "catalog.json")]


def windows_used(sb: Sandbox) -> list[tuple[str, str]]:
    """The date windows the tap asked for, in order, read off the sandbox's request log."""
    seen: dict[tuple[str, str], None] = {}
    for entry in sb.stats.log:
        if entry.endpoint == "audit" and entry.args:
            seen[(entry.args["fromDate"], entry.args["toDate"])] = None
    return sorted(seen)


def data_pages(sb: Sandbox, windows: list[tuple[str, str]], page_size: int) -> int:
    """Pages the data needs in those windows (a window's records fill whole pages)."""
    days = Counter(r["changeDate"][:10] for r in sb.ground_truth())
    pages = 0
    for start, end in windows:
        n = sum(count for day, count in days.items() if start <= day < end)
        pages += math.ceil(n / page_size)
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=300_000, help="CPU-bound volume")
    parser.add_argument("--latency-records", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.150)
    parser.add_argument("--jitter", type=float, default=0.020)
    parser.add_argument("--memory", default="100000,1000000")
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--window-days", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    settings = {
        "page_size": args.page_size,
        "window_days": args.window_days,
        "max_concurrency": args.concurrency,
    }
    rows: list[tuple[str, str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="tap-lp-bench-"))

    # CPU-bound: no latency, the tap against the raw client on the same pages.
    with Sandbox(data=DataSpec(seed=1, records=args.records, end=END, big_burst=0)) as sb:
        tap_args = tap_files(sb, tmp, **settings)
        tap_s, _, code = run_child([*TAP, *tap_args])
        assert code == 0, "the tap failed"
        raw_cfg = tmp / "raw.json"
        raw_cfg.write_text(
            json.dumps(
                {
                    "host": sb.host_port,
                    "account_id": sb.account_id,
                    "bearer_token": sb.issue_bearer(),
                    "windows": windows_used(sb),
                    "page_size": args.page_size,
                }
            )
        )
        raw_s, _, _ = run_child([sys.executable, "-c", RAW_CLIENT, str(raw_cfg)])
        n = args.records
        rows += [
            ("CPU-bound: raw client (no SDK), records/s", f"{n / raw_s:,.0f} ({raw_s:.1f} s)"),
            ("CPU-bound: tap, records/s", f"{n / tap_s:,.0f} ({tap_s:.1f} s, start-up included)"),
            ("CPU-bound: ratio tap / raw", f"**{raw_s / tap_s:.2f}**"),
        ]

    # Latency-bound: every request takes ~150 ms.
    with Sandbox(
        data=DataSpec(seed=2, records=args.latency_records, end=END, big_burst=0),
        latency=args.latency,
        jitter=args.jitter,
    ) as sb:
        tap_args = tap_files(sb, tmp, **settings)
        sb.stats.reset()
        wall, _, code = run_child([*TAP, *tap_args])
        assert code == 0, "the tap failed"
        made = sb.stats.requests["audit"]
        windows = windows_used(sb)
        windows_n = len(windows)
        pages = data_pages(sb, windows, args.page_size)
        ideal = pages / args.concurrency * args.latency
        rows += [
            (
                f"Latency-bound ({args.latency * 1000:.0f} ms ± {args.jitter * 1000:.0f} ms, "
                f"{args.latency_records:,} records, concurrency {args.concurrency}): wall",
                f"{wall:.1f} s",
            ),
            (
                "Latency-bound: ideal = pages / concurrency x latency",
                f"{pages} / {args.concurrency} x {args.latency:.3f} s = {ideal:.1f} s",
            ),
            ("Latency-bound: ratio wall / ideal", f"**{wall / ideal:.2f}**"),
            (
                "Requests made / (data pages + windows)",
                f"{made} / ({pages} + {windows_n}) = **{made / (pages + windows_n):.2f}**",
            ),
        ]

    # Memory: peak RSS at two volumes.
    peaks = []
    for volume in (int(v) for v in args.memory.split(",")):
        with Sandbox(data=DataSpec(seed=3, records=volume, end=END, big_burst=0)) as sb:
            tap_args = tap_files(sb, tmp, **settings)
            seconds, peak, code = run_child([*TAP, *tap_args])
            assert code == 0, "the tap failed"
            peaks.append(peak)
            rows.append(
                (
                    f"Peak RSS of the tap at {volume:,} records",
                    f"{peak} MiB ({volume / seconds:,.0f} records/s)",
                )
            )
    if len(peaks) == 2:
        rows.append(
            ("Peak RSS growth, largest over smallest volume", f"**{peaks[1] - peaks[0]:+d} MiB**")
        )

    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}; "
        f"page_size {args.page_size}, window_days {args.window_days}\n"
    )
    print("| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
