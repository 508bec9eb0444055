"""Secrets: for every auth method, on success and on every error path (wrong secret, 401, 403,
5xx exhaustion), with the SDK's debug logging on, no credential, issued token, OAuth signature,
csrf or session cookie appears in stdout, stderr, `--about` or an exception's text.

The sandbox's credentials are distinctive; every token it issues and every signature and
cookie the tap sends are collected while it runs (`SecretSpy`), then searched for in raw,
JSON-escaped and URL-quoted forms.
"""

from __future__ import annotations

import traceback

import pytest

from tap_lp_audittrail.errors import REDACT
from tap_lp_audittrail.sandbox import DataSpec, FaultRule, Sandbox

from ._reliability import SecretSpy, catalog_for, note, run_inproc, run_process
from .helpers import END, tap_config

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
    ],
)  # fmt: skip
def test_every_secret_shape_is_redacted_whatever_its_case(text, kept):
    assert REDACT(text) == (text if kept is None else kept)
