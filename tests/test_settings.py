"""settings.py, in process: what each check says of a config, and what it warns of.

The tap applies these before any request (tests/test_config_errors.py runs them through the
tap and the real command line, against a sandbox that must see no request).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tap_lp_audittrail.errors import REDACT
from tap_lp_audittrail.settings import (
    CONFIG_SCHEMA,
    config_errors,
    config_warnings,
    learn_secrets,
    range_text,
)
from tap_lp_audittrail.tap import settings_schema

GOOD = {"account_id": "12345678", "bearer_token": "t0ken-for-settings"}


def errors_of(**changes: object) -> list[str]:
    return config_errors({**GOOD, **changes}, settings_schema())


def test_a_good_config_has_no_error_and_no_warning():
    assert errors_of() == []
    assert config_warnings(GOOD, settings_schema()) == []


@pytest.mark.parametrize(
    ("changes", "line"),
    [
        ({"page_size": 5}, "page_size: 5 is out of range; use 10 to 10000"),
        ({"account_id": "1\n"}, "account_id: '1\\n' does not match"),
        ({"domain": "x@y"}, "domain: 'x@y' "),
        ({"domain_api_url": "http://example.com"}, "domain_api_url: 'http://example.com' "),
        (
            {"start_date": "2025-02-01T00:00:00Z", "end_date": "2025-01-01T00:00:00Z"},
            "end_date: must be after start_date",
        ),
        ({"start_date": "the first"}, "start_date: "),
        ({"object_types": {"widgets": ["x"]}}, "object_types: 'widgets' is not a stream"),
        ({"component_types": {"audit_trail": ["x"]}}, "component_types: 'audit_trail' is not"),
        ({"bearer_token": None}, "auth_method: the credentials given do not tell"),
        ({"auth_method": "login"}, "username, password: required for auth_method login"),
    ],
)
def test_each_problem_is_one_line_that_begins_with_its_setting(changes, line):
    errors = errors_of(**changes)
    assert any(error.startswith(line) for error in errors), errors


def test_a_secret_of_the_wrong_type_is_named_without_its_value():
    (error,) = errors_of(bearer_token=12345678901)
    assert error.startswith("bearer_token: wrong type or format")
    assert "12345678901" not in error


def test_the_redactor_learns_the_secret_settings_and_no_other():
    learn_secrets({"account_id": "acct-Hq5", "client_secret": "clsec-Hq5-value"})
    assert REDACT("a clsec-Hq5-value b") == "a *** b"
    assert REDACT("acct-Hq5") == "acct-Hq5"


def test_an_unknown_setting_is_warned_of_with_a_close_one_when_there_is():
    warnings = config_warnings({**GOOD, "page_sise": 9, "zzz": 1}, settings_schema())
    assert warnings == [
        "page_sise: not a setting of this tap, ignored; did you mean `page_size`?",
        "zzz: not a setting of this tap, ignored; see --about for the settings",
    ]


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("page_sise", "page_size"),
        ("startDate", "start_date"),
        ("account-id", "account_id"),
        ("lookback_minute", "lookback_minutes"),
        ("max_concurency", "max_concurrency"),
        ("flatening_enabled", "flattening_enabled"),
    ],
)
def test_a_typo_or_another_spelling_of_a_setting_gets_it_suggested(typed, meant):
    (warning,) = config_warnings({**GOOD, typed: 1}, settings_schema())
    assert warning == f"{typed}: not a setting of this tap, ignored; did you mean `{meant}`?"


@pytest.mark.parametrize(
    "typed", ["batch_config", "batch_size", "log_level", "metrics_log_level", "secret", "token"]
)
def test_a_name_only_sharing_a_word_with_a_setting_gets_no_suggestion(typed):
    (warning,) = config_warnings({**GOOD, typed: 1}, settings_schema())
    assert warning == f"{typed}: not a setting of this tap, ignored; see --about for the settings"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-CD", min_size=1, max_size=24))
def test_a_suggested_setting_is_always_one_the_tap_accepts(typed):
    schema = settings_schema()
    if typed in schema["properties"] or typed in GOOD:
        return
    (warning,) = config_warnings({**GOOD, typed: 1}, schema)
    for suggested in re.findall(r"`([^`]+)`", warning):
        assert suggested != typed
        assert config_warnings({**GOOD, suggested: 1}, schema) == [], suggested


def test_the_sdks_own_settings_are_known():
    assert config_warnings({**GOOD, "stream_maps": {}}, settings_schema()) == []


def test_a_start_in_the_future_is_warned_of_and_one_in_the_past_is_not():
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)).isoformat()
    (warning,) = config_warnings({**GOOD, "start_date": future}, settings_schema())
    assert warning.startswith(f"start_date: {future} is in the future")
    assert config_warnings({**GOOD, "start_date": "2020-01-01T00:00:00Z"}, settings_schema()) == []


def test_every_range_is_in_the_schema_and_its_description():
    ranged = {
        name: prop
        for name, prop in CONFIG_SCHEMA["properties"].items()
        if "minimum" in prop or "maximum" in prop
    }
    assert len(ranged) >= 9
    for prop in ranged.values():
        assert range_text(prop["minimum"], prop["maximum"]) in prop["description"]
