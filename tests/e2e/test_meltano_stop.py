"""What a stop keeps under Meltano (README, "What incremental guarantees"; docs/meltano.md).

A `meltano run` stopped half-way keeps no state: what the loader wrote stays, and the next run
starts over. The documented way round it, the tap alone into a file stopped by Ctrl-C half-way
and the file loaded after, keeps its place: the next `meltano run` loses and repeats nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tap_lp_audittrail.sandbox import DataSpec

from ..helpers import END, assert_same_records
from ..markdown import block_after, commands
from .conftest import MeltanoProject, clean_env

STATE_ID = "sandbox:tap-lp-audittrail-to-target-jsonl"
#: Enough changes, served slowly enough, for a run to be stopped well before its end.
DATA = DataSpec(seed=61, records=3_000, end=END, span_days=60)
SLOW = {"page_size": 100, "max_concurrency": 1, "window_days": 5}


def _env(project: MeltanoProject, meltano_bin: str) -> dict[str, str]:
    """The project's environment, with the tap's and Meltano's commands on PATH."""
    bins = [str(Path(sys.executable).parent), str(Path(meltano_bin).parent)]
    return clean_env(**project.env, PATH=os.pathsep.join([*bins, os.environ.get("PATH", "")]))


def _lines(folder: Path, pattern: str) -> list[str]:
    return [line for path in sorted(folder.glob(pattern)) for line in path.read_text().splitlines()]


def _stop_after(proc: subprocess.Popen[bytes], lines, count: int, sig: int, group: bool) -> int:
    """Send `sig` once `lines()` holds `count` lines; the exit status.

    The run must not end first: then the test would prove nothing about a stop.
    """
    deadline = time.monotonic() + 300
    while len(lines()) < count:
        assert proc.poll() is None, "the run ended before it could be stopped"
        assert time.monotonic() < deadline, "the run wrote too little in 300 s"
        time.sleep(0.05)
    if group:
        os.killpg(proc.pid, sig)  # Ctrl-C in a terminal: the whole foreground group
    else:
        proc.send_signal(sig)  # a scheduler stopping the command it started
    return proc.wait(timeout=120)


def _state(project: MeltanoProject, meltano_bin: str) -> dict:
    proc = subprocess.run(
        [meltano_bin, "--environment=sandbox", "state", "get", STATE_ID],
        cwd=project.root,
        env=_env(project, meltano_bin),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(proc.stdout)


def test_a_meltano_run_stopped_half_way_keeps_no_state(make_project, sandbox_factory, meltano_bin):
    sb = sandbox_factory(data=DATA, seed=61, latency=0.05)
    project = make_project()
    project.use_sandbox(sb, **SLOW)
    out = project.output
    proc = subprocess.Popen(
        [meltano_bin, "--environment=sandbox", "run", "--no-install", "tap-lp-audittrail",
         "target-jsonl"],
        cwd=project.root,
        env=_env(project, meltano_bin),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    status = _stop_after(
        proc, lambda: _lines(out, "audit_trail-*.jsonl"), 500, signal.SIGTERM, False
    )
    assert status != 0
    landed = len(_lines(out, "audit_trail-*.jsonl"))
    assert 500 <= landed < len(sb.ground_truth())
    assert _state(project, meltano_bin) == {}


def test_the_documented_stop_that_keeps_its_state_loses_and_repeats_nothing(
    make_project, sandbox_factory, meltano_bin
):
    sb = sandbox_factory(data=DATA, seed=61, latency=0.05)
    project = make_project()
    project.use_sandbox(sb, **SLOW)
    (project.root / "output").mkdir(exist_ok=True)
    env = _env(project, meltano_bin)
    steps = [c.source for c in commands(block_after("<!-- a stop that keeps its state:", "sh"))]
    assert len(steps) == 5
    assert steps[1].startswith("tap-lp-audittrail ")

    def shell(step: str) -> None:
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", step], cwd=project.root, env=env,
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, f"{step}\n{(proc.stdout + proc.stderr)[-3000:]}"

    shell(steps[0])
    singer = project.root / "output" / "run.singer"
    tap = subprocess.Popen(
        ["bash", "-c", steps[1]], cwd=project.root, env=env, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip

    def records() -> list[str]:
        return [ln for ln in singer.read_text().splitlines() if '"type":"RECORD"' in ln]

    status = _stop_after(
        tap, lambda: records() if singer.exists() else [], 800, signal.SIGINT, True
    )
    assert status == 130  # the tap's own exit on SIGINT, after its last STATE
    stopped = len([r for r in records() if '"stream":"audit_trail"' in r])
    assert stopped < len(sb.ground_truth()), "the tap was not stopped half-way"
    for step in steps[2:]:
        shell(step)
    assert _state(project, meltano_bin)["singer_state"]["bookmarks"]["audit_trail"]
    project.elt("target-jsonl")

    loaded = [json.loads(line) for line in _lines(project.output, "audit_trail-*.jsonl")]
    ids = [record["id"] for record in loaded]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} changes loaded twice"
    assert_same_records(loaded, sb.ground_truth(), what="stopped, loaded, then meltano run")
