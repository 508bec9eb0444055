"""Every expected failure ends the real command with exit code 1 and one ERROR line, the last
line of stderr, that says what to fix: no traceback at the default log level, at DEBUG one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tap_lp_audittrail.sandbox import DataSpec, FaultRule, Readings

from ._reliability import catalog_for, tap_command
from .helpers import END, tap_config

#: case -> (sandbox kwargs, config changes, stream selected, state, words of the last line)
CASES: dict[str, tuple[dict, dict, str, dict | None, tuple[str, ...]]] = {
    "config": (
        {},
        {"page_size": 5, "window_days": 0, "domain": "https://x"},
        "audit_trail",
        None,
        ("page_size", "window_days", "domain"),
    ),
    "state": (
        {},
        {},
        "audit_trail",
        {"bookmarks": {"audit_trail": {"replication_key_value": "yesterday"}}},
        ("replication_key_value", "start without state"),
    ),
    "401": ({}, {"app_secret": "not-the-secret"}, "audit_trail", None, ("HTTP 401", "app_secret")),
    "403": (
        {"permission_granted": False},
        {},
        "audit_trail",
        None,
        ("HTTP 403", "permission"),
    ),
    "refused query": (
        {},
        {"component_types": {"users": ["NoSuchCode"]}},
        "users",
        None,
        ("HTTP 400", "NoSuchCode", "component_types"),
    ),
    "connection, after retries": (
        {"faults": [FaultRule("reset", at=range(1, 10_000))]},
        {},
        "audit_trail",
        None,
        ("kept failing", "reset the connection", "connection_retry_seconds"),
    ),
    "5xx, after retries": (
        {"faults": [FaultRule("500", at=range(1, 10_000))]},
        {},
        "audit_trail",
        None,
        ("HTTP 500", "max_retry_seconds"),
    ),
    "paging": (
        {
            "data": DataSpec(seed=4, records=300, end=END, big_burst=60),
            "readings": Readings(tie_order="shuffled"),
        },
        {"page_size": 10},
        "audit_trail",
        None,
        ("page_size",),
    ),
}


def run(make_sandbox, tmp_path, case: str, *args: str, env: dict | None = None):
    kwargs, changes, stream, state, _ = CASES[case]
    kwargs = {"data": DataSpec(seed=4, records=300, end=END), **kwargs}
    sb = make_sandbox(**kwargs)
    config = tap_config(sb, max_retry_seconds=1, max_concurrency=2, **changes)
    catalog = catalog_for(config, [stream]) if case != "config" else None
    command = tap_command(tmp_path, config, state, catalog, *args)
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def assert_one_last_line(proc, words) -> str:
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "An unhandled error occurred" not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "| ERROR" in last, proc.stderr[-3000:]
    for word in words:
        assert word in last, f"{word!r} not in the last line: {last}"
    return last


@pytest.fixture
def sandbox_kwargs_permission(sandbox_factory):
    """sandbox_factory, where `permission_granted` is set on the started sandbox."""

    def make(**kwargs):
        granted = kwargs.pop("permission_granted", True)
        sb = sandbox_factory(**kwargs)
        sb.permission_granted = granted
        return sb

    return make


@pytest.mark.parametrize("case", list(CASES))
def test_an_expected_failure_ends_in_one_line(sandbox_kwargs_permission, tmp_path, case):
    proc = run(sandbox_kwargs_permission, tmp_path, case)
    assert_one_last_line(proc, CASES[case][-1])
    for secret in ("not-the-secret",):
        assert secret not in proc.stderr


def test_a_missing_settings_file_is_named_in_one_line(tmp_path):
    command = [sys.executable, "-m", "tap_lp_audittrail", "--config", str(tmp_path / "nope.json")]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert_one_last_line(proc, ("nope.json", "--config"))


#: file name -> (its text, words of the last line)
BAD_FILES = {
    "not-json.json": ("{account_id: 1", ("not-json.json", "not valid JSON")),
    "a-list.json": ("[1, 2]", ("a-list.json", "expected a JSON object", "list")),
    "a-string.json": ('"settings"', ("a-string.json", "expected a JSON object", "str")),
}


@pytest.mark.parametrize("option", ["--config", "--catalog", "--state"])
@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_file_that_is_not_a_json_object_is_named_in_one_line(tmp_path, option, name):
    text, words = BAD_FILES[name]
    (tmp_path / name).write_text(text)
    good = tmp_path / "config.json"
    good.write_text('{"account_id": "1", "bearer_token": "t0ken-value"}')
    config = [] if option == "--config" else ["--config", str(good)]
    command = [sys.executable, "-m", "tap_lp_audittrail", *config, option, str(tmp_path / name)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert_one_last_line(proc, (*words, option))


def test_an_unknown_setting_and_a_future_start_are_warned_of(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(
        '{"account_id": "1", "bearer_token": "t0ken-value", "page_sise": 100, '
        '"start_date": "2099-01-01T00:00:00Z"}'
    )
    command = [sys.executable, "-m", "tap_lp_audittrail", "--config", str(config), "--discover"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "| WARNING" in line]
    assert len(warnings) == 2, proc.stderr
    assert "page_sise" in warnings[0]
    assert "did you mean `page_size`?" in warnings[0]
    assert "start_date" in warnings[1]
    assert "in the future" in warnings[1]


@pytest.mark.parametrize("case", ["401", "config"])
def test_the_connection_test_ends_in_one_line_too(sandbox_kwargs_permission, tmp_path, case):
    proc = run(sandbox_kwargs_permission, tmp_path, case, "--test")
    assert_one_last_line(proc, CASES[case][-1])


def test_at_debug_the_traceback_is_there(sandbox_kwargs_permission, tmp_path):
    proc = run(
        sandbox_kwargs_permission, tmp_path, "401", env={"TAP_LP_AUDITTRAIL_LOGLEVEL": "DEBUG"}
    )
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "| ERROR" in line]
    assert any("HTTP 401" in line and "app_secret" in line for line in errors)
    assert "not-the-secret" not in proc.stderr
