"""The Sandbox: a threaded werkzeug server on a loopback port, with its data, readings, faults."""

from __future__ import annotations

import email.utils
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from tap_lp_audittrail.sandbox.app import (
    AbortConnectionError,
    AuditApp,
    ResetConnectionError,
    served_type,
)
from tap_lp_audittrail.sandbox.auth import Credentials, TokenStore
from tap_lp_audittrail.sandbox.data import (
    API_FIELDS,
    AUTOMATIC,
    LPA,
    US,
    SandboxRecord,
    Store,
    from_us,
    generate,
    to_us,
)
from tap_lp_audittrail.sandbox.readings import ENDPOINTS, DataSpec, FaultRule, Readings


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


class _QuietHandler(WSGIRequestHandler):
    """No access log; a dropped connection (ours or the client's) just closes quietly.

    HTTP/1.1, but werkzeug closes the connection after every answer (`Connection: close`:
    its server cannot keep one alive), where LivePerson's servers keep it for the next page:
    each request to the sandbox opens a connection of its own.
    """

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        pass

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        self.close_connection = True

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` of an answer: the sandbox's clock, not the host's."""
        sandbox: Sandbox | None = getattr(self.server, "sandbox", None)
        if sandbox is None or timestamp is not None:
            return super().date_time_string(timestamp)
        return email.utils.formatdate(sandbox.now().timestamp(), usegmt=True)

    def send_header(self, keyword: str, value: str) -> None:
        """Every header, but `Date` only when the readings say the server sends it."""
        sandbox: Sandbox | None = getattr(self.server, "sandbox", None)
        if keyword == "Date" and sandbox is not None and not sandbox.readings.date_header:
            return
        super().send_header(keyword, value)


class Sandbox:
    """A local LivePerson: Domain API, Login Service, Sentinel and the Audit Trail API."""

    def __init__(  # noqa: PLR0917 - the documented keyword interface
        self,
        data: DataSpec | None = None,
        readings: Readings | None = None,
        faults: Sequence[FaultRule] = (),
        latency: float = 0.0,
        jitter: float = 0.0,
        seed: int = 0,
        bearer_ttl_seconds: float = 3600,
        account_id: str = "12345678",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.data = data or DataSpec()
        self.readings = readings or Readings()
        self.readings.check()
        self.faults: list[FaultRule] = list(faults)
        self.latency, self.jitter, self.seed = latency, jitter, seed
        self.bearer_ttl = bearer_ttl_seconds
        self.account_id = account_id
        self.host, self.port = host, port
        self.credentials = Credentials(account_id=account_id)
        self.tokens = TokenStore(ttl=bearer_ttl_seconds)
        self.permission_granted = True
        self.clock_shift = timedelta(0)
        """The sandbox's clock runs this much ahead of the host's (negative: behind)."""
        self.frozen_at: datetime | None = None
        """When set, the sandbox's clock stands still at this instant."""
        self.on_audit_request: Callable[[int], Any] | None = None
        self.stats = Stats()
        self.stop_event = threading.Event()
        self.rng_lock = threading.Lock()
        self._rng = random.Random(seed)
        self._injections: dict[int, int] = {}
        self._resets: set[int] = set()
        self._lock = threading.Lock()
        end = self.data.end
        if end is None:
            end = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
        self.end = end
        self.start_time = end - timedelta(days=self.data.span_days)
        self.store = Store()
        self.store.fill(self.data, to_us(self.start_time), to_us(end))
        self.app = AuditApp(self)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> Sandbox:
        """Bind the port and serve in a background thread."""
        if self._server is not None:
            return self
        self.stop_event.clear()
        server = make_server(
            self.host, self.port, self.app, threaded=True, request_handler=_QuietHandler
        )
        plain_shutdown = server.shutdown_request

        def shutdown_request(request: Any) -> None:
            # after a "reset" fault close with SO_LINGER 0 (an RST), skipping the FIN of SHUT_WR
            with self._lock:
                reset = id(request) in self._resets
                self._resets.discard(id(request))
            if reset:
                server.close_request(request)
            else:
                plain_shutdown(request)

        server.shutdown_request = shutdown_request  # type: ignore[method-assign]
        server.sandbox = self  # type: ignore[attr-defined]
        self._server = server
        self.port = server.socket.getsockname()[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
            name=f"sandbox-{self.port}",
        )  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (stalled fault responses are woken up)."""
        self.stop_event.set()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL of the Domain API (every service is served by this one server)."""
        return f"http://{self.host_port}"

    @property
    def host_port(self) -> str:
        """What the Domain API answers as baseURI."""
        return f"{self.host}:{self.port}"

    # ---------------------------------------------------------------- clock
    def now(self) -> datetime:
        """The sandbox's time: what its `Date` headers say, and what decides visibility."""
        if self.frozen_at is not None:
            return self.frozen_at
        return datetime.now(timezone.utc) + self.clock_shift

    def set_clock(self, at: datetime | None = None, *, shift: timedelta | None = None) -> None:
        """Stop the clock at `at` (None: let it run again), or shift it against the host's."""
        self.frozen_at = at
        if shift is not None:
            self.clock_shift = shift
        self.app.invalidate()

    # ---------------------------------------------------------------- auth & faults
    def issue_bearer(self) -> str:
        """A valid bearer token (the "bearer handed over" auth method)."""
        return self.tokens.issue()

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

    def mark_reset(self, sock: socket.socket) -> None:
        """Remember that this connection must end with an RST."""
        with self._lock:
            self._resets.add(id(sock))

    def rng_uniform(self, lo: float, hi: float) -> float:
        """A seeded uniform draw (latency jitter)."""
        if hi <= lo:
            return lo
        with self.rng_lock:
            return self._rng.uniform(lo, hi)

    # ---------------------------------------------------------------- data
    def make_records(
        self, n: int, start: datetime, end: datetime, seed: int = 0
    ) -> list[SandboxRecord]:
        """N realistic records in [start, end), not stored (append them to store them)."""
        spec = DataSpec(
            seed=seed, records=n, burst_rate=self.data.burst_rate, big_burst=0,
            dst_records=0 if n < 50 else None,
        )  # fmt: skip
        return generate(spec, to_us(start), to_us(end))

    def append(self, records: Iterable[SandboxRecord]) -> None:
        """Store records (thread-safe); the very next request sees them."""
        with self.store.lock:
            self.store.append(records)
            self.app.invalidate()

    def ground_truth(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        lpa: bool = True,
        automatic_updates: bool = True,
        users: Iterable[str] | None = None,
        object_types: Iterable[str] | None = None,
        visible_at: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Exactly what a complete extraction must return, as dicts of the 14 API fields.

        Records with instant in [start, end), sorted by instant then insertion order; changeDate
        is UTC isoformat with microseconds (truncated to the second unless readings.subsecond).
        ``object_types`` matches served objectType strings (or element keys). ``visible_at``
        keeps only the records visible at that time of the sandbox's clock (default: all).
        """
        store, readings = self.store, self.readings
        subsecond = readings.subsecond
        lo = None if start is None else to_us(start)
        hi = None if end is None else to_us(end)
        wanted_users = None if users is None else set(users)
        wanted_types = None if object_types is None else set(object_types)
        mask = (0 if lpa else LPA) | (0 if automatic_updates else AUTOMATIC)
        with store.lock:
            a, b = store.window(lo, hi, subsecond)
            idx = list((store.order_us if subsecond else store.order_s)[a:b])
        vals = store.pool.values
        out = []
        seen_by = None if visible_at is None else to_us(visible_at)
        for i in idx:
            if store.flags[i] & mask:
                continue
            if seen_by is not None and store.vis[i] > seen_by:
                continue
            kind = store.otypes[store.otype[i]]
            served = served_type(kind, readings)
            if wanted_types is not None and served not in wanted_types and kind not in wanted_types:
                continue
            u = store.users[store.user[i]]
            if wanted_users is not None and not (
                vals[u[1]] in wanted_users or vals[u[2]] in wanted_users
            ):
                continue
            us = store.inst[i]
            if not subsecond:
                us = us // US * US
            out.append(
                dict(
                    zip(
                        API_FIELDS,
                        (
                            self.account_id,
                            served,
                            vals[store.name[i]],
                            vals[store.action[i]],
                            vals[store.elem[i]],
                            vals[store.old[i]],
                            vals[store.new[i]],
                            from_us(us).isoformat(timespec="microseconds"),
                            vals[u[0]],
                            vals[u[1]],
                            vals[u[2]],
                            vals[u[3]],
                            vals[u[4]],
                            bool(store.flags[i] & LPA),
                        ),
                        strict=True,
                    )
                )
            )
        return out

    def records(self) -> list[SandboxRecord]:
        """Every stored record, in insertion order (for tests that need the raw data)."""
        return [self.store.record(i) for i in range(self.store.n)]


__all__ = [
    "ENDPOINTS",
    "AbortConnectionError",
    "LogEntry",
    "ResetConnectionError",
    "Sandbox",
    "Stats",
]
