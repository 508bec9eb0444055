"""Benchmark: the tap against a raw client, with and without latency, its memory, and what an
incremental run costs, what a capture costs. All figures come from one run of this script.

    .venv/bin/python scripts/benchmark.py [--records 200000] [--quick] [--only capture ...]

Starts the sandbox in this process (page cap 100, ties reshuffled on every request), runs the
tap and a raw client as subprocesses with their stdout to /dev/null, and prints Markdown tables.

The raw client is the ceiling of the same output work without the SDK: one thread, one
sequential read of the whole range by plain offsets, msgspec for JSON, and for every change the
same RECORD lines the tap writes (with the same `id`): to `audit_trail` and, when every stream
is selected, to its element stream.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tap_lp_audittrail.sandbox import DataSpec, Readings, Sandbox
from tap_lp_audittrail.streams import ELEMENTS

# The data end at the present, as an account's do (the tap reads up to the server's time).
END = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
START = END - dt.timedelta(days=400)
HOUR = dt.timedelta(hours=1)
ROOT = Path(__file__).resolve().parent.parent
TAP = [sys.executable, "-m", "tap_lp_audittrail"]
SOURCE = [sys.executable, "-c", "from tap_lp_audittrail.entry import airbyte; airbyte()"]
CAP = 100
EXTRA: dict = {}
#: Runs of each latency-bound case; the median is reported.
REPEATS = 5
EVERY = ["audit_trail", *(e.stream for e in ELEMENTS)]

RAW_CLIENT = r"""
import hashlib, json, sys, msgspec, requests
cfg = json.load(open(sys.argv[1]))
url = f"http://{cfg['host']}/api/account/{cfg['account_id']}/configuration/metadata/audit"
s = requests.Session(); s.headers["Authorization"] = "Bearer " + cfg["bearer_token"]
names = ("accountId objectType objectName actionType element oldValue newValue changeDate "
         "originator originatorLoginName originatorUserId originatorUserAgent "
         "originatorAuthType originatorIsLpa").split()
id_fields = [n for n in names if n != "actionType"]
streams = cfg["streams"]  # objectType -> element stream, or {} for audit_trail alone
decode, encode = msgspec.json.decode, msgspec.json.encode
out = sys.stdout.buffer
offset, frm, to, first = 0, cfg["from"], cfg["to"], cfg["page"]
seen, instant = {}, None
while True:
    q = (f'{{auditData(fromDate: "{frm}", toDate: "{to}", first: {first}, offset: {offset}, '
         f'orderBy: ["changeTimestamp"], orderDirection: ["ASC"], timezone: "UTC", lpa: true, '
         f'automaticUpdates: true) {{ {" ".join(names)} }}}}')
    rows = decode(s.post(url, json={"query": q}).content)["data"]["auditData"]
    lines = []
    for r in rows:  # "2019-11-12 06:10:46.0" -> "2019-11-12T06:10:46.000000+00:00"
        d = r["changeDate"]
        r["changeDate"] = f"{d[:10]}T{d[11:19]}.{d[20:26].ljust(6, '0')}+00:00"
        if r["changeDate"] != instant:
            instant, seen = r["changeDate"], {}
        key = encode([r.get(n) for n in id_fields])
        n = seen[key] = seen.get(key, -1) + 1
        r["id"] = hashlib.sha256(key + b"\x1f%d" % n).hexdigest()[:32]
        body = encode(r)
        lines.append(b'{"type":"RECORD","stream":"audit_trail","record":' + body + b'}')
        element = streams.get(r["objectType"])
        if element:
            head = b'{"type":"RECORD","stream":"' + element.encode() + b'","record":'
            lines.append(head + body + b"}")
    out.write(b"\n".join(lines) + b"\n" if lines else b"")
    if not rows:
        break
    offset += len(rows)
"""


def run_child(command: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (MiB, the child's own VmHWM) of a child, stdout to /dev/null."""
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
            raise SystemExit(f"{command[:3]} failed with exit code {proc.returncode}")
    return elapsed, peak_kib // 1024


class Bench:
    """One sandbox and the files to point the tap and the raw client at it."""

    def __init__(self, records: int, folder: Path, *, latency: float = 0.0, **data: object):
        spec = DataSpec(seed=11, records=records, end=END, big_burst=0, **data)  # type: ignore[arg-type]
        self.sb = Sandbox(
            data=spec, readings=Readings(max_page_size=CAP, tie_order="shuffled"), latency=latency
        ).start()
        self.folder = folder
        self.records = records

    def close(self) -> None:
        self.sb.stop()

    def config(self, **settings: object) -> Path:
        config = {
            "account_id": self.sb.account_id,
            "domain_api_url": self.sb.url,
            "bearer_token": self.sb.issue_bearer(),
            "start_date": START.isoformat(),
            **settings,
        }
        path = self.folder / "config.json"
        path.write_text(json.dumps(config))
        return path

    def catalog(self, streams: list[str]) -> Path:
        catalog = json.loads(
            subprocess.run(
                [*TAP, "--config", str(self.config()), "--discover"],
                capture_output=True,
                check=True,
                cwd=ROOT,
            ).stdout
        )
        for stream in catalog["streams"]:
            for entry in stream["metadata"]:
                if entry["breadcrumb"] == []:
                    entry["metadata"]["selected"] = stream["tap_stream_id"] in streams
        path = self.folder / "catalog.json"
        path.write_text(json.dumps(catalog))
        return path

    def tap(self, streams: list[str], state: dict | None = None, **settings: object) -> dict:
        """One tap run: wall, peak RSS, requests, records served, final state."""
        catalog = self.catalog(streams)
        command = [*TAP, "--config", str(self.config(**settings)), "--catalog", str(catalog)]
        if state is not None:
            (self.folder / "state.json").write_text(json.dumps(state))
            command += ["--state", str(self.folder / "state.json")]
        out = self.folder / "out.jsonl"
        before, served = self.sb.stats.requests["audit"], self.sb.stats.served
        started = time.perf_counter()
        with out.open("wb") as sink:
            proc = subprocess.run(
                command, check=False, stdout=sink, stderr=subprocess.DEVNULL, cwd=ROOT
            )
        wall = time.perf_counter() - started
        if proc.returncode:
            raise SystemExit(f"the tap failed with exit code {proc.returncode}")
        final: dict = {}
        emitted = 0
        marked: Counter[str] = Counter()
        with out.open("rb") as lines:
            for line in lines:
                if line.startswith(b'{"type":"STATE"'):
                    final = json.loads(line)["value"]
                elif line.startswith(b'{"type":"RECORD"'):
                    emitted += 1
                    if b'"late-' in line:
                        marked[json.loads(line)["record"]["objectName"]] += 1
        out.unlink()
        return {
            "wall": wall,
            "requests": self.sb.stats.requests["audit"] - before,
            "served": self.sb.stats.served - served,
            "emitted": emitted,
            "marked": marked,
            "state": final,
        }

    def tap_devnull(self, streams: list[str], **settings: object) -> tuple[float, int, int, int]:
        """Wall, peak RSS, requests and records served of a tap run with stdout to /dev/null."""
        catalog = self.catalog(streams)
        command = [*TAP, "--config", str(self.config(**settings)), "--catalog", str(catalog)]
        before, served = self.sb.stats.requests["audit"], self.sb.stats.served
        wall, peak = run_child(command)
        return (
            wall,
            peak,
            self.sb.stats.requests["audit"] - before,
            self.sb.stats.served - served,
        )

    def raw(self, every_stream: bool) -> tuple[float, int, int]:
        """Wall, requests and records served of the raw client."""
        mapping = (
            {self.sb.readings.object_types[e.stream]: e.stream for e in ELEMENTS}
            if every_stream
            else {}
        )
        cfg = {
            "host": self.sb.host_port,
            "account_id": self.sb.account_id,
            "bearer_token": self.sb.issue_bearer(),
            "from": START.date().isoformat(),
            "to": (END + dt.timedelta(days=1)).date().isoformat(),
            "page": CAP,
            "streams": mapping,
        }
        (self.folder / "raw.json").write_text(json.dumps(cfg))
        (self.folder / "raw.py").write_text(RAW_CLIENT)
        before, served = self.sb.stats.requests["audit"], self.sb.stats.served
        wall, _ = run_child(
            [sys.executable, str(self.folder / "raw.py"), str(self.folder / "raw.json")]
        )
        return wall, self.sb.stats.requests["audit"] - before, self.sb.stats.served - served


def cpu_bound(records: int, folder: Path, rows: list[tuple[str, str]]) -> None:
    bench = Bench(records, folder)
    try:
        fewest = math.ceil(records / CAP)
        for label, streams in (("every stream", EVERY), ("`audit_trail` alone", ["audit_trail"])):
            raw_wall, raw_requests, _ = bench.raw(every_stream=streams is EVERY)
            wall, _, requests, served = bench.tap_devnull(streams)
            ratio = raw_wall / wall
            rows += [
                (f"CPU-bound, {label}: raw client", f"{raw_wall:.1f} s, {raw_requests} requests"),
                (
                    f"CPU-bound, {label}: tap",
                    f"{wall:.1f} s, {requests} requests, {served:,} records served",
                ),
                (f"CPU-bound, {label}: rate tap / raw", f"**{ratio:.2f}**"),
                (
                    f"CPU-bound, {label}: requests / fewest ({fewest}); served / trail",
                    f"{requests / fewest:.3f}; {served / records:.3f}",
                ),
            ]
    finally:
        bench.close()


def latency_bound(records: int, folder: Path, rows: list[tuple[str, str]]) -> None:
    """Wall time against the sequential minimum: the median of REPEATS runs, and their range.

    A few hundred requests of 100 ms make a run of seconds, which the machine's other work
    moves by a few per cent: one run alone can fall on either side of a target.
    """
    latency = 0.100
    bench = Bench(records, folder, latency=latency)
    try:
        fewest = math.ceil(records / CAP)
        sequential = fewest * latency
        for concurrency in (4, 8):
            runs = sorted(
                bench.tap_devnull(EVERY, max_concurrency=concurrency, **EXTRA)[::2]
                for _ in range(REPEATS)
            )
            wall, requests = runs[len(runs) // 2]
            rows += [
                (
                    f"Latency-bound ({latency * 1000:.0f} ms, {records:,} changes, every "
                    f"stream, max_concurrency {concurrency}): wall, median of {REPEATS} runs",
                    f"{wall:.1f} s, {requests} requests (runs: "
                    + ", ".join(f"{w:.2f} s" for w, _ in runs)
                    + ")",
                ),
                (
                    f"Latency-bound, max_concurrency {concurrency}: wall / sequential minimum "
                    f"({fewest} x {latency:.1f} s = {sequential:.1f} s); requests / fewest",
                    f"**{wall / sequential:.2f}** ({runs[0][0] / sequential:.2f} to "
                    f"{runs[-1][0] / sequential:.2f}); {requests / fewest:.2f}",
                ),
            ]
    finally:
        bench.close()


def airbyte_vs_singer(records: int, folder: Path, rows: list[tuple[str, str]]) -> None:
    """The same read of every stream through `source-lp-audittrail read` and through the tap,
    stdout to /dev/null, runs alternated; the fastest of REPEATS each."""
    bench = Bench(records, folder)
    try:
        singer_catalog = bench.catalog(EVERY)
        config = bench.config()
        airbyte_catalog = folder / "airbyte-catalog.json"
        discovered = json.loads(
            subprocess.run(
                [*SOURCE, "discover", "--config", str(config)],
                capture_output=True,
                check=True,
                cwd=ROOT,
            ).stdout.splitlines()[-1]
        )["catalog"]
        airbyte_catalog.write_text(
            json.dumps(
                {
                    "streams": [
                        {
                            "stream": stream,
                            "sync_mode": "incremental",
                            "destination_sync_mode": "append_dedup",
                            "cursor_field": ["changeDate"],
                            "primary_key": [["id"]],
                        }
                        for stream in discovered["streams"]
                    ]
                }
            )
        )
        singer_command = [*TAP, "--config", str(config), "--catalog", str(singer_catalog)]
        airbyte_command = [
            *SOURCE, "read", "--config", str(config), "--catalog", str(airbyte_catalog)
        ]  # fmt: skip
        singer, airbyte = [], []
        for _ in range(REPEATS):
            singer.append(run_child(singer_command)[0])
            airbyte.append(run_child(airbyte_command)[0])
        rows += [
            (
                f"Airbyte vs Singer ({records:,} changes, every stream, no latency): fastest of "
                f"{REPEATS}, runs alternated",
                f"source-lp-audittrail read {min(airbyte):.2f} s, tap-lp-audittrail "
                f"{min(singer):.2f} s: **{min(airbyte) / min(singer):.2f}x**",
            )
        ]
    finally:
        bench.close()


def memory(volumes: list[int], folder: Path, rows: list[tuple[str, str]]) -> None:
    peaks = []
    for volume in volumes:
        bench = Bench(volume, folder)
        try:
            wall, peak, _, _ = bench.tap_devnull(EVERY)
        finally:
            bench.close()
        peaks.append(peak)
        rows.append(
            (f"Peak RSS, every stream, {volume:,} changes", f"{peak} MiB ({volume / wall:,.0f}/s)")
        )
    rows.append(
        ("Peak RSS growth, largest over smallest volume", f"**{peaks[-1] - peaks[0]:+d} MiB**")
    )


def selections(records: int, folder: Path, rows: list[tuple[str, str]]) -> None:
    bench = Bench(records, folder)
    try:
        for label, streams in (
            ("every stream", EVERY),
            ("`audit_trail` alone", ["audit_trail"]),
            ("the four with componentTypes codes", ["users", "skills", "agent_groups", "profiles"]),
            ("`users` alone", ["users"]),
            ("`campaigns` alone (no code)", ["campaigns"]),
        ):
            result = bench.tap(streams)
            rows.append(
                (
                    f"Requests, {records:,} changes, {label}",
                    f"{result['requests']} ({result['served']:,} records served)",
                )
            )
    finally:
        bench.close()


def incremental(folder: Path, rows: list[tuple[str, str]]) -> None:
    """Steady-state hourly runs, the state's size, and late changes recovered by lag."""
    for per_day in (10_000, 50_000):
        days = 3
        bench = Bench(per_day * days, folder, span_days=days)
        sb = bench.sb
        try:
            sb.set_clock(END)
            first = bench.tap(EVERY)
            state = first["state"]
            for hour in range(1, 4):
                now = END + hour * HOUR
                sb.append(sb.make_records(per_day // 24, now - HOUR, now, seed=hour))
                sb.set_clock(now)
                run = bench.tap(EVERY, state=state)
                state = run["state"]
            size = len(json.dumps(state).encode())
            ids = sum(len(b.get("seen", [])) for b in state["bookmarks"].values())
            rows += [
                (
                    f"Hourly run, {per_day:,} changes a day, every stream",
                    f"{run['requests']} requests, {run['served']:,} records served, "
                    f"{run['emitted']:,} RECORDs ({per_day // 24:,} new changes)",
                ),
                (f"State size, {per_day:,} changes a day", f"{size / 1024:.0f} KiB ({ids:,} ids)"),
            ]
        finally:
            bench.close()
    bench = Bench(2000, folder, span_days=3)
    sb = bench.sb
    try:
        lags = [0.25, 1, 3, 5.9, 7.0]
        made = []
        for k, lag in enumerate(lags):
            for minutes in (2, 50, 170):
                at = END - dt.timedelta(minutes=minutes)
                batch = sb.make_records(2, at, at + dt.timedelta(seconds=1), seed=100 + k)
                made += [
                    dataclasses.replace(
                        r, visible_after=dt.timedelta(hours=lag), object_name=f"late-{lag:g}"
                    )
                    for r in batch
                ]
        sb.append(made)
        state = None
        recovered: Counter[str] = Counter()
        for hour in range(12):  # hourly runs, the first at END
            sb.set_clock(END + hour * HOUR)
            run = bench.tap(["audit_trail"], state=state)
            state = run["state"]
            recovered += run["marked"]
        for lag in lags:
            rows.append(
                (
                    f"Late changes {lag:g} h late, hourly runs: emitted / made",
                    f"{recovered[f'late-{lag:g}']} / 6",
                )
            )
    finally:
        bench.close()


def captures(records: int, folder: Path, rows: list[tuple[str, str]]) -> None:
    """The cost of `capture_dir`: the same read of every stream without a capture, with a
    pseudonymised one and with one in clear, runs alternated (the fastest of REPEATS each), and
    the capture's size per 1,000 changes."""
    bench = Bench(records, folder)
    try:
        kinds = {
            "no capture": {},
            "capture, pseudonymised": {"capture_pseudonymise": True},
            "capture, in clear": {"capture_pseudonymise": False},
        }
        walls: dict[str, list[float]] = {kind: [] for kind in kinds}
        sizes: dict[str, int] = {}
        for _ in range(REPEATS):
            for kind, settings in kinds.items():
                where = folder / "capture"
                shutil.rmtree(where, ignore_errors=True)
                extra = {"capture_dir": str(where), **settings} if settings else {}
                walls[kind].append(bench.tap_devnull(EVERY, **extra)[0])
                if settings:
                    sizes[kind] = sum(f.stat().st_size for f in where.iterdir())
        plain = min(walls["no capture"])
        for kind in kinds:
            fastest = min(walls[kind])
            value = f"{fastest:.2f} s, **{fastest / plain:.2f}x** the read without one"
            if kind in sizes:
                value += f"; {sizes[kind] / records * 1000 / 1e6:.2f} MB per 1,000 changes"
            rows.append((f"Capture ({records:,} changes, every stream): {kind}", value))
        shutil.rmtree(folder / "capture", ignore_errors=True)
    finally:
        bench.close()


@contextlib.contextmanager
def local_postgres():
    """A throwaway PostgreSQL server on 127.0.0.1 (as the e2e tests start theirs)."""
    sys.path.insert(0, str(ROOT))
    from tests.e2e.conftest import PostgresServer, _server_user, find_pg_bindir, free_port

    bindir = find_pg_bindir()
    if bindir is None:
        raise SystemExit("the dbt benchmark needs the PostgreSQL server binaries (initdb)")
    prefix, uid, gid = _server_user()
    base = Path(tempfile.mkdtemp(prefix="bench-postgres-"))  # the server's user reads it
    base.chmod(0o755)
    if uid is not None and gid is not None:
        os.chown(base, uid, gid)
    port = free_port()
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    as_server = [*prefix]
    subprocess.run(
        [*as_server, str(bindir / "initdb"), "-D", str(base / "data"), "-U", "postgres",
         "--auth=trust", "-E", "UTF8", "--no-locale"],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [*as_server, str(bindir / "pg_ctl"), "-D", str(base / "data"), "-l", str(base / "log"),
         "-o", options, "-w", "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield PostgresServer("127.0.0.1", port)
    finally:
        subprocess.run(
            [*as_server, str(bindir / "pg_ctl"), "-D", str(base / "data"), "-m", "fast", "stop"],
            check=False, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


def dbt_builds(volumes: list[int], folder: Path, rows: list[tuple[str, str]]) -> None:
    """`dbt build` of transform/ (every model and its tests) over generated trails, on DuckDB and
    PostgreSQL: each build a fresh process (tests/models/warehouse.py, dbt's dbtRunner), so dbt's
    start and parse count; its CPU time beside the wall time, which a busy machine stretches.
    LP_AUDITTRAIL_TRANSFORM names another version of the package to time. Needs .venv-dbt
    (scripts/test makes it)."""
    from tap_lp_audittrail.records import IdAssigner

    python = ROOT / ".venv-dbt" / "bin" / "python"
    if not python.exists():
        raise SystemExit("the dbt benchmark needs .venv-dbt: run scripts/test once")
    warehouse = [str(python), str(ROOT / "tests" / "models" / "warehouse.py")]
    times: dict[str, list[float]] = {"duckdb": [], "postgres": []}
    with local_postgres() as server:
        for volume in volumes:
            trail = folder / f"trail-{volume}.jsonl"
            spec = DataSpec(seed=11, records=volume, end=END, big_burst=0)
            assigner = IdAssigner()
            with trail.open("w") as out:
                for record in Sandbox(data=spec).ground_truth():
                    out.write(json.dumps({"id": assigner.assign(record), **record}) + "\n")
            for adapter, walls in times.items():
                work = folder / f"dbt-{adapter}-{volume}"
                env = dict(os.environ)
                if adapter == "postgres":
                    database = server.create_database(f"bench_{volume}")
                    env.update(
                        DBT_POSTGRES_HOST=server.host, DBT_POSTGRES_PORT=str(server.port),
                        DBT_POSTGRES_USER=server.user, DBT_POSTGRES_DBNAME=database,
                    )  # fmt: skip
                load = [*warehouse, "load", adapter, str(work), str(trail)]
                subprocess.run(load, check=True, env=env, capture_output=True)
                answer = work / "build.json"
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                started = time.perf_counter()
                build = [*warehouse, "build", adapter, str(work), "--out", str(answer)]
                subprocess.run(build, check=True, env=env, capture_output=True)
                wall = time.perf_counter() - started
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                result = json.loads(answer.read_text())
                if not result.get("success"):
                    raise SystemExit(f"dbt build failed on {adapter}: {result}")
                walls.append(wall)
                shutil.rmtree(work, ignore_errors=True)
                rows.append(
                    (
                        f"dbt build, {volume:,} changes, {adapter}",
                        f"{wall:.1f} s ({sum(result['statuses'].values())} models and tests; "
                        f"CPU {cpu:.1f} s, the database's included on DuckDB; load average "
                        f"{os.getloadavg()[0]:.1f})",
                    )
                )
            trail.unlink()
    for adapter, walls in times.items():
        if len(walls) > 1:
            growth = (walls[-1] / walls[0]) / (volumes[-1] / volumes[0])
            rows.append(
                (
                    f"dbt build, {adapter}: time growth over volume growth",
                    f"**{growth:.2f}** (1 is linear)",
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000, help="CPU-bound volume")
    parser.add_argument("--latency-records", type=int, default=20_000)
    parser.add_argument("--airbyte-records", type=int, default=100_000)
    parser.add_argument("--capture-records", type=int, default=100_000)
    parser.add_argument("--memory", default="100000,1000000")
    parser.add_argument("--dbt", default="200000,1000000", help="trail sizes of the dbt builds")
    parser.add_argument(
        "--only",
        choices=[
            "cpu",
            "latency",
            "airbyte",
            "capture",
            "memory",
            "selections",
            "incremental",
            "dbt",
        ],
        action="append",
        help="run these sections alone (repeatable); default: all",
    )
    parser.add_argument("--quick", action="store_true", help="smaller volumes, for a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.records, args.latency_records, args.memory = 20_000, 5_000, "20000,60000"
        args.airbyte_records = args.capture_records = 10_000
        args.dbt = "10000,50000"
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sections = {
            "cpu": lambda: cpu_bound(args.records, folder, rows),
            "latency": lambda: latency_bound(args.latency_records, folder, rows),
            "airbyte": lambda: airbyte_vs_singer(args.airbyte_records, folder, rows),
            "capture": lambda: captures(args.capture_records, folder, rows),
            "memory": lambda: memory([int(v) for v in args.memory.split(",")], folder, rows),
            "selections": lambda: selections(args.latency_records, folder, rows),
            "incremental": lambda: incremental(folder, rows),
            "dbt": lambda: dbt_builds([int(v) for v in args.dbt.split(",")], folder, rows),
        }
        for name, run in sections.items():
            if not args.only or name in args.only:
                run()
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}; sandbox page "
        f"cap {CAP}, ties reshuffled; tap defaults (page_size 500, max_concurrency 4)\n"
    )
    print("| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
