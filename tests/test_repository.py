"""What the repository keeps out of git: secrets, Meltano's state, loaded output, virtualenvs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

IGNORED = (
    ".env",  # `meltano config set` writes secrets here
    ".env.local",
    ".meltano/",
    ".meltano/meltano.db",
    "output/",
    "output/sandbox/audit_trail/20260101T000000.csv",
    ".venv/",
    ".venv-meltano/",
    "venv/",
    "mutants/",  # scripts/mutation's working copy
)
KEPT = ("meltano.yml", "README.md", ".env.example", "plugins/extractors/x.yml", "tests/x.py")


def check_ignore(*paths: str) -> set[str]:
    """The paths git would ignore here, as git itself decides."""
    proc = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        cwd=ROOT,
        input="\n".join(paths),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return set(proc.stdout.split())


@pytest.fixture(scope="module", autouse=True)
def _a_git_checkout() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")


def test_secrets_state_output_and_virtualenvs_are_ignored():
    ignored = check_ignore(*IGNORED)
    assert ignored == set(IGNORED), f"not ignored: {sorted(set(IGNORED) - ignored)}"


def test_the_project_files_are_not_ignored():
    assert check_ignore(*KEPT) == set()
