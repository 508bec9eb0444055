"""Stopped by a scheduler or a person: SIGTERM and SIGINT at many points of a real run.

Every stream is selected and the sandbox answers slowly, so the signal lands while pages are
on their way and records are being written. Each time: every stdout line is whole JSON, the
last message is a STATE, the exit code is 128 + the signal's number, and a run from that
STATE emits exactly what the stopped run had not: nothing lost, nothing twice, per stream.
A second signal ends the process at once, even while stdout is blocked.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tap_lp_audittrail.sandbox import DataSpec

from ._reliability import tap_command
from .helpers import END, assert_same_records, tap_config
from .test_read import truth_for

#: (signal, RECORD lines seen before it is sent); 0: during start-up, before any record.
POINTS = [
    (signal.SIGTERM, 0),
    (signal.SIGINT, 1),
    (signal.SIGTERM, 300),
    (signal.SIGINT, 1_100),
    (signal.SIGTERM, 2_300),
    (signal.SIGINT, 3_700),
]


def _wait_until_caught(pid: int, signum: int, timeout: float = 60) -> None:
    """Wait until process `pid` has a handler of its own for `signum` (Linux's SigCgt)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        caught = int(
            next(line for line in status.splitlines() if line.startswith("SigCgt:"))[7:], 16
        )
        if caught >> (signum - 1) & 1:
            return
        time.sleep(0.005)
    raise AssertionError(f"the process never took signal {signum} over")


def _run_until(command: list[str], signum: int, after_records: int) -> tuple[bytes, int, str]:
    """Run `command`, send `signum` once it has written `after_records` RECORD lines."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stderr is not None
    out = bytearray()
    records = 0
    sent = threading.Event()
    err: list[bytes] = []
    stderr = proc.stderr
    reader = threading.Thread(target=lambda: err.append(stderr.read()), daemon=True)
    reader.start()
    if after_records == 0:
        # As soon as the tap takes the signal over (its first step; before, the signal is the
        # interpreter's, and ends the process as the default handler does): no request yet.
        _wait_until_caught(proc.pid, signum)
        proc.send_signal(signum)
        sent.set()
    while True:
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        out += chunk
        if not sent.is_set():
            records += chunk.count(b'{"type":"RECORD"')
            if records >= after_records:
                proc.send_signal(signum)
                sent.set()
    code = proc.wait(timeout=60)
    reader.join(timeout=10)
    proc.stdout.close()
    proc.stderr.close()
    return bytes(out), code, b"".join(err).decode()


def _lines(out: bytes) -> list[dict]:
    assert out == b"" or out.endswith(b"\n"), f"stdout ends inside a line: {out[-200:]!r}"
    return [json.loads(line) for line in out.splitlines()]


@pytest.fixture(scope="module")
def slow_sandbox():
    from tap_lp_audittrail.sandbox import Sandbox

    sb = Sandbox(data=DataSpec(seed=43, records=3_000, end=END), latency=0.02, seed=43)
    sb.start()
    yield sb
    sb.stop()


@pytest.mark.parametrize(("signum", "after"), POINTS, ids=[f"{s.name}@{n}" for s, n in POINTS])
def test_a_signal_ends_the_run_with_whole_lines_a_covering_state_and_128_plus_its_number(
    slow_sandbox, tmp_path, signum, after
):
    sb = slow_sandbox
    config = tap_config(sb, page_size=50, window_days=15, max_concurrency=4)
    stopped_out, code, stderr = _run_until(
        tap_command(tmp_path / "stopped", config, None, None), signum, after
    )
    messages = _lines(stopped_out)
    assert code == 128 + signum, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert " ERROR " not in stderr, stderr[-3000:]
    first: dict[str, dict[str, dict]] = {}
    for message in messages:
        if message["type"] == "RECORD":
            first.setdefault(message["stream"], {})[message["record"]["id"]] = message["record"]
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    if after:
        assert first, "the signal came after records were written"
        assert messages[-1]["type"] == "STATE", "the last message is the STATE covering them"
        assert sum(len(v) for v in first.values()) < 2 * 3_000, "it stopped before the end"
    state = states[-1] if states else None
    resumed = subprocess.run(
        tap_command(tmp_path / "resumed", config, state, None),
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr.decode()[-3000:]
    truth = truth_for(sb)
    streams: set[str] = set(first)
    second: dict[str, dict[str, dict]] = {}
    for message in _lines(resumed.stdout):
        if message["type"] == "RECORD":
            streams.add(message["stream"])
            second.setdefault(message["stream"], {})[message["record"]["id"]] = message["record"]
    for name in streams:
        before, after_ = first.get(name, {}), second.get(name, {})
        twice = before.keys() & after_.keys()
        assert not twice, f"{name}: {len(twice)} records emitted again after the resume"
        assert_same_records([*before.values(), *after_.values()], truth(name), what=name)


def _blocked_writing(pid: int) -> bool:
    """Whether a thread of process `pid` waits in a write to a full pipe (Linux's /proc)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            if "pipe_write" in (task / "wchan").read_text():
                return True
    return False


def test_a_second_signal_ends_the_process_at_once_even_with_stdout_blocked(sandbox_factory):
    sb = sandbox_factory(data=DataSpec(seed=44, records=4_000, end=END), latency=0.01)
    config = tap_config(sb, page_size=100, max_concurrency=2)
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"second-signal-{os.getpid()}"
    command = tap_command(folder, config, None, None)
    # Nobody reads stdout: the pipe fills and the tap blocks writing, where no check can run.
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    try:
        # Wait until the tap is blocked writing to its stdout (however long a loaded machine
        # takes to fill the pipe): from then on no check of its own can run.
        waited = time.monotonic() + 120
        while not _blocked_writing(proc.pid) and time.monotonic() < waited:
            assert proc.poll() is None
            time.sleep(0.1)
        assert _blocked_writing(proc.pid), "the tap never blocked writing its stdout"
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert proc.poll() is None, "the first signal waits for the line being written"
        proc.send_signal(signal.SIGINT)
        # Blocked, the tap would never end by itself: any bound proves the second signal did it.
        assert proc.wait(timeout=10) == 128 + signal.SIGINT
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_the_airbyte_entry_point_ends_with_state_and_a_trace(slow_sandbox, tmp_path):
    sb = slow_sandbox
    config = tap_config(sb, page_size=50, window_days=15, max_concurrency=4)
    (tmp_path / "config.json").write_text(json.dumps(config))
    from .airbyte.helpers import configured_catalog

    streams = ["audit_trail", "users", "skills"]
    (tmp_path / "catalog.json").write_text(json.dumps(configured_catalog(streams)))
    command = [
        sys.executable,
        "-c",
        "from tap_lp_audittrail.entry import airbyte; airbyte()",
        "read",
        "--config",
        str(tmp_path / "config.json"),
        "--catalog",
        str(tmp_path / "catalog.json"),
    ]
    out, code, _ = _run_until(command, signal.SIGTERM, 700)
    messages = _lines(out)
    assert code == 143
    kinds = [m["type"] for m in messages]
    assert "STATE" in kinds
    trace = messages[-1]
    assert trace["type"] == "TRACE"
    assert trace["trace"]["type"] == "ERROR"
    assert "SIGTERM" in trace["trace"]["error"]["message"]
    states = {
        m["state"]["stream"]["stream_descriptor"]["name"]: m["state"]["stream"]["stream_state"]
        for m in messages
        if m["type"] == "STATE"
    }
    first: dict[str, dict[str, dict]] = {}
    for m in messages:
        if m["type"] == "RECORD":
            first.setdefault(m["record"]["stream"], {})[m["record"]["data"]["id"]] = m["record"][
                "data"
            ]
    state = [
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": n}, "stream_state": s}}
        for n, s in states.items()
    ]
    (tmp_path / "state.json").write_text(json.dumps(state))
    resumed = subprocess.run(
        [*command, "--state", str(tmp_path / "state.json")],
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert resumed.returncode == 0
    second: dict[str, dict[str, dict]] = {}
    for m in _lines(resumed.stdout):
        if m["type"] == "RECORD":
            second.setdefault(m["record"]["stream"], {})[m["record"]["data"]["id"]] = m["record"][
                "data"
            ]
    truth = truth_for(sb)
    for name in streams:
        before, after = first.get(name, {}), second.get(name, {})
        assert not before.keys() & after.keys(), f"{name}: emitted again"
        assert_same_records([*before.values(), *after.values()], truth(name), what=name)


def test_a_closed_stdout_ends_the_run_quietly_with_the_shells_status(slow_sandbox, tmp_path):
    config = tap_config(slow_sandbox, page_size=50)
    command = " ".join(tap_command(tmp_path, config, None, None))
    proc = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command} | head -5 > {tmp_path / 'head.txt'}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 141, proc.stderr[-3000:]  # 128 + SIGPIPE, as `yes | head`
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "| ERROR" not in proc.stderr, proc.stderr[-3000:]
    assert len((tmp_path / "head.txt").read_text().splitlines()) == 5
