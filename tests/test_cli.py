"""The command line a user meets: --about, --discover, --test, stream maps and flattening."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tap_lp_audittrail.sandbox import DataSpec
from tap_lp_audittrail.streams import ELEMENTS

from .helpers import END, run_tap_cli, tap_config

STREAMS = {e.stream for e in ELEMENTS} | {"audit_trail"}


def test_about_lists_every_setting_and_no_secret(sandbox_factory, tmp_path):
    sb = sandbox_factory(data=DataSpec(seed=31, records=50, end=END))
    config = tap_config(sb)
    run = run_tap_cli(config, "--about", "--format=markdown", tmp_path=tmp_path)
    assert run.exit_code == 0
    for setting in (
        "account_id",
        "auth_method",
        "app_key",
        "domain_api_url",
        "lookback_minutes",
        "max_concurrency",
        "object_types",
        "component_types",
    ):
        assert f"| {setting} |" in run.stdout
    for secret in (config["app_secret"], config["access_token_secret"]):
        assert secret not in run.stdout + run.stderr


def test_discover_offers_sixteen_incremental_streams_keyed_on_id(sandbox_factory, tmp_path):
    sb = sandbox_factory(data=DataSpec(seed=31, records=50, end=END))
    run = run_tap_cli(tap_config(sb), "--discover", tmp_path=tmp_path)
    catalog = json.loads(run.stdout)
    assert {s["tap_stream_id"] for s in catalog["streams"]} == STREAMS
    for stream in catalog["streams"]:
        assert stream["key_properties"] == ["id"]
        assert stream["replication_key"] == "changeDate"
        assert stream["schema"]["properties"]["changeDate"]["format"] == "date-time"
    assert sb.stats.requests["audit"] == 0  # discovery needs no request


def test_discover_describes_every_stream_and_every_property(sandbox_factory, tmp_path):
    """A catalog a person can read: each stream's schema and each of its fields says what it
    holds; an element stream names the objectType strings it takes."""
    sb = sandbox_factory(data=DataSpec(seed=31, records=50, end=END))
    run = run_tap_cli(tap_config(sb), "--discover", tmp_path=tmp_path)
    catalog = json.loads(run.stdout)
    undescribed = [
        f"{stream['tap_stream_id']}.{name}"
        for stream in catalog["streams"]
        for name, prop in stream["schema"]["properties"].items()
        if not prop.get("description", "").strip()
    ]
    assert not undescribed, f"no description: {undescribed}"
    described = {s["tap_stream_id"]: s["schema"].get("description", "") for s in catalog["streams"]}
    assert all(text.strip() for text in described.values()), described
    assert len(set(described.values())) == len(described), "two streams are described alike"
    assert "Users, User" in described["users"]


def test_connection_test_reads_one_page(sandbox_factory, tmp_path):
    sb = sandbox_factory(data=DataSpec(seed=31, records=500, end=END))
    run = run_tap_cli(tap_config(sb), "--test", tmp_path=tmp_path)
    assert run.exit_code == 0, run.stderr
    assert sb.stats.requests["domain"] == 1
    assert 1 <= sb.stats.requests["audit"] <= 2
    # A passing test logs no ERROR, and says what it checked: the host, the credentials,
    # the page, and which streams got their one record.
    assert "| ERROR" not in run.stderr, run.stderr
    said = next(line for line in run.stderr.splitlines() if "Connection test passed" in line)
    assert sb.host_port in said
    assert "app_key" in said
    assert "audit_trail" in said
    records = [line for line in run.stdout.splitlines() if '"type":"RECORD"' in line]
    streams = {json.loads(line)["stream"] for line in records}
    assert "audit_trail" in streams
    assert len(streams) >= 10  # a page of 500 holds changes of most elements
    assert len(records) == len(streams)  # one record a stream


def test_stream_maps_and_flattening_apply(sandbox_factory, tmp_path):
    sb = sandbox_factory(data=DataSpec(seed=32, records=300, end=END))
    config = tap_config(
        sb,
        stream_maps={
            "audit_trail": {"oldValue": "__NULL__", "changed_by": "originatorLoginName"},
            "__else__": "__NULL__",
        },
        flattening_enabled=True,
        flattening_max_depth=1,
    )
    run = run_tap_cli(config, tmp_path=tmp_path)
    assert run.exit_code == 0, run.stderr
    assert set(run.records) == {"audit_trail"}
    rows = run.records["audit_trail"]
    assert len(rows) == len(sb.ground_truth())
    assert all("oldValue" not in r and "changed_by" in r for r in rows)


RUN_AND_EXIT = """
import atexit, sys
from tap_lp_audittrail.cli import run_and_exit
atexit.register(lambda: print("atexit ran", file=sys.stderr))
def command():
    sys.stdout.write("x" * 1000)  # stays in stdout's buffer: only the exit flushes it
    {end}
run_and_exit(command)
"""
#: Buffered stdout, as the tap's is when it writes into a pipe.
BUFFERED = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


@pytest.mark.parametrize(
    ("end", "status", "said"),
    [("pass", 0, ""), ("sys.exit(3)", 3, ""), ("sys.exit('why it stopped')", 1, "why it stopped")],
)
def test_the_fast_exit_keeps_the_status_the_output_and_the_atexit_functions(end, status, said):
    code = RUN_AND_EXIT.format(end=end)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=BUFFERED
    )
    assert proc.returncode == status, proc.stderr
    assert proc.stdout == "x" * 1000
    assert proc.stderr.splitlines() == [*([said] if said else []), "atexit ran"]


def test_the_fast_exit_ends_by_sigpipe_when_nobody_reads_its_output():
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads: the exit's flush fails
    try:
        proc = subprocess.run(
            [sys.executable, "-c", RUN_AND_EXIT.format(end="pass")],
            stdout=write_end,
            stderr=subprocess.PIPE,
            check=False,
            env=BUFFERED,
        )
    finally:
        os.close(write_end)
    # As a shell's own commands end there (`yes | head`): status 141 in a shell, no message.
    assert proc.returncode == -signal.SIGPIPE, proc.stderr
    assert proc.stderr == b"atexit ran\n"


def test_under_a_profiler_the_exit_is_pythons_own_so_the_profile_is_written(tmp_path):
    (tmp_path / "run.py").write_text(RUN_AND_EXIT.format(end="pass"))
    profile = tmp_path / "run.prof"
    command = [sys.executable, "-m", "cProfile", "-o", str(profile), str(tmp_path / "run.py")]
    proc = subprocess.run(command, capture_output=True, text=True, check=False, env=BUFFERED)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("x" * 1000)  # then the profiler's own lines
    assert profile.stat().st_size > 0
