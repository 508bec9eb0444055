"""Write the settings table of README.md from `tap-lp-audittrail --about --format=markdown`.

.venv/bin/python scripts/readme_settings.py          # rewrite README.md
.venv/bin/python scripts/readme_settings.py --check  # exit 1 if README.md is stale
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
START = "<!-- SETTINGS TABLE: generated from `tap-lp-audittrail --about --format=markdown`. -->"
END = "<!-- END SETTINGS TABLE -->"


def settings_table() -> str:
    """The Settings section of the tap's own --about output."""
    about = subprocess.run(
        [sys.executable, "-m", "tap_lp_audittrail", "--about", "--format=markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"^## Settings\n\n(.*?)(?=^## |\Z)", about, re.S | re.M)
    if not match:
        raise SystemExit("--about printed no Settings section")
    return match.group(1).strip()


def render(readme: str, table: str) -> str:
    """README text with the table between the markers."""
    before, rest = readme.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n\n{table}\n\n{END}{after}"


def main() -> int:
    readme = README.read_text()
    updated = render(readme, settings_table())
    if "--check" in sys.argv:
        if updated != readme:
            print("README.md's settings table is stale: run scripts/readme_settings.py")
            return 1
        return 0
    README.write_text(updated)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
