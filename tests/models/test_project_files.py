"""The dbt project's files: what dbt writes beside them stays out of git, and the tests' dbt is
the one meltano.yml installs."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from .conftest import REPO


@pytest.mark.parametrize(
    "written",
    [
        "transform/profiles/postgres/.user.yml",
        "transform/profiles/duckdb/.user.yml",
        "transform/profiles/snowflake/.user.yml",
        "transform/.user.yml",
        "transform/target/manifest.json",
        "transform/logs/dbt.log",
    ],
)
def test_what_dbt_writes_beside_the_project_is_ignored_by_git(written):
    proc = subprocess.run(
        ["git", "check-ignore", "--no-index", written],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"{written} is not ignored"


def test_the_tests_dbt_is_the_one_meltano_yml_installs():
    transformers = yaml.safe_load((REPO / "meltano.yml").read_text())["plugins"]["transformers"]
    pinned = {pin for t in transformers for pin in t["pip_url"].split()}
    script = (REPO / "scripts" / "test").read_text()
    (tests_pins,) = re.findall(r"^DBT_PINS=\((.*)\)$", script, re.M)
    assert set(tests_pins.split()) <= pinned
    assert {"dbt-core==1.10.23", "dbt-duckdb==1.10.1", "dbt-postgres==1.10.2"} <= set(
        tests_pins.split()
    )
