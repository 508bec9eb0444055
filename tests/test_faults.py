"""Faults x readings: under every fault the sandbox can inject, crossed with readings of the
API's unknowns, the tap emits exactly the ground truth; or it stops with a clear error after
bounded retries, and a rerun from its last STATE completes the set.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Any

import pytest

from tap_lp_audittrail.sandbox import DataSpec, FaultRule, Readings

from ._reliability import (
    AUDIT,
    Union,
    catalog_for,
    fault_figures,
    note,
    now_sandbox,
    run_inproc,
    run_process,
)
from .helpers import (
    END,
    as_multiset,
    assert_in_order_with_unique_ids,
    assert_same_records,
    tap_config,
)

RECORDS = 600
PAGE = 50
DATA_END = END - dt.timedelta(days=2)  # room for records appended "now", during a run

#: Readings of the API's unknowns the faults are crossed with: the documented one, and two
#: that take the other side of every switch that matters for paging.
READINGS: dict[str, Readings] = {
    "documented": Readings(),
    "utc-dates/page-count/shuffled-ties/no-UTC/no-actionType/subsecond/cap-45": Readings(
        to_date_inclusive=False,
        dates_timezone="utc",
        total_count="page",
        tie_order="shuffled",
        utc_accepted=False,
        action_type="refused",
        max_page_size=45,
        subsecond=True,
    ),
    "shuffled-ties/refuse-above-45/validation-as-200": Readings(
        tie_order="shuffled",
        max_page_size=45,
        above_max_page_size="error",
        validation_error_status=200,
        unknown_component_type="ignore",
    ),
}


#: Fault name -> (fault rules, config overrides, auth method).
FAULTS: dict[str, tuple[list[FaultRule], dict[str, Any], str]] = {
    "429 with Retry-After": ([FaultRule("429", rate=0.15, retry_after=0.2)], {}, "oauth1"),
    "429 without Retry-After": ([FaultRule("429", at={4, 11})], {}, "oauth1"),
    "5xx bursts (500, 502, 503+Retry-After)": (
        [
            FaultRule("500", at=range(3, 7)),
            FaultRule("502", at=range(12, 15)),
            FaultRule("503", at=range(20, 23), retry_after=0.1),
        ],
        {},
        "oauth1",
    ),
    "connection resets": ([FaultRule("reset", rate=0.15)], {}, "oauth1"),
    "truncated bodies": ([FaultRule("truncate", rate=0.15)], {}, "oauth1"),
    "malformed JSON": ([FaultRule("malformed_json", rate=0.15)], {}, "oauth1"),
    "timeouts (slow body, request_timeout 1 s)": (
        [FaultRule("slow_body", at={3, 9}, delay=2.5)],
        {"request_timeout": 1},
        "oauth1",
    ),
    "200 with GraphQL errors": ([FaultRule("graphql_errors", rate=0.15)], {}, "oauth1"),
    "bearer expiry mid-run (login)": (
        [FaultRule("expire_bearer", at={5, 17})],
        {},
        "login",
    ),
    "bearer expiry mid-run (client_credentials)": (
        [FaultRule("expire_bearer", at={5, 17})],
        {},
        "client_credentials",
    ),
}


@pytest.mark.parametrize("reading", list(READINGS))
@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_keeps_every_record(sandbox_factory, fault, reading):
    rules, overrides, auth = FAULTS[fault]
    readings = dataclasses.replace(READINGS[reading])
    sb = sandbox_factory(
        data=DataSpec(seed=11, records=RECORDS, end=DATA_END),
        readings=readings,
        faults=rules,
        seed=3,
    )
    config = tap_config(sb, auth=auth, page_size=PAGE, window_days=30, **overrides)
    outcome = run_inproc(config)
    assert outcome.error is None, f"{fault} / {reading}: {outcome.error!r}"
    emitted = outcome.run.stream(AUDIT)
    truth = sb.ground_truth()
    served = readings.action_type == "served"
    assert_same_records(emitted, truth, action_type=served, what=f"{fault} / {reading}")
    assert_in_order_with_unique_ids(emitted)
    kinds = {rule.kind for rule in rules}
    assert all(sb.stats.faults[kind] > 0 for kind in kinds), f"no {kinds} injected"
    if "expire_bearer" in kinds:
        # Each expiry renewed the token exactly once, for every thread that saw it.
        issuer = "login" if auth == "login" else "sentinel"
        assert sb.stats.requests[issuer] == 1 + sb.stats.faults["expire_bearer"]
    else:
        assert outcome.retries >= sum(sb.stats.faults.values())
    note(
        "faults",
        fault=fault,
        reading=reading,
        records=len(truth),
        emitted=len(emitted),
        retries=outcome.retries,
        seconds=round(outcome.seconds, 2),
        **fault_figures(sb),
    )


@pytest.mark.parametrize("reading", list(READINGS))
def test_records_written_during_paging(sandbox_factory, reading):
    """Changes LivePerson writes while the tap pages (stamped now) are read by that run or,
    at the latest, by the next incremental run from its final STATE: every one, none twice."""
    readings = dataclasses.replace(READINGS[reading])
    sb, config = now_sandbox(
        sandbox_factory, 14, RECORDS, readings=readings, page_size=PAGE, window_days=30
    )
    before = sb.ground_truth()
    written = 0
    stamped = dt.datetime.min.replace(tzinfo=dt.timezone.utc)

    def hook(n: int) -> None:
        nonlocal written, stamped
        if n % 3 == 0:
            # One batch a second at most: however fast the run, no second holds more changes
            # than a page (a larger group with ties reshuffled is refused, by design).
            stamped = max(dt.datetime.now(dt.timezone.utc), stamped + dt.timedelta(seconds=1))
            sb.append(sb.make_records(3, stamped, stamped + dt.timedelta(seconds=1), seed=n))
            written += 3

    sb.on_audit_request = hook
    first = run_inproc(config)
    sb.on_audit_request = None
    assert first.error is None, repr(first.error)
    served = readings.action_type == "served"
    got = as_multiset(first.run.stream(AUDIT), action_type=served)
    assert not as_multiset(before, action_type=served) - got, "a stored record was lost"
    later = run_inproc(config, state=first.run.final_state)
    assert later.error is None, repr(later.error)
    union = Union()
    for run in (first, later):
        assert_in_order_with_unique_ids(run.run.stream(AUDIT))
        union.add(run.run.stream(AUDIT))
    truth = sb.ground_truth()
    assert_same_records(union.records, truth, action_type=served, what=reading)
    note(
        "written-during-paging",
        reading=reading,
        records=len(truth),
        written_during_run=written,
        read_by_the_same_run=len(first.run.stream(AUDIT)) - len(before),
    )


@pytest.mark.parametrize("reading", list(READINGS))
def test_records_inserted_behind_the_reading_position(sandbox_factory, reading):
    """Records inserted at any instant while paging (before the page being read) never make
    the tap lose or repeat a record that was there; a full rerun then reads them too."""
    readings = dataclasses.replace(READINGS[reading])
    sb = sandbox_factory(
        data=DataSpec(seed=12, records=RECORDS, end=DATA_END), readings=readings, seed=4
    )
    before = sb.ground_truth()
    rng = random.Random(9)
    span = (DATA_END - sb.start_time).total_seconds()

    def hook(n: int) -> None:
        if n % 4 == 0 and n < 40:
            at = sb.start_time + dt.timedelta(seconds=rng.uniform(0, span))
            sb.append(sb.make_records(3, at, at + dt.timedelta(seconds=2), seed=n))

    sb.on_audit_request = hook
    config = tap_config(sb, page_size=PAGE, window_days=30)
    outcome = run_inproc(config)
    assert outcome.error is None, repr(outcome.error)
    sb.on_audit_request = None
    emitted = outcome.run.stream(AUDIT)
    served = readings.action_type == "served"
    after = sb.ground_truth()
    assert len(after) > len(before)
    assert_in_order_with_unique_ids(emitted)
    got = as_multiset(emitted, action_type=served)
    assert not as_multiset(before, action_type=served) - got, "a stored record was lost"
    assert not got - as_multiset(after, action_type=served), "a record was emitted twice"
    rerun = run_inproc(config)
    assert_same_records(rerun.run.stream(AUDIT), after, action_type=served, what="rerun")
    note(
        "inserted-behind",
        reading=reading,
        records=len(after),
        inserted=len(after) - len(before),
        inserted_read_first_run=len(emitted) - len(before),
    )


#: Persistent faults that outlast max_retry_seconds: the run must stop, clearly.
PERSISTENT = {
    "500 from request 12 on": (FaultRule("500", at=range(12, 10_000)), "HTTP 500"),
    "reset from request 12 on": (FaultRule("reset", at=range(12, 10_000)), "connection"),
    "malformed JSON from request 12 on": (
        FaultRule("malformed_json", at=range(12, 10_000)),
        "not valid JSON",
    ),
    "429, Retry-After beyond the budget, from request 12 on": (
        FaultRule("429", at=range(12, 10_000), retry_after=30),
        "HTTP 429",
    ),
}


@pytest.mark.parametrize("name", list(PERSISTENT))
def test_exhausted_retries_stop_clearly_and_a_rerun_completes(sandbox_factory, tmp_path, name):
    rule, words = PERSISTENT[name]
    sb = sandbox_factory(
        data=DataSpec(seed=13, records=RECORDS, end=DATA_END), faults=[rule], seed=5
    )
    config = tap_config(sb, page_size=PAGE, window_days=30, max_concurrency=1, max_retry_seconds=1)
    catalog = catalog_for(config)
    failed = run_process(tmp_path / "failed", config, catalog=catalog)
    assert failed.returncode not in (0, None)
    assert words in failed.stderr, failed.stderr[-2000:]
    first = failed.parsed()
    assert first.states, "no STATE before the failure"
    audit_requests = sb.stats.requests["audit"]
    assert audit_requests < 60, "retries were not bounded"
    sb.set_faults([])
    rerun = run_process(tmp_path / "rerun", config, catalog=catalog, state=first.final_state)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    union = Union()
    union.add(first.stream(AUDIT))
    union.add(rerun.parsed().stream(AUDIT))
    assert_same_records(union.records, sb.ground_truth(), what=name)
    note(
        "persistent",
        fault=name,
        records=len(union.records),
        before_failure=len(first.stream(AUDIT)),
        after_rerun=len(rerun.parsed().stream(AUDIT)),
        failed_seconds=round(failed.seconds, 2),
        audit_requests_failed_run=audit_requests,
    )
