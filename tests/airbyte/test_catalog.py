"""catalog.py, in process: the streams `discover` offers, and those a configured catalog selects.

Every stream in both sync modes, incremental on `changeDate`, keyed by `id`; a configured
catalog selects streams in the tap's order, each in its mode (incremental when none is said),
and sets aside the streams the source does not have; every problem of one is a line naming the
file and the entry, all of them at once.
"""

from __future__ import annotations

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_lp_audittrail.airbyte.catalog import SYNC_MODES, airbyte_catalog, selected_streams
from tap_lp_audittrail.elements import STREAM_NAMES
from tap_lp_audittrail.tap import TapLPAuditTrail

from .helpers import configured_catalog


def test_every_stream_is_offered_in_both_modes_on_its_cursor_and_key():
    tap = TapLPAuditTrail(config={"account_id": "1", "bearer_token": "t0ken"})
    streams = airbyte_catalog(tap)["streams"]
    assert [s["name"] for s in streams] == list(tap.streams)
    assert set(tap.streams) == set(STREAM_NAMES)
    for entry in streams:
        assert entry["supported_sync_modes"] == list(SYNC_MODES)
        assert entry["source_defined_cursor"] is True
        assert entry["default_cursor_field"] == ["changeDate"]
        assert entry["source_defined_primary_key"] == [["id"]]
        assert entry["json_schema"]["properties"] == tap.streams[entry["name"]].schema["properties"]


def test_the_streams_selected_come_in_the_taps_order_each_in_its_mode():
    catalog = configured_catalog(
        ["skills", "audit_trail", "users"], modes={"users": "full_refresh"}
    )
    del catalog["streams"][0]["sync_mode"]  # none said: incremental
    assert list(selected_streams(catalog, STREAM_NAMES).modes.items()) == [
        ("audit_trail", "incremental"),
        ("users", "full_refresh"),
        ("skills", "incremental"),
    ]


def test_a_stream_the_source_does_not_have_is_set_aside_with_its_place_in_the_file():
    catalog = {
        "streams": [
            {"stream": {"name": "widgets"}, "sync_mode": "incremental"},
            {"stream": {"name": "users"}, "sync_mode": "incremental"},
            {"stream": {"name": "gadgets"}},
        ]
    }
    modes, unknown = selected_streams(catalog, STREAM_NAMES, "--catalog c.json")
    assert modes == {"users": "incremental"}
    assert unknown == [
        ("--catalog c.json: streams[0]", "widgets"),
        ("--catalog c.json: streams[2]", "gadgets"),
    ]


def test_every_problem_of_a_configured_catalog_is_a_line_naming_the_file_and_the_entry():
    catalog = {
        "streams": [
            {"stream": {"name": "users"}, "sync_mode": "incremental"},
            {"stream": {"name": "widgets"}},
            {"stream": {}},
            {"stream": {"name": "skills"}, "sync_mode": "sometimes"},
        ]
    }
    with pytest.raises(ConfigValidationError) as refused:
        selected_streams(catalog, STREAM_NAMES, "--catalog c.json")
    assert str(refused.value) == "Catalog is not usable"
    assert refused.value.errors == [
        "--catalog c.json: streams[2]: has no stream name",
        "--catalog c.json: streams[3].sync_mode: 'sometimes'; use full_refresh or incremental",
    ]


@pytest.mark.parametrize("catalog", [[], {"streams": {}}, {}, "streams"])
def test_a_catalog_without_a_list_of_streams_is_one_line(catalog):
    with pytest.raises(ConfigValidationError) as refused:
        selected_streams(catalog, STREAM_NAMES, "--catalog c.json")
    assert refused.value.errors == ["--catalog c.json: expected an object with a list of streams"]
