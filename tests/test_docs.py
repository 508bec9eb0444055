"""README.md and docs/ say what the tap says about itself, and every link in them leads
somewhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

from tap_lp_audittrail.streams import ELEMENTS

from .markdown import ROOT, anchor, anchors, links, name, pages, text


def test_the_settings_page_table_is_the_taps_own():
    check = subprocess.run(
        [sys.executable, "scripts/settings_table.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_streams_page_names_every_stream():
    page = text(ROOT / "docs" / "streams.md")
    for element in ELEMENTS:
        assert f"`{element.stream}`" in page
    assert "`audit_trail`" in page


def broken_links(page: Path) -> list[str]:
    """The page's relative links whose file, or heading, does not exist."""
    broken = []
    for target in links(page):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, fragment = target.partition("#")
        file = (page.parent / unquote(path)).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif fragment and (file.suffix != ".md" or fragment not in anchors(file)):
            broken.append(f"{target}: no heading #{fragment} in {file.name}")
    return broken


def test_every_relative_link_points_at_an_existing_file_and_heading():
    broken = {name(page): broken_links(page) for page in pages()}
    assert not {page: found for page, found in broken.items() if found}, broken
    assert sum(len(links(page)) for page in pages()) > 50


def test_anchors_are_made_as_github_makes_them():
    assert anchor('What "incremental" guarantees') == "what-incremental-guarantees"
    assert anchor("Loading into PostgreSQL, Snowflake, BigQuery") == (
        "loading-into-postgresql-snowflake-bigquery"
    )
    assert anchor("Each change once, under a stable `id`") == "each-change-once-under-a-stable-id"
    assert anchor("1. Faults x readings (`tests/test_faults.py`)") == (
        "1-faults-x-readings-teststest_faultspy"
    )
