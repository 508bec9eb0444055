"""Bad config: every bad value gets a clear message naming the setting, the tap refuses to
start, no secret is echoed, and not one request reaches the sandbox.

Each case builds the tap in process (the SDK's validation and the tap's checks, as the CLI
runs them); one run of the real CLI with many bad values at once checks the exit code, the
log lines and the absence of a traceback.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_lp_audittrail.settings import config_errors
from tap_lp_audittrail.tap import TapLPAuditTrail, settings_schema

from ._reliability import SECRET_CREDENTIALS, note, run_process
from .helpers import END, tap_config

_DROP = object()

#: case -> (auth method, changes to its valid config (_DROP removes), the setting named).
BAD: dict[str, tuple[str, dict[str, Any], str]] = {
    "missing account_id": ("oauth1", {"account_id": _DROP}, "account_id"),
    "no credentials at all": (
        "oauth1",
        dict.fromkeys(("app_key", "app_secret", "access_token", "access_token_secret"), _DROP),
        "auth_method",
    ),
    "half an OAuth1 key": (
        "oauth1",
        {"access_token": _DROP, "access_token_secret": _DROP},
        "access_token",
    ),
    "oauth1 without app_secret": ("oauth1", {"app_secret": ""}, "app_secret"),
    "login without password": ("login", {"password": _DROP}, "password"),
    "login without username": ("login", {"username": _DROP}, "username"),
    "client_credentials without secret": (
        "client_credentials",
        {"client_secret": _DROP},
        "client_secret",
    ),
    "bearer method without token": (
        "bearer",
        {"bearer_token": _DROP, "auth_method": "bearer"},
        "bearer_token",
    ),
    "unknown auth_method": ("oauth1", {"auth_method": "oauth2"}, "auth_method"),
    "two methods, none chosen": (
        "client_credentials",
        {"bearer_token": "some-bearer-token"},
        "auth_method",
    ),
    "page_size as text": ("oauth1", {"page_size": "500"}, "page_size"),
    "include_lpa not a boolean": ("oauth1", {"include_lpa": "yes"}, "include_lpa"),
    "users not a list": ("oauth1", {"users": "alice"}, "users"),
    "a secret of the wrong type": ("oauth1", {"app_secret": 12345678901}, "app_secret"),
    "start_date not a date": ("oauth1", {"start_date": "yesterday"}, "start_date"),
    "end_date impossible": ("oauth1", {"end_date": "2025-13-01T00:00:00Z"}, "end_date"),
    "end before start": (
        "oauth1",
        {"start_date": "2025-06-01T00:00:00Z", "end_date": "2025-01-01T00:00:00Z"},
        "end_date",
    ),
    "account_id with /": ("oauth1", {"account_id": "1234/5678"}, "account_id"),
    "account_id with ..": ("oauth1", {"account_id": ".."}, "account_id"),
    "account_id with a final newline": ("oauth1", {"account_id": "12345678\n"}, "account_id"),
    "domain with a final newline": ("oauth1", {"domain": "va.ac.liveperson.net\n"}, "domain"),
    "domain with a scheme": ("oauth1", {"domain": "https://va.ac.liveperson.net"}, "domain"),
    "domain with a path": ("oauth1", {"domain": "va.ac.liveperson.net/api/x"}, "domain"),
    "plain http to another host": (
        "oauth1",
        {"domain_api_url": "http://api.liveperson.net"},
        "domain_api_url",
    ),
    "domain_api_url with a path": (
        "oauth1",
        {"domain_api_url": "https://api.liveperson.net/api/account"},
        "domain_api_url",
    ),
    "page_size too small": ("oauth1", {"page_size": 5}, "page_size"),
    "max_concurrency 0": ("oauth1", {"max_concurrency": 0}, "max_concurrency"),
    "window_days above a year": ("oauth1", {"window_days": 400}, "window_days"),
    "request_timeout 0": ("oauth1", {"request_timeout": 0}, "request_timeout"),
    "negative lookback": ("oauth1", {"lookback_minutes": -1}, "lookback_minutes"),
    "max_retry_seconds too long": ("oauth1", {"max_retry_seconds": 10**6}, "max_retry_seconds"),
    "unknown stream in object_types": (
        "oauth1",
        {"object_types": {"widgets": ["Widgets"]}},
        "object_types",
    ),
    "object_types value not a list": (
        "oauth1",
        {"object_types": {"users": "Users"}},
        "object_types",
    ),
    "component_types for audit_trail": (
        "oauth1",
        {"component_types": {"audit_trail": ["ACUserObject"]}},
        "component_types",
    ),
}


def bad_config(sandbox, case: str) -> tuple[dict[str, Any], str]:
    auth, changes, setting = BAD[case]
    config = tap_config(sandbox, auth=auth)
    for key, value in changes.items():
        if value is _DROP:
            config.pop(key, None)
        else:
            config[key] = value
    return config, setting


@pytest.mark.parametrize("case", list(BAD))
def test_bad_config_is_refused_before_any_request(sandbox, case):
    config, setting = bad_config(sandbox, case)
    with pytest.raises(ConfigValidationError) as refused:
        TapLPAuditTrail(config=config)
    errors = refused.value.errors
    assert any(re.search(rf"^{setting}\b|\b{setting}[,:]", error) for error in errors), errors
    assert errors == config_errors(config, settings_schema()), "the tap and the pure check disagree"
    text = "\n".join(errors)
    for name in SECRET_CREDENTIALS:
        assert str(sandbox.credentials[name]) not in text
    if isinstance(config.get("app_secret"), int):
        assert str(config["app_secret"]) not in text
    assert sum(sandbox.stats.requests.values()) == 0, dict(sandbox.stats.requests)
    note("config", case=case, setting=setting, refused=True, requests=0)


def test_a_valid_config_has_no_error_and_gets_the_schemas_defaults(sandbox):
    config = tap_config(sandbox)
    assert config_errors(config, settings_schema()) == []
    tap = TapLPAuditTrail(config={"account_id": "123", "bearer_token": "x"})
    assert tap.config["page_size"] == 500
    assert tap.config["lookback_minutes"] == 360
    assert tap.config["domain_api_url"] == "https://api.liveperson.net"
    assert "end_date" not in tap.config  # no default: the run reads up to the newest change


def test_every_bad_value_at_once_is_listed_by_the_cli(sandbox, tmp_path):
    """The real CLI: one run names every problem, exits non-zero, and asks nothing."""
    config = tap_config(sandbox)
    config.update(page_size=5, window_days=0, domain="https://x", account_id="a/b")
    config["app_secret"] = 12345678901
    config["end_date"] = config["start_date"]
    proc = run_process(tmp_path, config)
    assert proc.returncode not in (0, None)
    for setting in ("page_size", "window_days", "domain", "account_id", "end_date", "app_secret"):
        assert re.search(rf"ERROR .*\b{setting}\b", proc.stderr), setting
    assert "Traceback" not in proc.stderr
    assert not proc.lines, "the tap wrote messages"
    assert "12345678901" not in proc.stderr
    for name in SECRET_CREDENTIALS:
        assert str(sandbox.credentials[name]) not in proc.stderr
    assert sum(sandbox.stats.requests.values()) == 0


def test_the_valid_config_does_reach_the_sandbox(sandbox, tmp_path):
    """The control: the same config, unbroken, runs and is seen by the sandbox."""
    config = tap_config(sandbox, start_date=(END.replace(month=9)).isoformat())
    proc = run_process(tmp_path, config)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sandbox.stats.requests["audit"] > 0
