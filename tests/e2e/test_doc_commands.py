"""The shell commands of README.md and docs/*.md with the pinned Meltano: the unmarked blocks
run as written against a sandbox, and every `meltano` command (marked, run, or in the prose)
checked against Meltano 4.4.1's `--help`. The convention: docs/testing.md, "Commands in the
docs"; the checks that need no Meltano: tests/test_doc_commands.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tap_lp_audittrail.sandbox import DataSpec, Sandbox
from tap_lp_audittrail.sandbox.cli import tap_config

from ..commands import Help, check, own_words
from ..markdown import (
    SHELL,
    Block,
    assigned_variables,
    blocks,
    commands,
    documented_plugins,
    inline_code,
    name,
    pages,
    program,
    shell_commands,
)
from .conftest import REPO, MeltanoProject, clean_env, project_from_cache

#: Prints, as JSON, the help text of every command of the meltano CLI (what `meltano ... --help`
#: prints, from Meltano's own click commands, in one process), and the variables of Meltano's
#: own settings.
DUMP = r"""
import importlib.resources, json, sys
import click, yaml
from meltano.cli import cli

def walk(command, ctx, path, out):
    out[" ".join(path)] = command.get_help(ctx)
    if isinstance(command, click.Group):
        for sub_name in command.list_commands(ctx):
            sub = command.get_command(ctx, sub_name)
            if sub is not None:
                sub_ctx = click.Context(sub, info_name=sub_name, parent=ctx)
                walk(sub, sub_ctx, [*path, sub_name], out)

helps = {}
walk(cli, click.Context(cli, info_name="meltano"), ["meltano"], helps)
bundle = importlib.resources.files("meltano.core.bundle") / "settings.yml"
settings = yaml.safe_load(bundle.read_text())["settings"]
variables = [s.get("env") or "MELTANO_" + s["name"].upper().replace(".", "_") for s in settings]
json.dump({"help": helps, "variables": variables}, sys.stdout)
"""
MELTANO_PROGRAMS = ("meltano", ".venv-meltano/bin/meltano")


@pytest.fixture(scope="module")
def pinned_meltano(meltano_bin: str) -> dict[str, Any]:
    python = Path(meltano_bin).parent / "python"
    out = subprocess.run(
        [str(python), "-c", DUMP], capture_output=True, text=True, check=True, env=clean_env()
    ).stdout
    dumped = json.loads(out)
    assert "meltano config test" in dumped["help"]
    return {
        "tree": {path: Help.parse(text) for path, text in dumped["help"].items()},
        "variables": set(dumped["variables"]),
    }


# --------------------------------------------------------------------------- meltano's --help


def project_names() -> dict[str, set[str]]:
    """What meltano.yml and the docs' YAML name: plugins (and their settings), jobs,
    schedules, environments."""
    data = yaml.safe_load((REPO / "meltano.yml").read_text())
    settings = {
        plugin["name"]: {s["name"] for s in plugin.get("settings", [])}
        for kind in data["plugins"].values()
        for plugin in kind
    }
    for plugin, parent in documented_plugins().items():
        settings[plugin] = settings[parent]
    return {
        "plugins": set(settings),
        "jobs": {job["name"] for job in data.get("jobs", [])},
        "schedules": {schedule["name"] for schedule in data.get("schedules", [])},
        "environments": {env["name"] for env in data.get("environments", [])},
        **{f"settings:{plugin}": found for plugin, found in settings.items()},
    }


def value_checks() -> dict[str, Any]:
    names = project_names()
    plugins = names["plugins"]

    def plugin(path: str, value: str, given: list[str]) -> str | None:
        if path == "meltano add":
            return None  # it adds a plugin not yet in meltano.yml
        if path.startswith("meltano config") and value == "meltano":
            return None
        known = plugins | names["jobs"] | names["schedules"]
        return (
            None if value.split(":", maxsplit=1)[0] in known else f"{value!r} is no plugin or job"
        )

    def setting(path: str, value: str, given: list[str]) -> str | None:
        settings = names.get(f"settings:{given[0]}", set())
        return None if value in settings else f"{value!r} is no setting of {given[0]}"

    def state_id(path: str, value: str, given: list[str]) -> str | None:
        match = re.fullmatch(r"([\w-]+):([\w-]+?)-to-([\w-]+)", value)
        if not match:
            return f"{value!r} is not <environment>:<extractor>-to-<loader>"
        environment, extractor, loader = match.groups()
        if environment not in names["environments"] or not {extractor, loader} <= plugins:
            return f"{value!r} names an environment or plugin meltano.yml does not have"
        return None

    return {
        "PLUGIN_NAME": plugin,
        "PLUGIN": plugin,
        "EXTRACTOR": plugin,
        "BLOCKS": plugin,
        "SETTING_NAME": setting,
        "STATE_ID": state_id,
    }


def meltano_commands() -> list[tuple[str, list[str], bool]]:
    """Every meltano command of the docs: (where, words, whole command?)."""
    found = []
    for command in shell_commands():
        _, words = program(command.words)
        if words and words[0] in MELTANO_PROGRAMS:
            found.append((command.where, own_words(words), True))
    for page in pages():
        for span in inline_code(page):
            words = span.split()
            if len(words) > 1 and words[0] in MELTANO_PROGRAMS:
                found.append((name(page), words, False))
    return found


def test_every_meltano_command_of_the_docs_matches_the_pinned_meltanos_help(pinned_meltano):
    found = meltano_commands()
    assert sum(whole for _, _, whole in found) >= 15
    assert sum(not whole for _, _, whole in found) >= 10
    checks = value_checks()
    for where, words, whole in found:
        problems = check(words, pinned_meltano["tree"], "meltano", values=checks, complete=whole)
        assert not problems, f"{where}: `{' '.join(words)}`: {problems}"


@pytest.mark.parametrize(
    "command",
    [
        "meltano config tap-lp-audittrail test",
        "meltano config set app_key tap-lp-audittrail ...",
        "meltano run --environment=prod tap-lp-audittrail target-csv",
        "meltano --environment=prod run tap-lp-audittrail target-csvv",
        "meltano state get sandbox:tap-lp-audittrail-to-target-nothing",
        "meltano select --lists tap-lp-audittrail",
        "meltano config set tap-lp-audittrail app-key ...",
    ],
)
def test_a_command_in_the_wrong_word_order_or_with_a_wrong_name_is_caught(pinned_meltano, command):
    assert check(command.split(), pinned_meltano["tree"], "meltano", values=value_checks())


def test_every_meltano_variable_the_docs_set_is_a_meltano_setting(pinned_meltano):
    assert "MELTANO_DATABASE_URI" in pinned_meltano["variables"]
    seen = [
        (command.where, variable)
        for command in shell_commands()
        for variable in assigned_variables(command)
        if variable.startswith("MELTANO_")
    ]
    assert seen
    for where, variable in seen:
        assert variable in pinned_meltano["variables"], f"{where}: {variable}"


# --------------------------------------------------------------------------- run as written


def blocks_to_run() -> list[Block]:
    """The shell blocks no HTML comment gives to a test of its own, with a command to run."""
    return [
        block
        for page in pages()
        for block in blocks(page, *SHELL)
        if not block.claim and any(command.run for command in commands(block))
    ]


@pytest.fixture(scope="module")
def sandbox() -> Any:
    with Sandbox(data=DataSpec(seed=11, records=400, span_days=30)) as sb:
        yield sb


@pytest.fixture(scope="module")
def project(
    meltano_bin: str, plugin_cache: Path, tmp_path_factory: pytest.TempPathFactory, sandbox
) -> MeltanoProject:
    """This repository's Meltano project, its plugins installed and its virtualenvs beside
    it, with the sandbox's settings where a deployment has them: in the environment."""
    project = project_from_cache(
        tmp_path_factory.mktemp("docs") / "project", meltano_bin, plugin_cache
    )
    (project.root / ".venv").symlink_to(Path(sys.executable).parents[1])
    (project.root / ".venv-meltano").symlink_to(Path(meltano_bin).parents[1])
    for key, value in tap_config(sandbox, "oauth1").items():
        project.env[f"TAP_LP_AUDITTRAIL_{key.upper()}"] = str(value)
    bins = [str(Path(sys.executable).parent), str(Path(meltano_bin).parent)]
    project.env["PATH"] = os.pathsep.join([*bins, os.environ.get("PATH", "")])
    return project


@pytest.mark.parametrize("block", blocks_to_run(), ids=lambda block: block.where)
def test_the_docs_unmarked_commands_run_as_written_against_the_sandbox(project, block):
    script = "\n".join(command.source for command in commands(block) if command.run)
    proc = project.command(["bash", "-euo", "pipefail", "-c", script])
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, (
        f"{block.where}:\n{script}\n--- exit {proc.returncode}:\n{output[-4000:]}"
    )
    assert "Traceback" not in output, output[-4000:]
