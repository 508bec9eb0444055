"""`scripts/demo` as README.md's "Two commands" has it, run as written in a clone of this
repository: a first run, an incremental one, `--reset`; then the steps it ends with, which take
a user to a real account, given the values of a sandbox instead.

The clone holds the repository's files (tracked and not ignored), and links `.venv` and
`.venv-meltano` to the ones the tests run with, marked installed (`.demo/installed`) so the
demo does not install the tap again into the linked `.venv`. Its Meltano plugins are its own:
the demo installs them, as from a fresh clone.
"""

from __future__ import annotations

import csv
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from tap_lp_audittrail.sandbox import DataSpec, Sandbox

from ..markdown import block_after, commands
from .conftest import REPO, clean_env

DEMO = block_after("<!-- the demo:", "sh")
REAL_ACCOUNT = block_after("## Configuring a real account", "sh")


def clone_of_the_repository(into: Path, meltano_bin: str) -> Path:
    """The repository's files at `into`, with the test run's virtualenvs linked in."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for relative in filter(None, listed.split("\0")):
        source = REPO / relative
        if source.is_file():
            (into / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / relative)
    (into / ".venv").symlink_to(Path(sys.executable).parents[1])
    (into / ".venv-meltano").symlink_to(Path(meltano_bin).parents[1])
    (into / ".demo").mkdir()
    installed = into / ".demo" / "installed"
    installed.touch()
    later = time.time() + 86_400  # newer than pyproject.toml, whatever its copy's time
    os.utime(installed, (later, later))
    return into


def run(
    clone: Path, script: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=clone,
        env=clean_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def closing_commands(output: str) -> list[str]:
    """The commands the demo's last lines print (indented, after the numbered steps)."""
    ending = output[output.index("Your own LivePerson account") :]
    return [line.strip() for line in ending.splitlines() if line.startswith("       ")]


def pinned_meltano_version() -> str:
    """The Meltano version scripts/demo installs (and otherwise would install again)."""
    found = re.search(r'^MELTANO_VERSION="([^"]+)"', (REPO / "scripts" / "demo").read_text(), re.M)
    assert found
    return found.group(1)


@pytest.fixture(scope="module")
def clone(meltano_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("the clone is made from a git checkout")
    version = subprocess.run(
        [meltano_bin, "--version"], capture_output=True, text=True, check=True, env=clean_env()
    ).stdout
    if not version.strip().endswith(f"version {pinned_meltano_version()}"):
        # The demo would install its Meltano into the linked virtualenv.
        pytest.skip(
            f"the demo needs Meltano {pinned_meltano_version()}; {meltano_bin} is {version}"
        )
    return clone_of_the_repository(tmp_path_factory.mktemp("clone"), meltano_bin)


def test_the_demo_runs_twice_incrementally_ends_with_the_readme_steps_and_resets(clone):
    first = run(clone, DEMO.body)
    assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
    assert "first run: the whole history" in first.stdout
    assert re.search(r"audit_trail holds 5000 distinct changes; .* 5000: matches\.", first.stdout)
    readme = [command.plain for command in commands(REAL_ACCOUNT)]
    assert closing_commands(first.stdout) == readme, "the demo ends with README's steps"
    assert first.stdout.rstrip().endswith(readme[-1])

    second = run(clone, DEMO.body)
    assert second.returncode == 0, (second.stdout + second.stderr)[-4000:]
    assert "Since the previous run, 25 changes were made to the account." in second.stdout
    assert re.search(r"audit_trail holds 5025 distinct changes; .* 5025: matches\.", second.stdout)
    assert re.search(r"^audit_trail +\d+ +25 +5025$", second.stdout, re.M), second.stdout

    reset = run(clone, f"{DEMO.body.strip()} --reset")
    assert reset.returncode == 0, (reset.stdout + reset.stderr)[-4000:]
    assert not (clone / "output" / "sandbox").exists()
    assert not (clone / ".demo" / "world.json").exists()


def test_the_steps_to_a_real_account_work_with_a_sandboxs_values(clone):
    """Each `config set` given the sandbox's value; the Domain API URL is the one difference."""
    with Sandbox(data=DataSpec(seed=7, records=300, span_days=30)) as sb:
        values = sb.credentials.as_dict()
        outputs = []
        for command in commands(REAL_ACCOUNT):
            words = command.words
            if words[1:3] == ["config", "set"]:
                words[-1] = values[words[-2]]
            result = run(clone, shlex.join(words), env={"TAP_LP_AUDITTRAIL_DOMAIN_API_URL": sb.url})
            assert result.returncode == 0, (command.plain, (result.stdout + result.stderr)[-3000:])
            outputs.append(result.stdout + result.stderr)
        truth = len(sb.ground_truth())
    assert "Plugin configuration is valid" in outputs[-2]
    env_file = (clone / ".env").read_text()
    for setting in ("APP_KEY", "APP_SECRET", "ACCESS_TOKEN", "ACCESS_TOKEN_SECRET"):
        assert f"TAP_LP_AUDITTRAIL_{setting}=" in env_file
    tap = next(
        p
        for p in yaml.safe_load((clone / "meltano.yml").read_text())["plugins"]["extractors"]
        if p["name"] == "tap-lp-audittrail"
    )
    assert str(tap["config"]["account_id"]) == sb.account_id
    (written,) = (clone / "output" / "dev" / "audit_trail").glob("*.csv")
    with written.open(encoding="utf-8", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == truth
