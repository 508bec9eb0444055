from __future__ import annotations

from typing import Any

import requests
from requests_oauthlib import OAuth1

from tap_lp_audittrail.sandbox import Sandbox

ALL_FIELDS = (
    "accountId objectType objectName actionType element oldValue newValue changeDate originator "
    "originatorLoginName originatorUserId originatorUserAgent originatorAuthType originatorIsLpa"
)


def audit_url(sb: Sandbox) -> str:
    return f"{sb.url}/api/account/{sb.account_id}/configuration/metadata/audit"


def oauth(sb: Sandbox) -> OAuth1:
    c = sb.credentials
    return OAuth1(c.app_key, c.app_secret, c.access_token, c.access_token_secret)


def gql(args: str, fields: str = ALL_FIELDS) -> str:
    return f"{{auditData({args}) {{ {fields} }} }}"


def post(sb: Sandbox, query: str, *, token: str | None = None, **kw: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or sb.issue_bearer()}"}
    return requests.post(audit_url(sb), json={"query": query, **kw}, headers=headers, timeout=10)


def records(sb: Sandbox, args: str, fields: str = ALL_FIELDS) -> list[dict[str, Any]]:
    r = post(sb, gql(args, fields))
    assert r.status_code == 200, r.text
    return r.json()["data"]["auditData"]


def fetch_all(sb: Sandbox, args: str, page: int = 1000, fields: str = ALL_FIELDS) -> list[dict]:
    out: list[dict] = []
    token = sb.issue_bearer()
    offset = 0
    while True:
        r = post(sb, gql(f"{args}, first: {page}, offset: {offset}", fields), token=token)
        assert r.status_code == 200, r.text
        batch = r.json()["data"]["auditData"]
        out.extend(batch)
        if len(batch) < page:
            return out
        offset += page
