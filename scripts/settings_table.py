"""Write the settings table of docs/settings.md from `tap-lp-audittrail --about --format=markdown`.

.venv/bin/python scripts/settings_table.py          # rewrite docs/settings.md
.venv/bin/python scripts/settings_table.py --check  # exit 1 if docs/settings.md is stale
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "docs" / "settings.md"
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


def render(page: str, table: str) -> str:
    """The page's text with the table between the markers."""
    before, rest = page.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n\n{table}\n\n{END}{after}"


def main() -> int:
    page = PAGE.read_text()
    updated = render(page, settings_table())
    if "--check" in sys.argv:
        if updated != page:
            print("docs/settings.md's settings table is stale: run scripts/settings_table.py")
            return 1
        return 0
    PAGE.write_text(updated)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
