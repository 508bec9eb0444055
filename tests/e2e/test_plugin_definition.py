"""The plugin definitions: meltano.yml, the Hub file, and what the tap itself says it takes."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from .conftest import REPO, MeltanoProject

HUB_FILE = REPO / "plugins" / "extractors" / "tap-lp-audittrail--liveperson.yml"

#: JSON schema type of a tap setting -> the Meltano setting kinds that fit it.
KINDS = {
    "string": {"string", "options", "date_iso8601"},
    "integer": {"integer"},
    "number": {"decimal"},
    "boolean": {"boolean"},
    "array": {"array"},
    "object": {"object"},
}

PINNED_LOADERS = {
    "target-csv": "meltanolabs-target-csv==0.5.0",
    "target-jsonl": "target-jsonl==0.1.4",
    "target-postgres": "meltanolabs-target-postgres==0.8.1",
    "target-snowflake": "meltanolabs-target-snowflake==0.20.4",
    "target-bigquery": "z3-target-bigquery==0.7.2",
}


def tap_about() -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "tap_lp_audittrail", "--about", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    return json.loads(out)


def meltano_extractor() -> dict:
    data = yaml.safe_load((REPO / "meltano.yml").read_text())
    (tap,) = [p for p in data["plugins"]["extractors"] if p["name"] == "tap-lp-audittrail"]
    return tap


def test_meltano_yml_declares_every_setting_of_the_tap_as_the_tap_defines_it():
    about = tap_about()
    properties = about["settings"]["properties"]
    declared = {s["name"]: s for s in meltano_extractor()["settings"]}
    assert set(properties) == set(declared), "meltano.yml and the tap disagree on settings"
    for name, prop in properties.items():
        setting = declared[name]
        for key in ("kind", "label", "description"):
            assert setting.get(key), f"{name}: no {key} in meltano.yml"
        types = [t for t in prop.get("type", []) if t != "null"] or ["string"]
        assert setting["kind"] in KINDS[types[0]], f"{name}: kind {setting['kind']} vs {types}"
        assert bool(setting.get("sensitive")) == bool(prop.get("secret")), f"{name}: sensitive"
        if prop.get("default") is not None:
            assert setting.get("value") == prop["default"], f"{name}: default differs"
    for required in about["settings"].get("required", []):
        assert required in declared
    capabilities = set(meltano_extractor()["capabilities"])
    assert capabilities <= set(about["capabilities"])
    assert {"catalog", "state", "discover", "about", "stream-maps", "schema-flattening"} <= (
        capabilities
    )


def test_hub_definition_matches_meltano_yml():
    hub = yaml.safe_load(HUB_FILE.read_text())
    tap = meltano_extractor()
    for key in ("name", "namespace", "executable", "label", "description", "repo", "pip_url"):
        assert hub.get(key), f"hub definition has no {key}"
    assert hub["variant"] == "liveperson"
    assert hub["settings"] == tap["settings"]
    assert set(hub["capabilities"]) == set(tap["capabilities"])
    assert hub["settings_group_validation"] == tap["settings_group_validation"]


def test_add_from_ref_in_a_fresh_project(meltano_bin, tmp_path):
    """`meltano add --from-ref` with the Hub file, in a project `meltano init` just made."""
    init = MeltanoProject(tmp_path, meltano_bin).run("init", "fresh", "--no-usage-stats")
    init.check()
    project = MeltanoProject(tmp_path / "fresh", meltano_bin)
    ref = tmp_path / "tap-lp-audittrail--liveperson.yml"
    definition = yaml.safe_load(HUB_FILE.read_text())
    definition["pip_url"] = f"-e {REPO}"
    ref.write_text(yaml.safe_dump(definition, sort_keys=False))

    project.run(
        "add", "--plugin-type", "extractor", "tap-lp-audittrail", "--from-ref", str(ref)
    ).check()
    project_yml = yaml.safe_load((project.root / "meltano.yml").read_text())
    assert [p["name"] for p in project_yml["plugins"]["extractors"]] == ["tap-lp-audittrail"]
    assert "utilities" not in project_yml["plugins"]

    about = project.run("invoke", "tap-lp-audittrail", "--about", "--format=json").check()
    assert '"name": "tap-lp-audittrail"' in about.output
    listed = project.run("config", "list", "tap-lp-audittrail").check().output
    assert "TAP_LP_AUDITTRAIL_ACCOUNT_ID" in listed
    project.run("config", "set", "tap-lp-audittrail", "account_id", "12345678").check()
    shown = project.run("config", "print", "tap-lp-audittrail", "--format=json").check().output
    assert '"account_id": "12345678"' in shown


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
