"""The first contact with each host: a refused connection, a name that does not resolve or a
failed TLS handshake stops the run at once, in one line naming the URL and the setting to check.
Once a host has answered, the same faults are retried within `max_retry_seconds`."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tap_lp_audittrail.errors import UnreachableError
from tap_lp_audittrail.hosts import origin_of
from tap_lp_audittrail.sandbox import DataSpec
from tap_lp_audittrail.transport import RetryPolicy, Transport, read_json

from .helpers import END, tap_config

#: The promise: a first contact that cannot succeed ends the run within this, by default.
LIMIT = 30.0
#: Defaults, as a real account's config would have them: no test shortcut shortens the wait.
DEFAULT_RETRIES = {"request_timeout": 60, "max_retry_seconds": 900, "retry_initial_wait": 5}


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _DomainApi(BaseHTTPRequestHandler):
    """A Domain API that names one host for every service."""

    base_uri = ""

    def do_GET(self) -> None:
        body = json.dumps({"baseURI": self.base_uri}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def domain_api(base_uri: str) -> Iterator[ThreadingHTTPServer]:
    """A real Domain API on loopback naming `base_uri` for every service, while the block runs."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), type("Handler", (_DomainApi,), {"base_uri": base_uri})
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def domain_api_naming_a_closed_port() -> Iterator[tuple[str, int]]:
    """(URL of a real Domain API, the closed port it names as every service's host)."""
    port = closed_port()
    with domain_api(f"127.0.0.1:{port}") as server:
        yield f"http://127.0.0.1:{server.server_address[1]}", port


def offline_config(**settings: object) -> dict:
    config = {
        "account_id": "12345678",
        "app_key": "key-1234",
        "app_secret": "secret-5678",
        "access_token": "token-9012",
        "access_token_secret": "token-secret-3456",
        "start_date": "2026-10-01T00:00:00Z",
        "end_date": "2026-11-01T00:00:00Z",
        **DEFAULT_RETRIES,
    }
    config.update(settings)
    return config


def run_cli(tmp_path, config: dict, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "tap_lp_audittrail", "--config", str(path), *args],
        capture_output=True,
        text=True,
        timeout=LIMIT * 4,
        check=False,
    )
    return proc, time.monotonic() - started


def the_one_line(proc: subprocess.CompletedProcess, seconds: float) -> str:
    """The run failed fast, and its last stderr line is the one ERROR line; returns it."""
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert seconds < LIMIT, f"took {seconds:.1f} s"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "retry" not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "| ERROR" in last, proc.stderr[-3000:]
    assert sum("| ERROR" in line for line in proc.stderr.splitlines()) == 1, proc.stderr[-3000:]
    assert not proc.stdout.strip() or '"RECORD"' not in proc.stdout
    return last


@pytest.mark.parametrize("mode", ["run", "--test"])
def test_a_closed_domain_api_port_stops_at_once_naming_the_setting(tmp_path, mode):
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    args = () if mode == "run" else ("--test",)
    proc, seconds = run_cli(tmp_path, offline_config(domain_api_url=url), *args)
    line = the_one_line(proc, seconds)
    assert f"Cannot reach {url}/api/account/12345678/service/accountConfigReadOnly" in line
    assert "connection refused" in line
    assert "`domain_api_url`" in line


def test_a_name_that_does_not_resolve_stops_at_once(tmp_path):
    url = "https://nonexistent.invalid"
    proc, seconds = run_cli(tmp_path, offline_config(domain_api_url=url))
    line = the_one_line(proc, seconds)
    assert f"Cannot reach {url}/api/account/" in line
    assert "nonexistent.invalid does not resolve" in line
    assert "`domain_api_url`" in line


def test_a_failed_tls_handshake_stops_at_once(sandbox_factory, tmp_path):
    """https to a server that speaks plain HTTP: the handshake fails, nothing is retried."""
    sb = sandbox_factory(data=DataSpec(seed=3, records=20, end=END))
    url = sb.url.replace("http://", "https://")
    proc, seconds = run_cli(tmp_path, tap_config(sb, domain_api_url=url, **DEFAULT_RETRIES))
    line = the_one_line(proc, seconds)
    assert f"Cannot reach {url}/api/account/" in line
    assert "TLS handshake failed" in line
    assert "`domain_api_url`" in line


#: auth method -> (the settings it takes, the host the Domain API is asked for first after it).
HOSTS = {
    "oauth1": ({}, "/configuration/metadata/audit"),
    "login": ({"auth_method": "login", "username": "tap", "password": "pw-7781"}, "/login"),
    "client_credentials": (
        {"client_id": "client-1", "client_secret": "client-secret-2"},
        "/sentinel/api/v2/account/12345678/app/token",
    ),
}


@pytest.mark.parametrize("method", list(HOSTS))
def test_a_host_the_domain_api_names_is_named_when_it_cannot_be_reached(
    tmp_path, domain_api_naming_a_closed_port, method
):
    """The audit host, the Login Service and Sentinel: each as the Domain API gave it."""
    domain_api, port = domain_api_naming_a_closed_port
    settings, path = HOSTS[method]
    config = offline_config(domain_api_url=domain_api, **settings)
    if method != "oauth1":
        for key in ("app_key", "app_secret", "access_token", "access_token_secret"):
            del config[key]
    proc, seconds = run_cli(tmp_path, config)
    line = the_one_line(proc, seconds)
    assert f"Cannot reach http://127.0.0.1:{port}" in line
    assert path in line
    assert "connection refused" in line
    assert "`domain_api_url`" in line
    for secret in ("pw-7781", "client-secret-2", "secret-5678", "token-secret-3456"):
        assert secret not in proc.stderr


def test_a_closed_domain_host_stops_at_once(tmp_path):
    port = closed_port()
    proc, seconds = run_cli(tmp_path, offline_config(domain=f"127.0.0.1:{port}"))
    line = the_one_line(proc, seconds)
    assert f"Cannot reach http://127.0.0.1:{port}/api/account/12345678/configuration" in line
    assert "connection refused" in line


def test_a_closed_domain_host_is_named_as_the_domain_setting(tmp_path):
    port = closed_port()
    proc, seconds = run_cli(tmp_path, offline_config(domain=f"127.0.0.1:{port}"))
    assert "`domain`" in the_one_line(proc, seconds)


# ------------------------------------------------------------------ the transport itself


def get_json(transport: Transport, url: str) -> object:
    return transport.call(
        f"GET {url}",
        lambda: transport.request("GET", url, f"GET {url}"),
        lambda response: read_json(response, url),
    )


@pytest.fixture
def one_answer_server() -> Iterator[tuple[str, ThreadingHTTPServer]]:
    """A real HTTP server; the test closes it to make its port refuse."""
    with domain_api("somewhere:1") as server:
        yield f"http://127.0.0.1:{server.server_address[1]}/x", server


def test_the_first_refusal_is_not_retried_whatever_the_budget():
    transport = Transport(timeout=60, policy=RetryPolicy(max_retry_seconds=900, initial_wait=5))
    url = f"http://127.0.0.1:{closed_port()}/x"
    transport.hosts.allow(origin_of(url), "some_setting")
    started = time.monotonic()
    with pytest.raises(UnreachableError) as caught:
        get_json(transport, url)
    assert time.monotonic() - started < 5
    assert transport.retries == 0
    assert caught.value.setting == "some_setting"
    assert caught.value.url == url
    assert "`some_setting`" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_refusal_after_the_host_answered_is_retried(one_answer_server):
    url, server = one_answer_server
    transport = Transport(timeout=5, policy=RetryPolicy(max_retry_seconds=1, initial_wait=0.05))
    transport.hosts.allow(origin_of(url), "some_setting")
    assert get_json(transport, url) == {"baseURI": "somewhere:1"}
    assert transport.hosts.has_answered(url)
    server.shutdown()
    server.server_close()  # the port now refuses
    with pytest.raises(requests.exceptions.ConnectionError):
        get_json(transport, url)
    assert transport.retries >= 2


def test_an_answer_of_any_status_counts_as_having_answered(sandbox_factory):
    sb = sandbox_factory(data=DataSpec(seed=3, records=20, end=END))
    transport = Transport(timeout=5, policy=RetryPolicy(max_retry_seconds=1, initial_wait=0.05))
    transport.hosts.allow(origin_of(sb.url), "some_setting")
    response = transport.request("GET", f"{sb.url}/no/such/path", "GET a path the sandbox lacks")
    assert response.status_code >= 400
    assert transport.hosts.has_answered(sb.url)
    assert not transport.hosts.has_answered(f"http://127.0.0.1:{closed_port()}")
