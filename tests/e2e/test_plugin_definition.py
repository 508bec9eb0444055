"""The plugin definitions through the real meltano CLI: the Hub file added to a fresh project,
and every loader of meltano.yml installed. (What the files declare, and the Hub's own checks
of them, are tested without meltano in tests/test_plugin_definitions.py.)"""

from __future__ import annotations

import json

import yaml

from .conftest import REPO, MeltanoProject

HUB_FILE = REPO / "plugins" / "extractors" / "tap-lp-audittrail--liveperson.yml"

PINNED_LOADERS = {
    "target-csv": "meltanolabs-target-csv==0.5.0",
    "target-jsonl": "target-jsonl==0.1.4",
    "target-postgres": "meltanolabs-target-postgres==0.8.1",
    "target-snowflake": "meltanolabs-target-snowflake==0.20.4",
    "target-bigquery": "z3-target-bigquery==0.7.2",
}


def test_add_from_ref_and_install_in_a_fresh_project(meltano_bin, tmp_path):
    """What the Hub's CI does with a new definition: `meltano add --from-ref`, then
    `meltano install`, in a project `meltano init` just made.

    The package is not on PyPI yet, so the copy of the Hub file used here installs this
    checkout (`pip_url: -e <repo>`); everything else in it is the Hub file as it is.
    """
    init = MeltanoProject(tmp_path, meltano_bin).run("init", "fresh", "--no-usage-stats")
    init.check()
    project = MeltanoProject(tmp_path / "fresh", meltano_bin)
    ref = tmp_path / "tap-lp-audittrail--liveperson.yml"
    definition = yaml.safe_load(HUB_FILE.read_text())
    assert definition["pip_url"] == "tap-lp-audittrail"
    definition["pip_url"] = f"-e {REPO}"
    ref.write_text(yaml.safe_dump(definition, sort_keys=False))

    project.run(
        "add", "--plugin-type", "extractor", "tap-lp-audittrail", "--from-ref", str(ref)
    ).check()
    project_yml = yaml.safe_load((project.root / "meltano.yml").read_text())
    assert [p["name"] for p in project_yml["plugins"]["extractors"]] == ["tap-lp-audittrail"]
    assert "utilities" not in project_yml["plugins"]
    project.run("install").check()
    executable = project.root / ".meltano" / "extractors" / "tap-lp-audittrail" / "venv" / "bin"
    assert (executable / "tap-lp-audittrail").exists()

    about = project.run("invoke", "tap-lp-audittrail", "--about", "--format=json").check()
    about_json = json.loads(about.output[about.output.index("{") : about.output.rindex("}") + 1])
    assert about_json["name"] == "tap-lp-audittrail"
    assert set(about_json["capabilities"]) == set(definition["capabilities"])
    listed = project.run("config", "list", "tap-lp-audittrail").check().output
    assert "TAP_LP_AUDITTRAIL_ACCOUNT_ID" in listed
    project.run("config", "set", "tap-lp-audittrail", "account_id", "12345678").check()
    shown = project.run("config", "print", "tap-lp-audittrail", "--format=json").check().output
    assert '"account_id": "12345678"' in shown
    assert '"lookback_minutes": 360' in shown


def test_every_loader_is_pinned_installs_and_runs(plugin_cache, meltano_bin):
    """Each loader of meltano.yml installs at its pinned version and starts (--about/--help)."""
    data = yaml.safe_load((REPO / "meltano.yml").read_text())
    loaders = {p["name"]: p for p in data["plugins"]["loaders"]}
    assert set(loaders) == set(PINNED_LOADERS)
    project = MeltanoProject(plugin_cache, meltano_bin)
    for name, pin in PINNED_LOADERS.items():
        assert loaders[name]["pip_url"].split()[0] == pin
        for setting in loaders[name]["settings"]:
            for key in ("kind", "label", "description"):
                assert setting.get(key), f"{name}.{setting['name']}: no {key}"
        if name == "target-jsonl":  # a pre-SDK target: no --about
            result = project.run("invoke", name, "--help").check()
            assert "--config" in result.output
            continue
        result = project.run("invoke", name, "--about", "--format=json").check()
        start = result.output.index("{")
        about = json.loads(result.output[start : result.output.rindex("}") + 1])
        assert about["name"] == name
        version = pin.split("==")[1]
        if name != "target-bigquery":  # 0.7.2 does not report its version
            assert about["version"] == version
