"""The SDK's standard metrics tell the truth about a run, though one read serves every stream.

`record_count` per stream adds up to the RECORDs written for it; every selected stream has a
`sync_duration` within the run's time; with `log_request_metrics`, every answer the server gave
is one `http_request_duration`, with its endpoint (the account id as `{accountId}`) and status.
Without it, a run at INFO logs no line per request (hundreds in a backfill); at DEBUG it does.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter

import pytest

from tap_lp_audittrail.sandbox import DataSpec, FaultRule

from ._reliability import tap_command
from .helpers import END, tap_config


def _metrics(stderr: str) -> list[dict]:
    return [
        json.loads(line.split("METRIC: ", 1)[1])
        for line in stderr.splitlines()
        if "METRIC: " in line
    ]


def test_record_count_sync_duration_and_request_durations_are_true(sandbox_factory, tmp_path):
    sb = sandbox_factory(
        data=DataSpec(seed=51, records=1_500, end=END),
        faults=[FaultRule("503", at=[3])],  # one failed answer, retried
    )
    config = tap_config(sb, page_size=100, log_request_metrics=True)
    started = time.monotonic()
    proc = subprocess.run(
        tap_command(tmp_path, config, None, None), capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = Counter(
        m["stream"] for m in map(json.loads, proc.stdout.splitlines()) if m["type"] == "RECORD"
    )
    points = _metrics(proc.stderr)
    counted: Counter[str] = Counter()
    for point in points:
        if point["metric"] == "record_count":
            counted[point["tags"]["stream"]] += point["value"]
    assert +counted == written
    assert written["audit_trail"] == 1_500
    durations = {p["tags"]["stream"]: p["value"] for p in points if p["metric"] == "sync_duration"}
    assert set(durations) == set(written)
    assert all(0 < value < seconds for value in durations.values()), durations
    requests = [p for p in points if p["metric"] == "http_request_duration"]
    assert len(requests) == sum(sb.stats.statuses.values())
    statuses = Counter(p["tags"]["http_status_code"] for p in requests)
    assert statuses == Counter(sb.stats.statuses)
    assert statuses[503] == 1
    endpoints = {p["tags"]["endpoint"] for p in requests}
    assert "/api/account/{accountId}/configuration/metadata/audit" in endpoints
    assert not any(sb.account_id in e for e in endpoints)
    assert all(0 <= p["value"] < seconds for p in requests)


@pytest.mark.parametrize(
    ("settings", "env", "per_request"),
    [
        ({}, {}, False),
        ({"log_request_metrics": False}, {}, False),
        ({"log_request_metrics": True}, {}, True),
        ({}, {"TAP_LP_AUDITTRAIL_LOGLEVEL": "DEBUG"}, True),
    ],
    ids=["default", "off", "asked for", "at DEBUG"],
)
def test_a_run_at_info_logs_no_metric_line_per_request_unless_asked(
    sandbox_factory, tmp_path, settings, env, per_request
):
    sb = sandbox_factory(data=DataSpec(seed=52, records=600, end=END))
    config = tap_config(sb, page_size=100, **settings)
    proc = subprocess.run(
        tap_command(tmp_path, config, None, None),
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    points = Counter(p["metric"] for p in _metrics(proc.stderr))
    answers = sum(sb.stats.statuses.values())
    assert answers > 5
    assert points["http_request_duration"] == (answers if per_request else 0)
    assert points["record_count"] >= 1
    assert points["sync_duration"] >= 1
