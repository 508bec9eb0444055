"""Where a request may go (hosts.py): a credential goes only to a host a setting or the Domain
API named, over https unless loopback, and nothing follows a redirect.

The attacks run the tap against a hostile server on loopback (tests/hostile.py) standing in
for LivePerson, with a witness on OTHER_HOST (127.0.0.2) standing for another host: the witness
passes whatever it gets on to the sandbox, so that a leak would also "work", and must receive
nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_lp_audittrail import hosts
from tap_lp_audittrail.failures import Kind, classify
from tap_lp_audittrail.hosts import (
    ForbiddenHostError,
    HostError,
    HostPolicy,
    HostRefusedError,
    Origin,
    RedirectError,
)
from tap_lp_audittrail.sandbox import DataSpec
from tap_lp_audittrail.tap import TapLPAuditTrail

from .helpers import END, run_inproc, run_tap_cli, tap_config
from .hostile import OTHER_HOST, Answer, HostileServer, Seen, forward

# ----------------------------------------------------------------------------- parsing

#: A plain host[:port] and the origin it is: https, or http for this machine.
PLAIN = {
    "va.ac.liveperson.net": Origin("https", "va.ac.liveperson.net"),
    "VA.AC.LivePerson.net:8443": Origin("https", "va.ac.liveperson.net", 8443),
    "127.0.0.1:8080": Origin("http", "127.0.0.1", 8080),
    "127.9.9.9": Origin("http", "127.9.9.9"),
    "localhost:5000": Origin("http", "localhost", 5000),
    "[::1]:9": Origin("http", "[::1]", 9),
    "[2001:db8::1]": Origin("https", "[2001:db8::1]"),
    "10.0.0.1": Origin("https", "10.0.0.1"),
}

#: Texts that are not a plain host[:port], and the words the refusal says why with.
NOT_PLAIN = {
    "127.0.0.2:8080\\@127.0.0.1:9": "backslash",
    "127.0.0.2:8080@127.0.0.1": "userinfo",
    "user@va.ac.liveperson.net": "userinfo",
    "va.ac.liveperson.net/api": "path",
    "va.ac.liveperson.net?x=1": "query",
    "va.ac.liveperson.net#x": "fragment",
    "va.ac.liveperson.net:": "empty port",
    ":443": "empty host",
    "va.ac.liveperson.net:0": "port out of range",
    "va.ac.liveperson.net:99999": "port out of range",
    "va ac.liveperson.net": "space",
    "127.0.0.1:9\n": "space",
    "https://va.ac.liveperson.net": "scheme",
    "": "empty",
    "-x.liveperson.net": "not a host name",
    "bücher.example": "not a plain host",
}


@pytest.mark.parametrize("text", list(PLAIN))
def test_a_plain_host_is_read_as_the_connecting_parser_reads_it(text):
    assert hosts.plain_host(text) == PLAIN[text]


@pytest.mark.parametrize("text", list(NOT_PLAIN))
def test_a_host_that_is_not_plain_is_refused_saying_why(text):
    with pytest.raises(HostError, match=re.escape(NOT_PLAIN[text])):
        hosts.plain_host(text)


BASE_URLS = {
    "https://api.liveperson.net": Origin("https", "api.liveperson.net"),
    "https://api.liveperson.net/": Origin("https", "api.liveperson.net"),
    "HTTPS://API.LivePerson.net:443": Origin("https", "api.liveperson.net", 443),
    "http://127.0.0.1:9": Origin("http", "127.0.0.1", 9),
    "http://localhost": Origin("http", "localhost"),
}
NOT_BASE_URLS = {
    "http://127.0.0.2:8080\\@127.0.0.1": "backslash",
    "https://user@api.liveperson.net": "userinfo",
    "https://api.liveperson.net/api/account": "path",
    "https://api.liveperson.net?x": "query",
    "https://api.liveperson.net#x": "fragment",
    "http://api.liveperson.net": "plain http",
    "http://10.0.0.1": "plain http",
    "ftp://api.liveperson.net": "https:// URL",
    "api.liveperson.net": "https:// URL",
    "https://": "empty",
}


@pytest.mark.parametrize("text", list(BASE_URLS))
def test_a_base_url_is_read_as_the_connecting_parser_reads_it(text):
    assert hosts.base_url(text) == BASE_URLS[text]


@pytest.mark.parametrize("text", list(NOT_BASE_URLS))
def test_a_base_url_that_is_not_plain_or_not_https_is_refused(text):
    with pytest.raises(HostError, match=re.escape(NOT_BASE_URLS[text])):
        hosts.base_url(text)


def test_every_url_is_built_from_an_origin_and_quoted_segments():
    origin = hosts.plain_host("va.ac.liveperson.net")
    assert hosts.url(origin, "audit", account="123") == (
        "https://va.ac.liveperson.net/api/account/123/configuration/metadata/audit"
    )
    assert hosts.url(origin, "domain api", account="a/../b", service="agentVep") == (
        "https://va.ac.liveperson.net/api/account/a%2F..%2Fb/service/agentVep/baseURI.json"
        "?version=1.0"
    )
    loopback = hosts.plain_host("127.0.0.1:5")
    assert (
        hosts.url(loopback, "login", account="1") == "http://127.0.0.1:5/api/account/1/login?v=1.3"
    )
    for endpoint in hosts.ENDPOINTS:
        built = hosts.url(origin, endpoint, account="1", service="s")
        assert hosts.origin_of(built) == origin


def test_the_policy_lets_a_request_go_only_to_a_named_origin():
    policy = HostPolicy()
    named = hosts.plain_host("va.ac.liveperson.net")
    policy.allow(named, "domain")
    assert policy.check("https://va.ac.liveperson.net:443/api/x") == Origin(
        "https", "va.ac.liveperson.net", 443
    )
    assert policy.named("https://va.ac.liveperson.net/y").setting == "domain"
    for url in (
        "http://va.ac.liveperson.net/api/x",  # the same host, but plain http
        "https://va.ac.liveperson.net:8443/api/x",  # another port
        "https://other.liveperson.net/api/x",
        "https://a@va.ac.liveperson.net/api/x",
        "https://other.example\\@va.ac.liveperson.net/api/x",
    ):
        with pytest.raises(ForbiddenHostError):
            policy.check(url)
    assert not policy.has_answered("https://va.ac.liveperson.net/x")
    policy.heard_from("https://va.ac.liveperson.net/api/x?offset=1")
    assert policy.has_answered("https://va.ac.liveperson.net:443/other")


# ----------------------------------------------------------------------------- attacks

SMALL = DataSpec(seed=7, records=120, end=END)
FAIL_FAST = {"max_concurrency": 1, "max_retry_seconds": 2}


@pytest.fixture
def witness(hostile, sandbox) -> HostileServer:
    """Another host: it passes what it gets on to the sandbox, so a leak would work."""
    return hostile(lambda seen: forward(seen, sandbox.url), host=OTHER_HOST)


def lookup(seen: Seen) -> bool:
    return seen.path.endswith("/baseURI.json")


def front(
    hostile, sandbox, answer: Callable[[Seen], Answer | None], base_uri: str = ""
) -> HostileServer:
    """The host the config names: its Domain API names `base_uri` (default: itself) for every
    service; `answer` answers what it wants to, the rest goes on to the sandbox."""
    server: list[HostileServer] = []

    def script(seen: Seen) -> Answer:
        given = answer(seen)
        if given is not None:
            return given
        if lookup(seen):
            return Answer.json({"baseURI": base_uri or server[0].host_port})
        return forward(seen, sandbox.url)

    server.append(hostile(script))
    return server[0]


def assert_stopped_by(outcome, error_type: type, *words: str) -> str:
    assert isinstance(outcome.error, error_type), repr(outcome.error)
    failure = classify(outcome.error)
    assert failure.kind is Kind.CONFIG
    for word in words:
        assert word in failure.line, failure.line
    assert not outcome.run.stream("audit_trail")
    return failure.line


#: request -> (auth method, the path answered with a redirect, its words in the line)
REDIRECTED = {
    "Login Service login": ("login", "/login", "Login Service login"),
    "Sentinel token": ("client_credentials", "/app/token", "Sentinel token request"),
    "Domain API lookup": ("bearer", "/baseURI.json", "Domain API lookup of"),
    "audit page": ("bearer", "/configuration/metadata/audit", "window"),
}


@pytest.mark.parametrize("request_name", list(REDIRECTED))
def test_a_redirect_is_not_followed_and_stops_the_run_naming_the_request(
    hostile, sandbox, witness, request_name
):
    auth, path, words = REDIRECTED[request_name]
    location = f"{witness.url}/elsewhere{path}"

    def redirect(seen: Seen) -> Answer | None:
        return Answer.redirect(location, 307) if seen.path.endswith(path) else None

    server = front(hostile, sandbox, redirect)
    outcome = run_inproc(tap_config(sandbox, auth=auth, domain_api_url=server.url, **FAIL_FAST))
    assert witness.seen == []
    line = assert_stopped_by(outcome, RedirectError, words, "HTTP 307", location)
    assert "`domain_api_url`" in line
    asked = [(seen.path, seen.body) for seen in server.seen if seen.path.endswith(path)]
    assert len(asked) == len(set(asked)) >= 1  # none asked twice: not retried


@pytest.mark.parametrize("status", [301, 302, 303, 308])
def test_no_redirect_status_is_followed_by_an_audit_page(hostile, sandbox, witness, status):
    location = f"{witness.url}/api/account/{sandbox.account_id}/configuration/metadata/audit"

    def redirect(seen: Seen) -> Answer | None:
        return Answer.redirect(location, status) if seen.path.endswith("/audit") else None

    server = front(hostile, sandbox, redirect)
    outcome = run_inproc(tap_config(sandbox, auth="bearer", domain_api_url=server.url))
    assert witness.seen == []
    assert_stopped_by(outcome, RedirectError, f"HTTP {status}", location)


def test_the_login_body_is_not_sent_again_to_where_a_login_redirect_points(
    hostile, sandbox, witness
):
    """The attack of issue 30: the Login Service answers 307 to another host."""

    def redirect(seen: Seen) -> Answer | None:
        if seen.path.endswith("/login"):
            return Answer.redirect(f"{witness.url}{seen.target}", 307)
        return None

    server = front(hostile, sandbox, redirect)
    outcome = run_inproc(tap_config(sandbox, auth="login", domain_api_url=server.url))
    logins = [seen.json() for seen in server.seen if seen.path.endswith("/login")]
    assert [body["password"] for body in logins] == [sandbox.credentials.password]
    assert witness.seen == []
    assert isinstance(outcome.error, RedirectError)


def test_sentinel_credentials_are_not_sent_again_to_where_a_token_redirect_points(
    hostile, sandbox, witness
):
    def redirect(seen: Seen) -> Answer | None:
        if seen.path.endswith("/app/token"):
            return Answer.redirect(f"{witness.url}{seen.target}", 307)
        return None

    server = front(hostile, sandbox, redirect)
    outcome = run_inproc(tap_config(sandbox, auth="client_credentials", domain_api_url=server.url))
    secret = sandbox.credentials.client_secret
    assert witness.seen == []
    assert len(server.received(secret)) == 1
    assert isinstance(outcome.error, RedirectError)


#: auth method -> what the witness would receive: a credential of that method.
CREDENTIAL_OF = {
    "oauth1": lambda sb: "oauth_signature",
    "login": lambda sb: sb.credentials.password,
    "client_credentials": lambda sb: sb.credentials.client_secret,
}


@pytest.mark.parametrize("auth", list(CREDENTIAL_OF))
def test_a_base_uri_that_two_parsers_read_as_two_hosts_is_refused(hostile, sandbox, witness, auth):
    """`127.0.0.2:PORT\\@127.0.0.1:9`: the old loopback check read 127.0.0.1 and chose plain
    http, while requests connected to 127.0.0.2:PORT with the credential."""
    base_uri = f"{OTHER_HOST}:{witness.port}\\@127.0.0.1:9"
    server = front(hostile, sandbox, lambda seen: None, base_uri=base_uri)
    outcome = run_inproc(tap_config(sandbox, auth=auth, domain_api_url=server.url, **FAIL_FAST))
    assert witness.received(CREDENTIAL_OF[auth](sandbox)) == []
    assert witness.seen == []
    assert all(lookup(seen) for seen in server.seen)
    assert_stopped_by(
        outcome, HostRefusedError, "Domain API lookup of", "backslash", "`domain_api_url`"
    )


@pytest.mark.parametrize(
    "base_uri", ["127.0.0.1:1@{witness}", "{witness}/x", "{witness}?x", " {witness}", "{witness}:"]
)
def test_a_base_uri_that_is_not_a_plain_host_is_refused(hostile, sandbox, witness, base_uri):
    named = base_uri.format(witness=witness.host_port)
    server = front(hostile, sandbox, lambda seen: None, base_uri=named)
    outcome = run_inproc(tap_config(sandbox, domain_api_url=server.url, **FAIL_FAST))
    assert witness.seen == []
    assert all(lookup(seen) for seen in server.seen)
    assert_stopped_by(outcome, HostRefusedError, "Domain API", "not a plain host")


def test_a_domain_api_url_that_two_parsers_read_as_two_hosts_is_refused_before_any_request(
    sandbox, witness, tmp_path
):
    """`http://127.0.0.2:PORT\\@127.0.0.1` passed the old check (its host read as 127.0.0.1)."""
    url = f"http://{OTHER_HOST}:{witness.port}\\@127.0.0.1"
    run = run_tap_cli(tap_config(sandbox, domain_api_url=url), tmp_path=tmp_path)
    assert run.exit_code == 1
    last = run.stderr.strip().splitlines()[-1]
    assert "| ERROR" in last
    assert "domain_api_url" in last
    assert "backslash" in last
    assert witness.seen == []
    assert sum(sandbox.stats.requests.values()) == 0


@pytest.mark.parametrize(
    "domain",
    [
        "{witness}@127.0.0.1:{port}",  # userinfo
        "127.0.0.1:{port}/x",  # a path
        "{witness}\\@127.0.0.1:{port}",  # a backslash
        "127.0.0.1:{port}\n",  # a line break ($ of the old pattern matched before it)
        "127.0.0.1:0",  # a port requests drops: port 80 instead
        "127.0.0.1:99999",  # a port no parser reads
    ],
)
def test_a_domain_that_is_not_a_plain_host_is_refused_before_any_request(sandbox, witness, domain):
    text = domain.format(witness=witness.host_port, port=sandbox.url.rsplit(":", 1)[1])
    with pytest.raises(ConfigValidationError) as caught:
        TapLPAuditTrail(config=tap_config(sandbox, domain=text), parse_env_config=False)
    (problem,) = [e for e in caught.value.errors if e.startswith("domain:")]
    assert "give the host only" in problem
    assert witness.seen == []
    assert sum(sandbox.stats.requests.values()) == 0
