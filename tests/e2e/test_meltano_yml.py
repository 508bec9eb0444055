"""meltano.yml is kept in Meltano's own order: `meltano config set` changes only what it sets.

meltano.yml is tracked, and users set their account with `meltano config set`: a file in any
other order is rewritten whole by the first such command, a diff of unrelated lines.
"""

from __future__ import annotations

import difflib
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import REPO, clean_env

#: (plugin, setting, value) -> the lines `meltano config set` may add or change.
SETS = [
    ("tap-lp-audittrail", "account_id", "9999", ["    config:", "      account_id: '9999'"]),
    ("target-postgres", "host", "db.example.com", ["      host: db.example.com"]),
    ("tap-lp-audittrail", "page_size", "250", ["    config:", "      page_size: 250"]),
]


@pytest.mark.parametrize(("plugin", "setting", "value", "lines"), SETS)
def test_meltano_config_set_changes_only_the_lines_it_sets(
    meltano_bin, tmp_path, plugin, setting, value, lines
):
    shutil.copy(REPO / "meltano.yml", tmp_path / "meltano.yml")
    before = (tmp_path / "meltano.yml").read_text().splitlines()
    proc = subprocess.run(
        [meltano_bin, "config", "set", plugin, setting, value],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    after = Path(tmp_path / "meltano.yml").read_text().splitlines()
    diff = [
        line
        for line in difflib.unified_diff(before, after, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    added = [line[1:] for line in diff if line.startswith("+")]
    removed = [line[1:] for line in diff if line.startswith("-")]
    assert added == lines, diff
    assert len(removed) <= 1, diff  # at most the line whose value it replaces
