"""What the sandbox's app reads and changes, apart from the server that serves it.

`SandboxState` is the account the app plays: its id and credentials, the bearer tokens and
sessions, the readings, the stored records, the clock, the fault rules, the pacing and the
counters. `AuditApp` (app.py) gets one and nothing else, so it can be built and called without
a server; `Sandbox` (server.py) builds one, binds a port and serves the app. Both import what
they share from here, and this module imports neither.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from tap_lp_audittrail.sandbox.auth import Credentials, TokenStore
from tap_lp_audittrail.sandbox.data import Store
from tap_lp_audittrail.sandbox.readings import ELEMENTS, FaultRule, Readings


def served_type(kind: str, readings: Readings) -> str:
    """The objectType string served for a stored kind (element key or literal string)."""
    if kind in ELEMENTS:
        return readings.object_types.get(kind, ELEMENTS[kind])
    return kind


class LogEntry(NamedTuple):
    """One served request."""

    time: float
    """time.monotonic() when it was answered."""
    endpoint: str
    status: int
    """HTTP status; 0 when the connection was reset without an answer."""
    fault: str | None
    args: dict[str, Any] | None
    """The auditData arguments of an audit request, when readable."""
    arrived: float = 0.0
    """time.monotonic() when the request arrived (before any latency or fault)."""


@dataclass
class Stats:
    """Counters of everything the sandbox served."""

    requests: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    served: int = 0
    """Records served by the audit endpoint, all requests together."""
    log: list[LogEntry] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, endpoint: str) -> int:
        """Count a request; its 1-based number for that endpoint."""
        with self.lock:
            self.requests[endpoint] += 1
            return self.requests[endpoint]

    def record(
        self, endpoint: str, status: int, fault: str | None, args: Any, arrived: float = 0.0
    ) -> None:
        """Log the outcome of a request."""
        with self.lock:
            self.statuses[status] += 1
            if fault is not None:
                self.faults[fault] += 1
            self.log.append(LogEntry(time.monotonic(), endpoint, status, fault, args, arrived))

    def count_served(self, records: int) -> None:
        """Count the records one audit answer holds."""
        with self.lock:
            self.served += records

    def count_fault(self, kind: str) -> None:
        """Count an injection that does not replace the answer (latency)."""
        with self.lock:
            self.faults[kind] += 1

    def reset(self) -> None:
        """Forget everything (request numbering for faults restarts at 1)."""
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.statuses.clear()
            self.log.clear()
            self.served = 0


@dataclass
class Clock:
    """The sandbox's time: the host's, shifted, or stopped at one instant."""

    shift: timedelta = timedelta(0)
    """The sandbox's clock runs this much ahead of the host's (negative: behind)."""
    frozen_at: datetime | None = None
    """When set, the clock stands still at this instant."""

    def now(self) -> datetime:
        """What the `Date` headers say, and what decides which records are visible."""
        if self.frozen_at is not None:
            return self.frozen_at
        return datetime.now(timezone.utc) + self.shift

    def set(self, at: datetime | None = None, *, shift: timedelta | None = None) -> None:
        """Stop the clock at `at` (None: let it run again), or shift it against the host's."""
        self.frozen_at = at
        if shift is not None:
            self.shift = shift


@dataclass(eq=False)
class SandboxState:
    """One account of a local LivePerson: all the app reads and changes.

    It reads the account, readings, data, clock and rules; it changes the tokens, sessions,
    fault counts and stats.
    """

    account_id: str = "12345678"
    readings: Readings = field(default_factory=Readings)
    store: Store = field(default_factory=Store)
    bearer_ttl: float = 3600
    """Lifetime in seconds of every bearer token issued."""
    faults: list[FaultRule] = field(default_factory=list)
    latency: float = 0.0
    """Seconds an audit answer takes, the app's own work included."""
    jitter: float = 0.0
    """Up to this many seconds more, drawn from the seeded generator."""
    seed: int = 0
    """Seeds the latency jitter, the fault rates and the shuffled ties."""
    base_uri: str = ""
    """What the Domain API answers as baseURI (host:port; the server sets it once bound)."""
    permission_granted: bool = True
    """False: the account lacks the Audit Trail read permission (audit answers 403)."""
    on_audit_request: Callable[[int], Any] | None = None
    """Runs before audit request n (1-based) is served."""
    clock: Clock = field(default_factory=Clock)
    stats: Stats = field(default_factory=Stats)
    stop_event: threading.Event = field(default_factory=threading.Event)
    """Set when the server stops: wakes every stalled or delayed answer."""
    credentials: Credentials = field(init=False)
    tokens: TokenStore = field(init=False)
    rng_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    """Held for every draw of the seeded generators (requests are served in threads)."""

    def __post_init__(self) -> None:
        self.readings.check()
        self.credentials = Credentials(account_id=self.account_id)
        self.tokens = TokenStore(ttl=self.bearer_ttl)
        self._rng = random.Random(self.seed)
        self._injections: dict[int, int] = {}
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The sandbox's time."""
        return self.clock.now()

    def expire_bearers(self) -> None:
        """Every issued bearer token expires now."""
        self.tokens.expire_all()

    def set_faults(self, faults: Iterable[FaultRule]) -> None:
        """Replace the fault rules (injection limits start afresh)."""
        with self._lock:
            self.faults = list(faults)
            self._injections.clear()

    def claim_injection(self, rule: FaultRule) -> bool:
        """Count one injection of rule, unless its limit is reached."""
        with self._lock:
            done = self._injections.get(id(rule), 0)
            if rule.limit is not None and done >= rule.limit:
                return False
            self._injections[id(rule)] = done + 1
            return True

    def rng_uniform(self, lo: float, hi: float) -> float:
        """A seeded uniform draw (latency jitter)."""
        if hi <= lo:
            return lo
        with self.rng_lock:
            return self._rng.uniform(lo, hi)
