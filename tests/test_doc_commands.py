"""Every shell command of README.md and docs/*.md is run by a test, or marked and checked.

The convention (docs/testing.md): a command in a ```sh block is run as written against the
sandbox — by tests/e2e/test_doc_commands.py, or by the test an HTML comment right before the
block names — unless a comment marks it `# needs a real ...` (a LivePerson account, a
warehouse) or `# takes minutes`. Marked commands, and every other command too, are checked
here against the `--help` of the tap's own programs and the scripts, and their variables
against the settings they set; tests/e2e/test_doc_commands.py checks the `meltano` commands
against the pinned Meltano's `--help`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from tap_lp_audittrail.tap import settings_schema

from .commands import Help, check, own_words
from .helpers import output_of
from .markdown import (
    MARKERS,
    ROOT,
    SHELL,
    assigned_variables,
    blocks,
    documented_plugins,
    inline_code,
    name,
    pages,
    program,
)
from .markdown import shell_commands as documented_commands

#: What tests/e2e/test_doc_commands.py has where it runs a block: a Meltano project of this
#: repository's meltano.yml with a sandbox's settings, the virtualenvs, and a shell.
RUNNER_PROGRAMS = {
    "meltano",
    ".venv-meltano/bin/meltano",
    "tap-lp-audittrail",
    ".venv/bin/tap-lp-audittrail",
    "tap-lp-audittrail-sandbox",
    ".venv/bin/tap-lp-audittrail-sandbox",
    "source-lp-audittrail",
    ".venv/bin/source-lp-audittrail",
    *("cat", "cd", "cp", "echo", "export", "grep", "head", "ls", "mkdir", "sed", "tail", "wc"),
}
#: The tap's programs, each as its own `--help` calls it.
PROGRAMS = {
    "tap-lp-audittrail": "tap_lp_audittrail",
    "tap-lp-audittrail-sandbox": "tap_lp_audittrail.sandbox.cli",
    "source-lp-audittrail": "tap_lp_audittrail.airbyte",
}
#: Options whose value may be left out (the SDK's `--test` is `--test` or `--test=schema`).
OPTIONAL_VALUES = {"--test"}


def test_every_shell_block_of_the_docs_is_valid_bash():
    for page in pages():
        for block in blocks(page, *SHELL):
            parsed = subprocess.run(
                ["bash", "-n"], input=block.body, capture_output=True, text=True, check=False
            )
            assert parsed.returncode == 0, f"{block.where}: {parsed.stderr}"


def test_the_docs_have_shell_blocks_of_each_kind():
    """What the convention rests on: blocks run as written, claimed ones, marked ones."""
    found = documented_commands()
    assert any(c.run and not c.block.claim for c in found)
    assert any(c.run and c.block.claim for c in found)
    assert {m for c in found if c.marker for m in MARKERS if c.marker.startswith(m)} == set(MARKERS)


def test_a_command_no_test_can_run_is_marked():
    """Unmarked commands of unclaimed blocks are run by tests/e2e/test_doc_commands.py: each
    must be one its project has the programs for."""
    for command in documented_commands():
        if not command.run or command.block.claim:
            continue
        _, words = program(command.words)
        assert words[0] in RUNNER_PROGRAMS, (
            f"{command.where}: `{command.plain}` is run by tests/e2e/test_doc_commands.py, "
            f"which has no {words[0]}: mark it (# needs a real ... / # takes minutes) or run "
            "it in a test of its own, named in an HTML comment before the block"
        )


def test_a_comment_that_looks_like_a_marker_is_one():
    for command in documented_commands():
        for line in command.block.body.splitlines():
            comment = line[line.index("#") :].lstrip("# ").lower() if "#" in line else ""
            if re.search(r"\bneeds\b.*\breal\b|\breal liveperson\b|\bminutes\b", comment):
                assert comment.startswith(MARKERS), f"{command.block.where}: {line!r}"


def test_a_block_claimed_by_a_test_is_read_by_that_test():
    claims = {c.block.claim for c in documented_commands() if c.block.claim}
    assert claims
    for claim in claims:
        key, _, rest = claim.removeprefix("<!--").partition(":")
        (path,) = re.findall(r"tests/\S+\.py", rest)
        source = (ROOT / path).read_text()
        assert f"<!-- {key.strip()}:" in source, f"{path} does not read the block of {claim}"


# --------------------------------------------------------------------------- checked by --help


@cache
def help_of(program_name: str) -> Help:
    return Help.parse(output_of(PROGRAMS[program_name], "--help"))


@cache
def help_of_script(script: Path) -> Help:
    out = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, check=True
    ).stdout
    return Help.parse(out)


def source_lp_audittrail_tree() -> dict[str, Help]:
    root = help_of("source-lp-audittrail")
    tree = {"source-lp-audittrail": root}
    for sub in root.subcommands:
        out = output_of(PROGRAMS["source-lp-audittrail"], sub, "--help")
        tree[f"source-lp-audittrail {sub}"] = Help.parse(out)
    return tree


def problems_of(words: list[str], *, complete: bool) -> list[str]:
    """What is wrong with a command of the tap's programs, the scripts, or the test runner."""
    words = own_words(words)
    first = words[0]
    base = first.removeprefix(".venv/bin/")
    if base in ("tap-lp-audittrail", "tap-lp-audittrail-sandbox"):
        tree = {base: help_of(base)}
        return check(words, tree, base, optional_values=OPTIONAL_VALUES, complete=complete)
    if base == "source-lp-audittrail":
        return check(words, source_lp_audittrail_tree(), base, complete=complete)
    if first.startswith("scripts/"):
        script = ROOT / first
        if not (script.is_file() and os.access(script, os.X_OK)):
            return [f"{first} is not an executable script"]
        python = script.with_suffix(".py")
        if python.is_file() and script.suffix != ".py":  # scripts/demo runs scripts/demo.py
            return check(words, {"s": help_of_script(python)}, "s", complete=complete)
        return []
    if first in (".venv/bin/python", "python"):
        if words[1:2] == ["-m"]:
            module = ROOT / (words[2].replace(".", "/") + ".py")
            return [] if module.is_file() else [f"no module {words[2]}"]
        script = ROOT / words[1]
        if not script.is_file():
            return [f"no script {words[1]}"]
        return check(words[1:], {"s": help_of_script(script)}, "s", complete=complete)
    if base == "pytest":
        paths = [w for w in words[1:] if w.startswith("tests/")]
        return [f"no test file {p}" for p in paths if not (ROOT / p.split("::")[0]).exists()]
    return []


def test_the_taps_programs_and_scripts_are_called_as_their_help_says():
    checked = 0
    for command in documented_commands():
        _, words = program(command.words)
        problems = problems_of(words, complete=True)
        assert not problems, f"{command.where}: `{command.plain}`: {problems}"
        checked += 1
    for page in pages():
        for span in inline_code(page):
            words = span.split()
            if len(words) > 1 and re.match(
                r"^(\.venv/bin/)?(tap-lp-audittrail|source-lp-audittrail)|^scripts/", words[0]
            ):
                problems = problems_of(program(words)[1], complete=False)
                assert not problems, f"{name(page)}: `{span}`: {problems}"
                checked += 1
    assert checked > 30


def test_a_wrong_option_or_a_missing_script_is_caught():
    """The checks above can fail."""
    assert problems_of(["tap-lp-audittrail", "--configg", "c.json"], complete=True)
    assert problems_of(["tap-lp-audittrail", "--state"], complete=True)
    assert not problems_of(["tap-lp-audittrail", "--config", "ENV", "--test"], complete=True)
    assert problems_of(["tap-lp-audittrail-sandbox", "--write-envv", ".env"], complete=True)
    assert problems_of(["scripts/demo", "--resett"], complete=True)
    assert problems_of(["scripts/nothing"], complete=True)
    assert problems_of([".venv/bin/pytest", "tests/test_nothing.py"], complete=True)


# --------------------------------------------------------------------------- variables


def meltano_yml() -> dict:
    return yaml.safe_load((ROOT / "meltano.yml").read_text())


def plugin_variables() -> set[str]:
    """The variables Meltano maps to the settings of meltano.yml's plugins (and the docs')."""
    names = set()
    declared = {
        p["name"]: [s["name"] for s in p.get("settings", [])]
        for kind in ("extractors", "loaders")
        for p in meltano_yml()["plugins"][kind]
    }
    declared["tap-lp-audittrail"] = list(settings_schema()["properties"])
    plugins = {name: name for name in declared} | documented_plugins()
    for plugin, parent in plugins.items():
        prefix = plugin.replace("-", "_").upper()
        names |= {f"{prefix}_{setting.upper()}" for setting in declared[parent]}
    return names


def read_by_the_code(variable: str) -> bool:
    """Whether the tap, a script or a test reads `variable` from the environment."""
    code = [
        *ROOT.glob("tap_lp_audittrail/**/*.py"),
        *ROOT.glob("scripts/*"),
        *ROOT.glob("tests/**/*.py"),
    ]
    reads = re.compile(rf"""(environ\.get\(|environ\[|getenv\()["']{re.escape(variable)}["']""")
    return any(reads.search(path.read_text(errors="replace")) for path in code if path.is_file())


def test_every_variable_the_docs_set_is_a_setting_or_read_by_the_code():
    known = plugin_variables()
    seen = 0
    for command in documented_commands():
        for variable in assigned_variables(command):
            seen += 1
            if variable.startswith("MELTANO_"):
                continue  # Meltano's own settings: tests/e2e/test_doc_commands.py
            assert variable in known or read_by_the_code(variable), (
                f"{command.where}: {variable} is no setting of meltano.yml's plugins"
            )
    assert seen > 10


def test_a_variable_of_no_setting_is_caught():
    known = plugin_variables()
    assert "TARGET_SNOWFLAKE_PRIVATE_KEY_PATH" in known
    assert "TAP_LP_AUDITTRAIL__PSEUDONYMISED_STREAM_MAP_CONFIG" in known
    assert "TAP_LP_AUDITTRAIL_APP_KEYS" not in known
    assert not read_by_the_code("TAP_LP_AUDITTRAIL_APP_KEYS")


@pytest.mark.parametrize("marker", MARKERS)
def test_the_markers_are_what_docs_testing_md_says(marker):
    assert f"# {marker}" in (ROOT / "docs" / "testing.md").read_text()
