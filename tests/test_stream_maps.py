"""The pseudonymising stream map of docs/pseudonymisation.md, run through the real tap command,
and the SDK trap of a map that names a stream not selected (docs/troubleshooting.md, "Known SDK
traps")."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import yaml

from tap_lp_audittrail.sandbox import DataSpec

from ._reliability import catalog_for, tap_command
from .helpers import END, Run, parse_messages, tap_config
from .markdown import block_after

MARKER = "<!-- pseudonymised extractor:"
ORIGINATOR = ("originator", "originatorLoginName", "originatorUserId")
SALT = "a-salt-for-the-test"


def documented_extractor() -> dict:
    """The extractor the docs' stream-map example adds to meltano.yml."""
    (plugin,) = yaml.safe_load(block_after(MARKER, "yaml").body)["plugins"]["extractors"]
    return plugin


def selected_streams(plugin: dict) -> list[str]:
    return [rule.removesuffix(".*") for rule in plugin["select"]]


def run(tmp_path: Path, config: dict, streams: list[str]) -> subprocess.CompletedProcess:
    command = tap_command(tmp_path, config, None, catalog_for(config, streams))
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def records(proc: subprocess.CompletedProcess) -> Run:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return parse_messages(proc.stdout, Run())


def test_the_documented_map_hashes_the_originator_and_keeps_every_id(sandbox_factory, tmp_path):
    sb = sandbox_factory(data=DataSpec(seed=41, records=600, end=END))
    plugin = documented_extractor()
    streams = selected_streams(plugin)
    maps = plugin["config"]["stream_maps"]
    plain = records(run(tmp_path / "plain", tap_config(sb), streams))
    proc = run(
        tmp_path / "mapped",
        tap_config(sb, stream_maps=maps, stream_map_config={"salt": SALT}),
        streams,
    )
    mapped = records(proc)
    for stream in streams:
        before, after = plain.stream(stream), mapped.stream(stream)
        assert before, f"{stream}: no records to map"
        assert [r["id"] for r in after] == [r["id"] for r in before], stream
        hashed = 0
        for old, new in zip(before, after, strict=True):
            for field, value in old.items():
                if field not in ORIGINATOR or not value:
                    assert new[field] == value, (stream, field)
                    continue
                assert new[field] == hashlib.sha256((SALT + value).encode()).hexdigest()
                assert new[field] != value
                hashed += 1
        assert hashed >= len(before), f"{stream}: few originator fields were set"
        names = {r["originatorLoginName"] for r in before if r["originatorLoginName"]}
        assert names
        assert not names & {r["originatorLoginName"] for r in after}
    assert SALT not in proc.stderr


def test_the_documented_map_maps_exactly_the_streams_it_selects():
    """The workaround of the SDK trap, in the docs' own example."""
    plugin = documented_extractor()
    assert set(plugin["config"]["stream_maps"]) == set(selected_streams(plugin))


def test_a_map_naming_a_stream_not_selected_stops_the_run(sandbox_factory, tmp_path):
    """The SDK trap as it is: if this starts to pass the run, the documented trap is stale."""
    sb = sandbox_factory(data=DataSpec(seed=42, records=200, end=END))
    maps = documented_extractor()["config"]["stream_maps"]
    assert "users" in maps
    config = tap_config(sb, stream_maps=maps, stream_map_config={"salt": SALT})
    proc = run(tmp_path, config, ["audit_trail"])
    assert proc.returncode != 0
    assert "Invalid key properties for 'users'" in proc.stderr
    assert not any(json.loads(line)["type"] == "RECORD" for line in proc.stdout.splitlines())
    # one ERROR line, the last, naming the setting and the workaround; no traceback
    last = proc.stderr.strip().splitlines()[-1]
    assert "ERROR" in last
    assert "`stream_maps`" in last
    assert "only the streams you select" in last
    assert "Traceback" not in proc.stderr


def test_mapping_only_the_selected_streams_is_the_workaround(sandbox_factory, tmp_path):
    sb = sandbox_factory(data=DataSpec(seed=42, records=200, end=END))
    maps = documented_extractor()["config"]["stream_maps"]
    only_selected = {"audit_trail": maps["audit_trail"]}
    config = tap_config(sb, stream_maps=only_selected, stream_map_config={"salt": SALT})
    run_ = records(run(tmp_path, config, ["audit_trail"]))
    rows = run_.stream("audit_trail")
    assert len(rows) == len(sb.ground_truth())
    assert all(len(r["originatorLoginName"] or "x" * 64) == 64 for r in rows)
