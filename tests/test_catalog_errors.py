"""Bad catalogs: a catalog of the wrong shape, selecting no stream of this tap, or contradicting
the schema of a stream it selects, stops the real CLI with one line naming the file and the
field, before any request. The SDK would take such a catalog's key properties, replication key
and property types over the tap's, and write the SCHEMA messages targets build tables from out
of it (inputs.py).
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_lp_audittrail.tap import TapLPAuditTrail

from ._reliability import AUDIT, catalog_for, note, tap_command
from .helpers import tap_config

Catalog = dict[str, Any]


def audit_entry(catalog: Catalog) -> dict[str, Any]:
    return next(e for e in catalog["streams"] if e["tap_stream_id"] == AUDIT)


def root_metadata(entry: dict[str, Any]) -> dict[str, Any]:
    return next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])


def changed(change: Callable[[dict[str, Any]], object]) -> Callable[[Catalog], Catalog]:
    """The discovered catalog, `audit_trail` selected, with `change` made to its entry."""

    def make(catalog: Catalog) -> Catalog:
        catalog = copy.deepcopy(catalog)
        change(audit_entry(catalog))
        return catalog

    return make


def whole(value: object) -> Callable[[Catalog], object]:
    return lambda catalog: value


def deselect_all(catalog: Catalog) -> Catalog:
    catalog = copy.deepcopy(catalog)
    for entry in catalog["streams"]:
        root_metadata(entry)["selected"] = False
    return catalog


def twice(catalog: Catalog) -> Catalog:
    catalog = copy.deepcopy(catalog)
    catalog["streams"].append(copy.deepcopy(audit_entry(catalog)))
    return catalog


def deselect(name: str) -> Callable[[dict[str, Any]], object]:
    def change(entry: dict[str, Any]) -> None:
        for item in entry["metadata"]:
            if item["breadcrumb"] == ["properties", name]:
                item["metadata"] = {"inclusion": "available", "selected": False}

    return change


UNKNOWN_ONLY = {
    "streams": [
        {"tap_stream_id": "tickets", "schema": {}, "metadata": [
            {"breadcrumb": [], "metadata": {"selected": True}},
        ]},
    ]
}  # fmt: skip

#: case -> (the catalog, made from the discovered one; words of the ERROR line)
BAD_CATALOGS: dict[str, tuple[Callable[[Catalog], object], str]] = {
    # The shape: on dd2ab9d, each a traceback.
    "streams an object": (whole({"streams": {"a": 1}}), "streams: expected a list"),
    "a stream a string": (whole({"streams": ["audit_trail"]}), "streams[0]: expected an object"),
    "a stream without its id": (
        whole({"streams": [{"stream": "audit_trail"}]}),
        "streams[0]: 'tap_stream_id' is a required property",
    ),
    "metadata a string": (
        changed(lambda e: e.update(metadata="all")),
        "streams[0].metadata: expected a list",
    ),
    "a breadcrumb a string": (
        changed(lambda e: e["metadata"].append({"breadcrumb": "id", "metadata": {}})),
        ".breadcrumb: expected a list",
    ),
    "properties a list": (
        changed(lambda e: e["schema"].update(properties=[])),
        "streams[0].schema.properties: expected an object",
    ),
    "selected a string": (
        changed(lambda e: root_metadata(e).update(selected="yes")),
        ".metadata.selected: expected a boolean, got a string",
    ),
    # Selecting nothing: on dd2ab9d, exit 0 and nothing said.
    "only another tap's stream": (
        whole(UNKNOWN_ONLY),
        "streams[0]: 'tickets' is selected and is not a stream of this tap",
    ),
    "no stream selected": (deselect_all, "selects none of this tap's streams"),
    # Contradictions: on dd2ab9d, a run whose SCHEMA messages said so.
    "keyed on objectName": (
        changed(lambda e: e.update(key_properties=["objectName"])),
        "(audit_trail): key properties ['objectName']: this tap's are ['id']",
    ),
    "no key properties": (
        changed(lambda e: (e.pop("key_properties"), root_metadata(e).pop("table-key-properties"))),
        "(audit_trail): key properties []: this tap's are ['id']",
    ),
    "another replication key": (
        changed(lambda e: e.update(replication_key="objectName")),
        "replication key 'objectName': this tap's is 'changeDate'",
    ),
    "full table": (
        changed(lambda e: e.update(replication_method="FULL_TABLE")),
        "replication method 'FULL_TABLE'",
    ),
    "changeDate an integer": (
        changed(lambda e: e["schema"]["properties"].update(changeDate={"type": "integer"})),
        "schema.properties.changeDate: declared integer; this tap's is string",
    ),
    "changeDate a date": (
        changed(lambda e: e["schema"]["properties"]["changeDate"].update(format="date")),
        "schema.properties.changeDate: format 'date'; this tap's is 'date-time'",
    ),
    "an empty schema": (
        changed(lambda e: e.update(schema={})),
        "schema.properties: lacks id, accountId",
    ),
    "a property the tap has not": (
        changed(lambda e: e["schema"]["properties"].update(ticket={"type": "string"})),
        "schema.properties.ticket: not a field of this tap",
    ),
    "the key deselected": (changed(deselect("id")), "metadata: deselects id"),
    "a stream twice": (twice, "'audit_trail' again (also streams[0])"),
}


@pytest.fixture
def discovered(sandbox) -> Catalog:
    """The tap's own catalog with `audit_trail` alone selected, its entry first."""
    catalog = catalog_for(tap_config(sandbox))
    catalog["streams"].sort(key=lambda e: e["tap_stream_id"] != AUDIT)
    return catalog


@pytest.mark.parametrize("case", list(BAD_CATALOGS))
def test_bad_catalog_is_refused_clearly(sandbox, discovered, tmp_path, case):
    make, named = BAD_CATALOGS[case]
    command = tap_command(tmp_path, tap_config(sandbox), None, None)
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(make(discovered)))
    command += ["--catalog", str(path)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode not in (0, None)
    errors = [line for line in proc.stderr.splitlines() if "| ERROR" in line]
    assert any(f"--catalog {path}: " in line and named in line for line in errors), proc.stderr[
        -3000:
    ]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert not proc.stdout.strip()
    assert sum(sandbox.stats.requests.values()) == 0
    note("catalog", case=case, exit_code=proc.returncode, requests=0)


def test_a_catalog_handed_over_in_process_is_checked_too(sandbox, discovered):
    with pytest.raises(ConfigValidationError) as refused:
        TapLPAuditTrail(
            config=tap_config(sandbox), catalog=deselect_all(discovered), parse_env_config=False
        )
    assert any(e.startswith("catalog: selects none") for e in refused.value.errors)


def test_the_discovered_catalog_is_taken(sandbox, discovered, tmp_path):
    """The control: the tap's own catalog, one stream selected, is read as it says."""
    command = tap_command(tmp_path, tap_config(sandbox), None, discovered)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    streams = {
        json.loads(line)["stream"] for line in proc.stdout.splitlines() if '"RECORD"' in line
    }
    assert streams == {AUDIT}
