"""Every auth method reads the same, complete audit trail; tokens are renewed as LivePerson
expects (refresh before expiry, one renewal after a 401), and a refusal names the credential."""

from __future__ import annotations

import pytest
from singer_sdk.exceptions import FatalAPIError

from tap_lp_audittrail.sandbox import DataSpec, FaultRule

from .helpers import END, assert_same_records, run_tap, run_tap_cli, tap_config

METHODS = ["oauth1", "login", "login_api_key", "client_credentials", "bearer"]


@pytest.mark.parametrize("method", METHODS)
def test_each_auth_method_reads_everything(sandbox_factory, method):
    sb = sandbox_factory(data=DataSpec(seed=3, records=800, end=END))
    run = run_tap(tap_config(sb, auth=method, page_size=100))
    assert_same_records(run.stream("audit_trail"), sb.ground_truth(), what=method)


@pytest.mark.parametrize("method", ["login", "client_credentials"])
def test_short_lived_tokens_are_renewed_during_a_long_run(sandbox_factory, method):
    sb = sandbox_factory(
        data=DataSpec(seed=4, records=600, end=END), bearer_ttl_seconds=1, latency=0.05
    )
    run = run_tap(tap_config(sb, auth=method, page_size=20, max_concurrency=2))
    assert_same_records(run.stream("audit_trail"), sb.ground_truth(), what=method)
    renewals = (
        sb.stats.requests["login"] + sb.stats.requests["refresh"] + sb.stats.requests["sentinel"]
    )
    assert renewals >= 3  # the run outlived several tokens
    assert sb.stats.statuses.get(401, 0) <= 2  # renewed before expiry, not after failures


@pytest.mark.parametrize("method", ["login", "client_credentials"])
def test_a_401_renews_the_token_once_and_the_run_goes_on(sandbox_factory, method):
    sb = sandbox_factory(
        data=DataSpec(seed=5, records=500, end=END), faults=[FaultRule("expire_bearer", at=[3])]
    )
    run = run_tap(tap_config(sb, auth=method, page_size=50, max_concurrency=1))
    assert_same_records(run.stream("audit_trail"), sb.ground_truth(), what=method)
    assert sb.stats.faults["expire_bearer"] == 1


def test_a_refused_static_bearer_stops_naming_the_setting(sandbox_factory):
    sb = sandbox_factory(data=DataSpec(seed=6, records=100, end=END))
    config = tap_config(sb, auth="bearer", max_concurrency=1)
    sb.expire_bearers()
    with pytest.raises(FatalAPIError, match="bearer_token"):
        run_tap(config)
    asked = [(e.args["fromDate"], e.args["offset"]) for e in sb.stats.log if e.endpoint == "audit"]
    assert len(asked) == len(set(asked))  # a bearer handed over cannot be renewed: no retry


def test_a_wrong_oauth1_secret_stops_naming_the_api_key(sandbox_factory, tmp_path):
    sb = sandbox_factory(data=DataSpec(seed=6, records=100, end=END))
    run = run_tap_cli(tap_config(sb, app_secret="not-the-secret"), tmp_path=tmp_path)
    assert run.exit_code != 0
    assert "app_secret" in run.stderr
    assert "signature_invalid" in run.stderr
    assert "not-the-secret" not in run.stderr + run.stdout


def test_a_missing_permission_is_named(sandbox_factory, tmp_path):
    sb = sandbox_factory(data=DataSpec(seed=6, records=100, end=END))
    sb.permission_granted = False
    run = run_tap_cli(tap_config(sb, max_concurrency=1), tmp_path=tmp_path)
    assert run.exit_code != 0
    assert "403" in run.stderr
    assert "permission" in run.stderr
    asked = [(e.args["fromDate"], e.args["offset"]) for e in sb.stats.log if e.endpoint == "audit"]
    assert len(asked) == len(set(asked))  # 403 is not retried: no page was asked for twice


def test_the_login_session_is_ended_after_the_run(sandbox_factory):
    sb = sandbox_factory(data=DataSpec(seed=7, records=100, end=END))
    run_tap(tap_config(sb, auth="login"))
    assert sb.stats.requests["logout"] == 1
