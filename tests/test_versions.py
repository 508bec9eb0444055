"""The versions agree: the one the CHANGELOG's top entry names is the package's (at its tag, or
a dev version before it between tags), metadata.yaml's `dockerImageTag`, the image label's
default in the Dockerfile, and every image tag in docs/airbyte.md's commands. No image is built.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess

import yaml
from packaging.version import Version

from .markdown import ROOT

SEMVER = r"\d+\.\d+\.\d+"


def changelog_version() -> str:
    """The version of the CHANGELOG's top entry: `## [X.Y.Z] - date`, or the one `## [Unreleased]`
    says it becomes."""
    text = (ROOT / "CHANGELOG.md").read_text()
    top = re.search(r"^## \[([^\]]+)\].*?(?=^## |\Z)", text, re.M | re.S)
    assert top, "CHANGELOG.md has no entry"
    if top.group(1) != "Unreleased":
        return top.group(1)
    named = re.search(rf"this heading becomes `## \[({SEMVER})\] - <date>`", top.group(0))
    assert named, "CHANGELOG.md: [Unreleased] must say the version it becomes"
    return named.group(1)


def test_metadata_dockerfile_and_docs_name_the_changelogs_version():
    version = changelog_version()
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


def test_the_package_is_the_changelogs_version_or_a_dev_version_before_it():
    version = Version(changelog_version())
    installed = Version(importlib.metadata.version("tap-lp-audittrail"))
    assert installed == version or (installed.is_devrelease and installed < version), installed
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
