"""Running the tap against the sandbox, and comparing what it emitted with ground truth."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tap_lp_audittrail.sandbox import Sandbox
from tap_lp_audittrail.tap import TapLPAuditTrail

from .markdown import ROOT

UTC = dt.timezone.utc
END = dt.datetime(2026, 11, 1, tzinfo=UTC)
WIND_DOWN = 30.0  # seconds an in-process run's threads get to end after it failed
FAST = {"retry_initial_wait": 0.01, "request_timeout": 5, "max_retry_seconds": 20}


def tap_config(sb: Sandbox, auth: str = "oauth1", **overrides: Any) -> dict[str, Any]:
    """A config reaching `sb` with one auth method, reading the sandbox's whole span."""
    c = sb.credentials
    config: dict[str, Any] = {
        "account_id": sb.account_id,
        "domain_api_url": sb.url,
        "start_date": (END - dt.timedelta(days=400)).isoformat(),
        "end_date": END.isoformat(),
        **FAST,
    }
    if auth == "oauth1":
        config.update(
            app_key=c.app_key,
            app_secret=c.app_secret,
            access_token=c.access_token,
            access_token_secret=c.access_token_secret,
        )
    elif auth == "login":
        config.update(auth_method="login", username=c.username, password=c.password)
    elif auth == "login_api_key":
        config.update(
            auth_method="login",
            username=c.username,
            app_key=c.app_key,
            app_secret=c.app_secret,
            access_token=c.access_token,
            access_token_secret=c.access_token_secret,
        )
    elif auth == "client_credentials":
        config.update(client_id=c.client_id, client_secret=c.client_secret)
    elif auth == "bearer":
        config.update(bearer_token=sb.issue_bearer())
    else:
        raise ValueError(auth)
    config.update(overrides)
    return config


@dataclass
class Run:
    """What one run of the tap wrote."""

    records: dict[str, list[dict]] = field(default_factory=dict)
    states: list[dict] = field(default_factory=list)
    stderr: str = ""
    stdout: str = ""
    exit_code: int = 0

    @property
    def final_state(self) -> dict:
        return self.states[-1] if self.states else {}

    def stream(self, name: str) -> list[dict]:
        return self.records.get(name, [])


def parse_messages(stdout: str, run: Run) -> Run:
    for line in stdout.splitlines():
        if not line.strip():
            continue
        message = json.loads(line)
        if message["type"] == "RECORD":
            run.records.setdefault(message["stream"], []).append(message["record"])
        elif message["type"] == "STATE":
            run.states.append(message["value"])
    return run


@dataclass
class Outcome:
    """One in-process run: what it wrote, and the error that stopped it, if any."""

    run: Run
    tap: TapLPAuditTrail
    error: BaseException | None = None
    seconds: float = 0.0

    @property
    def retries(self) -> int:
        client = self.tap.run.made_client
        return client.transport.retries if client is not None else 0


def run_inproc(
    config: dict, state: dict | None = None, streams: Iterable[str] | None = ("audit_trail",)
) -> Outcome:
    """Run the tap in this process; an error is returned with whatever was written before it."""
    tap = TapLPAuditTrail(config=config, state=state, parse_env_config=False)
    if streams is not None:
        wanted = set(streams)
        for name, stream in tap.streams.items():
            stream.selected = name in wanted
    out, err = io.StringIO(), io.StringIO()
    error: BaseException | None = None
    started = time.monotonic()
    before = set(threading.enumerate())
    with redirect_stdout(out), redirect_stderr(err):
        try:
            tap.sync_all()
        except Exception as exc:  # the test judges the error
            error = exc
        # After a failure, window threads still in a request wind down (a process would just
        # exit): let them, while the sandbox still answers, so they do not outlive the test.
        for thread in set(threading.enumerate()) - before:
            if thread.name.startswith("window-"):
                thread.join(timeout=max(0.0, started + WIND_DOWN - time.monotonic()))
    run = parse_messages(out.getvalue(), Run(stderr=err.getvalue(), stdout=out.getvalue()))
    return Outcome(run, tap, error, time.monotonic() - started)


def run_tap(
    config: dict, state: dict | None = None, streams: Iterable[str] | None = ("audit_trail",)
) -> Run:
    """Run the tap in this process and return what it wrote; `streams=None` selects all."""
    outcome = run_inproc(config, state, streams)
    if outcome.error is not None:
        raise outcome.error
    return outcome.run


def run_tap_cli(
    config: dict, *args: str, state: dict | None = None, tmp_path: Any = None, timeout: float = 120
) -> Run:
    """Run the real `tap-lp-audittrail` command in a subprocess."""
    assert tmp_path is not None
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_lp_audittrail", "--config", str(config_path), *args]
    if state is not None:
        state_path = tmp_path / "state.json"
        state_path.write_text(json.dumps(state))
        command += ["--state", str(state_path)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    run = Run(stderr=proc.stderr, stdout=proc.stdout, exit_code=proc.returncode)
    if proc.returncode == 0 and "--about" not in args and "--discover" not in args:
        parse_messages(proc.stdout, run)
    return run


def key(record: dict, *, action_type: bool = True) -> tuple:
    """A record without its `id`, comparable as a multiset element."""
    return tuple(
        (k, None if (k == "actionType" and not action_type) else v)
        for k, v in sorted(record.items())
        if k != "id"
    )


def as_multiset(records: Iterable[dict], *, action_type: bool = True) -> Counter:
    return Counter(key(r, action_type=action_type) for r in records)


def assert_same_records(
    emitted: list[dict], truth: list[dict], *, action_type: bool = True, what: str = ""
) -> None:
    """Emitted records equal the ground truth as multisets: nothing lost, nothing extra."""
    got, want = (
        as_multiset(emitted, action_type=action_type),
        as_multiset(truth, action_type=action_type),
    )
    missing, extra = want - got, got - want
    differs = bool(missing or extra)
    assert not differs, (
        f"{what}: {sum(missing.values())} missing, {sum(extra.values())} extra "
        f"(of {len(truth)}); first missing: {next(iter(missing), None)}; "
        f"first extra: {next(iter(extra), None)}"
    )


def assert_in_order_with_unique_ids(records: list[dict]) -> None:
    dates = [r["changeDate"] for r in records]
    assert dates == sorted(dates), "records left out of changeDate order"
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "two records share an id"


def structured_logging_env(tmp_path: Any, level: str = "INFO") -> dict[str, str]:
    """The environment Meltano 4.4 gives a plugin that declares `structured-logging`.

    SINGER_SDK_LOG_CONFIG names a logging config of the form Meltano writes (its
    `_get_sdk_logging`): one stderr handler with the SDK's StructuredFormatter, at the level
    Meltano runs at. The SDK applies it when the command starts: every line is JSON.
    """
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"singer_formatter": {"()": "singer_sdk.logging.StructuredFormatter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "singer_formatter",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["console"], "level": level},
    }
    path = tmp_path / "singer-sdk-logging.json"
    path.write_text(json.dumps(config))
    return {"SINGER_SDK_LOG_CONFIG": str(path)}


def structured_lines(stderr: str) -> list[dict]:
    """stderr's JSON log lines, as Meltano's `singer-sdk` log parser reads them."""
    lines = []
    for line in stderr.splitlines():
        if line.startswith("{") and line.endswith("}"):
            lines.append(json.loads(line))
    return lines


def run_script(script: str, cwd: Path, env: Mapping[str, str], timeout: float) -> None:
    """`script` run by bash as the docs' shell commands are (`-euo pipefail`): it must succeed."""
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"{script}\n{proc.stderr[-2000:]}"


def peak_memory(call: Callable[..., object], *args: object) -> int:
    """The most memory (bytes) Python held for objects while `call(*args)` ran (tracemalloc)."""
    tracemalloc.start()
    try:
        call(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def output_of(module: str, *args: str) -> str:
    """What `python -m MODULE ARGS`, run in the repository, writes on stdout; it must succeed."""
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
