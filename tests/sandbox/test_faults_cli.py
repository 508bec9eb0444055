"""Every fault kind, the stats, and the CLI as a subprocess."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from tap_lp_audittrail.sandbox import FaultRule
from tests.sandbox.helpers import audit_url, gql, post

Q = gql('fromDate: "2025-01-01", first: 200')


@pytest.mark.parametrize(("kind", "status"), [("429", 429), ("500", 500), ("502", 502),
                                              ("503", 503)])  # fmt: skip
def test_status_faults_at(sandbox_factory, kind, status):
    sb = sandbox_factory(faults=[FaultRule(kind, at={2}, retry_after=3)])
    assert post(sb, Q).status_code == 200
    r = post(sb, Q)
    assert r.status_code == status
    if kind in ("429", "503"):
        assert r.headers["Retry-After"] == "3"
    else:
        assert "Retry-After" not in r.headers
    assert post(sb, Q).status_code == 200
    assert sb.stats.faults[kind] == 1
    assert sb.stats.statuses[status] == 1
    assert [e.fault for e in sb.stats.log] == [None, kind, None]


def test_retry_after_fraction_and_limit_and_rate(sandbox_factory):
    sb = sandbox_factory(faults=[FaultRule("429", rate=1.0, limit=2, retry_after=1.5)], seed=3)
    r = post(sb, Q)
    assert r.headers["Retry-After"] == "1.5"
    assert post(sb, Q).status_code == 429
    assert post(sb, Q).status_code == 200
    assert sb.stats.faults["429"] == 2


def test_rate_is_seeded(sandbox_factory):
    outcomes = []
    for _ in range(2):
        sb = sandbox_factory(faults=[FaultRule("500", rate=0.5)], seed=11)
        outcomes.append([post(sb, Q).status_code for _ in range(12)])
    assert outcomes[0] == outcomes[1]
    assert set(outcomes[0]) == {200, 500}


def test_reset(sandbox_factory):
    sb = sandbox_factory(faults=[FaultRule("reset", at=[1])])
    with pytest.raises(requests.ConnectionError):
        post(sb, Q)
    assert post(sb, Q).status_code == 200
    assert sb.stats.faults["reset"] == 1
    assert sb.stats.statuses[0] == 1


def test_truncate(sandbox_factory):
    sb = sandbox_factory(faults=[FaultRule("truncate", at=[1])])
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        post(sb, Q)
    assert post(sb, Q).status_code == 200
    assert sb.stats.faults["truncate"] == 1


def test_slow_body(sandbox_factory):
    sb = sandbox_factory(faults=[FaultRule("slow_body", at=[1], delay=3)])
    headers = {"Authorization": f"Bearer {sb.issue_bearer()}"}
    t0 = time.monotonic()
    with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        requests.post(audit_url(sb), json={"query": Q}, headers=headers, timeout=0.5)
    assert time.monotonic() - t0 < 2.5
    assert post(sb, Q).status_code == 200


def test_latency(sandbox_factory):
    sb = sandbox_factory(faults=[FaultRule("latency", at=[1], delay=0.3)])
    t0 = time.monotonic()
    assert post(sb, Q).status_code == 200
    assert time.monotonic() - t0 >= 0.3
    assert sb.stats.faults["latency"] == 1
    sb2 = sandbox_factory(latency=0.2, jitter=0.05)
    t0 = time.monotonic()
    post(sb2, Q)
    assert time.monotonic() - t0 >= 0.2


def test_malformed_json_and_graphql_errors(sandbox_factory):
    sb = sandbox_factory(faults=[FaultRule("malformed_json", at=[1]),
                                 FaultRule("graphql_errors", at=[2])])  # fmt: skip
    r = post(sb, Q)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    r = post(sb, Q)
    assert r.status_code == 200
    assert r.json()["errors"]
    assert "data" not in r.json()


def test_expire_bearer(sandbox_factory):
    sb = sandbox_factory(faults=[FaultRule("expire_bearer", at=[2])])
    token = sb.issue_bearer()
    assert post(sb, Q, token=token).status_code == 200
    assert post(sb, Q, token=token).status_code == 401
    assert post(sb, Q, token=token).status_code == 401
    assert post(sb, Q).status_code == 200


def test_faults_on_other_endpoints_and_set_faults(sandbox_factory):
    sb = sandbox_factory()
    sb.set_faults([FaultRule("503", endpoint="domain", at=[1]),
                   FaultRule("500", endpoint="login", at=[1])])  # fmt: skip
    url = f"{sb.url}/api/account/{sb.account_id}/service/agentVep/baseURI.json"
    assert requests.get(url, timeout=5).status_code == 503
    assert requests.get(url, timeout=5).status_code == 200
    c = sb.credentials
    login = f"{sb.url}/api/account/{sb.account_id}/login"
    body = {"username": c.username, "password": c.password}
    assert requests.post(login, json=body, timeout=5).status_code == 500
    assert requests.post(login, json=body, timeout=5).status_code == 200
    assert sb.stats.requests["domain"] == 2
    assert sb.stats.requests["login"] == 2
    sb.stats.reset()
    assert sb.stats.requests["domain"] == 0
    assert sb.stats.log == []


def test_fault_rule_validation():
    with pytest.raises(ValueError):
        FaultRule("explode")
    with pytest.raises(ValueError):
        FaultRule("500", endpoint="nowhere")


def test_cli(tmp_path):
    cfg = tmp_path / "tap.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tap_lp_audittrail.sandbox.cli", "--port", "0", "--records", "300",
         "--seed", "5", "--end", "2026-11-01T00:00:00Z", "--reading", "tie_order=shuffled",
         "--reading", "max_page_size=100", "--write-tap-config", str(cfg), "--auth", "login"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        for _ in range(50):
            if cfg.exists() and cfg.read_text():
                break
            time.sleep(0.05)
        config = json.loads(cfg.read_text())
        assert config["domain_api_url"] == url
        assert config["auth_method"] == "login"
        assert config["username"]
        assert config["password"]
        acct = config["account_id"]
        r = requests.get(f"{url}/api/account/{acct}/service/agentVep/baseURI.json", timeout=5)
        host = r.json()["baseURI"]
        login = requests.post(f"http://{host}/api/account/{acct}/login", timeout=5,
                              json={"username": config["username"],
                                    "password": config["password"]})  # fmt: skip
        bearer = login.json()["bearer"]
        r = requests.post(
            f"http://{host}/api/account/{acct}/configuration/metadata/audit",
            json={"query": gql('fromDate: "2025-01-01", first: 500')},
            headers={"Authorization": f"Bearer {bearer}"},
            timeout=5,
        )
        assert r.status_code == 200
        assert len(r.json()["data"]["auditData"]) == 100
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        proc.stdout.close()
        proc.stderr.close()


def _raw_post(sb, body: bytes) -> socket.socket:
    """Send one audit request on a plain socket; the socket, to read what comes back."""
    sock = socket.create_connection((sb.host, sb.port), timeout=10)
    head = (
        f"POST /api/account/{sb.account_id}/configuration/metadata/audit HTTP/1.1\r\n"
        f"Host: {sb.host_port}\r\nAuthorization: Bearer {sb.issue_bearer()}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def _read_to_the_end(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_reset_ends_the_connection_with_an_rst_and_other_answers_with_a_fin(sandbox_factory):
    sb = sandbox_factory(faults=[FaultRule("reset", at=[1])])
    body = json.dumps({"query": Q}).encode()
    # an RST, never a clean end of the stream
    with _raw_post(sb, body) as sock, pytest.raises(ConnectionResetError):
        _read_to_the_end(sock)
    with _raw_post(sb, body) as sock:
        received = _read_to_the_end(sock)
    assert received.startswith(b"HTTP/1.1 200")
