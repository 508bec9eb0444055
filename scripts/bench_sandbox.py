"""Measure the sandbox's own speed: records/s served in 1000-record pages, and 2M-record build.

Usage: .venv/bin/python scripts/bench_sandbox.py [--records N] [--pages P] [--big N]
"""

from __future__ import annotations

import argparse
import json
import resource
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import requests
from requests_oauthlib import OAuth1

from tap_lp_audittrail.sandbox import Credentials, DataSpec, Sandbox

FIELDS = (
    "accountId objectType objectName actionType element oldValue newValue changeDate "
    "originator originatorLoginName originatorUserId originatorUserAgent originatorAuthType "
    "originatorIsLpa"
)
END = datetime(2026, 11, 1, tzinfo=timezone.utc)


def serve_rate(records: int, pages: int, auth_kind: str, where: str, parse: bool = True) -> None:
    """Sequential 1000-record pages; the server in this process or in a CLI subprocess."""
    if where == "subprocess":
        proc = subprocess.Popen(
            [sys.executable, "-m", "tap_lp_audittrail.sandbox.cli", "--records", str(records),
             "--end", END.isoformat(), "--write-tap-config", "/tmp/bench_sandbox_config.json"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        base = proc.stdout.readline().strip()
        time.sleep(0.2)
        account = json.loads(Path("/tmp/bench_sandbox_config.json").read_text())["account_id"]
        sb = None
    else:
        proc = None
        sb = Sandbox(data=DataSpec(records=records, end=END)).start()
        base, account = sb.url, sb.account_id
    try:
        c = Credentials(account_id=account)
        session = requests.Session()
        auth = None
        if auth_kind == "oauth1":
            auth = OAuth1(c.app_key, c.app_secret, c.access_token, c.access_token_secret)
        else:
            tok = session.post(
                f"{base}/sentinel/api/v2/account/{account}/app/token",
                data={"client_id": c.client_id, "client_secret": c.client_secret,
                      "grant_type": "client_credentials"},
            ).json()["access_token"]  # fmt: skip
            session.headers["Authorization"] = f"Bearer {tok}"
        url = f"{base}/api/account/{account}/configuration/metadata/audit"
        got = 0
        t0 = time.perf_counter()
        for page in range(pages):
            q = (
                '{auditData(fromDate: "2025-10-01", toDate: "2026-11-01", first: 1000, '
                f'offset: {page * 1000}, orderBy: ["changeTimestamp"], orderDirection: ["ASC"], '
                f"lpa: true, automaticUpdates: true) {{ {FIELDS} }} }}"
            )
            r = session.post(url, json={"query": q}, auth=auth, timeout=30)
            r.raise_for_status()
            if parse:
                got += len(r.json()["data"]["auditData"])
            else:  # a value holding this text would be JSON-escaped, so only keys match
                got += r.content.count(b'{"accountId":')
        dt = time.perf_counter() - t0
        print(
            f"serve[{auth_kind}, server {where}]: {got} records in {pages} pages over {dt:.2f} s = "
            f"{got / dt:,.0f} records/s ({dt / pages * 1000:.1f} ms/page, client JSON parsing "
            f"{'on' if parse else 'off'}, store {records:,})"
        )
    finally:
        if sb is not None:
            sb.stop()
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            proc.wait(10)


def build(records: int) -> None:
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    sb2 = Sandbox(data=DataSpec(records=records, end=END))
    dt = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"build: {sb2.store.n:,} records in {dt:.1f} s; peak RSS grew "
        f"{(rss1 - rss0) / 1024:.0f} MiB (process peak {rss1 / 1024:.0f} MiB)"
    )
    with sb2:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {sb2.issue_bearer()}"
        url = f"{sb2.url}/api/account/{sb2.account_id}/configuration/metadata/audit"
        for offset in (0, records // 2, records - 1000):
            q = (
                f'{{auditData(fromDate: "2025-01-01", first: 1000, offset: {offset}, '
                f"lpa: true, automaticUpdates: true) {{ {FIELDS} }} }}"
            )
            t0 = time.perf_counter()
            r = session.post(url, json={"query": q}, timeout=60)
            r.raise_for_status()
            print(
                f"  page at offset {offset:,}: {(time.perf_counter() - t0) * 1000:.0f} ms "
                f"(X-Total-Count {r.headers['X-Total-Count']})"
            )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--records", type=int, default=200_000)
    p.add_argument("--pages", type=int, default=100)
    p.add_argument("--big", type=int, default=2_000_000)
    a = p.parse_args()
    for where in ("subprocess", "in-process"):
        serve_rate(a.records, a.pages, "bearer", where)
        serve_rate(a.records, a.pages, "oauth1", where)
        serve_rate(a.records, a.pages, "bearer", where, parse=False)
    if a.big:
        build(a.big)


if __name__ == "__main__":
    main()
