"""One HTTP exchange, whole: sent, and its answer read within `request_timeout` and a size limit.

requests bounds each socket operation by its timeout, not the exchange: a server that sends its
status line, its headers or its body a byte at a time keeps every read short and the exchange
alive for ever (a buffered read of http.client waits for all the bytes it asked for, one short
read after another). Here a watchdog ends each exchange at its deadline by shutting its socket
down: whatever waits on it (a TLS handshake, a header line, a read of the body) returns at once,
and the exchange fails as a timeout (`ExchangeTimeout`), retried like any other. The watchdog
is one thread for the process; an exchange costs it a heap entry, and normal reads are read as
requests reads them.

An answer is at most `max_answer_megabytes`: a larger Content-Length is refused before the body
is read, and a body without one (chunked) is stopped once it passes the limit
(`AnswerTooLargeError`, not retried: the same request would bring the same answer).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from singer_sdk.exceptions import FatalAPIError
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

#: Bytes asked of the connection per read of a body (requests reads 10 KiB at a time).
CHUNK_BYTES = 64 * 1024
#: Seconds between two shut-downs of an exchange past its deadline that is still going (a
#: connection opened after the first).
AGAIN_AFTER = 0.05
MEGABYTE = 1_000_000
#: `max_answer_megabytes` by default: a page of 10,000 records of 25 kB each weighs 250 MB, and
#: reading an answer costs about four times its size in memory (docs/reliability.md).
DEFAULT_MAX_ANSWER_MEGABYTES = 256


class ExchangeTimeout(requests.exceptions.ReadTimeout):
    """No whole answer within `request_timeout`: retried as a timeout."""


class AnswerTooLargeError(FatalAPIError):
    """An answer larger than `max_answer_megabytes`; the run stops rather than read it."""

    setting = "max_answer_megabytes"


class Exchange:
    """One request and its answer: the sockets it used, and whether its time ran out."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._active = True
        self._lock = threading.Lock()

    def attach(self, sock: socket.socket | None) -> None:
        """`sock` carries this exchange now; shut it at once if time is already up."""
        if sock is None:
            return
        with self._lock:
            if not any(known is sock for known in self._sockets):
                self._sockets.append(sock)
            late = self.expired and self._active
        if late:
            _shut(sock)

    def expire(self) -> bool:
        """Time is up: shut every socket of the exchange. False once it has ended."""
        with self._lock:
            if not self._active:
                return False
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)
        return True

    def end(self) -> None:
        """The exchange is over: the watchdog leaves its sockets alone from now on."""
        with self._lock:
            self._active = False


def _shut(sock: socket.socket) -> None:
    """Shut the socket down (not close it): a read blocked on it in another thread returns.

    The connection may have let go of its socket already (an answer read until the server
    closes): the socket is the one the exchange noted, not the connection's current one.
    """
    # The plain socket's shutdown, also for a TLS socket: the TLS object another thread is
    # reading with is left as it is, and its read sees the end of the stream.
    with contextlib.suppress(OSError, TypeError, AttributeError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Watchdog:
    """Ends exchanges that outlive their deadline; one daemon thread, started when needed."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Exchange]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._local = threading.local()

    @contextmanager
    def watch(self, seconds: float) -> Iterator[Exchange]:
        """An exchange of this thread, ended by the watchdog after `seconds`."""
        exchange = Exchange(time.monotonic() + seconds)
        with self._wake:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="exchange-watchdog", daemon=True
                )
                self._thread.start()
            earliest = not self._heap or exchange.deadline < self._heap[0][0]
            heapq.heappush(self._heap, (exchange.deadline, next(self._order), exchange))
            if earliest:
                self._wake.notify()
        outer = getattr(self._local, "exchange", None)
        self._local.exchange = exchange
        try:
            yield exchange
        finally:
            self._local.exchange = outer
            exchange.end()

    def attach(self, sock: socket.socket | None) -> None:
        """`sock` is about to carry this thread's exchange, if one is watched."""
        exchange = getattr(self._local, "exchange", None)
        if exchange is not None:
            exchange.attach(sock)

    def _run(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    _, _, exchange = heapq.heappop(self._heap)
                    if exchange.expire():  # still going: shut again soon, in case it reconnects
                        again = (now + AGAIN_AFTER, next(self._order), exchange)
                        heapq.heappush(self._heap, again)
                self._wake.wait(self._heap[0][0] - now if self._heap else None)


#: The process's watchdog.
WATCHDOG = Watchdog()


class _Watched:
    """A connection that tells the watchdog of each socket it carries an exchange on."""

    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        # The TCP socket, before any TLS handshake on it: shutting it ends the handshake too.
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        WATCHDOG.attach(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        WATCHDOG.attach(self.sock)  # a connection kept alive from an earlier exchange
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, urllib3.connection.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class WatchedAdapter(HTTPAdapter):
    """requests' adapter, on connections the watchdog can shut (a proxy's too)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """The pool manager, making watched pools."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """The manager of a proxy, making watched pools (a SOCKS proxy keeps its own)."""
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def read_whole(response: requests.Response, what: str, limit: int) -> None:
    """Read the body of a streamed `response` into it, refusing more than `limit` bytes."""
    length = response.headers.get("Content-Length", "")
    if length.strip().isdigit() and int(length) > limit:
        response.close()
        raise AnswerTooLargeError(_too_large(what, limit, f"announces {int(length):,} bytes"))
    chunks = []
    size = 0
    for chunk in response.iter_content(CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            response.close()
            raise AnswerTooLargeError(_too_large(what, limit, f"passed {limit:,} bytes"))
        chunks.append(chunk)
    response._content = b"".join(chunks)  # what `response.content` returns from now on


def _too_large(what: str, limit: int, how: str) -> str:
    return (
        f"{what}: the answer {how}, more than `max_answer_megabytes` ({limit // MEGABYTE}); "
        "not read. Raise `max_answer_megabytes` if the account's answers are that large, or "
        "lower `page_size`"
    )
