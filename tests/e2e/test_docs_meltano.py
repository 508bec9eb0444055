"""The docs' Meltano set-ups with the pinned Meltano: `meltano config set` and `list` with the
docs' inherited plugins, the commands that add the tap to another project (docs/meltano.md,
run as written), the sandbox's `.env` in such a project, `meltano config test` on an
unreachable host, and the pseudonymising extractor (docs/pseudonymisation.md). Every other
command of the docs: tests/e2e/test_doc_commands.py."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time

import pytest
import yaml

from tap_lp_audittrail.sandbox.cli import write_env

from ..markdown import block_after, pages, text
from .conftest import REPO, MeltanoProject, clean_env, project_yaml

DOCS = "\n".join(text(page) for page in pages())


def test_the_documented_config_commands_run(meltano_bin, tmp_path):
    """`config set` puts a secret in .env; `config list` names an inherited plugin's variables."""
    data = project_yaml()
    many = yaml.safe_load(block_after("## Many LivePerson accounts", "yaml").body)
    data["plugins"]["extractors"] += many["plugins"]["extractors"]
    (tmp_path / "meltano.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    project = MeltanoProject(tmp_path, meltano_bin)
    project.run("config", "set", "tap-lp-audittrail", "app_secret", "a-secret-value").check()
    assert "TAP_LP_AUDITTRAIL_APP_SECRET='a-secret-value'" in (tmp_path / ".env").read_text()
    assert "a-secret-value" not in (tmp_path / "meltano.yml").read_text()
    listed = project.run("config", "list", "tap-lp-audittrail--brand-a").check().output
    assert "TAP_LP_AUDITTRAIL__BRAND_A_APP_KEY" in listed


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def added(meltano_bin, tmp_path_factory) -> tuple[MeltanoProject, str]:
    """A project `meltano init` made, with the tap added by the documented commands as written,
    and what the last of them (`meltano select --list`) printed."""
    root = tmp_path_factory.mktemp("another")
    MeltanoProject(root, meltano_bin).run("init", "fresh", "--no-usage-stats").check()
    project = MeltanoProject(root / "fresh", meltano_bin)
    script = block_after("<!-- add to another project:", "sh").body
    script = script.replace("/path/to/tap-lp-audittrail", str(REPO))
    script = re.sub(r"^meltano ", f"{meltano_bin} ", script, flags=re.M)
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=project.root,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return project, proc.stdout


@pytest.fixture
def added_project(added) -> MeltanoProject:
    return added[0]


def test_the_documented_commands_add_the_tap_with_audit_trail_selected(added):
    project, listed = added
    data = yaml.safe_load((project.root / "meltano.yml").read_text())
    (tap,) = data["plugins"]["extractors"]
    assert tap["name"] == "tap-lp-audittrail"
    assert tap["pip_url"] == f"-e {REPO}"
    assert tap["select"] == ["audit_trail.*"]
    assert "utilities" not in data["plugins"]
    assert re.search(r"\[selected\s*\] audit_trail\.originatorLoginName", listed), listed[-3000:]
    assert not re.search(r"\[selected\s*\] users\.", listed), listed[-3000:]


def test_the_sandbox_env_file_configures_the_project(added_project):
    """`tap-lp-audittrail-sandbox --write-env .env` in the project: Meltano sees it all."""
    env_file = added_project.root / ".env"
    env_file.write_text("SOME_OTHER_SETTING=kept\n")
    # The command docs/meltano.md gives, with a small account.
    (documented,) = block_after("<!-- the sandbox for a project:", "sh").body.strip().splitlines()
    assert documented == "tap-lp-audittrail-sandbox --write-env .env"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tap_lp_audittrail.sandbox.cli", "--records", "300",
         "--write-env", str(env_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        deadline = time.monotonic() + 30
        while "TAP_LP_AUDITTRAIL_APP_KEY" not in env_file.read_text():
            assert time.monotonic() < deadline, "the sandbox wrote no .env"
            time.sleep(0.1)
        text = env_file.read_text()
        assert "SOME_OTHER_SETTING=kept" in text
        assert f"TAP_LP_AUDITTRAIL_DOMAIN_API_URL='{url}'" in text  # quoted, as Meltano does
        listed = added_project.run("config", "list", "tap-lp-audittrail").check().output
        for setting in ("ACCOUNT_ID", "DOMAIN_API_URL", "APP_KEY", "ACCESS_TOKEN_SECRET"):
            assert f"from the TAP_LP_AUDITTRAIL_{setting} variable in `.env`" in listed, setting
        assert "sandbox-app-secret" not in listed
        tested = added_project.run("config", "test", "tap-lp-audittrail").check()
        assert "Plugin configuration is valid" in tested.output
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def test_config_test_names_an_unreachable_host_within_30_s(added_project):
    port = closed_port()
    env_file = added_project.root / ".env"
    write_env(
        env_file,
        {
            "account_id": "12345678",
            "domain_api_url": f"http://127.0.0.1:{port}",
            "app_key": "k-1",
            "app_secret": "s-2",
            "access_token": "t-3",
            "access_token_secret": "u-4",
        },
    )
    result = added_project.run("config", "test", "tap-lp-audittrail", timeout=120)
    assert result.returncode != 0
    assert result.seconds < 30, f"{result.seconds:.1f} s"
    assert f"Cannot reach http://127.0.0.1:{port}/api/account/12345678/service/" in result.output
    assert "`domain_api_url`" in result.output
    assert "Traceback" not in result.output


def test_meltano_reads_the_documented_pseudonymising_extractor(meltano_bin, tmp_path):
    """The docs' YAML (anchor and all) in meltano.yml, the salt from the variable it names."""
    data = project_yaml()
    block = block_after("<!-- pseudonymised extractor:", "yaml").body
    data["plugins"]["extractors"] += yaml.safe_load(block)["plugins"]["extractors"]
    (tmp_path / "meltano.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    project = MeltanoProject(tmp_path, meltano_bin)
    variable = re.search(r"export (TAP_LP_AUDITTRAIL__PSEUDONYMISED_STREAM_MAP_CONFIG)=", DOCS)
    assert variable
    project.env[variable.group(1)] = json.dumps({"salt": "the-salt"})
    printed = project.run(
        "config", "print", "tap-lp-audittrail--pseudonymised", "--format=json"
    ).check()
    config = json.loads(printed.output[printed.output.index("{") :])
    assert config["stream_map_config"] == {"salt": "the-salt"}
    assert config["stream_maps"]["users"] == config["stream_maps"]["audit_trail"]
    assert set(config["stream_maps"]["audit_trail"]) == {
        "originator",
        "originatorLoginName",
        "originatorUserId",
    }
