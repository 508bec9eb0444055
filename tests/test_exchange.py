"""One exchange, whole (exchange.py): `request_timeout` bounds a request with its whole answer,
and an answer larger than `max_answer_megabytes` stops the run rather than fill the memory.

The attacks come from a hostile server on loopback (tests/hostile.py) that answers the Domain
API with itself and passes the rest on to the sandbox, but for the answers it breaks.
"""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tap_lp_audittrail.exchange import AnswerTooLargeError, ExchangeTimeout
from tap_lp_audittrail.failures import Kind, classify
from tap_lp_audittrail.hosts import origin_of
from tap_lp_audittrail.sandbox import DataSpec
from tap_lp_audittrail.transport import RetryPolicy, Transport

from .helpers import END, run_inproc, tap_config
from .hostile import Answer, HostileServer, Seen, forward

MEGABYTE = 1_000_000


def audit(seen: Seen) -> bool:
    return seen.path.endswith("/configuration/metadata/audit")


def front(hostile, sandbox, answer: Callable[[Seen], Answer | None]) -> HostileServer:
    """A LivePerson whose Domain API names itself; `answer` breaks what it wants to."""
    server: list[HostileServer] = []

    def script(seen: Seen) -> Answer:
        given = answer(seen)
        if given is not None:
            return given
        if seen.path.endswith("/baseURI.json"):
            return Answer.json({"baseURI": server[0].host_port})
        return forward(seen, sandbox.url)

    server.append(hostile(script))
    return server[0]


# ----------------------------------------------------------------------------- deadlines

#: The promise: a run whose every answer drips ends within this, whatever the load.
DRIP_BOUND = 40.0
TIMEOUT = 3


def test_a_dripped_body_ends_the_try_at_request_timeout_and_the_run_with_its_state(
    hostile, sandbox_factory, tmp_path
):
    """The first page comes whole; every later answer is dripped a byte at a time, 0.25 s
    apart (a 700-byte page would take three minutes). Each try ends at `request_timeout`, is
    retried within `max_retry_seconds`, and the run ends with one line and a last STATE."""
    sandbox = sandbox_factory(data=DataSpec(seed=11, records=300, end=END))
    pages = itertools.count()
    page = json.dumps({"data": {"auditData": []}}).encode() + b" " * 700

    def drip(seen: Seen) -> Answer | None:
        if audit(seen) and next(pages) >= 1:
            byte_by_byte = (page[i : i + 1] for i in range(len(page)))
            return Answer(200, byte_by_byte, drip=0.25, content_length=len(page))
        return None

    server = front(hostile, sandbox, drip)
    config = tap_config(
        sandbox, auth="bearer", domain_api_url=server.url, request_timeout=TIMEOUT,
        max_retry_seconds=TIMEOUT + 1, max_concurrency=1, page_size=50,
    )  # fmt: skip
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "tap_lp_audittrail", "--config", str(path)],
        capture_output=True, text=True, timeout=DRIP_BOUND * 3, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert seconds < DRIP_BOUND, f"took {seconds:.1f} s"
    assert proc.returncode == 1, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "| ERROR" in last
    assert f"no whole answer within `request_timeout` ({TIMEOUT} s)" in last, last
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert json.loads(lines[-1])["type"] == "STATE"
    dripped = [seen for seen in server.seen if audit(seen)][1:]
    assert len(dripped) >= 2, "the dripped page was retried"
    for earlier, later in itertools.pairwise(dripped):
        # Each try lasted until its deadline, and ended there, not at the drip's end.
        assert TIMEOUT - 0.1 <= later.at - earlier.at < TIMEOUT + 10


def _dripping_status_line() -> Iterator[tuple[str, list[float]]]:
    """A raw server that sends its status line a byte every 0.2 s, and never finishes."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    accepted: list[float] = []

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(time.monotonic())
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    def drip(conn: socket.socket) -> None:
        with conn:
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" * 100:
                if stop.wait(0.2):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/x", accepted
    stop.set()
    thread.join()
    listener.close()


@pytest.fixture
def dripping_status_line() -> Iterator[tuple[str, list[float]]]:
    yield from _dripping_status_line()


def test_a_status_line_dripped_a_byte_at_a_time_ends_at_request_timeout(dripping_status_line):
    url, _ = dripping_status_line
    transport = Transport(timeout=1, policy=RetryPolicy(max_retry_seconds=0))
    transport.hosts.allow(origin_of(url), "some_setting")
    started = time.monotonic()
    with pytest.raises(ExchangeTimeout, match="request_timeout"):
        transport.request("GET", url, "GET a dripping server")
    assert time.monotonic() - started < 1 + 5  # without a deadline: never


def test_an_answer_cut_at_the_deadline_is_never_taken_for_a_whole_one(hostile):
    """An answer without a length, that ends where the server closes: the watchdog's shutdown
    looks like its end. What came so far parses (a JSON object and spaces), yet it is a
    timeout, retried as one, never a short answer."""
    server = hostile(lambda seen: Answer(200, iter([b'{"data": 1}', *[b" "] * 100]), drip=0.1))
    transport = Transport(timeout=1, policy=RetryPolicy(max_retry_seconds=0))
    transport.hosts.allow(origin_of(server.url), "some_setting")
    with pytest.raises(ExchangeTimeout):
        transport.request("GET", f"{server.url}/page", "GET a page")


def test_a_normal_answer_is_read_whole_and_handed_to_the_response_hooks(sandbox):
    """The session's hooks (the readings, a capture) see each answer once it is whole."""
    transport = Transport(timeout=5, policy=RetryPolicy())
    transport.hosts.allow(origin_of(sandbox.url), "domain_api_url")
    seen: list[bytes] = []
    transport.session.hooks["response"].append(lambda response, **_: seen.append(response.content))
    url = f"{sandbox.url}/api/account/{sandbox.account_id}/service/agentVep/baseURI.json"
    response = transport.request("GET", url, "Domain API lookup")
    assert response.json()["baseURI"]
    assert seen == [response.content]


# ----------------------------------------------------------------------------- sizes


def _chunks(sent: list[int], count: int) -> Iterator[bytes]:
    for _ in range(count):
        sent.append(1)
        yield b"x" * MEGABYTE


def _chunked(parts: Iterator[bytes]) -> Iterator[bytes]:
    """HTTP/1.1 chunked framing of `parts`."""
    for part in parts:
        yield b"%x\r\n%s\r\n" % (len(part), part)
    yield b"0\r\n\r\n"


#: how the answer tells its size -> the answer (its chunks counted in `sent`)
OVERSIZED: dict[str, Callable[[list[int]], Answer]] = {
    "by Content-Length": lambda sent: Answer(200, _chunks(sent, 64), content_length=64 * MEGABYTE),
    "chunked, without one": lambda sent: Answer(
        200, _chunked(_chunks(sent, 64)), {"Transfer-Encoding": "chunked"}
    ),
}


@pytest.mark.parametrize("how", list(OVERSIZED))
def test_an_answer_over_the_limit_stops_the_run_without_reading_it_whole(hostile, sandbox, how):
    sent: list[int] = []

    def oversized(seen: Seen) -> Answer | None:
        return OVERSIZED[how](sent) if audit(seen) else None

    server = front(hostile, sandbox, oversized)
    config = tap_config(
        sandbox, auth="bearer", domain_api_url=server.url, max_answer_megabytes=1, max_concurrency=1
    )
    outcome = run_inproc(config)
    assert isinstance(outcome.error, AnswerTooLargeError), repr(outcome.error)
    failure = classify(outcome.error)
    assert failure.kind is Kind.CONFIG
    assert "`max_answer_megabytes` (1)" in failure.line
    assert "window" in failure.line  # names the request
    asked = [seen.body for seen in server.seen if audit(seen)]
    assert len(asked) == len(set(asked)), "not retried"
    # The server could send what the connection's buffers hold, no more: not the 64 MB.
    assert len(sent) < 32, f"{len(sent)} MB sent"


@pytest.mark.parametrize("how", ["with a Content-Length", "chunked"])
def test_an_answer_under_the_limit_is_read_whole(hostile, how):
    """30 MB, a page of 500 records of 60 kB each, is under the default limit (256 MB)."""
    body = b"x" * (30 * MEGABYTE)
    parts = (body[i : i + MEGABYTE] for i in range(0, len(body), MEGABYTE))
    answers = {
        "with a Content-Length": lambda: Answer(200, body),
        "chunked": lambda: Answer(200, _chunked(parts), {"Transfer-Encoding": "chunked"}),
    }
    server = hostile(lambda seen: answers[how]())
    transport = Transport(timeout=30, policy=RetryPolicy())
    transport.hosts.allow(origin_of(server.url), "some_setting")
    response = transport.request("GET", f"{server.url}/page", "GET a large page")
    assert response.content == body
