"""The session under every request: the environment's proxies and CA bundle, read once."""

from __future__ import annotations

import requests.sessions

from tap_lp_audittrail.transport import RetryPolicy, Transport


def session(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "direct.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company-ca.pem")
    return Transport(timeout=1, policy=RetryPolicy()).session


def settings(sess, url):
    return sess.merge_environment_settings(url, {}, None, None, None)


def test_the_environments_proxy_and_ca_bundle_apply_as_requests_applies_them(monkeypatch):
    sess = session(monkeypatch)
    proxied = settings(sess, "https://va.ac.liveperson.net/api/account/1/x")
    assert proxied["proxies"]["https"] == "http://proxy.example:3128"
    assert proxied["verify"] == "/etc/ssl/company-ca.pem"
    direct = settings(sess, "https://direct.example/api")
    assert "https" not in direct["proxies"]  # NO_PROXY still decides per host
    plain = requests.sessions.Session()
    for url in ("https://va.ac.liveperson.net/api/account/1/x", "https://direct.example/api"):
        assert settings(sess, url) == plain.merge_environment_settings(url, {}, None, None, None)


def test_the_environment_is_read_once_per_host_not_once_per_request(monkeypatch):
    sess = session(monkeypatch)
    reads = []
    real = requests.sessions.get_environ_proxies

    def counted(url, no_proxy=None):
        reads.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counted)
    for offset in range(50):
        settings(sess, f"https://va.ac.liveperson.net/api/account/1/audit?offset={offset}")
    settings(sess, "https://direct.example/api")
    assert len(reads) == 2


def test_a_caller_changing_the_proxies_it_got_changes_nothing_for_the_next(monkeypatch):
    sess = session(monkeypatch)
    settings(sess, "https://va.ac.liveperson.net/a")["proxies"]["https"] = "http://changed"
    assert settings(sess, "https://va.ac.liveperson.net/a")["proxies"]["https"] == (
        "http://proxy.example:3128"
    )
