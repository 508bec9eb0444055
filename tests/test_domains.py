"""domains.py: where an account's services are, asked of the Domain API once per run.

Against a scripted Domain API on loopback (tests/hostile.py): each service is asked once
however many threads want it, each host it names is allowed for the run, and a refusal is
heard by every thread that asks, after one request.
"""

from __future__ import annotations

import threading

import pytest

from tap_lp_audittrail.domains import AUDIT_SERVICE, LOGIN_SERVICE, DomainResolver
from tap_lp_audittrail.errors import AuthError
from tap_lp_audittrail.failures import Kind, classify
from tap_lp_audittrail.hosts import HostRefusedError, base_url
from tap_lp_audittrail.transport import RetryPolicy, Transport

from .hostile import Answer

ACCOUNT = "12345678"


def resolver_of(server) -> DomainResolver:
    transport = Transport(timeout=5, policy=RetryPolicy(max_retry_seconds=1, initial_wait=0.01))
    return DomainResolver(transport, base_url(server.url), ACCOUNT)


def test_each_service_is_asked_once_however_many_threads_want_it(hostile):
    api = hostile(lambda seen: Answer.json({"baseURI": "va.ac.liveperson.net"}))
    resolver = resolver_of(api)
    found = []
    threads = [
        threading.Thread(target=lambda: found.append(resolver.host(AUDIT_SERVICE)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {origin.netloc for origin in found} == {"va.ac.liveperson.net"}
    assert resolver.host(LOGIN_SERVICE).netloc == "va.ac.liveperson.net"
    assert [seen.path for seen in api.seen] == [
        f"/api/account/{ACCOUNT}/service/{AUDIT_SERVICE}/baseURI.json",
        f"/api/account/{ACCOUNT}/service/{LOGIN_SERVICE}/baseURI.json",
    ]
    assert api.seen[0].query == {"version": "1.0"}


def test_the_host_named_is_allowed_for_the_run_with_the_setting_to_check(hostile):
    api = hostile(lambda seen: Answer.json({"baseURI": "127.0.0.1:9"}))
    resolver = resolver_of(api)
    origin = resolver.host(AUDIT_SERVICE)
    assert origin.base == "http://127.0.0.1:9"  # plain http to this machine only
    named = resolver.transport.hosts.named(f"{origin.base}/api/account/{ACCOUNT}/x")
    assert named is not None
    assert named.setting == "domain_api_url"
    assert f"for the service {AUDIT_SERVICE}" in named.hint


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        (Answer.json({"message": "no such site"}, 400), AuthError, "does not know account_id"),
        (Answer.json({"message": "nope"}, 404), AuthError, "Check `account_id`"),
        (Answer.json({"service": "x"}), AuthError, "the answer holds no baseURI host"),
        (Answer.json({"baseURI": "a@b"}), HostRefusedError, "not a plain host[:port]"),
    ],
    ids=["400", "404", "no baseURI", "userinfo"],
)
def test_a_refusal_is_heard_by_every_thread_that_asks_after_one_request(
    hostile, answer, error, words
):
    api = hostile(lambda seen: answer)
    resolver = resolver_of(api)
    for _ in range(3):
        with pytest.raises(error) as refused:
            resolver.host(AUDIT_SERVICE)
        assert words in str(refused.value)
        assert classify(refused.value).kind is Kind.CONFIG
    assert len(api.seen) == 1
