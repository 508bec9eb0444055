"""Command line entry point: run a sandbox until SIGINT/SIGTERM (for manual runs and e2e tests).

The sandbox needs werkzeug, which a plain `pip install tap-lp-audittrail` does not bring:
without it the command says, in one line, what to install, and exits 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from tap_lp_audittrail.private import write_private
from tap_lp_audittrail.sandbox.growth import Growth
from tap_lp_audittrail.sandbox.readings import DataSpec, Readings

if TYPE_CHECKING:
    from tap_lp_audittrail.sandbox.server import Sandbox

#: What the command says when the sandbox's dependencies are missing.
INSTALL_HINT = (
    "tap-lp-audittrail-sandbox needs the sandbox extra ({missing} is not installed): "
    "pip install 'tap-lp-audittrail[sandbox]'"
)

AUTH_FIELDS = {
    "oauth1": ["app_key", "app_secret", "access_token", "access_token_secret"],
    "login": ["username", "password"],
    "client_credentials": ["client_id", "client_secret"],
    "bearer": [],
}


def _reading(text: str) -> tuple[str, Any]:
    """Parse key=value into a Readings field of the right type (JSON for dicts)."""
    key, sep, raw = text.partition("=")
    fields = {f.name: f for f in dataclasses.fields(Readings)}
    if not sep or key not in fields:
        raise argparse.ArgumentTypeError(f"expected key=value with key one of {sorted(fields)}")
    default = getattr(Readings(), key)
    value: Any
    if isinstance(default, bool):
        if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise argparse.ArgumentTypeError(f"{key} takes true or false")
        value = raw.lower() in ("true", "1", "yes")
    elif isinstance(default, int):
        value = int(raw)
    elif isinstance(default, dict):
        value = json.loads(raw)
    else:
        value = raw
    return key, value


def _end(text: str) -> datetime:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def build_parser() -> argparse.ArgumentParser:
    """The CLI's options."""
    p = argparse.ArgumentParser(
        prog="tap-lp-audittrail-sandbox",
        description="Serve a local stand-in for LivePerson's Audit Trail API.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = any free port")
    p.add_argument(
        "--account-id",
        default=None,
        help="the account id the sandbox serves (default 12345678); with --replay, the "
        "captured account's real id, put back where the capture has its placeholder",
    )
    p.add_argument("--records", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1, help="seed of the data and of its growth")
    p.add_argument("--span-days", type=int, default=395)
    p.add_argument("--end", type=_end, default=None, help="ISO end of the data (UTC if naive)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds an audit answer takes")
    p.add_argument("--jitter", type=float, default=0.0)
    p.add_argument("--bearer-ttl", type=float, default=3600)
    p.add_argument("--reading", type=_reading, action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--write-tap-config", type=Path, default=None, metavar="PATH")
    p.add_argument(
        "--write-env",
        type=Path,
        default=None,
        metavar="PATH",
        help="write the tap's settings as TAP_LP_AUDITTRAIL_* lines into this .env file "
        "(a Meltano project reads the .env beside its meltano.yml); other lines are kept",
    )
    p.add_argument("--auth", choices=sorted(AUTH_FIELDS), default="oauth1")
    grow = p.add_argument_group(
        "growth",
        "add changes while serving, so that an incremental run has something new to read",
    )
    grow.add_argument(
        "--grow",
        type=int,
        default=None,
        metavar="N",
        help="add N changes every --every seconds, each growth said in one line on stderr",
    )
    grow.add_argument(
        "--every",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"seconds between growths (default {Growth.every:g})",
    )
    grow.add_argument(
        "--grow-late",
        type=float,
        default=None,
        metavar="SHARE",
        help="share of each growth dated up to --grow-late-minutes back, as changes shown "
        f"late (default {Growth.late_share:g})",
    )
    grow.add_argument(
        "--grow-late-minutes",
        type=float,
        default=None,
        metavar="M",
        help=f"how far back late changes are dated (default {Growth.late_minutes:g}: inside "
        "the tap's default look-back of 360)",
    )
    p.add_argument(
        "--replay",
        type=Path,
        default=None,
        metavar="DIR",
        help="serve the capture in DIR (a run's capture_dir) instead of generated data; "
        "--write-tap-config then writes a config asking what the captured run asked",
    )
    p.add_argument(
        "--readings-from",
        type=Path,
        default=None,
        metavar="READINGS_JSON",
        help="play the readings a capture observed (its readings.json), with the sandbox's "
        "own data; --reading options given too win",
    )
    return p


def replay_main(args: argparse.Namespace) -> int:
    """Serve a capture until SIGINT/SIGTERM."""
    try:
        from tap_lp_audittrail.sandbox.replay import CaptureError, Replay
    except ModuleNotFoundError as exc:
        if not str(exc.name).startswith("werkzeug"):
            raise
        sys.exit(INSTALL_HINT.format(missing=exc.name))
    try:
        replay = Replay(args.replay, host=args.host, port=args.port, account_id=args.account_id)
    except CaptureError as exc:
        sys.exit(f"tap-lp-audittrail-sandbox: the capture cannot be replayed: {exc}")
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda signum, frame: done.set())
    signal.signal(signal.SIGTERM, lambda signum, frame: done.set())
    with replay:
        print(replay.url, flush=True)
        if args.write_tap_config is not None:
            write_private(args.write_tap_config, json.dumps(replay.tap_config(), indent=2))
        held = sum(len(queue) for queue in replay.queues.values())
        print(f"replaying {held} captured answers from {args.replay}", file=sys.stderr)
        while not done.wait(0.2):
            pass
    return 0


def tap_config(sb: Sandbox, auth: str) -> dict[str, Any]:
    """A tap config for this sandbox with the credentials of one auth method."""
    cfg: dict[str, Any] = {
        "account_id": sb.account_id,
        "domain_api_url": sb.url,
        "auth_method": auth,
    }
    for name in AUTH_FIELDS[auth]:
        cfg[name] = sb.credentials[name]
    if auth == "bearer":
        cfg["bearer_token"] = sb.issue_bearer()
    return cfg


def _sandbox_class() -> type[Sandbox]:
    """The server, or exit with one line saying what to install."""
    try:
        from tap_lp_audittrail.sandbox.server import Sandbox
    except ModuleNotFoundError as exc:
        if exc.name != "werkzeug" and not str(exc.name).startswith("werkzeug."):
            raise
        sys.exit(INSTALL_HINT.format(missing=exc.name))
    return Sandbox


ENV_PREFIX = "TAP_LP_AUDITTRAIL_"


def env_quote(value: str) -> str:
    """`value` in single quotes, as Meltano writes `.env` (python-dotenv reads it back)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def write_env(path: Path, config: dict[str, Any]) -> None:
    """Put `config` into the .env file at `path` as TAP_LP_AUDITTRAIL_<SETTING> lines.

    Lines of other variables are kept; earlier TAP_LP_AUDITTRAIL_* lines are replaced.
    """
    kept = []
    if path.exists():
        kept = [
            line
            for line in path.read_text().splitlines()
            if not line.lstrip().removeprefix("export ").startswith(ENV_PREFIX)
        ]
    ours = [f"{ENV_PREFIX}{key.upper()}={env_quote(str(value))}" for key, value in config.items()]
    write_private(path, "\n".join([*kept, *ours]) + "\n")  # it holds credentials


def growth_of(args: argparse.Namespace) -> Growth | None:
    """The growth the options ask for (None: none); ValueError names a wrong option."""
    tuning = {"every": args.every, "late_share": args.grow_late,
              "late_minutes": args.grow_late_minutes}  # fmt: skip
    if args.grow is None:
        if any(value is not None for value in tuning.values()):
            raise ValueError("--every, --grow-late and --grow-late-minutes need --grow N")
        return None
    if args.replay is not None:
        raise ValueError("--grow adds generated changes; --replay serves a capture's answers")
    given = {name: value for name, value in tuning.items() if value is not None}
    return Growth(args.grow, seed=args.seed, **given)


def data_of(args: argparse.Namespace, late: dict[str, Any]) -> DataSpec:
    """The generated data the options ask for (`late`: a capture's observed late changes)."""
    data = DataSpec(seed=args.seed, records=args.records, end=args.end, span_days=args.span_days)
    if late:
        data.late_share = late["late_share"]
        data.late_by = timedelta(seconds=late["late_by_seconds"])
    return data


def main(argv: list[str] | None = None) -> int:
    """Start the sandbox, print its URL, serve (and grow) until SIGINT/SIGTERM."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        growth = growth_of(args)
    except ValueError as exc:
        parser.error(str(exc))
    if args.replay is not None:
        return replay_main(args)
    Sandbox = _sandbox_class()  # noqa: N806 - the class, imported late
    played: dict[str, Any] = {}
    late: dict[str, Any] = {}
    if args.readings_from is not None:
        from tap_lp_audittrail.sandbox.replay import late_of, readings_of

        report = json.loads(args.readings_from.read_text())
        played, late = readings_of(report), late_of(report)
    readings = Readings(**{**played, **dict(args.reading)})
    sb = Sandbox(
        data=data_of(args, late),
        readings=readings,
        latency=args.latency,
        jitter=args.jitter,
        bearer_ttl_seconds=args.bearer_ttl,
        account_id=args.account_id or "12345678",
        host=args.host,
        port=args.port,
    )
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    with sb:
        print(sb.url, flush=True)
        if args.write_tap_config is not None:  # it holds credentials
            write_private(args.write_tap_config, json.dumps(tap_config(sb, args.auth), indent=2))
        if args.write_env is not None:
            write_env(args.write_env, tap_config(sb, args.auth))
        say(
            f"serving {sb.store.n} records from {sb.start_time.isoformat()} to "
            f"{sb.end.isoformat()} for account {sb.account_id}"
        )
        if growth is None:
            while not done.wait(0.2):
                pass
        else:
            say(growth.plan())
            growth.run(sb, done, say)
    return 0


def say(line: str) -> None:
    """One line on stderr, at once (a reader of a pipe waits for it)."""
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
