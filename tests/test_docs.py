"""README.md says what the tap says about itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tap_lp_audittrail.streams import ELEMENTS

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_settings_table_is_the_taps_own():
    check = subprocess.run(
        [sys.executable, "scripts/readme_settings.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_readme_names_every_stream():
    readme = (ROOT / "README.md").read_text()
    for element in ELEMENTS:
        assert f"`{element.stream}`" in readme
    assert "`audit_trail`" in readme
