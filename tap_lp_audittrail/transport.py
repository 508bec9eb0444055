"""Every HTTP call the tap makes goes through here: timeouts, retries, Retry-After, throttling.

LivePerson's guidance: never retry a 4xx but 429; wait at least a second after a 429; retry a
5xx after 5, 10 and 15 s, then back off longer (2, 4, 8 min). A Retry-After is honoured and
never undercut (one that is negative or not a finite number counts as none), and a 429 pauses
the run for at least a second whatever it says. The whole retry time of one call is bounded
by `max_retry_seconds`; a 429 asking for a longer pause stops the run at once, every thread
waiting for that pause included.

The first contact with a host is not retried when it cannot succeed: a refused connection, a
name that does not resolve, a failed TLS handshake mean a wrong setting or a network in the
way, and waiting `max_retry_seconds` would only hide it. The run stops at once with one line
naming the URL, what failed and the setting the host came from (`HostPolicy.allow`).
Once a host has answered in this run, the same faults are retried like any other.

Every request of the tap leaves through `Transport.request`: only for a host the host policy
allows (hosts.py), never following a redirect, its answer read whole within `request_timeout`
and `max_answer_megabytes` (exchange.py).
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import backoff
import msgspec
import requests
from requests.hooks import default_hooks, dispatch_hook
from singer_sdk import metrics
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_lp_audittrail.errors import REDACT, ServerAnswerError, ThrottledError, UnreachableError
from tap_lp_audittrail.exchange import (
    DEFAULT_MAX_ANSWER_MEGABYTES,
    MEGABYTE,
    WATCHDOG,
    ExchangeTimeout,
    WatchedAdapter,
    read_whole,
)
from tap_lp_audittrail.failures import connect_failure, describe, is_network_failure
from tap_lp_audittrail.hosts import HostPolicy, refuse_redirect
from tap_lp_audittrail.stopping import STOP

#: Seconds between looks at the stop flag during a pause.
STOP_POLL = 0.1

T = TypeVar("T")
_decode = msgspec.json.Decoder().decode
logger = logging.getLogger("tap-lp-audittrail")

#: LivePerson's 5xx schedule, as multiples of the first wait (5 s by default).
BACKOFF_STEPS = (1, 2, 3, 24, 48, 96)
TOO_MANY_REQUESTS_FLOOR = 1.0
#: Seconds between WARNING lines about a host that does not answer.
NETWORK_WARNING_EVERY = 60.0

RETRIABLE = (
    RetriableAPIError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    ConnectionResetError,
)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date.

    None when there is none to honour: absent, negative, not a finite number, not a date.
    A date in the past is 0.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when.timestamp() - time.time())


def throttled_pause(retry_after: float | None) -> float:
    """The pause after a 429: Retry-After, but never less than LivePerson's second."""
    return max(TOO_MANY_REQUESTS_FLOOR, retry_after or 0.0)


def server_message(response: requests.Response) -> str:
    """The server's words: LivePerson's `message`, GraphQL `errors`, or the body's start."""
    text = response.text or ""
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
        return REDACT(text.strip())[:300] or response.reason or ""
    if isinstance(body, dict):
        if isinstance(body.get("errors"), list):
            return REDACT(
                "; ".join(
                    str(e.get("message", e)) if isinstance(e, dict) else str(e)
                    for e in body["errors"]
                )
            )
        for key in ("message", "error_description", "error"):
            if body.get(key):
                return REDACT(str(body[key]))
    return REDACT(text.strip())[:300]  # redacted, then cut: a cut secret is no longer known


class RunStoppedError(Exception):
    """The run is over: a thread still waiting to send gives up instead."""


class Throttle:
    """A pause every thread honours: one 429 slows the whole run down, not one thread."""

    def __init__(self, stopped: threading.Event) -> None:
        self._until = 0.0
        self._lock = threading.Lock()
        self._stopped = stopped
        self._refusal: BaseException | None = None

    def pause(self, seconds: float) -> None:
        """No request of this run leaves before `seconds` from now."""
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def refuse(self, error: BaseException) -> None:
        """Every wait, now or later, raises `error` (as Future.result does, in any thread).

        For a 429 whose pause no request can honour within `max_retry_seconds`: the threads
        waiting for it would hold the run's end for the whole pause.
        """
        self._refusal = error

    def wait(self) -> None:
        """Sleep until the pause, if any, is over; give up if the run ends meanwhile."""
        while True:
            with self._lock:
                delay = self._until - time.monotonic()
            if self._stopped.is_set() or STOP.is_set():
                raise RunStoppedError
            if self._refusal is not None:
                raise self._refusal
            if delay <= 0:
                return
            self._stopped.wait(min(delay, STOP_POLL))


#: The tap's own generator: jitter must not draw from (and disturb) the global `random` state
#: of a process that runs the tap in it.
_JITTER = random.Random()


@dataclass
class RetryPolicy:
    """How long to wait between tries, and for how long to try at all."""

    max_retry_seconds: float = 900.0
    initial_wait: float = 5.0
    #: How long refused, reset or unresolvable connections are retried (at most
    #: max_retry_seconds).
    connection_retry_seconds: float = 120.0

    def waits(self, started: float | None = None) -> Generator[float, Any, None]:
        """A backoff wait generator that reads Retry-After from the exception it is sent.

        After a network failure no wait goes past `connection_retry_seconds` from `started`
        (time.monotonic() of the first try): the last try comes at that bound.
        """
        step = 0
        exception = yield 0.0  # backoff primes the generator with None
        network_budget = min(self.max_retry_seconds, self.connection_retry_seconds)
        while True:
            if started is not None and exception is not None and is_network_failure(exception):
                left = network_budget - (time.monotonic() - started)
                base = self.initial_wait * BACKOFF_STEPS[min(step, len(BACKOFF_STEPS) - 1)]
                step += 1
                exception = yield max(0.0, min(base * _JITTER.uniform(0.8, 1.2), left))
                continue
            base = self.initial_wait * BACKOFF_STEPS[min(step, len(BACKOFF_STEPS) - 1)]
            wait = base * _JITTER.uniform(0.8, 1.2)  # jitter, so threads do not retry in step
            if isinstance(exception, ThrottledError):
                floor = exception.retry_after
                if exception.status == 429:
                    floor = throttled_pause(floor)
                if floor is None:
                    pass  # a 5xx without a Retry-After to honour: LivePerson's schedule
                else:
                    wait = floor + min(base, floor * 0.1) * _JITTER.random()
            step += 1
            exception = yield wait


class _Session(requests.Session):
    """The tap's session: nothing leaves for a host the policy does not allow, no redirect.

    It also reads the environment's proxies and CA bundle once per host and run: requests
    looks them up again for every request (every environment variable is scanned for proxies,
    the CA bundle's path is checked on disk), some 7% of the tap's CPU in a backfill. The
    environment does not change during a run.
    """

    def __init__(self, hosts: HostPolicy) -> None:
        super().__init__()
        self.hosts = hosts
        self._environment: dict[tuple[Any, ...], Any] = {}
        self._environment_lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send `request` once, to a host the policy allows: the last guard of every request."""
        self.hosts.check(str(request.url))
        kwargs["allow_redirects"] = False
        return super().send(request, **kwargs)

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        """The session's own merge, remembered per origin and arguments."""
        parts = urlsplit(str(url))
        key = (parts.scheme, parts.netloc, tuple(sorted((proxies or {}).items())), stream,
               verify, cert)  # fmt: skip
        with self._environment_lock:
            merged = self._environment.get(key)
        if merged is None:
            merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
            with self._environment_lock:
                self._environment[key] = merged
        return {**merged, "proxies": dict(merged["proxies"])}  # callers may change it


class RequestMetrics(metrics.MetricExclusionFilter):
    """The SDK's METRIC filter over `http_request_duration`: a line per request only if asked.

    Hundreds of lines in a backfill: logged when `log_request_metrics` is true, or at DEBUG.
    The SDK's other metrics (`record_count`, `sync_duration`: a few lines per stream) pass.
    """

    def __init__(self) -> None:
        super().__init__(metrics=[metrics.Metric.HTTP_REQUEST_DURATION.value])
        #: Set from `log_request_metrics` by each Transport made.
        self.shown = False

    def filter(self, record: logging.LogRecord) -> bool:
        """True for a line to log: any line but a request's, unless they are asked for."""
        return self.shown or super().filter(record) or logger.isEnabledFor(logging.DEBUG)


#: On the SDK's metrics logger, which every METRIC line goes through, once per process.
REQUEST_METRICS = RequestMetrics()


class Transport:
    """A requests session with the tap's host policy, retry policy and run-wide throttle.

    It knows which hosts may be asked and which setting each came from (`hosts`), and which
    have answered in this run: a first contact that cannot succeed stops the run with an
    UnreachableError.
    """

    def __init__(
        self,
        *,
        timeout: float,
        policy: RetryPolicy,
        pool_size: int = 10,
        max_answer_megabytes: float = DEFAULT_MAX_ANSWER_MEGABYTES,
        account_id: str = "",
        stream_tag: str = "",
        log_request_metrics: bool = False,
    ) -> None:
        """A transport whose requests wait at most `timeout` seconds, retried by `policy`.

        `account_id`: written as `{accountId}` in the request metrics' endpoints;
        `stream_tag`: their `stream` tag (one read serves every stream);
        `log_request_metrics`: a METRIC line per request at INFO too.
        """
        self.hosts = HostPolicy()
        self.session = _Session(self.hosts)
        adapter = WatchedAdapter(pool_connections=4, pool_maxsize=pool_size)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.timeout = timeout
        self.max_answer_bytes = int(max_answer_megabytes * MEGABYTE)
        self.policy = policy
        self.retries = 0
        #: Requests sent, retries included (what a progress line says).
        self.requests = 0
        self._count = threading.Lock()
        #: Set when the run is over: retries still under way in other threads give up.
        self.closed = threading.Event()
        self.throttle = Throttle(self.closed)
        self._warn_lock = threading.Lock()
        self._network_warned = -math.inf
        self.account_id = account_id
        self.stream_tag = stream_tag
        self._metrics = metrics.get_metrics_logger()
        REQUEST_METRICS.shown = log_request_metrics
        if REQUEST_METRICS not in self._metrics.filters:
            self._metrics.addFilter(REQUEST_METRICS)

    def request(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        """One exchange: `url` sent once, its answer read whole. `kwargs` as requests takes them.

        The session's response hooks (the readings, a capture) see the answer once its body is
        in. A 3xx raises RedirectError; no whole answer within `request_timeout` raises
        ExchangeTimeout; one over `max_answer_megabytes`, AnswerTooLargeError. A 429 has
        paused every thread of the run by the time this returns.
        """
        with self._count:
            self.requests += 1
        prepared = self.session.prepare_request(requests.Request(method, url, **kwargs))
        hooks, prepared.hooks = prepared.hooks, default_hooks()
        settings = self.session.merge_environment_settings(prepared.url, {}, True, None, None)
        msg = f"no whole answer within `request_timeout` ({self.timeout:g} s)"
        with WATCHDOG.watch(self.timeout) as exchange:
            try:
                response = self.session.send(prepared, timeout=self.timeout, **settings)
                self._heard_from(response)
                if response.status_code == 429:
                    # Every thread pauses now, before the caller frees its request slot: a
                    # request let through in between would land inside the server's pause.
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    self.throttle.pause(throttled_pause(retry_after))
                read_whole(response, what, self.max_answer_bytes)
            except requests.exceptions.RequestException as exc:
                if exchange.expired:
                    raise ExchangeTimeout(msg, request=prepared) from exc
                raise
            exchange.end()
        if exchange.expired:
            # An answer that ends where the server closes the connection (no length, not
            # chunked) looks whole when the watchdog shut it: it may be cut anywhere.
            raise ExchangeTimeout(msg, request=prepared)
        response = dispatch_hook("response", hooks, response)
        refuse_redirect(response, what, self.hosts.named(str(prepared.url)))
        return response

    def _heard_from(self, response: requests.Response) -> None:
        """Every answer, whatever its status, proves its host is reachable.

        Each answer is also the SDK's `http_request_duration` metric, tagged with its
        endpoint (the account id as `{accountId}`) and status, as the SDK's REST streams tag it.
        """
        self._measure(response)
        if response.request is not None and response.request.url:
            self.hosts.heard_from(response.request.url)

    def _measure(self, response: requests.Response) -> None:
        path = urlsplit(response.request.url or "").path if response.request else ""
        if self.account_id:
            path = path.replace(f"/{self.account_id}/", "/{accountId}/")
            if path.endswith(f"/{self.account_id}"):
                path = path[: -len(self.account_id)] + "{accountId}"
        status = response.status_code
        tags: dict[str, Any] = {
            metrics.Tag.ENDPOINT: path,
            metrics.Tag.HTTP_STATUS_CODE: status,
            metrics.Tag.STATUS: metrics.Status.SUCCEEDED if status < 400 else metrics.Status.FAILED,
        }
        if self.stream_tag:
            tags[metrics.Tag.STREAM] = self.stream_tag
        point = metrics.Point(
            "timer", metrics.Metric.HTTP_REQUEST_DURATION, response.elapsed.total_seconds(), tags
        )
        metrics.log(self._metrics, point)

    def unreachable(self, exc: BaseException) -> UnreachableError | None:
        """The error to stop with when `exc` is a first contact that retrying cannot mend."""
        reason = connect_failure(exc)
        request = getattr(exc, "request", None)
        url = str(getattr(request, "url", "") or "")
        if reason is None or not url or self.hosts.has_answered(url):
            return None
        origin = self.hosts.named(url)
        hint = (
            origin.hint
            if origin is not None
            else "Check the host and that this machine can reach it (network, firewall, proxy)."
        )
        shown = REDACT(url.split("?", 1)[0])
        return UnreachableError(
            f"Cannot reach {shown}: {reason}. {hint}",
            url=shown,
            setting=origin.setting if origin is not None else "",
        )

    def retrying(
        self, func: Callable[..., T], what: str, cancelled: threading.Event | None = None
    ) -> Callable[..., T]:
        """`func` retried on transient failures, within the run's time budget.

        `cancelled` stops the retries of work nobody waits for any more.
        """
        started = time.monotonic()
        budget = self.policy.max_retry_seconds
        network_budget = min(budget, self.policy.connection_retry_seconds)

        def give_up(exc: Exception) -> bool:
            if self.closed.is_set() or (cancelled is not None and cancelled.is_set()):
                return True
            if STOP.is_set():
                return True  # the run is stopping: no more tries
            if is_network_failure(exc) and time.monotonic() - started >= network_budget:
                return True
            # Retry-After is never undercut: if it does not fit the budget, stop instead.
            retry_after = getattr(exc, "retry_after", None)
            refused = isinstance(exc, ThrottledError) and exc.status == 429
            if refused and (retry_after or 0) > budget:
                self.throttle.refuse(exc)  # no thread waits out a pause past every budget
            remaining = budget - (time.monotonic() - started)
            return retry_after is not None and retry_after > remaining

        def on_backoff(details: Any) -> None:
            self.retries += 1
            exc = details.get("exception")
            if isinstance(exc, ThrottledError) and exc.status == 429:
                self.throttle.pause(details["wait"])
            logger.log(
                self._retry_level(exc),
                "%s failed (%s); retry %d in %.1f s",
                what,
                REDACT(describe(exc)),
                details["tries"],
                details["wait"],
            )

        def on_giveup(details: Any) -> None:
            # The run's last line says why it stopped; once it has stopped, what other
            # threads give up on is a consequence, said only at DEBUG.
            logger.log(
                self._retry_level(details.get("exception")),
                "%s failed after %d tries in %.0f s: %s",
                what,
                details["tries"],
                details["elapsed"],
                REDACT(describe(details.get("exception"))),
            )

        return backoff.on_exception(
            self.policy.waits,
            RETRIABLE,
            max_time=budget,
            started=started,
            jitter=None,
            giveup=give_up,
            on_backoff=on_backoff,
            on_giveup=on_giveup,
            raise_on_giveup=True,
            logger=None,
        )(func)

    def _retry_level(self, exc: BaseException | None) -> int:
        """The level of a retry's line: WARNING, but DEBUG once the run is over.

        For a host that does not answer, one WARNING a minute: the run's last line says why
        it stopped.
        """
        if self.closed.is_set():
            return logging.DEBUG
        if exc is not None and is_network_failure(exc):
            now = time.monotonic()
            with self._warn_lock:
                if now - self._network_warned < NETWORK_WARNING_EVERY:
                    return logging.DEBUG
                self._network_warned = now
        return logging.WARNING

    def call(
        self,
        what: str,
        send: Callable[[], requests.Response],
        read: Callable[[requests.Response], T],
        cancelled: threading.Event | None = None,
    ) -> T:
        """Send with retries; `read` validates the answer and raises to retry or to stop."""

        def attempt() -> T:
            self.throttle.wait()
            try:
                response = send()
            except requests.exceptions.RequestException as exc:
                unreachable = self.unreachable(exc)
                if unreachable is not None:
                    raise unreachable from exc
                raise
            return read(response)

        return self.retrying(attempt, what, cancelled)()


def raise_for_status(response: requests.Response, what: str) -> None:
    """Map a status to retry (429, 5xx) or stop (other 4xx), with the server's message."""
    status = response.status_code
    if status < 400:
        return
    message = f"{what}: HTTP {status}: {server_message(response)}"
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise ThrottledError(message, response, retry_after)
    raise FatalAPIError(message)


def read_json(response: requests.Response, what: str) -> Any:
    """The body as JSON, or a retriable error naming the request."""
    try:
        return _decode(response.content)
    except (msgspec.DecodeError, ValueError, RecursionError) as exc:
        msg = f"{what}: the server's answer is not valid JSON ({len(response.content)} bytes)"
        raise ServerAnswerError(msg, response) from exc
