"""docs/sandbox.md's incremental trial, run as written: a sandbox that grows, then two runs
from Meltano and two reads from the Airbyte source against it, each second one from the
first's state. The blocks are those after `<!-- a growing sandbox:`,
`<!-- a growing sandbox, from Meltano:` and `<!-- a growing sandbox, from Airbyte:`; where
a block says to wait for the sandbox's next growth line, the test waits for it."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..markdown import Block, Command, block_after, commands
from ..sandbox.helpers import SandboxProcess, assert_read_once
from .conftest import clean_env, project_from_cache

UTC = dt.timezone.utc


@dataclass
class Read:
    """One command of a block that reads the sandbox, and when."""

    started: dt.datetime
    ended: dt.datetime
    said_before: int
    """How many growths the sandbox had said when it started."""


def reads(command: Command) -> bool:
    return any(word in ("run", "read") for word in command.words)


def run_as_written(block: Block, served: SandboxProcess, cwd: Path, env: dict) -> list[Read]:
    """Each command of the block in bash, in order; before a read that follows another, the
    sandbox's next growth line (what the block's comment asks a reader to wait for)."""
    done: list[Read] = []
    for command in commands(block):
        if reads(command) and done:
            previous = done[-1].ended
            served.wait_for(lambda previous=previous: served.growths_after(previous) >= 1)
        said, started = len(served.growths), dt.datetime.now(UTC)
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command.source], cwd=cwd, env=env,
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        output = proc.stdout[-3000:] + proc.stderr[-3000:]
        assert proc.returncode == 0, f"{command.where}: `{command.plain}`\n{output}"
        assert "Traceback" not in proc.stderr, output
        if reads(command):
            done.append(Read(started, dt.datetime.now(UTC), said))
    assert len(done) == 2, f"{block.where}: two reads, not {len(done)}"
    return done


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_the_docs_incremental_trial_reads_each_grown_change_once(
    meltano_bin, plugin_cache, tmp_path
):
    project = project_from_cache(tmp_path / "project", meltano_bin, plugin_cache)
    bins = [str(Path(sys.executable).parent), str(Path(meltano_bin).parent)]
    env = clean_env(PATH=os.pathsep.join([*bins, os.environ.get("PATH", "")]))
    (start,) = commands(block_after("<!-- a growing sandbox:", "sh"))
    served = SandboxProcess(
        start.words[1:], command=["bash", "-c", f"exec {start.source}"], cwd=project.root, env=env
    )
    try:
        served.end  # noqa: B018 - waits for its first stderr line: the files are written
        meltano = run_as_written(
            block_after("<!-- a growing sandbox, from Meltano:", "sh"), served, project.root, env
        )
        airbyte = run_as_written(
            block_after("<!-- a growing sandbox, from Airbyte:", "sh"), served, project.root, env
        )
    finally:
        served.stop()
    output = project.root / "output"
    landed = sorted((output / "sandbox").glob("audit_trail-*.jsonl"))
    assert len(landed) == 2, landed
    messages = [jsonl(output / name) for name in ("first.jsonl", "second.jsonl")]
    records = [[m["record"]["data"] for m in read if m["type"] == "RECORD"] for read in messages]
    for what, (first, second), (one, other) in (
        ("meltano", meltano, [jsonl(path) for path in landed]),
        ("airbyte", airbyte, records),
    ):
        late = assert_read_once(
            served, one, other, first_started=first.started, first_ended=first.ended,
            said_before_second=second.said_before,
        )  # fmt: skip
        assert late >= 4, f"{what}: the late changes of a growth, but for a rare draw"
