"""Shared by the reliability tests: in-process runs that may fail, real tap processes that may
be killed, unions of interrupted runs, secret scans, and the figures of docs/reliability.md.

Set RELIABILITY_FIGURES=<file> to have the tests append their figures to <file> (JSON lines);
`python -m tests._reliability <file>` sums them up.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus, unquote, unquote_plus

from tap_lp_audittrail.sandbox import DataSpec, Sandbox
from tap_lp_audittrail.tap import TapLPAuditTrail

from .helpers import Outcome, Run, parse_messages, run_inproc, tap_config  # noqa: F401 - re-exported

AUDIT = "audit_trail"
#: The sandbox credentials that are secrets (the username is an identifier, not a secret).
SECRET_CREDENTIALS = (
    "app_key",
    "app_secret",
    "access_token",
    "access_token_secret",
    "password",
    "client_id",
    "client_secret",
)


# ----------------------------------------------------------------------------- figures
def note(section: str, **figures: Any) -> None:
    """Append one test's figures to $RELIABILITY_FIGURES, if set."""
    path = os.environ.get("RELIABILITY_FIGURES")
    if path:
        with Path(path).open("a", encoding="utf-8") as out:
            out.write(json.dumps({"section": section, **figures}, default=str) + "\n")


def fault_figures(sb: Sandbox) -> dict[str, Any]:
    """What the sandbox injected and served, for `note`."""
    return {
        "requests": sum(sb.stats.requests.values()),
        "faults": sum(sb.stats.faults.values()),
        "fault_kinds": dict(sb.stats.faults),
    }


# ----------------------------------------------------------------------------- processes
def catalog_for(config: dict, streams: Iterable[str] = (AUDIT,)) -> dict:
    """The tap's catalog with only `streams` selected."""
    wanted = set(streams)
    tap = TapLPAuditTrail(config=config, parse_env_config=False, validate_config=False)
    catalog = tap.catalog_dict
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    return catalog


@dataclass
class Process:
    """What one real tap process wrote before it ended or was killed."""

    lines: list[str] = field(default_factory=list)
    stderr: str = ""
    returncode: int | None = None
    killed: bool = False
    alive_at_kill: bool = False
    killed_at: float = 0.0  # time.monotonic(), the clock of the sandbox's log too
    seconds: float = 0.0

    def parsed(self) -> Run:
        """Whole lines only: a line cut by the kill is what a target would drop too."""
        return parse_messages("\n".join(self.lines), Run(stderr=self.stderr))


def tap_command(tmp_path: Path, config: dict, state: dict | None, catalog: dict | None,
                *args: str) -> list[str]:  # fmt: skip
    """`python -m tap_lp_audittrail` with files written under tmp_path."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_lp_audittrail", "--config", str(tmp_path / "config.json")]
    if state is not None:
        (tmp_path / "state.json").write_text(json.dumps(state))
        command += ["--state", str(tmp_path / "state.json")]
    if catalog is not None:
        (tmp_path / "catalog.json").write_text(json.dumps(catalog))
        command += ["--catalog", str(tmp_path / "catalog.json")]
    return [*command, *args]


def run_process(
    tmp_path: Path,
    config: dict,
    *args: str,
    state: dict | None = None,
    catalog: dict | None = None,
    kill_after_lines: int | None = None,
    kill_after_seconds: float | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> Process:
    """Run the real tap; SIGKILL it after N stdout lines or N seconds (if it still runs)."""
    return run_killable(
        tap_command(tmp_path, config, state, catalog, *args),
        tmp_path,
        Process(),
        kill_after_lines=kill_after_lines,
        kill_after_seconds=kill_after_seconds,
        env=env,
        timeout=timeout,
    )


P = TypeVar("P", bound=Process)


def run_killable(
    command: list[str],
    tmp_path: Path,
    result: P,
    *,
    kill_after_lines: int | None = None,
    kill_after_seconds: float | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    kill: Callable[[subprocess.Popen], None] | None = None,
) -> P:
    """Run `command`, filling `result`; SIGKILL it after N stdout lines or N seconds.

    `kill` kills it another way (`docker kill` of its container: a SIGKILL of the
    `docker run` client would leave the container running).
    """
    err_path = tmp_path / "stderr.txt"
    started = time.monotonic()
    with err_path.open("w") as err:
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=err,
            env={**os.environ, **(env or {})},
        )
        assert proc.stdout is not None
        stdout = proc.stdout

        def read() -> None:
            # Bytes: a kill can cut the last line inside a multi-byte character. Only whole
            # lines count (a target never sees the cut one either).
            for line in stdout:
                if line.endswith(b"\n"):
                    result.lines.append(line[:-1].decode())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = started + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            elapsed = time.monotonic() - started
            if (kill_after_lines is not None and len(result.lines) >= kill_after_lines) or (
                kill_after_seconds is not None and elapsed >= kill_after_seconds
            ):
                break
            time.sleep(0.002)
        if proc.poll() is None:
            result.alive_at_kill = True
            result.killed = True
            result.killed_at = time.monotonic()
            if kill is None:
                os.kill(proc.pid, signal.SIGKILL)
            else:
                kill(proc)
        result.returncode = proc.wait()
        reader.join(timeout=10)
        stdout.close()
    result.seconds = time.monotonic() - started
    result.stderr = err_path.read_text()
    return result


# ----------------------------------------------------------------------------- "now"
def now_sandbox(sandbox_factory: Any, seed: int, records: int, **config: Any) -> tuple:
    """A sandbox whose history ends a day ago, and a config reading up to now (no end_date),
    so that records stamped "now" are what LivePerson would write during or between runs."""
    hour = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    sb = sandbox_factory(
        data=DataSpec(seed=seed, records=records, end=hour - dt.timedelta(days=1), span_days=360),
        seed=seed,
        readings=config.pop("readings", None),
    )
    settings = tap_config(sb, **config)
    settings["start_date"] = sb.start_time.isoformat()
    del settings["end_date"]
    return sb, settings


def one_record(sb: Sandbox, at: dt.datetime, seed: int) -> list:
    """One realistic record stamped `at` (to append)."""
    return [r.at(at) for r in sb.make_records(1, at, at + dt.timedelta(seconds=1), seed=seed)]


# ----------------------------------------------------------------------------- unions
class Union:
    """Records of several runs merged by `id`; two records with one id must be identical."""

    def __init__(self) -> None:
        self.by_id: dict[str, dict] = {}
        self.emitted = 0

    def add(self, records: Iterable[dict]) -> None:
        for record in records:
            self.emitted += 1
            seen = self.by_id.setdefault(record["id"], record)
            assert seen == record, f"two different records share the id {record['id']}"

    @property
    def records(self) -> list[dict]:
        return list(self.by_id.values())


# ----------------------------------------------------------------------------- secrets
class SecretSpy:
    """Collects every secret a sandbox issues or receives, without changing what it serves.

    Wraps the sandbox's token store (bearers, Login Service sessions) and its WSGI app (the
    Authorization headers, cookies and csrf values the tap sends): call before `start()`.
    """

    def __init__(self, sb: Sandbox) -> None:
        self.values: set[str] = set()
        c = sb.credentials
        self.values.update(str(getattr(c, name)) for name in SECRET_CREDENTIALS)
        store = sb.tokens
        issue, issue_jwt, login = store.issue, store.issue_jwt, store.login

        def spy_issue(prefix: str = "sbx") -> str:
            token = issue(prefix)
            self.values.add(token)
            return token

        def spy_issue_jwt(account_id: str, client_id: str) -> str:
            token = issue_jwt(account_id, client_id)
            self.values.add(token)
            return token

        def spy_login(username: str, single_session: bool) -> Any:
            session = login(username, single_session)
            self.values.update((session.session_id, session.csrf, session.bearer))
            return session

        store.issue = spy_issue  # type: ignore[method-assign]
        store.issue_jwt = spy_issue_jwt  # type: ignore[method-assign]
        store.login = spy_login  # type: ignore[method-assign]
        app = sb.app
        spy = self

        class Middleware:
            def __getattr__(self, name: str) -> Any:
                return getattr(app, name)

            def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
                spy.see_request(environ)
                return app(environ, start_response)

        sb.app = Middleware()  # type: ignore[assignment]

    def see_request(self, environ: dict[str, Any]) -> None:
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            self.values.add(value.strip())
        elif scheme.lower() == "oauth":
            for part in value.split(","):
                name, _, quoted = part.strip().partition("=")
                if name == "oauth_signature":
                    self.values.add(unquote(quoted.strip('"')))
        for cookie in environ.get("HTTP_COOKIE", "").split(";"):
            name, _, cookie_value = cookie.strip().partition("=")
            if name and cookie_value:
                self.values.add(cookie_value)

    def forms(self) -> dict[str, str]:
        """Every secret in every form it could be printed in: raw, JSON-escaped, URL-quoted."""
        out: dict[str, str] = {}
        for value in self.values:
            if len(value) < 6:
                continue
            out[value] = value
            out[json.dumps(value)[1:-1]] = value
            out[json.dumps(value, ensure_ascii=False)[1:-1]] = value
            out[quote(value, safe="")] = value
            out[quote_plus(value)] = value
        return out

    def leaks(self, text: str) -> list[str]:
        """The secrets found in `text` (as the raw secret), if any.

        Found in any of `forms`, in the text URL-decoded (either way), or inside any base64
        text of it decoded (alone, or within an HTTP Basic credential or a whole header).
        """
        found = {raw for form, raw in self.forms().items() if form in text}
        values = [value for value in self.values if len(value) >= 6]
        for decoded in (unquote(text), unquote_plus(text)):
            found.update(value for value in values if value in decoded)
        wanted = [(value, value.encode()) for value in values]
        for decoded_bytes in _base64_texts(text):
            found.update(value for value, data in wanted if data in decoded_bytes)
        return sorted(found)


_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{8,}")


def _base64_texts(text: str) -> Iterator[bytes]:
    """What each run of base64 characters in `text` decodes to, read from any of its first
    four characters (either alphabet)."""
    for run in set(_BASE64_RUN.findall(text)):
        standard = run.replace("-", "+").replace("_", "/")
        for start in range(4):
            part = standard[start:]
            part = part[: len(part) - 1] if len(part) % 4 == 1 else part  # a lone last character
            part += "=" * (-len(part) % 4)
            try:
                yield base64.b64decode(part)
            except ValueError:
                continue


# ----------------------------------------------------------------------------- summary
def summarize(path: str) -> dict[str, dict[str, Any]]:
    """Sum the figures of one test session by section."""
    sums: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for line in Path(path).read_text().splitlines():
        row = json.loads(line)
        section = sums[row.pop("section")]
        section["tests"] += 1
        for name, value in row.items():
            if isinstance(value, bool) or not isinstance(value, int | float | dict):
                continue
            if isinstance(value, dict):
                counter = section.setdefault(name, Counter())
                counter.update(value)
            else:
                section[name] += value
    return {k: dict(v) for k, v in sums.items()}


if __name__ == "__main__":
    print(json.dumps(summarize(sys.argv[1]), indent=2, default=str))
