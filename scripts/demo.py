"""The demo's pipeline run and report (started by scripts/demo, which installs what it needs).

A demo account lives in .demo/world.json: its seeded history, and the changes "made" between
one demo run and the next. Each run starts a sandbox serving that account, runs
`meltano --environment=sandbox run tap-lp-audittrail target-csv` with the sandbox's address and
credentials in the environment, reports what landed in output/sandbox/, and ends with the
commands that take a user to a real account.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def build_parser() -> argparse.ArgumentParser:
    """The demo's options (its --help needs nothing installed)."""
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__)
    parser.add_argument(
        "--records",
        type=int,
        default=5000,
        help="size of the demo account's history (first run only)",
    )
    parser.add_argument(
        "--new", type=int, default=25, help="changes made to the account since the previous run"
    )
    parser.add_argument("--reset", action="store_true", help="start the demo afresh")
    return parser


if __name__ == "__main__" and {"-h", "--help"} & set(sys.argv[1:]):
    build_parser().print_help()
    sys.exit(0)

from tap_lp_audittrail.sandbox import ELEMENTS, DataSpec, Sandbox  # noqa: E402 - after --help
from tap_lp_audittrail.sandbox.cli import tap_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / ".demo"
WORLD = DEMO / "world.json"
OUTPUT = REPO / "output" / "sandbox"
MELTANO = REPO / ".venv-meltano" / "bin" / "meltano"
LOADER = "target-csv"
STATE_ID = f"sandbox:tap-lp-audittrail-to-{LOADER}"
STREAMS = ("audit_trail", *ELEMENTS)
UTC = dt.timezone.utc
csv.field_size_limit(sys.maxsize)

#: From the sandbox to a real account: the steps the demo ends with, each with its commands.
#: README.md, "Configuring a real account", shows the same commands (a test keeps them in step).
MELTANO_TYPED = ".venv-meltano/bin/meltano"  # as a user types it, in the clone
REAL_ACCOUNT = (
    (
        "Its id and API key: replace 12345678 and each ... (the secrets go to .env, git-ignored):",
        [f"{MELTANO_TYPED} config set tap-lp-audittrail account_id 12345678"]
        + [
            f"{MELTANO_TYPED} config set tap-lp-audittrail {setting} ..."
            for setting in ("app_key", "app_secret", "access_token", "access_token_secret")
        ],
    ),
    (
        "Check them (reads until a first record, stores nothing):",
        [f"{MELTANO_TYPED} config test tap-lp-audittrail"],
    ),
    (
        "Run the pipeline, into output/dev/ (incremental from then on):",
        [f"{MELTANO_TYPED} run tap-lp-audittrail {LOADER}"],
    ),
)


def now() -> dt.datetime:
    return dt.datetime.now(UTC).replace(microsecond=0)


def meltano(*args: str, env: dict[str, str] | None = None, log: Path | None = None) -> int:
    """Run meltano in the repository's project; output to `log` when given."""
    full_env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "NO_COLOR": "1"}
    full_env.update(env or {})
    if log is None:
        return subprocess.run([str(MELTANO), *args], cwd=REPO, env=full_env, check=False).returncode
    with log.open("w") as fh:
        proc = subprocess.run(
            [str(MELTANO), *args],
            cwd=REPO,
            env=full_env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            check=False,
        )
    return proc.returncode


def reset() -> None:
    """Forget the demo account, what was loaded, and the pipeline's state."""
    meltano("--environment=sandbox", "state", "clear", "--force", STATE_ID, log=DEMO / "reset.log")
    shutil.rmtree(OUTPUT, ignore_errors=True)
    WORLD.unlink(missing_ok=True)
    print("The demo account, its output and its state are gone; the next run starts afresh.")


def load_world(records: int) -> dict[str, Any]:
    if WORLD.exists():
        return json.loads(WORLD.read_text())
    return {
        "seed": 1,
        "records": records,
        "end": now().isoformat(),
        "span_days": 90,
        "batches": [],
        "runs": [],
    }


def build_sandbox(world: dict[str, Any]) -> Sandbox:
    """The demo account: its seeded history plus every batch of changes made since."""
    end = dt.datetime.fromisoformat(world["end"])
    sb = Sandbox(
        data=DataSpec(
            seed=world["seed"], records=world["records"], end=end, span_days=world["span_days"]
        )
    )
    for batch in world["batches"]:
        sb.append(
            sb.make_records(
                batch["n"],
                dt.datetime.fromisoformat(batch["start"]),
                dt.datetime.fromisoformat(batch["end"]),
                seed=batch["seed"],
            )
        )
    return sb


def run_files(stream: str) -> list[tuple[str, Path]]:
    """target-csv's files of a stream as (run timestamp, path), oldest first."""
    return sorted((p.stem, p) for p in (OUTPUT / stream).glob("*.csv"))


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def short(value: str | None, width: int) -> str:
    text = (value or "").replace("\r", "").replace("\n", "⏎").replace("\t", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: list[str], rows: list[list[str]], right: frozenset[int] = frozenset()) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def report(run_started: str, truth: int) -> bool:
    """Rows per stream (this run, new, in all), the latest changes, and a check on the total."""
    counts = []
    latest: dict[str, dict[str, str]] = {}
    totals: dict[str, int] = {}
    for stream in STREAMS:
        before: set[str] = set()
        this_run: list[dict[str, str]] = []
        for stamp, path in run_files(stream):
            rows = read_rows(path)
            if stamp >= run_started:
                this_run += rows
            else:
                before.update(r["id"] for r in rows)
        ids_now = {r["id"] for r in this_run}
        totals[stream] = len(before | ids_now)
        counts.append([stream, str(len(this_run)), str(len(ids_now - before)), str(totals[stream])])
        if stream == "audit_trail":
            for _, path in run_files(stream):
                latest.update({r["id"]: r for r in read_rows(path)})
    print()
    print("Rows per stream (each change once; a row written again after a crash keeps its id):")
    print(
        table(
            ["stream", "rows this run", "new ids", "distinct ids in all"],
            counts,
            right=frozenset({1, 2, 3}),
        )
    )
    newest = sorted(latest.values(), key=lambda r: r["changeDate"], reverse=True)[:10]
    print()
    print("The latest changes (audit_trail):")
    print(
        table(
            [
                "changeDate (UTC)",
                "objectType",
                "objectName",
                "action",
                "element",
                "old → new",
                "by",
            ],
            [
                [
                    r["changeDate"][:19],
                    short(r["objectType"], 22),
                    short(r["objectName"], 22),
                    short(r["actionType"], 6),
                    short(r["element"], 22),
                    short(r["oldValue"], 16) + " → " + short(r["newValue"], 16),
                    short(r["originatorLoginName"], 26),
                ]
                for r in newest
            ],
        )
    )
    ok = totals["audit_trail"] == truth
    print()
    verdict = "matches" if ok else "DOES NOT MATCH"
    print(
        f"audit_trail holds {totals['audit_trail']} distinct changes; the sandbox account has "
        f"{truth}: {verdict}."
    )
    return ok


def main() -> int:
    parser = build_parser()
    args = parser.parse_args()
    DEMO.mkdir(exist_ok=True)
    if args.reset:
        reset()
        return 0

    world = load_world(args.records)
    started = now()
    if world["runs"]:
        # The account was changed since the last run finished: what this run must bring.
        since = dt.datetime.fromisoformat(world.get("finished") or world["runs"][-1])
        until = max(started, since + dt.timedelta(seconds=1))
        world["batches"].append(
            {
                "start": since.isoformat(),
                "end": until.isoformat(),
                "n": args.new,
                "seed": 1000 + len(world["runs"]),
            }
        )
        time.sleep(max(0.0, (until - dt.datetime.now(UTC)).total_seconds()))
    world["runs"].append(started.isoformat())
    WORLD.write_text(json.dumps(world, indent=2))
    run_number = len(world["runs"])

    with build_sandbox(world) as sb:
        env = {
            f"TAP_LP_AUDITTRAIL_{k.upper()}": str(v) for k, v in tap_config(sb, "oauth1").items()
        }
        kind = "first run: the whole history" if run_number == 1 else "incremental run"
        print(
            f"Sandbox LivePerson account {sb.account_id} at {sb.url}: "
            f"{len(sb.ground_truth())} changes."
        )
        if run_number > 1:
            print(f"Since the previous run, {args.new} changes were made to the account.")
        log = DEMO / f"run-{run_number}.log"
        command = f"meltano --environment=sandbox run tap-lp-audittrail {LOADER}"
        print(f"Run {run_number} ({kind}): {command}   (log: {log.relative_to(REPO)})", flush=True)
        stamp = dt.datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        clock = time.monotonic()
        code = meltano(
            "--environment=sandbox", "run", "tap-lp-audittrail", LOADER, env=env, log=log
        )
        seconds = time.monotonic() - clock
        if code != 0:
            print(log.read_text()[-4000:], file=sys.stderr)
            print(f"meltano run failed (exit {code}); full log: {log}", file=sys.stderr)
            return code
        print(f"Pipeline finished in {seconds:.1f} s.")
        # Changes "made" from now on belong to the next run.
        world["finished"] = (now() + dt.timedelta(seconds=1)).isoformat()
        WORLD.write_text(json.dumps(world, indent=2))
        ok = report(stamp, len(sb.ground_truth()))
    print()
    print(f"Files: {OUTPUT.relative_to(REPO)}/<stream>/<run timestamp>.csv")
    print(f"State: .venv-meltano/bin/meltano --environment=sandbox state get {STATE_ID}")
    print("Run scripts/demo again for an incremental run; scripts/demo --reset to start over.")
    print()
    print('Your own LivePerson account, in three steps (README.md, "Configuring a real account"):')
    for number, (step, commands) in enumerate(REAL_ACCOUNT, 1):
        print(f"  {number}. {step}")
        for command in commands:
            print(f"       {command}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
