"""The files the sandbox command writes hold credentials (or a capture's settings): they are
its owner's alone (0600) whatever the umask, even where a readable file was."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tap_lp_audittrail.sandbox import DataSpec, Sandbox
from tests.helpers import END, run_tap, tap_config


def _written(tmp_path: Path, *args: str, wait_for: Path) -> None:
    """Run the sandbox command under umask 0 until `wait_for` is written, then stop it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tap_lp_audittrail.sandbox.cli", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, umask=0,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("http://127.0.0.1:"), proc.stderr
        deadline = time.monotonic() + 30
        while not (wait_for.exists() and wait_for.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert wait_for.read_text(), f"{wait_for} was not written"


@pytest.mark.parametrize("option", ["--write-tap-config", "--write-env"])
def test_a_written_config_is_private_whatever_the_umask(tmp_path, option):
    path = tmp_path / "written"
    path.write_text("")
    path.chmod(0o644)  # a readable file was there
    _written(tmp_path, "--records", "10", option, str(path), wait_for=path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_replay_config_is_private_whatever_the_umask(tmp_path):
    capture = tmp_path / "capture"
    with Sandbox(data=DataSpec(seed=2, records=20, end=END, span_days=5)) as sb:
        run_tap(tap_config(sb, capture_dir=str(capture)))
    path = tmp_path / "replay.json"
    _written(tmp_path, "--replay", str(capture), "--write-tap-config", str(path), wait_for=path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
