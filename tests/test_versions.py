"""The versions agree: the one the CHANGELOG's top entry names is the package's (at its tag, or
a dev version before it between tags), metadata.yaml's `dockerImageTag`, the image label's
default in the Dockerfile, and every image tag in docs/airbyte.md's commands. No image is built.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess

import pytest
import yaml
from packaging.version import Version

from .markdown import ROOT

SEMVER = r"\d+\.\d+\.\d+"


def changelog_version(text: str | None = None) -> tuple[str, bool]:
    """The version of the CHANGELOG's top entry, and whether it is still to be released.

    `## [Unreleased]` says the version it becomes (`this heading becomes `## [X.Y.Z] - <date>``);
    one that says none (just after a release) stands for the newest release below it.
    """
    text = (ROOT / "CHANGELOG.md").read_text() if text is None else text
    entries = re.findall(r"^## \[([^\]]+)\](.*?)(?=^## |\Z)", text, re.M | re.S)
    assert entries, "CHANGELOG.md has no entry"
    if entries[0][0] == "Unreleased":
        named = re.search(rf"this heading becomes `## \[({SEMVER})\] - <date>`", entries[0][1])
        if named:
            return named.group(1), True
        entries = entries[1:]
    assert entries, "CHANGELOG.md: [Unreleased] must say the version it becomes"
    return entries[0][0], False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("## [Unreleased]\n\nat release, this heading becomes `## [0.2.0] - <date>`.\n\n"
         "## [0.1.0] - 2026-12-01\n", ("0.2.0", True)),
        ("## [Unreleased]\n\n## [0.1.0] - 2026-12-01\n\n### Added\n", ("0.1.0", False)),
        ("## [0.3.1] - 2027-01-02\n", ("0.3.1", False)),
    ],
)  # fmt: skip
def test_the_changelogs_version_is_the_one_unreleased_names_else_the_last_release(text, expected):
    assert changelog_version(f"# Changelog\n\n{text}") == expected


def test_metadata_dockerfile_and_docs_name_the_changelogs_version():
    version, _ = changelog_version()
    metadata = yaml.safe_load((ROOT / "metadata.yaml").read_text())
    assert metadata["data"]["dockerImageTag"] == version
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.findall(r"^ARG VERSION=(.*)$", dockerfile, re.M) == [version]
    assert "io.airbyte.version=${VERSION}" in dockerfile
    docs = (ROOT / "docs" / "airbyte.md").read_text()
    tags = re.findall(rf"source-lp-audittrail:({SEMVER})", docs)
    assert tags, "docs/airbyte.md names no image tag"
    assert set(tags) == {version}, tags
    # The form's "Docker image tag" row names it too.
    assert re.search(rf"^\| Docker image tag \| the tag you pushed: `{version}`", docs, re.M)


def test_the_package_is_the_changelogs_version_or_a_dev_version_on_the_way():
    named, upcoming = changelog_version()
    version = Version(named)
    installed = Version(importlib.metadata.version("tap-lp-audittrail"))
    if installed != version:
        assert installed.is_devrelease, installed
        # Before the release the CHANGELOG names, or after the last one when it names none.
        assert (installed < version) if upcoming else (installed > version), (installed, named)
    git = subprocess.run(
        ["git", "tag", "--points-at", "HEAD", "--list", "v[0-9]*"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    tags = [Version(tag[1:]) for tag in git.stdout.split()]
    if tags:  # a release: its tag is the CHANGELOG's version
        assert tags == [version], tags
    released = subprocess.run(
        ["git", "tag", "--list", "v[0-9]*"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    # Every release before: older than the CHANGELOG's version (or it).
    assert all(Version(tag[1:]) <= version for tag in released), released
