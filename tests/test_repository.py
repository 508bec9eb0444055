"""What the repository keeps out of git: secrets, Meltano's state, loaded output, virtualenvs."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
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
    ".venv-airbyte",  # a link to another clone's virtualenv is ignored as well as a folder
    "venv/",
    "mutants/",  # scripts/mutation's working copy
)
KEPT = ("meltano.yml", "README.md", ".env.example", "plugins/extractors/x.yml", "tests/x.py")


def check_ignore(*paths: str) -> set[str]:
    """The paths git would ignore by this repository's .gitignore, as git itself decides.

    Asked in an empty repository holding only that file: in a checkout, git refuses to look
    past a folder that is a symbolic link (as `.venv-meltano` may be).
    """
    with tempfile.TemporaryDirectory() as empty:
        subprocess.run(["git", "init", "-q", empty], check=True)
        shutil.copy(ROOT / ".gitignore", Path(empty) / ".gitignore")
        proc = subprocess.run(
            ["git", "check-ignore", "--no-index", "--stdin"],
            cwd=empty,
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
