"""Retries behave: Retry-After is honoured and never undercut (the sandbox's own clock says so),
the whole retry time of a request is bounded by max_retry_seconds, nothing is retried on
400/403, and a 401 renews a bearer exactly once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Generator, Iterator
from typing import Any

import pytest
from requests.exceptions import ConnectionError, Timeout
from singer_sdk.exceptions import RetriableAPIError

from tap_lp_audittrail import hosts
from tap_lp_audittrail.errors import AuthError, ThrottledError
from tap_lp_audittrail.sandbox import DataSpec, FaultRule
from tap_lp_audittrail.transport import RetryPolicy, Throttle, Transport, parse_retry_after

from ._reliability import AUDIT, catalog_for, note, run_inproc, run_process
from .helpers import END, assert_same_records, tap_config
from .hostile import Answer, forward

SMALL = DataSpec(seed=31, records=300, end=END)


def _audit_log(sb):
    return [e for e in sb.stats.log if e.endpoint == "audit"]


def _key(entry) -> tuple:
    args = entry.args or {}
    return (args.get("fromDate"), args.get("toDate"), args.get("offset"))


@contextlib.contextmanager
def _retry_waits() -> Iterator[list[list[float]]]:
    """The waits the tap's retry policy chooses (what its schedule is a rule on): one list per
    request retried, in order."""
    waits: list[list[float]] = []
    chosen = RetryPolicy.waits

    def recorded(self: RetryPolicy, started: float | None = None) -> Generator[float, Any, None]:
        waits_of, mine = chosen(self, started), []
        waits.append(mine)
        value = next(waits_of)  # backoff's priming
        while True:
            value = waits_of.send((yield value))
            mine.append(value)

    RetryPolicy.waits = recorded  # type: ignore[method-assign]
    try:
        yield waits
    finally:
        RetryPolicy.waits = chosen  # type: ignore[method-assign]


def _gaps_after(sb, kind: str) -> list[tuple[float, float]]:
    """For each injected fault of `kind`: (seconds to the retry of that same page, seconds to
    the next audit answer of any page)."""
    log = _audit_log(sb)
    out = []
    for i, entry in enumerate(log):
        if entry.fault != kind:
            continue
        retry = next(e for e in log[i + 1 :] if _key(e) == _key(entry))
        later = [e.time for e in log[i + 1 :]]
        out.append((retry.time - entry.time, min(later) - entry.time))
    return out


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize(
    ("kind", "retry_after", "floor"),
    [("429", 0.6, 1.0), ("429", 1.5, 1.5), ("503", 0.5, 0.5), ("429", None, 1.0)],
    ids=["429-RA-0.6", "429-RA-1.5", "503-RA-0.5", "429-no-RA"],
)
def test_retry_after_is_never_undercut(
    sandbox_factory, monkeypatch, kind, retry_after, floor, concurrency
):
    """The retry of a throttled page comes at least Retry-After later, and never less than
    LivePerson's second after a 429; a 429 pauses every thread, not only the one that got it."""
    sb = sandbox_factory(
        data=SMALL, faults=[FaultRule(kind, at={3, 8}, retry_after=retry_after)], seed=1
    )
    # When each pause began and how long it was, and when each request left the gate every
    # request passes (on this process's clock, the sandbox's too: it runs in this process).
    pauses: list[tuple[float, float]] = []
    passed: list[float] = []
    pause, wait = Throttle.pause, Throttle.wait

    def noted_pause(self: Throttle, seconds: float) -> None:
        pauses.append((time.monotonic(), seconds))  # taken first: the pause ends after it
        pause(self, seconds)

    def noted_wait(self: Throttle) -> None:
        wait(self)
        passed.append(time.monotonic())

    monkeypatch.setattr(Throttle, "pause", noted_pause)
    monkeypatch.setattr(Throttle, "wait", noted_wait)
    outcome = run_inproc(tap_config(sb, page_size=50, window_days=60, max_concurrency=concurrency))
    assert outcome.error is None, repr(outcome.error)
    assert_same_records(outcome.run.stream(AUDIT), sb.ground_truth())
    gaps = _gaps_after(sb, kind)
    assert len(gaps) == 2
    for to_retry, _ in gaps:
        assert to_retry >= floor, f"retried after {to_retry:.3f} s, Retry-After {floor}"
    if kind == "429":
        # A shared pause: no request of any thread leaves until it ends. Requests that left
        # before the 429 was read may still arrive during the pause (how late depends on the
        # machine's load), so the pause is judged where requests leave, not where they arrive.
        assert len(pauses) >= len(gaps), pauses  # each 429 pauses the run (its retry, too)
        for began, seconds in pauses:
            assert seconds >= floor
            early = [t for t in passed if began < t < began + seconds]
            assert not early, f"{len(early)} requests went out during the shared pause"
    note(
        "retry-after",
        fault=kind,
        retry_after=retry_after,
        concurrency=concurrency,
        throttled=len(gaps),
        shortest_wait=round(min(g[0] for g in gaps), 3),
        floor=floor,
    )


def test_retry_after_dates_and_garbage():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after("0") == 0.0
    for nothing_to_honour in ("-3", "nan", "NaN", "inf", "-inf", "1e999", "soon", "", None):
        assert parse_retry_after(nothing_to_honour) is None, nothing_to_honour
    assert parse_retry_after("Mon, 01 Jan 1990 00:00:00 GMT") == 0.0  # a date gone by
    in_a_minute = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    assert 55 <= (parse_retry_after(in_a_minute) or 0) <= 61


@pytest.mark.parametrize("retry_after", ["-5", "nan", "inf", "0", "0.2", "soon", None])
def test_a_429_is_followed_by_a_second_of_quiet_whatever_its_retry_after(
    hostile, sandbox, retry_after
):
    """A hostile server's Retry-After (negative, not a number, zero, or none) never brings
    the next request sooner than LivePerson's second after a 429; the page is then read."""
    throttled = itertools.count()
    server: list = []

    def script(seen):
        if seen.path.endswith("/baseURI.json"):
            return Answer.json({"baseURI": server[0].host_port})
        if seen.path.endswith("/metadata/audit") and next(throttled) == 0:
            headers = {} if retry_after is None else {"Retry-After": retry_after}
            return Answer(429, b"slow down", headers)
        return forward(seen, sandbox.url)

    server.append(hostile(script))
    config = tap_config(sandbox, auth="bearer", domain_api_url=server[0].url, max_concurrency=1)
    outcome = run_inproc(config)
    assert outcome.error is None, repr(outcome.error)
    assert_same_records(outcome.run.stream(AUDIT), sandbox.ground_truth())
    pages = [seen for seen in server[0].seen if seen.path.endswith("/metadata/audit")]
    assert pages[1].at - pages[0].at >= 1.0, f"{pages[1].at - pages[0].at:.3f} s after the 429"


@pytest.mark.parametrize("retry_after", [None, "1.5"])
def test_a_429_pauses_the_run_before_its_request_slot_is_freed(hostile, retry_after):
    """The pause is in place when the exchange returns, while its caller still holds the
    request slot: the thread the slot goes to next finds it, and waits. (Set any later, a
    waiting thread's request left in the gap, inside the server's pause.)"""
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    server = hostile(lambda seen: Answer(429, b"slow down", headers))
    transport = Transport(timeout=5, policy=RetryPolicy())
    transport.hosts.allow(hosts.base_url(server.url), "domain")
    response = transport.request("POST", f"{server.url}/audit", "a page")
    assert response.status_code == 429
    began = time.monotonic()
    transport.throttle.wait()
    assert time.monotonic() - began >= 0.9 * float(retry_after or 1.0)


@pytest.mark.parametrize(
    ("rule", "config", "exception", "words"),
    [
        (FaultRule("500", at=range(1, 10_000)), {}, RetriableAPIError, "HTTP 500"),
        (FaultRule("502", at=range(1, 10_000)), {}, RetriableAPIError, "HTTP 502"),
        (FaultRule("reset", at=range(1, 10_000)), {}, ConnectionError, "reset"),
        (
            FaultRule("slow_body", at=range(1, 10_000), delay=5),
            {"request_timeout": 1},
            Timeout,
            "no whole answer within `request_timeout` (1 s)",
        ),
        (FaultRule("429", at=range(1, 10_000), retry_after=0.3), {}, RetriableAPIError, "429"),
    ],
    ids=["500", "502", "reset", "timeout", "429"],
)
def test_total_retry_time_is_bounded(sandbox_factory, rule, config, exception, words):
    budget = 2
    sb = sandbox_factory(data=SMALL, faults=[rule], seed=2)
    settings = tap_config(
        sb,
        page_size=50,
        max_concurrency=1,
        max_retry_seconds=budget,
        retry_initial_wait=0.2,
        **config,
    )
    with _retry_waits() as waits:
        outcome = run_inproc(settings)
    assert isinstance(outcome.error, exception)
    assert words in str(outcome.error)
    timeout = float(settings["request_timeout"])
    pages: dict[tuple, list[float]] = {}
    for entry in _audit_log(sb):
        pages.setdefault(_key(entry), []).append(entry.time)
    for times in pages.values():
        # The last try starts within the budget; it may then take up to one request timeout.
        span = times[-1] - times[0]
        assert span <= budget + timeout + 0.5, f"retried for {span:.2f} s"
    if rule.kind in ("500", "502"):
        # LivePerson's schedule, scaled: 1, 2, 3 x the first wait (+-20 %), then longer. The
        # rule acts on the wait the tap chooses: judged there, exactly. On the server's clock a
        # retry only ever comes later than that wait (a loaded machine adds to it, never takes).
        retried = [chosen for chosen in waits if len(chosen) >= 3]
        assert retried, waits
        for chosen in retried:
            for wait, step in zip(chosen, (1, 2, 3), strict=False):
                assert 0.16 * step <= wait <= 0.24 * step, chosen
        # The first answer is whole; the page after it is tried until the budget is spent.
        times = max(pages.values(), key=len)
        for (a, b), step in zip(itertools.pairwise(times), (1, 2, 3), strict=False):
            assert b - a >= 0.16 * step - 0.02, times
    assert outcome.seconds <= budget + 2 * timeout + 1.5
    log = _audit_log(sb)
    span = max(t[-1] - t[0] for t in pages.values())
    note(
        "bounded",
        fault=rule.kind,
        max_retry_seconds=budget,
        tries=len(log),
        retried_for=round(span, 2),
        run_seconds=round(outcome.seconds, 2),
    )


def test_retry_after_beyond_the_budget_stops_at_once(sandbox_factory):
    sb = sandbox_factory(
        data=SMALL, faults=[FaultRule("429", at=range(1, 10_000), retry_after=60)], seed=3
    )
    outcome = run_inproc(tap_config(sb, max_concurrency=1, max_retry_seconds=5))
    assert outcome.error is not None
    assert "HTTP 429" in str(outcome.error)
    _no_retry(sb, outcome)
    assert outcome.seconds < 3


def test_a_retry_after_beyond_the_budget_stops_the_windows_waiting_on_its_pause(
    hostile, sandbox_factory
):
    """A window behind the leading one is refused first, with a Retry-After no request can
    honour within max_retry_seconds: the leading window, with pages left, does not wait out
    the run-wide pause (the run's own end would wait for it); the run stops at once, with
    the 429, and nothing is sent during the pause."""
    sb = sandbox_factory(data=DataSpec(seed=32, records=1_000, span_days=3, end=END), seed=3)
    first_day = (END - dt.timedelta(days=3)).date().isoformat()
    refused = threading.Event()
    answered: list = []
    server: list = []

    def script(seen):
        if seen.path.endswith("/baseURI.json"):
            return Answer.json({"baseURI": server[0].host_port})
        if not seen.path.endswith("/metadata/audit"):
            return forward(seen, sb.url)
        if f'fromDate: "{first_day}"' in seen.json()["query"] and not answered:
            # The leading window's first page is answered after the later window's refusal,
            # and late enough for the tap to have read it: its next page would wait.
            answered.append(seen)
            refused.wait(10)
            time.sleep(0.5)
            return forward(seen, sb.url)
        refused.set()
        return Answer(429, b"slow down", {"Retry-After": "60"})

    server.append(hostile(script))
    config = tap_config(
        sb,
        auth="bearer",
        domain_api_url=server[0].url,
        start_date=(END - dt.timedelta(days=3)).isoformat(),
        page_size=10,
        max_concurrency=2,
        max_retry_seconds=5,
    )
    outcome = run_inproc(config)
    assert isinstance(outcome.error, ThrottledError), repr(outcome.error)
    assert "HTTP 429" in str(outcome.error)
    assert outcome.seconds < 3, f"the run took {outcome.seconds:.1f} s"
    pages = [seen for seen in server[0].seen if seen.path.endswith("/metadata/audit")]
    assert [p for p in pages if p.at > pages[0].at + 1] == [], "sent during the pause"


def _no_retry(sb, outcome, endpoint: str | None = None) -> None:
    """The run failed, no page was asked twice, and `endpoint` (a token or lookup) once.

    Several windows may each send their first page before the first refusal stops the run;
    none of them sends it again.
    """
    assert outcome.error is not None
    if endpoint is not None:
        assert sb.stats.requests[endpoint] == 1, dict(sb.stats.requests)
    pages = Counter(_key(e) for e in _audit_log(sb))
    assert all(n == 1 for n in pages.values()), pages


@pytest.mark.parametrize("concurrency", [1, 4])
def test_no_retry_on_403(sandbox_factory, concurrency):
    sb = sandbox_factory(data=SMALL, seed=4)
    sb.permission_granted = False
    outcome = run_inproc(tap_config(sb, auth="login", max_concurrency=concurrency))
    assert isinstance(outcome.error, AuthError)
    assert "HTTP 403" in str(outcome.error)
    assert "permission" in str(outcome.error)
    assert "username, password" in str(outcome.error)
    assert sb.stats.requests["login"] == 1
    _no_retry(sb, outcome)
    note("no-retry", status=403, concurrency=concurrency, requests=sb.stats.requests["audit"])


def test_no_retry_on_400(sandbox_factory):
    sb = sandbox_factory(data=SMALL, seed=5)
    outcome = run_inproc(tap_config(sb, language="not a language", max_concurrency=1))
    assert "HTTP 400" in str(outcome.error)
    assert "Invalid language" in str(outcome.error)
    _no_retry(sb, outcome)
    note("no-retry", status=400, requests=sb.stats.requests["audit"])


@pytest.mark.parametrize(
    ("auth", "wrong", "endpoint", "names"),
    [
        ("oauth1", {"app_secret": "not-the-app-secret"}, "audit", "app_secret"),
        ("login", {"password": "not-the-password"}, "login", "username, password"),
        ("client_credentials", {"client_secret": "nope-nope"}, "sentinel", "client_secret"),
    ],
)
def test_no_retry_on_refused_credentials(sandbox_factory, auth, wrong, endpoint, names):
    sb = sandbox_factory(data=SMALL, seed=6)
    outcome = run_inproc(tap_config(sb, auth=auth, max_concurrency=1, **wrong))
    assert isinstance(outcome.error, AuthError), repr(outcome.error)
    assert names in str(outcome.error)
    # The token endpoint is asked once, whatever the number of windows; each page once.
    _no_retry(sb, outcome, None if endpoint == "audit" else endpoint)
    note("no-retry", status=401, auth=auth, requests=sb.stats.requests[endpoint])


def test_no_retry_on_unknown_account(sandbox_factory):
    sb = sandbox_factory(data=SMALL, seed=7)
    outcome = run_inproc(tap_config(sb, account_id="87654321", max_concurrency=1))
    assert isinstance(outcome.error, AuthError)
    assert "account_id" in str(outcome.error)
    _no_retry(sb, outcome, "domain")


@pytest.mark.parametrize("auth", ["login", "client_credentials"])
def test_401_renews_the_bearer_once(sandbox_factory, auth):
    issuer = "login" if auth == "login" else "sentinel"
    # One expiry mid-run: renewed once, every record read.
    sb = sandbox_factory(data=SMALL, faults=[FaultRule("expire_bearer", at={4})], seed=8)
    outcome = run_inproc(tap_config(sb, auth=auth, page_size=50, max_concurrency=1))
    assert outcome.error is None, repr(outcome.error)
    assert_same_records(outcome.run.stream(AUDIT), sb.ground_truth())
    assert sb.stats.requests[issuer] == 2
    # Every token refused: one renewal, then a clear stop.
    sb = sandbox_factory(
        data=SMALL, faults=[FaultRule("expire_bearer", at=range(1, 10_000))], seed=8
    )
    outcome = run_inproc(tap_config(sb, auth=auth, max_concurrency=1))
    assert isinstance(outcome.error, AuthError)
    assert "HTTP 401" in str(outcome.error)
    assert ("client_id, client_secret" if auth != "login" else "username, password") in str(
        outcome.error
    )
    assert sb.stats.requests[issuer] == 2
    pages = Counter(_key(e) for e in _audit_log(sb))
    assert all(n <= 2 for n in pages.values()), pages
    note("401", auth=auth, token_requests=2, audit_requests=sb.stats.requests["audit"])


def test_static_bearer_token_401_names_the_setting(sandbox_factory, tmp_path):
    sb = sandbox_factory(data=SMALL, seed=9)
    config = tap_config(sb, auth="bearer", max_concurrency=1)
    sb.expire_bearers()
    proc = run_process(tmp_path, config, catalog=catalog_for(config))
    assert proc.returncode not in (0, None)
    assert "bearer_token" in proc.stderr
    assert "HTTP 401" in proc.stderr
    assert all(n == 1 for n in Counter(_key(e) for e in _audit_log(sb)).values())
    assert not any(sb.stats.requests[e] for e in ("login", "sentinel"))
    note("401", auth="bearer", audit_requests=sb.stats.requests["audit"])


@pytest.mark.parametrize("how", ["reset", "refused"])
def test_a_host_that_stops_answering_stops_the_run_soon_with_its_state(
    sandbox_factory, tmp_path, how
):
    """Refused or reset connections, once the host has answered, are retried for
    `connection_retry_seconds` (not the 5xx budget), one WARNING a minute; the run then
    stops with its one line and a STATE from which nothing is lost."""
    faults = [FaultRule("reset", at=range(12, 100_000))] if how == "reset" else []
    sb = sandbox_factory(data=DataSpec(seed=33, records=2_000, end=END), faults=faults, seed=4)
    settings = tap_config(
        sb,
        page_size=50,
        max_concurrency=2,
        max_retry_seconds=900,
        connection_retry_seconds=3,
        retry_initial_wait=0.3,
    )
    catalog = catalog_for(settings)
    if how == "refused":
        # The host has answered; then nothing listens on its port any more.
        def stop_after_answers() -> None:
            while sb.stats.requests["audit"] < 12:
                time.sleep(0.005)
            sb.stop()

        threading.Thread(target=stop_after_answers, daemon=True).start()
    started = time.monotonic()
    proc = run_process(tmp_path / "cut", settings, catalog=catalog, timeout=60)
    seconds = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert seconds < 3 + 2 * 5 + 5, f"took {seconds:.1f} s"
    last = proc.stderr.strip().splitlines()[-1]
    assert "| ERROR" in last
    assert "connection_retry_seconds" in last
    warnings = [line for line in proc.stderr.splitlines() if "| WARNING" in line]
    assert len(warnings) <= 1, warnings
    run = proc.parsed()
    assert proc.lines
    assert json.loads(proc.lines[-1])["type"] == "STATE"
    if how == "refused":
        sb.start()  # the same port
    sb.set_faults([])
    again = run_process(tmp_path / "again", settings, catalog=catalog, state=run.final_state)
    assert again.returncode == 0, again.stderr[-2000:]
    first, second = run.stream(AUDIT), again.parsed().stream(AUDIT)
    assert not {r["id"] for r in first} & {r["id"] for r in second}
    assert_same_records([*first, *second], sb.ground_truth(), what="cut, then resumed")
    note("host stops answering", how=how, seconds=round(seconds, 1), warnings=len(warnings))
