from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import requests
from requests_oauthlib import OAuth1

from tap_lp_audittrail.sandbox import Sandbox
from tap_lp_audittrail.sandbox.cli import build_parser, data_of, growth_of
from tap_lp_audittrail.sandbox.growth import growth_line
from tests.helpers import as_multiset

ALL_FIELDS = (
    "accountId objectType objectName actionType element oldValue newValue changeDate originator "
    "originatorLoginName originatorUserId originatorUserAgent originatorAuthType originatorIsLpa"
)


def audit_url(sb: Sandbox) -> str:
    return f"{sb.url}/api/account/{sb.account_id}/configuration/metadata/audit"


def oauth(sb: Sandbox) -> OAuth1:
    c = sb.credentials
    return OAuth1(c.app_key, c.app_secret, c.access_token, c.access_token_secret)


def gql(args: str, fields: str = ALL_FIELDS) -> str:
    return f"{{auditData({args}) {{ {fields} }} }}"


def post(sb: Sandbox, query: str, *, token: str | None = None, **kw: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or sb.issue_bearer()}"}
    return requests.post(audit_url(sb), json={"query": query, **kw}, headers=headers, timeout=10)


def records(sb: Sandbox, args: str, fields: str = ALL_FIELDS) -> list[dict[str, Any]]:
    r = post(sb, gql(args, fields))
    assert r.status_code == 200, r.text
    return r.json()["data"]["auditData"]


def fetch_all(sb: Sandbox, args: str, page: int = 1000, fields: str = ALL_FIELDS) -> list[dict]:
    out: list[dict] = []
    token = sb.issue_bearer()
    offset = 0
    while True:
        r = post(sb, gql(f"{args}, first: {page}, offset: {offset}", fields), token=token)
        assert r.status_code == 200, r.text
        batch = r.json()["data"]["auditData"]
        out.extend(batch)
        if len(batch) < page:
            return out
        offset += page


class SandboxProcess:
    """`tap-lp-audittrail-sandbox ARGS` as a process, its stderr lines read as they come.

    `growths` are the (number, time) of the growths it said; `replica(k)` is the same sandbox
    built in this process, not started, with its first k growths drawn again from their lines:
    its ground truth is what the process serves once it said them.
    """

    def __init__(self, argv: list[str], *, command: list[str] | None = None, **popen: Any):
        self.argv = argv
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            command or [sys.executable, "-m", "tap_lp_audittrail.sandbox.cli", *argv],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    @property
    def growths(self) -> list[tuple[int, datetime]]:
        with self._changed:
            return [found for line in self.lines if (found := growth_line(line))]

    def wait_for(self, what: Callable[[], bool], timeout: float = 120) -> None:
        """Until `what()` holds (the lines so far tell), else fail with the lines."""
        with self._changed:
            held = self._changed.wait_for(what, timeout)
        assert held, f"not seen in {timeout} s; stderr so far:\n" + "\n".join(self.lines)

    def growths_after(self, instant: datetime) -> int:
        return sum(1 for _, at in self.growths if at > instant)

    @property
    def end(self) -> datetime:
        """The end of its generated data, as its first line on stderr says."""
        self.wait_for(lambda: any(line.startswith("serving ") for line in self.lines))
        first = next(line for line in self.lines if line.startswith("serving "))
        return datetime.fromisoformat(first.split(" to ", 1)[1].split()[0])

    def replica(self, growths: int) -> Sandbox:
        args = build_parser().parse_args(self.argv)
        args.end = self.end
        sb = Sandbox(data=data_of(args, {}), account_id=args.account_id or "12345678")
        growth = growth_of(args)
        assert growth is not None
        for number, at in self.growths[:growths]:
            sb.append(growth.draw(sb, number, at))
        return sb

    def stop(self) -> None:
        """SIGTERM, as Ctrl-C would; it ends cleanly."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        self._reader.join(10)
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self.proc.stdout.close()
        self.proc.stderr.close()
        assert code == 0, "\n".join(self.lines)


def assert_read_once(
    served: SandboxProcess,
    first: list[dict],
    second: list[dict],
    *,
    first_started: datetime,
    first_ended: datetime,
    said_before_second: int,
) -> int:
    """Two reads of a growing sandbox, the second from the first's state: each change once.

    Every change of the growths said before the second read began is in one of them, and
    nothing the sandbox did not serve; the growths made after the first read ended are all in
    the second, the late changes too. Returns how many of those are dated before the first
    read began (changes the first could have read, had they been visible).
    """
    ids = Counter(record["id"] for record in first + second)
    twice = [i for i, n in ids.items() if n > 1]
    assert not twice, f"{len(twice)} changes emitted by both reads"
    got = as_multiset(first + second)
    assert_within(got, served.replica(said_before_second), "a change said before the second read")
    assert_within(served.replica(len(served.growths)), got, "a change the sandbox served")
    after = [n for n, at in served.growths[:said_before_second] if at > first_ended]
    assert after, "no growth between the reads"
    new = multiset(served.replica(after[-1])) - multiset(served.replica(after[0] - 1))
    assert_within(as_multiset(second), new, "a change grown after the first read")
    began = first_started.astimezone(timezone.utc).isoformat(timespec="microseconds")
    return sum(1 for key in new.elements() if dict(key)["changeDate"] < began)


def assert_within(whole: Counter | Sandbox, part: Counter | Sandbox, what: str) -> None:
    """Every change of `part` is in `whole` (a sandbox: its ground truth), as multisets."""
    outside = multiset(part) - multiset(whole)
    first = dict(next(iter(outside), ()))
    assert not outside, f"{what}: {outside.total()} missing, the first {first}"


def multiset(changes: Counter | Sandbox) -> Counter:
    return changes if isinstance(changes, Counter) else as_multiset(changes.ground_truth())
