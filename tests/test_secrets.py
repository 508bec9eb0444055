"""Secrets: for every auth method, on success and on every error path (wrong secret, 401, 403,
5xx exhaustion), with the SDK's debug logging on, no credential, issued token, OAuth signature,
csrf or session cookie appears in stdout, stderr, `--about` or an exception's text.

The sandbox's credentials are distinctive; every token it issues and every signature and
cookie the tap sends are collected while it runs (`SecretSpy`), then searched for in raw,
JSON-escaped and URL-quoted forms.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import traceback
from urllib.parse import parse_qsl, quote, quote_plus

import pytest
from singer_sdk import metrics

from tap_lp_audittrail.errors import LOG_MESSAGE_LIMIT, REDACT, RedactingFilter, Redactor
from tap_lp_audittrail.sandbox import DataSpec, FaultRule, Sandbox

from ._reliability import SecretSpy, catalog_for, note, run_inproc, run_process
from .helpers import END, structured_lines, structured_logging_env, tap_config
from .hostile import Answer, HostileServer, Seen, forward

AUTHS = ("oauth1", "login", "login_api_key", "client_credentials", "bearer")
#: What a wrong secret looks like for each method (distinctive, so a leak is found).
WRONG = {
    "oauth1": {"app_secret": "wrong-app-secret-0b7e"},
    "login": {"password": "wrong-password-6c1d"},
    "login_api_key": {"access_token_secret": "wrong-token-secret-94fa"},
    "client_credentials": {"client_secret": "wrong-client-secret-2d8a"},
    "bearer": {"bearer_token": "wrong-bearer-token-5e3c"},
}
SCENARIOS = ("success", "wrong secret", "401", "403", "5xx exhaustion")
DEBUG = {"TAP_LP_AUDITTRAIL_LOGLEVEL": "DEBUG", "LOGLEVEL": "DEBUG"}
DATA = DataSpec(seed=41, records=60, end=END)


def _arrange(sb: Sandbox, spy: SecretSpy, auth: str, scenario: str) -> dict:
    """The config and the sandbox's state for one scenario; every secret in play is watched."""
    config = tap_config(sb, auth=auth, page_size=50, window_days=200, max_retry_seconds=1)
    if auth == "bearer":
        spy.values.add(config["bearer_token"])
    if scenario == "wrong secret":
        config.update(WRONG[auth])
        spy.values.update(WRONG[auth].values())
    elif scenario == "401":
        sb.set_faults([FaultRule("expire_bearer", at=range(1, 10_000))])
    elif scenario == "403":
        sb.permission_granted = False
    elif scenario == "5xx exhaustion":
        sb.set_faults([FaultRule("500", at=range(1, 10_000))])
    return config


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("auth", AUTHS)
def test_no_secret_in_any_output(tmp_path, auth, scenario):
    sb = Sandbox(data=DATA, seed=41)
    spy = SecretSpy(sb)
    with sb:
        config = _arrange(sb, spy, auth, scenario)
        proc = run_process(tmp_path, config, catalog=catalog_for(config), env=DEBUG)
    assert (proc.returncode == 0) == (scenario == "success"), proc.stderr[-2000:]
    assert "| DEBUG" in proc.stderr, "debug logging was not on"
    text = "\n".join(proc.lines) + "\n" + proc.stderr
    leaks = spy.leaks(text)
    assert not leaks, f"{len(leaks)} secret(s) in the output, e.g. {leaks[0][:6]}..."
    note(
        "secrets",
        auth=auth,
        scenario=scenario,
        secrets_watched=len(spy.values),
        output_bytes=len(text),
        leaks=0,
    )


@pytest.mark.parametrize("auth", AUTHS)
def test_no_secret_in_about(sandbox, tmp_path, auth):
    spy_values = {str(v) for k, v in tap_config(sandbox, auth=auth).items() if "secret" in k}
    config = tap_config(sandbox, auth=auth)
    spy_values |= {
        str(config[k])
        for k in ("app_key", "access_token", "password", "client_id", "bearer_token")
        if k in config
    }
    for form in ("json", "markdown"):
        proc = run_process(tmp_path / form, config, "--about", "--format", form, env=DEBUG)
        assert proc.returncode == 0
        text = "\n".join(proc.lines) + proc.stderr
        assert not [v for v in spy_values if v in text]
    note("secrets", auth=auth, scenario="--about", leaks=0)


@pytest.mark.parametrize("scenario", SCENARIOS[1:])
@pytest.mark.parametrize("auth", AUTHS)
def test_no_secret_in_exception_text(auth, scenario):
    """In process: the exception that stops a run, and its whole traceback, hold no secret."""
    sb = Sandbox(data=DATA, seed=42)
    spy = SecretSpy(sb)
    with sb:
        config = _arrange(sb, spy, auth, scenario)
        outcome = run_inproc(config)
    assert outcome.error is not None
    text = "".join(traceback.format_exception(outcome.error)) + repr(outcome.error.args)
    text += outcome.run.stdout + outcome.run.stderr
    assert not spy.leaks(text)
    note("secrets", auth=auth, scenario=f"exception: {scenario}", leaks=0)


LONG_S, DOTLESS_I = "\u017f", "\u0131"  # (?i) takes them for s and i


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer ***"),
        ('oauth_signature="c2lnbmF0", oauth_token="t"', 'oauth_signature="***", oauth_token="***"'),
        ("cookie: session_id=s3ss10n; path=/", "cookie: session_id=***; path=/"),
        ('{"accessTokenSecret": "a", "csrf": "c"}', '{"accessTokenSecret": "***", "csrf": "***"}'),
        ("client_secret=cs-1&grant_type=x", "client_secret=***&grant_type=x"),
        # What a case-insensitive match takes for the shape's word is redacted too.
        ("PASSWORD=hunter2", "PASSWORD=***"),
        (f"pa{LONG_S}{LONG_S}word=hunter2", f"pa{LONG_S}{LONG_S}word=***"),
        (f"sess{DOTLESS_I}on_id=s3ss10n;", f"sess{DOTLESS_I}on_id=***;"),
        ('{"objectName": "Password policy", "element": "Secret question"}', None),
        # JSON-escaped (a body echoing a header), at any depth, and URL-encoded.
        (r'{"m": "OAuth oauth_signature=\"c2ln%3D\", oauth_token=\"t\""}',
         r'{"m": "OAuth oauth_signature=\"***\", oauth_token=\"***\""}'),
        (r'"{\"m\": \"oauth_nonce=\\\"n0nce\\\"\"}"',
         r'"{\"m\": \"oauth_nonce=\\\"***\\\"\"}"'),
        ("OAuth%20oauth_signature%3D%22c2ln%253D%22%2C%20oauth_token%3D%22t%22",
         "OAuth%20oauth_signature%3D%22***%22%2C%20oauth_token%3D%22***%22"),
        ("Authorization=Bearer%20abc.def-123&x=1", "Authorization=Bearer%20***&x=1"),
        ('{\\"password\\": \\"hunter2\\"}', '{\\"password\\": \\"***\\"}'),
        ("password%3Dhunter2%26user%3Dx", "password%3D***%26user%3Dx"),
    ],
)  # fmt: skip
def test_every_secret_shape_is_redacted_whatever_its_case(text, kept):
    assert REDACT(text) == (text if kept is None else kept)


SECRET = 's3cr3t/+, "quoted" & ünïcode'


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


#: A known secret as a text may hold it, and what is left of it (the redactor is told the raw
#: value only).
ENCODED = {
    "raw": (SECRET, "***"),
    "JSON-escaped": (json.dumps(SECRET, ensure_ascii=False)[1:-1], "***"),
    "JSON-escaped, ASCII": (json.dumps(SECRET)[1:-1], "***"),
    "URL-quoted": (quote(SECRET, safe=""), "***"),
    "URL-quoted, / kept": (quote(SECRET), "***"),
    "URL-quoted, + for spaces": (quote_plus(SECRET), "***"),
    "URL-quoted, lower-case hex": (quote(SECRET, safe="").lower(), "***"),
    "base64": (_b64(SECRET), "***"),
    "base64, URL-safe": (base64.urlsafe_b64encode(SECRET.encode()).decode(), "***"),
    "HTTP Basic": ("Basic " + _b64(f"user:{SECRET}"), "Basic ***"),
    "HTTP Basic, a two-letter user": ("Basic " + _b64(f"us:{SECRET}"), "Basic ***"),
    "base64 of a header": (_b64(f"X-Key: {SECRET}\r\n"), "***"),
}


@pytest.mark.parametrize("form", list(ENCODED))
def test_a_known_secret_is_redacted_in_every_encoding(form):
    redactor = Redactor()
    redactor.add(SECRET)
    text, left = ENCODED[form]
    assert redactor(f"before {text} after") == f"before {left} after"


def test_a_log_line_is_cut_after_its_secrets_are_redacted():
    """A long message is cut at LOG_MESSAGE_LIMIT: a secret across the cut is gone whole."""
    REDACT.add(SECRET)
    text = "x" * (LOG_MESSAGE_LIMIT - 5) + SECRET + "y" * 100
    record = logging.LogRecord("t", logging.DEBUG, __file__, 1, "%s", (text,), None)
    RedactingFilter().filter(record)
    shown = record.getMessage()
    assert SECRET[:5] not in shown
    assert shown.startswith("x" * (LOG_MESSAGE_LIMIT - 5) + "***")
    assert shown.endswith(
        f"... ({len(text) - len(SECRET) + 3 - LOG_MESSAGE_LIMIT:,} more characters)"
    )


def _structured(record: logging.LogRecord) -> dict:
    """`record` through the RedactingFilter, then as the SDK's StructuredFormatter writes it."""
    from singer_sdk.logging import StructuredFormatter

    assert RedactingFilter().filter(record)
    return json.loads(StructuredFormatter().format(record))


class _ServerSaid(RuntimeError):
    """An exception whose message quotes a server."""


def _raise(exc: BaseException) -> None:
    raise exc


def _logged_error(exc: BaseException) -> logging.LogRecord:
    """An ERROR record carrying `exc`, raised so that it has a traceback."""
    try:
        _raise(exc)
    except BaseException:  # whatever it is, it is logged
        return logging.LogRecord(
            "tap-lp-audittrail", logging.ERROR, __file__, 1, "failed: %s", (SECRET,), sys.exc_info()
        )
    raise AssertionError


@pytest.mark.parametrize("link", ["__cause__", "__context__"])
def test_a_structured_line_holds_no_secret_in_its_exception_its_chain_or_notes(link):
    """Meltano's `structured-logging` writes the exception itself, not the redacted traceback
    text: the filter leaves it a stand-in of the same name, whose every text is redacted."""
    REDACT.add(SECRET)
    error = _ServerSaid(f"the server said {SECRET}")
    error.add_note(f"note {SECRET}")
    setattr(error, link, OSError(f"before {quote(SECRET, safe='')}"))
    record = _logged_error(error)
    line = _structured(record)
    text = json.dumps(line)
    assert SECRET not in text
    assert quote(SECRET, safe="") not in text
    assert (line["level"], line["message"]) == ("error", "failed: ***")
    exception = line["exception"]
    assert (exception["type"], exception["module"]) == ("_ServerSaid", __name__)
    assert exception["message"] == "the server said ***"
    assert exception["traceback"], "the frames are kept"
    linked = exception[link.strip("_")]
    assert (linked["type"], linked["message"]) == ("OSError", "before ***")
    assert record.exc_text
    assert SECRET not in record.exc_text
    assert "note ***" in record.exc_text


def test_a_filter_after_the_redaction_still_knows_the_exception_by_its_class():
    record = _logged_error(_ServerSaid(SECRET))
    RedactingFilter().filter(record)
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], _ServerSaid)
    assert str(record.exc_info[1]) == "***"


def test_a_metric_line_keeps_its_point_for_structured_logs():
    """Meltano shows a METRIC line by its `metric_info`: the point is left as the SDK wrote it,
    unless its text holds a secret."""
    point = metrics.Point("timer", metrics.Metric.HTTP_REQUEST_DURATION, 0.25, {"endpoint": "/a"})
    record = logging.LogRecord(
        "singer_sdk.metrics", logging.INFO, __file__, 1, "METRIC: %s", (point,), None
    )
    line = _structured(record)
    assert line["message"] == "METRIC"
    assert line["metric_info"]["metric"] == "http_request_duration"
    REDACT.add(SECRET)
    leaky = metrics.Point("timer", metrics.Metric.HTTP_REQUEST_DURATION, 0.25, {"endpoint": SECRET})
    record = logging.LogRecord(
        "singer_sdk.metrics", logging.INFO, __file__, 1, "METRIC: %s", (leaky,), None
    )
    line = _structured(record)
    assert SECRET not in json.dumps(line)
    assert line["message"].startswith("METRIC: ")


# ----------------------------------------------------------------------------- a server echoing
#: Headers a server echoes back: everything the tap sent but the connection's own.
_PLAIN_HEADERS = {"host", "content-length", "connection", "accept-encoding"}


def _echo(seen: list[Seen]) -> str:
    """Every credential the server received so far, in every encoding it could echo it in.

    Each header, and each field of a form or JSON body, raw, URL-quoted (both ways) and in
    base64; the fields of one body two by two as HTTP Basic would join them.
    """
    texts: list[str] = []
    for request in seen:
        texts += [v for k, v in request.headers.items() if k.lower() not in _PLAIN_HEADERS]
        body = request.body.decode("utf-8", "replace")
        try:
            parsed = json.loads(body)
            fields = [str(v) for v in parsed.values()] if isinstance(parsed, dict) else []
        except ValueError:
            fields = [v for _, v in parse_qsl(body)]
        texts += [body, *fields]
        texts += [f"{a}:{b}" for a in fields for b in fields if a != b]
    shown = []
    for text in texts:
        shown += [text, quote(text, safe=""), quote_plus(text), _b64(text)]
    return " | ".join(shown)


def _echoing_server(hostile, sb: Sandbox, refuse: str) -> HostileServer:
    """A LivePerson whose every error body echoes every credential it received.

    The Domain API names the server itself; the Login Service and Sentinel are the sandbox's
    (forwarded), unless `refuse` is "token": then they refuse, echoing. Audit requests get a
    500 echoing in JSON, a 500 echoing in plain text, then 401s echoing in GraphQL errors.
    """
    api: list[HostileServer] = []
    audits: list[Seen] = []

    def script(seen: Seen) -> Answer:
        every = api[0].seen
        if seen.path.endswith("/baseURI.json"):
            return Answer.json({"baseURI": api[0].host_port})
        if not seen.path.endswith("/metadata/audit"):
            if refuse == "token":
                return Answer.json({"message": _echo(every)}, status=401)
            return forward(seen, sb.url)
        audits.append(seen)
        if len(audits) == 1:
            return Answer.json({"message": _echo(every)}, status=500)
        if len(audits) == 2:
            return Answer(500, _echo(every).encode(), {"Content-Type": "text/plain"})
        return Answer.json({"errors": [{"message": _echo(every)}]}, status=401)

    api.append(hostile(script))
    return api[0]


@pytest.mark.parametrize(
    ("auth", "refuse", "logs"),
    [(auth, "audit", "console") for auth in AUTHS]
    + [(auth, "token", "console") for auth in ("login", "login_api_key", "client_credentials")]
    + [("oauth1", "audit", "structured"), ("login", "token", "structured")],
)
def test_a_server_echoing_every_credential_gets_none_into_logs_output_or_capture(
    tmp_path, hostile, auth, refuse, logs
):
    """Raw, JSON-escaped, URL-quoted or base64 (alone or as HTTP Basic): no secret leaves.

    The run is at DEBUG, as a CLI, with a capture; the server's echoes reach the WARNING
    lines of retries, the final error line (with its exception, at DEBUG) and the capture's
    exchanges. `structured`: the log format Meltano gives a tap of `structured-logging`, whose
    lines carry the exception itself.
    """
    sb = Sandbox(data=DATA, seed=43)
    spy = SecretSpy(sb)
    with sb:
        api = _echoing_server(hostile, sb, refuse)
        config = tap_config(sb, auth=auth, page_size=50, window_days=200, max_retry_seconds=2)
        config.update(domain_api_url=api.url, capture_dir=str(tmp_path / "capture"))
        if auth == "bearer":
            spy.values.add(config["bearer_token"])
        env = DEBUG
        if logs == "structured":
            env = {**DEBUG, **structured_logging_env(tmp_path, "DEBUG")}
        proc = run_process(tmp_path, config, catalog=catalog_for(config), env=env)
    for seen in api.seen:  # what the tap sent the server itself: bearers and signatures
        spy.see_request({f"HTTP_{k.upper()}": v for k, v in seen.headers.items()})
    assert proc.returncode != 0
    if logs == "structured":
        lines = structured_lines(proc.stderr)
        assert any(line["level"] == "debug" for line in lines), "debug logging was not on"
        assert lines[-1]["level"] == "error"
        assert lines[-1]["exception"]["message"], "the exception is not in the last line"
    else:
        assert "| DEBUG" in proc.stderr, "debug logging was not on"
    captured = b"".join(p.read_bytes() for p in sorted((tmp_path / "capture").iterdir()))
    assert captured, "no capture written"
    for where, text in (
        ("stderr", proc.stderr),
        ("stdout", "\n".join(proc.lines)),
        ("the capture", captured.decode()),
    ):
        leaks = spy.leaks(text)
        assert not leaks, f"{len(leaks)} secret(s) in {where}, e.g. {leaks[0][:6]}..."
    note("secrets", auth=auth, scenario=f"echoed by the server ({refuse})", leaks=0)


@pytest.mark.parametrize("status", [401, 500])
def test_an_answer_cut_for_its_message_keeps_no_part_of_a_secret(tmp_path, hostile, status):
    """The message quotes the start of a plain-text answer: a secret it cuts is not shown."""
    sb = Sandbox(data=DATA, seed=44)
    with sb:
        config = tap_config(sb, page_size=50, window_days=200, max_retry_seconds=1)
        secret = config["app_secret"]

        def script(seen: Seen) -> Answer:
            if seen.path.endswith("/baseURI.json"):
                return Answer.json({"baseURI": api.host_port})
            text = "x" * (300 - len(secret) // 2) + secret  # cut in its middle at 300
            return Answer(status, text.encode(), {"Content-Type": "text/plain"})

        api = hostile(script)
        config["domain_api_url"] = api.url
        proc = run_process(tmp_path, config, catalog=catalog_for(config))
    assert proc.returncode != 0
    assert "xxxxxxxxxx" in proc.stderr, "the answer is not quoted"
    half = secret[: len(secret) // 2]
    assert half not in proc.stderr
