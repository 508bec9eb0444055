"""Domain API, Login Service, Sentinel and audit authentication, over real HTTP."""

from __future__ import annotations

import time

import requests

from tests.sandbox.helpers import audit_url, gql, oauth, post


def test_domain_api(sandbox):
    for name in ("accountConfigReadOnly", "agentVep", "sentinel"):
        r = requests.get(
            f"{sandbox.url}/api/account/{sandbox.account_id}/service/{name}/baseURI.json",
            params={"version": "1.0"},
            timeout=5,
        )
        assert r.status_code == 200
        assert r.json() == {
            "service": name,
            "account": sandbox.account_id,
            "baseURI": sandbox.host_port,
        }
    r = requests.get(f"{sandbox.url}/api/account/999/service/agentVep/baseURI.json", timeout=5)
    assert r.status_code == 400
    body = r.json()
    assert body["message"] == "Invalid Account id: 999"
    assert body["internalCode"] == 6
    assert isinstance(body["time"], int)
    r = requests.get(
        f"{sandbox.url}/api/account/{sandbox.account_id}/service/nope/baseURI.json", timeout=5
    )
    assert r.status_code == 404
    assert "nope" in r.json()["message"]


def _login(sb, **body):
    return requests.post(
        f"{sb.url}/api/account/{sb.account_id}/login", params={"v": "1.3"}, json=body, timeout=5
    )


def test_login_refresh_logout(sandbox):
    c = sandbox.credentials
    assert _login(sandbox, username=c.username, password="wrong").status_code == 401
    r = _login(sandbox, username=c.username, password=c.password)
    assert r.status_code == 200
    body = r.json()
    assert body["config"]["loginName"] == c.username
    assert body["config"]["isLPA"] is False
    assert body["sessionTTl"] == "3600000"
    assert body["wasAgent"] is False
    assert "Session_id" in r.cookies
    bearer = body["bearer"]
    assert post(sandbox, gql("first: 1"), token=bearer).status_code == 200
    base = f"{sandbox.url}/api/account/{sandbox.account_id}"
    bad = requests.post(f"{base}/refresh", json={"csrf": "x"}, cookies=r.cookies, timeout=5)
    assert bad.status_code == 401
    ok = requests.post(f"{base}/refresh", json={"csrf": body["csrf"]}, cookies=r.cookies, timeout=5)
    assert ok.status_code == 200
    assert (
        requests.post(f"{base}/refresh", json={"csrf": body["csrf"]}, timeout=5).status_code == 401
    )
    out = requests.post(f"{base}/logout", json={"csrf": body["csrf"]}, cookies=r.cookies, timeout=5)
    assert out.status_code == 200
    assert post(sandbox, gql("first: 1"), token=bearer).status_code == 401
    # app-key login
    r = _login(
        sandbox,
        username=c.username,
        appKey=c.app_key,
        secret=c.app_secret,
        accessToken=c.access_token,
        accessTokenSecret=c.access_token_secret,
    )
    assert r.status_code == 200
    assert sandbox.stats.requests["login"] == 3
    assert sandbox.stats.requests["refresh"] == 3
    assert sandbox.stats.requests["logout"] == 1


def test_one_session_per_user(sandbox_factory):
    sb = sandbox_factory()
    c = sb.credentials
    first = _login(sb, username=c.username, password=c.password).json()["bearer"]
    second = _login(sb, username=c.username, password=c.password).json()["bearer"]
    assert post(sb, gql("first: 1"), token=first).status_code == 401
    assert post(sb, gql("first: 1"), token=second).status_code == 200
    sb.readings.single_session_per_user = False
    third = _login(sb, username=c.username, password=c.password).json()["bearer"]
    assert post(sb, gql("first: 1"), token=second).status_code == 200
    assert post(sb, gql("first: 1"), token=third).status_code == 200


def test_sentinel(sandbox):
    c = sandbox.credentials
    url = f"{sandbox.url}/sentinel/api/v2/account/{sandbox.account_id}/app/token"
    form = {
        "client_id": c.client_id,
        "client_secret": c.client_secret,
        "grant_type": "client_credentials",
    }
    r = requests.post(url, data=form, timeout=5)
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"].count(".") == 2
    assert body["expires_in"] == 3600
    assert post(sandbox, gql("first: 1"), token=body["access_token"]).status_code == 200
    bad = requests.post(url, data={**form, "client_secret": "no"}, timeout=5)
    assert bad.status_code == 401
    assert bad.json() == {"error": "invalid_client"}


def test_oauth1_signature(sandbox):
    url = audit_url(sandbox)
    r = requests.post(url, json={"query": gql("first: 2")}, auth=oauth(sandbox), timeout=5)
    assert r.status_code == 200, r.text
    assert len(r.json()["data"]["auditData"]) == 2
    r = requests.post(
        url, params={"v": "1"}, json={"query": gql("first: 2")}, auth=oauth(sandbox), timeout=5
    )
    assert r.status_code == 200
    prepared = requests.Request(
        "POST", url, json={"query": gql("first: 2")}, auth=oauth(sandbox)
    ).prepare()
    prepared.url = url + "?tampered=1"
    r = requests.Session().send(prepared, timeout=5)
    assert r.status_code == 401
    assert "oauth_problem=signature_invalid" in r.text
    c = sandbox.credentials
    from requests_oauthlib import OAuth1

    wrong = OAuth1(c.app_key, "bad-secret", c.access_token, c.access_token_secret)
    r = requests.post(url, json={"query": gql("first: 2")}, auth=wrong, timeout=5)
    assert r.status_code == 401
    assert r.text == "oauth_problem=signature_invalid"


def test_missing_unknown_and_expired_auth(sandbox_factory):
    sb = sandbox_factory(bearer_ttl_seconds=0.3)
    url = audit_url(sb)
    assert requests.post(url, json={"query": gql("first: 1")}, timeout=5).status_code == 401
    assert post(sb, gql("first: 1"), token="made-up").status_code == 401
    token = sb.issue_bearer()
    assert post(sb, gql("first: 1"), token=token).status_code == 200
    time.sleep(0.4)
    assert post(sb, gql("first: 1"), token=token).status_code == 401
    token = sb.issue_bearer()
    sb.expire_bearers()
    assert post(sb, gql("first: 1"), token=token).status_code == 401


def test_permission(sandbox):
    sandbox.permission_granted = False
    r = post(sandbox, gql("first: 1"))
    assert r.status_code == 403
    assert "not authorized" in r.json()["message"]
    assert "Audit Trail read permission" in r.json()["message"]
    sandbox.permission_granted = True
    assert post(sandbox, gql("first: 1")).status_code == 200


def test_wrong_account_in_path_is_refused(sandbox):
    r = requests.post(
        f"{sandbox.url}/api/account/999/configuration/metadata/audit",
        json={"query": gql("first: 1")},
        headers={"Authorization": f"Bearer {sandbox.issue_bearer()}"},
        timeout=5,
    )
    assert r.status_code == 401
