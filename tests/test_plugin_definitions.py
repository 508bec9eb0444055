"""The plugin definitions: meltano.yml, the Hub file, and what the tap itself says it takes.

The tap's `--about` is the source: its settings (defaults, ranges), its capabilities, and the
auth table behind `settings_group_validation`. meltano.yml and the Hub file must say the same,
and the Hub file must pass the checks Meltano Hub's CI applies to a new plugin.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from tap_lp_audittrail.credentials import AUTH_TABLE, settings_group_validation
from tap_lp_audittrail.sandbox import DataSpec
from tap_lp_audittrail.settings import range_text

from ._reliability import catalog_for
from .helpers import END, output_of, run_tap_cli, tap_config

ROOT = Path(__file__).resolve().parent.parent
HUB_FILE = ROOT / "plugins" / "extractors" / "tap-lp-audittrail--liveperson.yml"

#: JSON schema type of a tap setting -> the Meltano setting kinds that fit it.
KINDS = {
    "string": {"string", "options", "date_iso8601"},
    "integer": {"integer"},
    "number": {"decimal"},
    "boolean": {"boolean"},
    "array": {"array"},
    "object": {"object"},
}

#: Each capability declared, and the test that shows it works.
CAPABILITY_TESTS = {
    "about": "tests/test_cli.py::test_about_lists_every_setting_and_no_secret",
    "discover": "tests/test_cli.py::test_discover_offers_sixteen_incremental_streams_keyed_on_id",
    "catalog": "tests/test_plugin_definitions.py::test_a_catalog_selects_the_streams_read",
    "state": "tests/test_incremental.py::test_a_second_run_adds_exactly_what_is_new",
    "stream-maps": "tests/test_cli.py::test_stream_maps_and_flattening_apply",
    "schema-flattening": "tests/test_cli.py::test_stream_maps_and_flattening_apply",
    "test": "tests/test_cli.py::test_connection_test_reads_one_page",
    "structured-logging": (
        "tests/e2e/test_meltano_logging.py::"
        "test_meltano_shows_the_taps_warning_and_error_at_their_levels"
    ),
}

#: The rules of Meltano Hub's yamllint configuration (the hub repository's .yamllint.yaml),
#: which its CI runs over every plugin definition it is sent.
HUB_YAMLLINT = """
extends: default
rules:
  braces:
    forbid: non-empty
  document-start:
    present: false
  indentation:
    indent-sequences: false
    spaces: 2
  key-ordering: enable
  line-length: disable
  trailing-spaces: disable
  truthy: disable
"""


@pytest.fixture(scope="module")
def about() -> dict:
    """`tap-lp-audittrail --about --format=json`, with no config (as the Hub runs it)."""
    return json.loads(output_of("tap_lp_audittrail", "--about", "--format=json"))


@pytest.fixture(scope="module")
def extractor() -> dict:
    """The tap's plugin entry in meltano.yml."""
    data = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (tap,) = [p for p in data["plugins"]["extractors"] if p["name"] == "tap-lp-audittrail"]
    return tap


@pytest.fixture(scope="module")
def hub() -> dict:
    return yaml.safe_load(HUB_FILE.read_text())


def test_meltano_yml_declares_every_setting_as_the_tap_defines_it(about, extractor):
    properties = about["settings"]["properties"]
    declared = {s["name"]: s for s in extractor["settings"]}
    assert set(properties) == set(declared), "meltano.yml and the tap disagree on settings"
    for name, prop in properties.items():
        setting = declared[name]
        for key in ("kind", "label", "description"):
            assert setting.get(key), f"{name}: no {key} in meltano.yml"
        types = [t for t in prop.get("type", []) if t != "null"] or ["string"]
        assert setting["kind"] in KINDS[types[0]], f"{name}: kind {setting['kind']} vs {types}"
        assert bool(setting.get("sensitive")) == bool(prop.get("secret")), f"{name}: sensitive"
        assert setting.get("value") == prop.get("default"), f"{name}: default differs"
    for required in about["settings"].get("required", []):
        assert required in declared


def test_every_range_is_in_the_schema_and_shown_everywhere(about, extractor):
    """minimum/maximum live in the schema; --about, meltano.yml (and so the Hub) show them."""
    properties = about["settings"]["properties"]
    declared = {s["name"]: s for s in extractor["settings"]}
    ranged = {n: p for n, p in properties.items() if "minimum" in p or "maximum" in p}
    assert set(ranged) == {
        "page_size",
        "window_days",
        "max_concurrency",
        "request_timeout",
        "max_answer_megabytes",
        "max_retry_seconds",
        "connection_retry_seconds",
        "retry_initial_wait",
        "lookback_minutes",
    }
    for name, prop in ranged.items():
        text = range_text(prop["minimum"], prop["maximum"])
        assert text in prop["description"], f"{name}: --about does not show {text}"
        assert text in declared[name]["description"].lower(), f"{name}: meltano.yml lacks {text}"
    assert properties["account_id"]["pattern"] == r"^[A-Za-z0-9_]{1,20}$(?!\n)"
    assert properties["lookback_minutes"]["default"] == 360
    assert "end_date" in properties
    assert "default" not in properties["end_date"]


def test_auth_settings_come_from_the_auth_table(extractor, hub):
    groups = settings_group_validation()
    assert extractor["settings_group_validation"] == groups
    assert hub["settings_group_validation"] == groups
    (method,) = [s for s in extractor["settings"] if s["name"] == "auth_method"]
    assert method["options"] == [{"label": m.label, "value": m.name} for m in AUTH_TABLE]


def test_capabilities_are_what_works_and_the_same_everywhere(about, extractor, hub):
    declared = set(CAPABILITY_TESTS)
    assert set(about["capabilities"]) == declared
    assert set(extractor["capabilities"]) == declared
    assert set(hub["capabilities"]) == declared
    for node in CAPABILITY_TESTS.values():
        path, name = node.split("::")
        assert f"def {name}(" in (ROOT / path).read_text(), f"{node} does not exist"


def test_the_hub_file_is_meltano_yml_plus_the_hubs_metadata(about, extractor, hub):
    for key in ("name", "namespace", "executable", "label", "description"):
        assert hub[key] == extractor[key], key
    assert hub["settings"] == extractor["settings"]
    assert hub["pip_url"] == "tap-lp-audittrail"
    assert hub["supported_python_versions"] == about["supported_python_versions"]
    # The Hub stores the file as _data/meltano/extractors/<name>/<variant>.yml: its name
    # check compares `name` with the folder.
    assert HUB_FILE.name == f"{hub['name']}--{hub['variant']}.yml"
    assert hub["quality"] in ("gold", "silver", "bronze", "unknown")
    assert hub["maintenance_status"] == "active"
    assert "meltano_sdk" in hub["keywords"]
    assert hub["domain_url"].startswith("https://")
    # No placeholder: `repo` is set to the public repository's URL when there is one.
    assert "repo" not in hub or re.match(r"^https://\S+$", hub["repo"]), hub.get("repo")
    assert "REPLACE" not in HUB_FILE.read_text()


def test_every_setting_of_the_hub_file_and_of_about_has_a_description(about, hub):
    lacking = [s["name"] for s in hub["settings"] if not str(s.get("description", "")).strip()]
    assert not lacking, f"the Hub file describes no {lacking}"
    properties = about["settings"]["properties"]
    lacking = [name for name, p in properties.items() if not p.get("description", "").strip()]
    assert not lacking, f"--about describes no {lacking}"


def test_the_logo_is_in_the_repository(hub):
    logo = ROOT / "docs" / Path(hub["logo_url"]).name
    data = logo.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width == height
    assert width >= 128
    assert hub["logo_url"] == f"/assets/logos/extractors/{logo.name}"


def test_the_hub_file_passes_the_hubs_yaml_lint(tmp_path):
    from yamllint import linter
    from yamllint.config import YamlLintConfig

    problems = list(linter.run(HUB_FILE.read_text(), YamlLintConfig(HUB_YAMLLINT)))
    assert not problems, "\n".join(f"{p.line}:{p.column} {p.message}" for p in problems)


def test_the_hub_file_passes_the_hubs_json_schemas():
    """Validated as the Hub's CI validates: Draft 7, $refs resolved among its schemas by $id.

    MELTANO_HUB_DIR is a checkout of the meltano/hub repository (its schemas/ folder is
    read), by default ../shared/meltano-hub beside this repository when it is there; the
    schemas are not copied into this repository.
    """
    beside = Path(__file__).resolve().parents[2] / "shared" / "meltano-hub"
    hub_dir = os.environ.get("MELTANO_HUB_DIR") or (str(beside) if beside.is_dir() else "")
    if not hub_dir:
        pytest.skip("set MELTANO_HUB_DIR to a checkout of the meltano/hub repository")
    from jsonschema import Draft7Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    schemas = Path(hub_dir) / "schemas"
    resources = []
    for folder in ("common", "plugin_definitions"):
        for source in sorted((schemas / folder).glob("*.json")):
            schema = json.loads(source.read_text())
            resources.append(
                (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT7))
            )
    registry = Registry().with_resources(resources)
    extractors = json.loads((schemas / "plugin_definitions" / "extractors.schema.json").read_text())
    validator = Draft7Validator(extractors, registry=registry)
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in validator.iter_errors(yaml.safe_load(HUB_FILE.read_text()))
    ]
    assert not errors, "\n".join(errors)


def test_a_catalog_selects_the_streams_read(sandbox_factory, tmp_path):
    """The `catalog` capability: a catalog that selects `users` alone gets `users` alone."""
    sb = sandbox_factory(data=DataSpec(seed=33, records=400, end=END))
    config = tap_config(sb)
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(catalog_for(config, ["users"])))
    run = run_tap_cli(config, "--catalog", str(catalog), tmp_path=tmp_path)
    assert run.exit_code == 0, run.stderr[-2000:]
    assert set(run.records) == {"users"}
    assert run.records["users"]
