"""The Sandbox: a threaded werkzeug server on a loopback port, serving the app of one state.

The state (state.py) is what the app reads and changes; this module builds it, binds the port,
and adds what only a Python caller needs: appends, the clock, ground truth.
"""

from __future__ import annotations

import email.utils
import socket
import struct
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Generic, TypeVar, overload

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from tap_lp_audittrail.sandbox.app import AbortConnectionError, AuditApp, ResetConnectionError
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
from tap_lp_audittrail.sandbox.state import LogEntry, SandboxState, Stats, served_type

T = TypeVar("T")


class _InState(Generic[T]):
    """A Sandbox attribute that lives in its state, where the app reads it."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, sandbox: None, owner: type) -> _InState[T]: ...
    @overload
    def __get__(self, sandbox: Sandbox, owner: type) -> T: ...
    def __get__(self, sandbox: Sandbox | None, owner: type) -> T | _InState[T]:
        if sandbox is None:
            return self
        return getattr(sandbox.state, self.name)  # type: ignore[no-any-return]

    def __set__(self, sandbox: Sandbox, value: T) -> None:
        setattr(sandbox.state, self.name, value)


def _resets(sock: Any) -> bool:
    """Whether the app set SO_LINGER 0 on this connection: a "reset" fault.

    Such a connection is closed at once, an RST, without the FIN of a shutdown.
    """
    try:
        on, seconds = struct.unpack("ii", sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8))
    except (OSError, AttributeError, struct.error):
        return False
    return bool(on) and seconds == 0


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
        state: SandboxState | None = getattr(self.server, "state", None)
        if state is None or timestamp is not None:
            return super().date_time_string(timestamp)
        return email.utils.formatdate(state.now().timestamp(), usegmt=True)

    def send_header(self, keyword: str, value: str) -> None:
        """Every header, but `Date` only when the readings say the server sends it."""
        state: SandboxState | None = getattr(self.server, "state", None)
        if keyword == "Date" and state is not None and not state.readings.date_header:
            return
        super().send_header(keyword, value)


class Sandbox:
    """A local LivePerson: Domain API, Login Service, Sentinel and the Audit Trail API."""

    account_id: _InState[str] = _InState()
    readings: _InState[Readings] = _InState()
    faults: _InState[list[FaultRule]] = _InState()
    latency: _InState[float] = _InState()
    jitter: _InState[float] = _InState()
    seed: _InState[int] = _InState()
    bearer_ttl: _InState[float] = _InState()
    permission_granted: _InState[bool] = _InState()
    on_audit_request: _InState[Callable[[int], Any] | None] = _InState()
    credentials: _InState[Credentials] = _InState()
    tokens: _InState[TokenStore] = _InState()
    store: _InState[Store] = _InState()
    stats: _InState[Stats] = _InState()
    stop_event: _InState[threading.Event] = _InState()
    rng_lock: _InState[threading.Lock] = _InState()

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
        self.state = SandboxState(
            account_id=account_id, readings=readings or Readings(), faults=list(faults),
            latency=latency, jitter=jitter, seed=seed, bearer_ttl=bearer_ttl_seconds,
        )  # fmt: skip
        self.host, self.port = host, port
        end = self.data.end
        if end is None:
            end = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
        self.end = end
        self.start_time = end - timedelta(days=self.data.span_days)
        self.store.fill(self.data, to_us(self.start_time), to_us(end))
        self.app = AuditApp(self.state)
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
            if _resets(request):
                server.close_request(request)
            else:
                plain_shutdown(request)

        server.shutdown_request = shutdown_request  # type: ignore[method-assign]
        server.state = self.state  # type: ignore[attr-defined]
        self._server = server
        self.port = server.socket.getsockname()[1]
        self.state.base_uri = self.host_port
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
        return self.state.now()

    def set_clock(self, at: datetime | None = None, *, shift: timedelta | None = None) -> None:
        """Stop the clock at `at` (None: let it run again), or shift it against the host's."""
        self.state.clock.set(at, shift=shift)
        self.app.invalidate()

    # ---------------------------------------------------------------- auth & faults
    def issue_bearer(self) -> str:
        """A valid bearer token (the "bearer handed over" auth method)."""
        return self.tokens.issue()

    def expire_bearers(self) -> None:
        """Every issued bearer token expires now."""
        self.state.expire_bearers()

    def set_faults(self, faults: Iterable[FaultRule]) -> None:
        """Replace the fault rules (injection limits start afresh)."""
        self.state.set_faults(faults)

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
    "SandboxState",
    "Stats",
]
