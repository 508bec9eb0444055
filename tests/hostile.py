"""A hostile or broken server on loopback, standing in for LivePerson (or for "another host").

Each test scripts the answers: a function from the request it received to the `Answer` to
give. The server records every request whole (method, path, headers, body), so a test can
assert what reached it: a witness on 127.0.0.2 that must receive nothing, a Domain API naming
a host it should not, a body dripped a byte a second.

    with HostileServer(lambda seen: Answer.json({"baseURI": "..."})) as api:
        api.url     # http://127.0.0.1:PORT
        api.seen    # every request received, in order

`forward(seen, base_url)` passes a request on to another server (the sandbox) unchanged, so a
test can break one answer and let the rest be LivePerson's.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

#: A second loopback address: a host that is not the one any setting or the Domain API named.
OTHER_HOST = "127.0.0.2"


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    target: str  # the request target as sent: path and query
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query))

    def json(self) -> Any:
        return json.loads(self.body)

    def text(self) -> str:
        """Everything the request carried, as one text: what a secret must not be found in."""
        head = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"{self.method} {self.target}\n{head}\n\n{self.body.decode('utf-8', 'replace')}"


@dataclass
class Answer:
    """What the server sends back. `body` may be chunks, sent `drip` seconds apart."""

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    drip: float = 0.0
    #: Announce this length instead of the body's own (a body that never ends).
    content_length: int | None = None

    @classmethod
    def json(cls, value: Any, status: int = 200, **headers: str) -> Answer:
        return cls(
            status,
            json.dumps(value).encode(),
            {"Content-Type": "application/json", **headers},
        )

    @classmethod
    def redirect(cls, location: str, status: int = 307) -> Answer:
        return cls(status, b"", {"Location": location})


Script = Callable[[Seen], Answer]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen(self.command, self.path, dict(self.headers.items()), body, time.monotonic())
        owner = self.server.owner
        with owner.lock:
            owner.seen.append(seen)
        answer = owner.script(seen)
        chunks = [answer.body] if isinstance(answer.body, bytes) else answer.body
        # Its own Date only when the script gave none: a forwarded answer keeps the server's.
        self.send_response_only(answer.status)
        headers = {"Connection": "close", **answer.headers}
        if not any(name.lower() == "date" for name in headers):
            headers["Date"] = self.date_time_string()
        if answer.content_length is not None:
            headers["Content-Length"] = str(answer.content_length)
        elif isinstance(answer.body, bytes):
            headers["Content-Length"] = str(len(answer.body))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            for chunk in chunks:
                if owner.stopping.is_set():
                    return
                self.wfile.write(chunk)
                self.wfile.flush()
                if answer.drip and owner.stopping.wait(answer.drip):
                    return
        except OSError:
            return  # the client gave up: what a test of a hung answer expects
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: HostileServer


class HostileServer:
    """A scripted HTTP server on a loopback address; records every request it receives."""

    def __init__(self, script: Script | None = None, host: str = "127.0.0.1") -> None:
        self.script: Script = script or (lambda seen: Answer(404, b"nothing here"))
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._server = _Server((host, 0), _Handler)
        self._server.owner = self
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host_port(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host_port}"

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def received(self, text: str) -> list[Seen]:
        """The requests that carried `text` anywhere (target, headers or body)."""
        with self.lock:
            return [seen for seen in self.seen if text in seen.text()]


#: Headers that describe one connection or one encoding of the body, not the answer.
_HOP_BY_HOP = ("content-length", "transfer-encoding", "connection", "content-encoding")


def forward(seen: Seen, base_url: str, timeout: float = 30.0) -> Answer:
    """`seen` sent on to `base_url` unchanged (but for Host), and its answer given back."""
    headers = {k: v for k, v in seen.headers.items() if k.lower() not in ("host", "connection")}
    response = requests.request(
        seen.method,
        base_url.rstrip("/") + seen.target,
        headers=headers,
        data=seen.body,
        timeout=timeout,
        allow_redirects=False,
    )
    kept = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP}
    return Answer(response.status_code, response.content, kept)


def other_host_available() -> bool:
    """Whether this machine answers on OTHER_HOST (Linux routes all of 127.0.0.0/8 to lo)."""
    try:
        with socket.socket() as s:
            s.bind((OTHER_HOST, 0))
    except OSError:
        return False
    return True


@pytest.fixture
def hostile() -> Iterator[Callable[..., HostileServer]]:
    """Start scripted servers: `hostile(script, host="127.0.0.1")`; all stop after the test."""
    servers: list[HostileServer] = []

    def start(script: Script | None = None, host: str = "127.0.0.1") -> HostileServer:
        if host != "127.0.0.1" and not other_host_available():
            pytest.fail(f"cannot listen on {host}: the tests need all of 127.0.0.0/8 on lo")
        server = HostileServer(script, host).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
