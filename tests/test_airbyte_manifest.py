"""airbyte-manifest/: the manifest-only connector for Airbyte Cloud, run as Cloud runs it.

airbyte-cdk's `source-declarative-manifest` with the manifest injected into the config and
`--state` from the sync before (tests/declarative.py), against the sandbox:

- the files: manifest.yaml valid for the declarative component schema of the airbyte-cdk
  tested here, no custom component; metadata.yaml valid for airbyte-cdk's MetadataFile;
- bad settings are refused before any request, naming the setting;
- a sync, then one from its state, hold every distinct change under the Python source's ids,
  with a bearer token, the Login Service and OAuth 2.0 client credentials;
- the honest table of docs/airbyte.md: every row is a reading of the API (or a fault) played
  here against the manifest, and its verdict is what the test observes;
- the request count of a full sync against the Python source's, on the same data;
- no secret in any message; airbyte-cdk's standard tests for declarative sources pass.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import shutil
import subprocess
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from tap_lp_audittrail.elements import ELEMENTS
from tap_lp_audittrail.sandbox import DataSpec, FaultRule, Readings, Sandbox

from .airbyte.helpers import run_standard_tests, validated_metadata
from .declarative import (
    FOLDER,
    MANIFEST,
    REPO,
    ManifestRun,
    airbyte_venv_bin,
    as_change,
    assert_distinct_changes,
    cdk_env,
    configured_catalog,
    load_manifest,
    manifest_config,
    run_manifest,
)
from .helpers import key, run_inproc, run_script, tap_config
from .hostile import OTHER_HOST, Answer, HostileServer, Script, Seen, forward
from .markdown import ROOT, block_after, text
from .test_docs import broken_links

UTC = dt.timezone.utc
AUDIT = "audit_trail"
#: The tests that run airbyte-cdk (in `.venv-airbyte`, a real client of the manifest):
#: end-to-end, apart from `scripts/test -m "not e2e"`, as PyAirbyte's are.
E2E = pytest.mark.e2e
#: The element streams: the elements whose componentTypes codes LivePerson documents.
ELEMENT_STREAMS = tuple(e.stream for e in ELEMENTS if e.component_types)
STREAMS = (AUDIT, *ELEMENT_STREAMS)
#: The readings the issue names: toDate exclusive, a silent page cap of 100, X-Total-Count
#: as the page's size, stable ties.
HARD = {"to_date_inclusive": False, "max_page_size": 100, "total_count": "page"}


def recent_sandbox(
    sandbox_factory: Callable[..., Sandbox],
    seed: int,
    records: int,
    days: int = 3,
    readings: Mapping[str, Any] | None = None,
    **data: Any,
) -> Sandbox:
    """A sandbox whose history covers `days` days and ends an hour ago, so that changes
    stamped "now" are what LivePerson writes between two syncs."""
    hour = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return sandbox_factory(
        data=DataSpec(
            seed=seed, records=records, end=hour - dt.timedelta(hours=1), span_days=days, **data
        ),
        seed=seed,
        readings=Readings(**(readings or {})),
    )


def truth(sb: Sandbox, stream: str = AUDIT, start: dt.datetime | None = None) -> list[dict]:
    """What a complete read of `stream` from `start` holds, of what the sandbox shows now."""
    types = None if stream == AUDIT else [stream]
    return sb.ground_truth(start, object_types=types, visible_at=sb.now())


def append_recent(sb: Sandbox, n: int, seed: int) -> None:
    """`n` changes made in the last half hour."""
    now = dt.datetime.now(UTC)
    sb.append(sb.make_records(n, now - dt.timedelta(minutes=30), now, seed=seed))


# ----------------------------------------------------------------------------- the files
#: Loads the manifest as source-declarative-manifest does (references resolved, then validated
#: against airbyte-cdk's declarative_component_schema.yaml), builds its streams, and prints
#: what it found, as JSON.
VALIDATE_MANIFEST = r"""
import json, sys
from importlib.metadata import version
import yaml
from airbyte_cdk.sources.declarative.concurrent_declarative_source import (
    ConcurrentDeclarativeSource,
)
manifest = yaml.safe_load(open(sys.argv[1]))
config = json.loads(sys.argv[2])
source = ConcurrentDeclarativeSource(
    source_config=manifest, config=config, catalog=None, state=None
)
streams = source.streams(config)
print(json.dumps({"cdk": version("airbyte-cdk"), "streams": [s.name for s in streams]}))
"""

SAMPLE_CONFIG = {
    "account_id": "12345678",
    "domain": "va.ac.liveperson.net",
    "credentials": {"auth_type": "bearer", "bearer_token": "a-bearer-token-of-the-sample"},
}


def validate_manifest(manifest: dict, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(manifest))
    return subprocess.run(
        [airbyte_venv_bin("python"), "-c", VALIDATE_MANIFEST, str(path), json.dumps(SAMPLE_CONFIG)],
        capture_output=True,
        text=True,
        env=cdk_env(tmp_path),
        timeout=300,
        check=False,
    )


def components(node: Any) -> list[dict]:
    """Every component (a mapping with a `type`) of a manifest, nested ones too."""
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("type"), str):
            found.append(node)
        for value in node.values():
            found += components(value)
    elif isinstance(node, list):
        for value in node:
            found += components(value)
    return found


@E2E
def test_the_manifest_is_valid_for_the_declarative_schema_of_the_airbyte_cdk_tested_here(
    tmp_path,
):
    proc = validate_manifest(load_manifest(), tmp_path / "valid")
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.splitlines()[-1])
    manifest = load_manifest()
    assert manifest["version"] == found["cdk"], (
        "the manifest names the airbyte-cdk it is tested with"
    )
    assert found["streams"] == list(STREAMS)
    # Airbyte Cloud runs no custom Python: no Custom* component, no class_name anywhere.
    kinds = {c["type"] for c in components(manifest)}
    assert not {k for k in kinds if k.startswith("Custom")}
    assert "class_name" not in MANIFEST.read_text()
    assert not (FOLDER / "components.py").exists()
    # The same check refuses a manifest that is not valid: it can fail.
    broken = load_manifest()
    broken["definitions"]["change_stream"]["retriever"]["paginator"]["pagination_strategy"][
        "type"
    ] = "OffsetIncrements"
    refused = validate_manifest(broken, tmp_path / "broken")
    assert refused.returncode != 0
    assert "ValidationError" in refused.stderr


@E2E
def test_metadata_yaml_is_valid_for_airbyte_cdk_and_names_a_manifest_only_connector_of_its_own(
    tmp_path,
):
    python = airbyte_venv_bin("python")
    validated = validated_metadata(python, FOLDER / "metadata.yaml", cdk_env(tmp_path))
    data = validated["model"]["data"]
    assert validated["language"] == "manifest-only"
    assert "cdk:low-code" in data["tags"]
    base, _, cdk_version = data["connectorBuildOptions"]["baseImage"].rpartition(":")
    assert base.endswith("airbyte/source-declarative-manifest")
    assert cdk_version == load_manifest()["version"]
    assert uuid.UUID(data["definitionId"]).version == 4
    image = yaml.safe_load((REPO / "metadata.yaml").read_text())["data"]
    assert data["definitionId"] != image["definitionId"], "two connectors to Airbyte"
    assert data["license"] == image["license"]
    assert (FOLDER / data["icon"]).read_text().lstrip().startswith("<svg")
    assert data["connectorType"] == "source"
    assert data["documentationUrl"].startswith("https://")


def test_the_element_streams_are_the_elements_the_python_source_filters_by_component_type():
    """The manifest holds its own copy of elements.py's table: the same codes, the same
    objectType strings (as the Python source compares them: blanks folded, case ignored)."""
    streams = load_manifest()["definitions"]["streams"]
    assert set(streams) == set(STREAMS)
    assert streams[AUDIT]["$parameters"] == {"component_filter": "", "object_types": []}
    for element in ELEMENTS:
        if not element.component_types:
            assert element.stream not in streams
            continue
        parameters = streams[element.stream]["$parameters"]
        codes = re.findall(r'"(\w+)"', parameters["component_filter"])
        assert tuple(codes) == element.component_types
        assert parameters["object_types"] == [t.casefold() for t in element.object_types]


def test_the_settings_are_account_id_domain_start_date_and_three_ways_in():
    spec = load_manifest()["spec"]["connection_specification"]
    assert set(spec["properties"]) == {"account_id", "domain", "start_date", "credentials"}
    assert spec["required"] == ["account_id", "domain", "credentials"]
    ways = {
        option["properties"]["auth_type"]["const"]: set(option["required"])
        for option in spec["properties"]["credentials"]["oneOf"]
    }
    assert ways == {
        "bearer": {"auth_type", "bearer_token"},
        "login": {"auth_type", "login_domain", "username", "password"},
        "client_credentials": {"auth_type", "sentinel_domain", "client_id", "client_secret"},
    }
    secrets = {
        name
        for option in spec["properties"]["credentials"]["oneOf"]
        for name, prop in option["properties"].items()
        if prop.get("airbyte_secret")
    }
    assert secrets == {"bearer_token", "password", "client_id", "client_secret"}


def test_the_connectors_readme_links_lead_somewhere():
    assert not broken_links(FOLDER / "README.md")


# ----------------------------------------------------------------------------- bad input
#: A bad setting, and what airbyte-cdk's message about it quotes: the value that does not
#: match the spec, or the missing setting's name (it does not name the setting of a value).
BAD_SETTINGS = {
    "account_id": ({"account_id": "12345678/../../x"}, "'12345678/../../x' does not match"),
    "domain over http": ({"domain": "http://va.ac.liveperson.net"},
                         "'http://va.ac.liveperson.net' does not match"),
    "domain with a path": ({"domain": "va.ac.liveperson.net/x?"},
                           "'va.ac.liveperson.net/x?' does not match"),
    "start_date not in UTC": ({"start_date": "2025-01-01T00:00:00+02:00"},
                              "'2025-01-01T00:00:00+02:00' does not match"),
    "domain missing": ({"domain": None}, "'domain' is a required property"),
}  # fmt: skip


@E2E
@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_a_bad_setting_stops_a_sync_before_any_request(hostile, tmp_path, case):
    witness = hostile()
    bad, said = BAD_SETTINGS[case]
    config = {**SAMPLE_CONFIG, "domain": witness.url, **bad}
    config = {k: v for k, v in config.items() if v is not None}
    if case == "account_id":  # check refuses it the same way as read (one case is enough)
        check = run_manifest("check", config, tmp_path / "check")
        (status,) = [m.connectionStatus for m in check.messages if m.connectionStatus]
        assert status.status.value == "FAILED"
        assert said in (status.message or "")
    read = run_manifest("read", config, tmp_path / "read")
    assert read.exit_code != 0
    assert read.errors[0]["failure_type"] == "config_error"
    assert said in read.errors[0]["message"]
    assert not witness.seen


# ----------------------------------------------------------------------------- syncs
@E2E
@pytest.mark.parametrize("auth", ["bearer", "login"])
def test_a_sync_then_one_from_its_state_hold_every_distinct_change_and_the_second_is_small(
    sandbox_factory, tmp_path, auth
):
    """The issue's readings; every stream, so that with the Login Service, which keeps one
    session per user, each stream's login must not end another's."""
    sb = recent_sandbox(sandbox_factory, 81, 2000, days=10, readings=HARD)
    assert sb.readings.single_session_per_user
    config = manifest_config(sb, auth, start=sb.start_time)
    first = run_manifest("read", config, tmp_path / "first", streams=STREAMS)
    assert first.exit_code == 0, first.stderr[-3000:]
    assert not first.errors
    for stream in STREAMS:
        assert_distinct_changes(first.stream(stream), truth(sb, stream), what=f"first: {stream}")
    requests_first = sb.stats.requests["audit"]

    append_recent(sb, 30, seed=82)
    second = run_manifest("read", config, tmp_path / "second", streams=STREAMS,
                          state=first.final_state)  # fmt: skip
    assert second.exit_code == 0, second.stderr[-3000:]
    for stream in STREAMS:
        union = first.stream(stream) + second.stream(stream)
        assert_distinct_changes(union, truth(sb, stream), what=f"both: {stream}")
    # The second sync reads from midnight two days before the cursor (the look-back), and
    # only that: three or four windows per stream, of the ten days the first one read.
    requests_second = sb.stats.requests["audit"] - requests_first
    since = (dt.datetime.now(UTC) - dt.timedelta(days=3)).date().isoformat()
    recent = [r for r in truth(sb) if r["changeDate"] >= since]
    assert len(second.stream()) <= len(recent) < len(truth(sb)) / 2
    assert requests_second < requests_first / 2
    print(
        json.dumps(
            {
                "auth": auth,
                "first": {"records": len(first.stream()), "requests": requests_first,
                          "seconds": round(first.seconds, 1)},
                "second": {"records": len(second.stream()), "new": 30,
                           "requests": requests_second, "seconds": round(second.seconds, 1)},
                "logins": sb.stats.requests["login"],
            }
        )
    )  # fmt: skip


@E2E
def test_oauth2_client_credentials_check_and_read(sandbox_factory, tmp_path):
    sb = recent_sandbox(sandbox_factory, 83, 120, readings=HARD)
    config = manifest_config(sb, "client_credentials", start=sb.start_time)
    check = run_manifest("check", config, tmp_path / "check")
    (status,) = [m.connectionStatus for m in check.messages if m.connectionStatus]
    assert status.status.value == "SUCCEEDED"
    read = run_manifest("read", config, tmp_path / "read")
    assert read.exit_code == 0, read.stderr[-3000:]
    assert_distinct_changes(read.stream(), truth(sb))
    assert sb.stats.requests["sentinel"] >= 1


@E2E
def test_the_ids_are_the_python_sources_for_every_character_a_value_can_hold(
    sandbox_factory, tmp_path
):
    """Quotes, backslashes and the 32 control characters escaped as msgspec escapes them;
    DEL, U+2028, accents, emoji and CJK as they are; nulls and both flags."""
    sb = recent_sandbox(sandbox_factory, 84, 40, readings=HARD)
    odd = "".join(chr(i) for i in range(32)) + "\"\\/\x7f\u2028\u2029é😀漢字<>&'"
    base = sb.make_records(6, sb.start_time, sb.start_time + dt.timedelta(hours=2), seed=85)
    sb.append(
        [
            replace(base[0], old_value=odd, new_value=None),
            replace(base[1], object_name=odd[::-1], element="N/A", old_value="", new_value=""),
            replace(base[2], originator_user_agent=None, originator_auth_type=None),
            replace(base[3], originator_is_lpa=True, new_value=odd[:16]),
            replace(base[4], old_value="\\u0000 \\n \\\\"),
        ]
    )
    read = run_manifest("read", manifest_config(sb, start=sb.start_time), tmp_path / "read")
    assert read.exit_code == 0, read.stderr[-3000:]
    assert_distinct_changes(read.stream(), truth(sb))
    assert any(r["oldValue"] == odd for r in read.stream())


@E2E
def test_exact_copies_of_one_change_share_one_id(sandbox_factory, tmp_path):
    """A manifest cannot number copies: the Python source's two rows are one after the
    destination's deduplication (the first copy's id, the Python source's own)."""
    sb = recent_sandbox(sandbox_factory, 86, 300, readings=HARD, duplicate_rate=0.05)
    read = run_manifest("read", manifest_config(sb, start=sb.start_time), tmp_path / "read")
    assert read.exit_code == 0, read.stderr[-3000:]
    copies = [k for k, n in Counter(key(r) for r in truth(sb)).items() if n > 1]
    assert len(copies) >= 5
    tap = run_inproc(tap_config(sb, start_date=sb.start_time.isoformat(),
                                end_date=dt.datetime.now(UTC).isoformat()))  # fmt: skip
    assert tap.error is None
    by_key: dict[tuple, set[str]] = {}
    for record in read.stream():
        by_key.setdefault(key(record), set()).add(record["id"])
    tap_ids: dict[tuple, list[str]] = {}
    for record in tap.run.stream(AUDIT):
        tap_ids.setdefault(key(record), []).append(record["id"])
    for copy in copies:
        assert len(by_key[copy]) == 1
        assert len(tap_ids[copy]) >= 2  # the Python source keeps each copy
        assert by_key[copy] <= set(tap_ids[copy])
    assert_distinct_changes(read.stream(), truth(sb))


# ----------------------------------------------------------------------------- the table
EXACT = "exact"
DEDUPED = "exact after deduplication"
LOSES = "can lose a change"
STOPS = "stops; loses nothing"
MISSED = "missed, as by the Python source"
COLLAPSE = "copies become one row"


@dataclass(frozen=True)
class Reading:
    """One reading of LivePerson's API (or a fault), played against the manifest.

    `row` is its row of docs/airbyte.md's table, `verdict` what the manifest does under it:
    the test plays a sync, then changes, then a sync from its state, and sees the verdict.
    """

    row: str
    verdict: str
    readings: Mapping[str, Any] = field(default_factory=dict)
    faults: tuple[FaultRule, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    #: Changes this late: invisible to the first sync, visible to the second.
    late: dt.timedelta | None = None
    streams: tuple[str, ...] = (AUDIT,)
    auth: str = "bearer"
    #: Readings restored before the second sync, once the first has stopped.
    heal: Mapping[str, Any] = field(default_factory=dict)
    #: Runs before audit request n of the first sync.
    during: Callable[[Sandbox, int], None] | None = None
    #: A server in front of the sandbox during the first sync: its script, given the sandbox
    #: and the days that hold the most changes.
    front: Callable[[Sandbox, list[str]], Script] | None = None


def _another_login(sb: Sandbox, n: int) -> None:
    """The same user logs in elsewhere: LivePerson ends the sync's session."""
    if n == 3:
        sb.tokens.login(sb.credentials.username, single_session=True)


#: Answers to the first page of a busy day that are not a list of records: each is given once,
#: in place of LivePerson's, for one of the busiest days.
BROKEN_PAGES = (
    Answer(200, b'{"data": {"auditData": [{"accountId": "12', {"Content-Type": "application/json"}),
    Answer.json({"errors": [{"message": "Internal server error"}]}),
    Answer.json({"data": {"auditData": None}}),
    Answer.json({"data": {"auditData": [{"changeDate": "yesterday"}]}}),
)


def _broken_first_pages(sb: Sandbox, busiest: list[str]) -> Script:
    broken: dict[str, Answer] = dict(zip(busiest, BROKEN_PAGES, strict=False))

    def script(seen: Seen) -> Answer:
        query = seen.json()["query"]
        day = re.search(r'fromDate: "([\d-]+)"', query)
        if day and "offset: 0," in query and day.group(1) in broken:
            return broken.pop(day.group(1))
        return forward(seen, sb.url)

    return script


ALL_TYPES = {code: list(Readings().object_types.values()) for code in Readings().component_types}
SINGULAR = {
    "users": "User",
    "skills": "Skill",
    "agent_groups": "Agent Group",
    "profiles": "Profile",
}

READINGS = (
    Reading("toDate exclusive, a silent page cap of 100, X-Total-Count the page's size, "
            "stable ties", EXACT, HARD),
    Reading("toDate inclusive", DEDUPED, {"to_date_inclusive": True}),
    Reading("X-Total-Count the total of the window", EXACT, {"total_count": "total"}),
    Reading("Dates read in UTC whatever `timezone` names", EXACT, {"dates_timezone": "utc"}),
    Reading("Dates read in a zone of the server's with DST (US/Eastern)", EXACT,
            {"dates_timezone": "server", "server_timezone": "US/Eastern"}),
    Reading("Dates read 12 hours behind UTC, and a change shown 10 hours late", EXACT,
            {"dates_timezone": "server", "server_timezone": "Etc/GMT+12"},
            late=dt.timedelta(hours=10)),
    Reading("Dates read 14 hours ahead of UTC", EXACT,
            {"dates_timezone": "server", "server_timezone": "Pacific/Kiritimati"}),
    Reading("changeDate with milliseconds", EXACT, {"subsecond": True}),
    Reading("Ties in a new order on every request, a second holding more changes than a page",
            LOSES, {"tie_order": "shuffled"}, data={"big_burst": 250}),
    Reading("A change shown 20 hours late", EXACT, late=dt.timedelta(hours=20)),
    Reading("A change shown 3 days late", MISSED, late=dt.timedelta(days=3)),
    Reading("429 with Retry-After; 500, 502 and 503", EXACT,
            faults=(FaultRule("429", at={2}, retry_after=1), FaultRule("500", at={4}),
                    FaultRule("502", at={6}), FaultRule("503", at={8}, retry_after=1))),
    Reading("A reset connection, a cut body; a 200 with malformed JSON, GraphQL errors, no list "
            "or a malformed changeDate", EXACT,
            faults=(FaultRule("reset", at={2}), FaultRule("truncate", at={4})),
            front=_broken_first_pages),
    Reading("503 on every request", STOPS,
            faults=(FaultRule("503", rate=1.0, retry_after=1),)),
    Reading("A page of 500 refused (a page cap of 100 that answers 400)", STOPS,
            {"above_max_page_size": "error"}, heal={"above_max_page_size": "cap"}),
    Reading("`UTC` refused as a timezone", STOPS, {"utc_accepted": False},
            heal={"utc_accepted": True}),
    Reading("`actionType` refused", STOPS, {"action_type": "refused"},
            heal={"action_type": "served"}),
    Reading("componentTypes ignored: every element answered to every code", EXACT,
            {"component_types": ALL_TYPES}, streams=STREAMS),
    Reading("objectType in the singular (User, Skill, Agent Group, Profile)", EXACT,
            {"object_types": {**Readings().object_types, **SINGULAR},
             "component_types": {code: [SINGULAR[e.stream]] for e in ELEMENTS
                                 for code in e.component_types}}, streams=STREAMS),
    Reading("The Login Service session ended by another login of the same user", STOPS,
            auth="login", during=_another_login),
    Reading("The bearer token expires during a sync", STOPS,
            faults=(FaultRule("expire_bearer", at={3}),)),
)  # fmt: skip


@dataclass
class Played:
    """What the two syncs of one reading did."""

    first: ManifestRun
    second: ManifestRun
    lost: dict[str, set[tuple]]
    repeated: bool
    refresh: ManifestRun | None = None


def play(
    sandbox_factory: Callable[..., Sandbox],
    hostile: Callable[..., HostileServer],
    tmp_path: Path,
    reading: Reading,
) -> Played:
    """A sync from a UTC midnight inside the history (several pages a day at the cap of
    100), new changes, a sync from its state; what both read against the sandbox's truth."""
    data = {"records": 480, **reading.data}
    records = data.pop("records")
    if "big_burst" in data:
        records = max(records, 2 * data["big_burst"] + 50)
    sb = recent_sandbox(
        sandbox_factory, 90, records, days=4, readings={**HARD, **reading.readings}, **data
    )
    start = (sb.start_time + dt.timedelta(days=1)).replace(hour=0)
    sb.set_faults(reading.faults)
    now = dt.datetime.now(UTC)
    late: list = []
    if reading.late is not None:
        at = now - reading.late
        late = [
            replace(r, visible_after=(now - r.instant) + dt.timedelta(minutes=30))
            for r in sb.make_records(3, at, at + dt.timedelta(minutes=5), seed=91)
        ]
        sb.append(late)
    if reading.during is not None:
        sb.on_audit_request = lambda n: reading.during(sb, n)  # type: ignore[misc]
    config = manifest_config(sb, reading.auth, start=start)
    if reading.front is not None:
        busiest = [d for d, _ in Counter(r["changeDate"][:10] for r in truth(sb)).most_common(4)]
        config["domain"] = hostile(reading.front(sb, busiest)).url
    first = run_manifest("read", config, tmp_path / "first", streams=reading.streams)

    sb.on_audit_request = None
    sb.set_faults([])
    config["domain"] = sb.url
    for name, value in reading.heal.items():
        setattr(sb.readings, name, value)
    if reading.auth == "bearer":
        config["credentials"]["bearer_token"] = sb.issue_bearer()
    append_recent(sb, 10, seed=92)
    if late:
        sb.set_clock(shift=dt.timedelta(hours=1))  # the late changes are visible now
    second = run_manifest("read", config, tmp_path / "second", streams=reading.streams,
                          state=first.final_state)  # fmt: skip
    assert second.exit_code == 0, second.stderr[-3000:]

    lost: dict[str, set[tuple]] = {}
    repeated = False
    for stream in reading.streams:
        want = Counter(key(r) for r in truth(sb, stream, start))
        for run in (first, second):
            got = Counter(key(r) for r in run.stream(stream))
            assert not set(got) - set(want), f"{stream}: records no truth holds"
            repeated |= any(n > want[k] for k, n in got.items())
        union = {key(r) for r in first.stream(stream) + second.stream(stream)}
        lost[stream] = set(want) - union
    played = Played(first, second, lost, repeated)
    if any(lost.values()) and late:
        played.refresh = run_manifest(
            "read", config, tmp_path / "refresh", streams=reading.streams, sync_mode="full_refresh"
        )
        assert_distinct_changes(played.refresh.stream(), truth(sb, start=start), what="refresh")
    return played


def verdict(played: Played, late_keys: set[tuple] | None = None) -> str:
    lost = set().union(*played.lost.values())
    if played.first.exit_code != 0:
        assert played.first.errors, "a sync that stops says why"
        return LOSES if lost else STOPS
    if lost:
        return MISSED if played.refresh is not None and lost == late_keys else LOSES
    return DEDUPED if played.repeated else EXACT


@E2E
@pytest.mark.parametrize("reading", READINGS, ids=[r.row for r in READINGS])
def test_each_reading_of_the_api_against_the_manifest(sandbox_factory, hostile, tmp_path, reading):
    played = play(sandbox_factory, hostile, tmp_path, reading)
    late_keys = None
    if played.refresh is not None:
        late_keys = {key(r) for r in played.refresh.stream()} - {
            key(r) for run in (played.first, played.second) for r in run.stream()
        }
    seen = verdict(played, late_keys)
    lost = sum(map(len, played.lost.values()))
    errors = [e["message"][:160] for e in played.first.errors[:1]]
    print(json.dumps({"row": reading.row, "verdict": seen, "lost": lost, "errors": errors}))
    assert seen == reading.verdict


@E2E
def test_a_redirect_to_another_host_is_followed_without_the_credential(
    sandbox_factory, hostile, tmp_path
):
    """requests follows redirects and drops the Authorization header when the host changes;
    the other host's well-formed answer is then taken as LivePerson's: a change is lost."""
    sb = recent_sandbox(sandbox_factory, 93, 150, readings=HARD)
    busiest = Counter(r["changeDate"][:10] for r in truth(sb)).most_common(1)[0][0]
    witness = hostile(lambda seen: Answer.json({"data": {"auditData": []}}), host=OTHER_HOST)

    def front(seen: Any) -> Answer:
        """The first page of the busiest day goes to another host."""
        query = seen.json()["query"]
        if f'fromDate: "{busiest}"' in query and "offset: 0," in query and not witness.seen:
            return Answer.redirect(witness.url + seen.target, 307)
        return forward(seen, sb.url)

    config = manifest_config(sb, start=sb.start_time, domain=hostile(front).url)
    read = run_manifest("read", config, tmp_path / "read")
    assert read.exit_code == 0
    assert len(witness.seen) == 1
    assert "Authorization" not in witness.seen[0].headers
    assert config["credentials"]["bearer_token"] not in witness.seen[0].text()
    lost = {key(r) for r in truth(sb)} - {key(r) for r in read.stream()}
    assert lost, "the other host's empty answer stood for a day of LivePerson's"


#: Rows of the table that other tests of this module fill.
OTHER_ROWS = {
    "Exact copies of one change": (COLLAPSE, test_exact_copies_of_one_change_share_one_id),
    "A redirect to another host": (
        LOSES,
        test_a_redirect_to_another_host_is_followed_without_the_credential,
    ),
}


def documented_table() -> dict[str, str]:
    """docs/airbyte.md's honest table: row -> verdict."""
    page = text(ROOT / "docs" / "airbyte.md")
    start = page.index("<!-- the honest table: tests/test_airbyte_manifest.py")
    rows = {}
    for line in page[start:].splitlines()[3:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[-1].strip("*")
    return rows


def test_docs_airbyte_md_table_holds_every_reading_played_here_with_its_verdict():
    expected = {r.row: r.verdict for r in READINGS}
    expected.update({row: verdict for row, (verdict, _) in OTHER_ROWS.items()})
    assert documented_table() == expected


# ----------------------------------------------------------------------------- cost
def expected_requests(sb: Sandbox, cap: int, first_day: dt.date, last_day: dt.date) -> int:
    """The fewest requests day windows allow: per day, its pages, and one empty page to end
    it (an empty day is that page alone)."""
    per_day = Counter(dt.date.fromisoformat(r["changeDate"][:10]) for r in sb.ground_truth())
    days = (last_day - first_day).days + 1
    return sum(math.ceil(per_day[first_day + dt.timedelta(d)] / cap) + 1 for d in range(days))


@E2E
@pytest.mark.parametrize(("records", "days"), [(2000, 395), (20_000, 30)])
def test_a_full_sync_makes_one_request_per_page_and_one_per_day(
    sandbox_factory, tmp_path, records, days
):
    """Against the Python source's full read of the same data, up to now, each with its own
    defaults (toDate exclusive: the same pages for both)."""
    sb = recent_sandbox(sandbox_factory, 94, records, days, readings={"to_date_inclusive": False})
    config = tap_config(sb, "bearer", start_date=sb.start_time.isoformat())
    del config["end_date"]
    tap = run_inproc(config)
    assert tap.error is None
    tap_requests = sb.stats.requests["audit"]
    sync = run_manifest("read", manifest_config(sb, start=sb.start_time), tmp_path / "read")
    assert sync.exit_code == 0, sync.stderr[-3000:]
    assert_distinct_changes(sync.stream(), truth(sb))
    requests = sb.stats.requests["audit"] - tap_requests
    first_day = sb.start_time.date() - dt.timedelta(days=1)
    tomorrow = dt.datetime.now(UTC).date() + dt.timedelta(days=1)
    assert requests == expected_requests(sb, 500, first_day, tomorrow)
    print(json.dumps({"records": records, "days": days, "tap_requests": tap_requests,
                      "manifest_requests": requests, "manifest_windows":
                      (tomorrow - first_day).days + 1, "manifest_seconds": round(sync.seconds, 1),
                      "tap_seconds": round(tap.seconds, 1)}))  # fmt: skip


@E2E
def test_a_stream_without_new_changes_reads_again_every_day_since_its_last_change(
    sandbox_factory, tmp_path
):
    """A known limit, in docs/airbyte.md: the cursor is the newest change read, so a quiet
    stream's next sync starts again two days before its last change, and reads to tomorrow."""
    hour = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    sb = sandbox_factory(
        data=DataSpec(seed=87, records=80, end=hour - dt.timedelta(days=10), span_days=4),
        seed=87,
        readings=Readings(to_date_inclusive=False),
    )
    config = manifest_config(sb, start=sb.start_time)
    first = run_manifest("read", config, tmp_path / "first")
    assert first.exit_code == 0, first.stderr[-3000:]
    before = sb.stats.requests["audit"]
    second = run_manifest("read", config, tmp_path / "second", state=first.final_state)
    assert second.exit_code == 0, second.stderr[-3000:]
    assert second.cursor() == first.cursor()
    cursor = dt.datetime.strptime(first.cursor() or "", "%Y-%m-%dT%H:%M:%S.%f%z")
    start = cursor - dt.timedelta(days=2)
    first_day = start.date() + dt.timedelta(days=start.time() != dt.time(0))
    tomorrow = dt.datetime.now(UTC).date() + dt.timedelta(days=1)
    assert sb.stats.requests["audit"] - before == expected_requests(sb, 500, first_day, tomorrow)
    assert (tomorrow - first_day).days >= 10


# ----------------------------------------------------------------------------- secrets
def secrets_of(sb: Sandbox, config: Mapping[str, Any]) -> list[str]:
    """Every secret of a sync: its settings' and the bearers LivePerson issued."""
    c = sb.credentials
    issued = [s.bearer for s in sb.tokens.sessions.values()] + list(sb.tokens.tokens)
    given = config["credentials"].get("bearer_token")
    return [s for s in (c.password, c.client_id, c.client_secret, given, *issued) if s]


def leaked(output: str, secrets: list[str]) -> list[str]:
    """The secrets found in `output`, as they are or JSON-escaped."""
    return [s for s in secrets if s in output or json.dumps(s)[1:-1] in output]


@E2E
@pytest.mark.parametrize("auth", ["bearer", "login", "client_credentials"])
def test_no_secret_reaches_any_message_of_a_sync_or_of_a_refusal(sandbox_factory, tmp_path, auth):
    sb = recent_sandbox(
        sandbox_factory, 95, 60, readings={**HARD, "single_session_per_user": False}
    )
    config = manifest_config(sb, auth, start=sb.start_time)
    sync = run_manifest("read", config, tmp_path / "sync", streams=STREAMS)
    assert sync.exit_code == 0, sync.stderr[-3000:]
    sb.permission_granted = False
    refused = run_manifest("read", config, tmp_path / "refused")
    assert refused.exit_code != 0
    assert "Audit Trail read permission" in refused.errors[0]["message"]
    secrets = secrets_of(sb, config)
    assert len(secrets) >= 2
    for run in (sync, refused):
        assert not leaked(run.stdout + run.stderr, secrets)


@E2E
def test_at_debug_level_the_cdk_logs_the_login_services_bearer(sandbox_factory, tmp_path):
    """A known limit, in docs/airbyte.md: the bearer a login answers is no setting, so the CDK
    does not mask it where --debug logs every request's headers. The settings' secrets it masks."""
    sb = recent_sandbox(
        sandbox_factory, 96, 30, readings={**HARD, "single_session_per_user": False}
    )
    config = manifest_config(sb, "login", start=sb.start_time)
    sync = run_manifest("read", config, tmp_path / "sync", debug=True)
    assert sync.exit_code == 0, sync.stderr[-3000:]
    output = sync.stdout + sync.stderr
    bearers = [s.bearer for s in sb.tokens.sessions.values()]
    assert bearers
    assert leaked(output, bearers) == bearers
    assert not leaked(output, [sb.credentials.password])


# ----------------------------------------------------------------------------- standard tests
@E2E
def test_airbytes_standard_tests_for_declarative_sources_pass(sandbox_factory, tmp_path):
    """airbyte-cdk's DeclarativeSourceTestSuite, in .venv-airbyte: spec, check with a valid and
    an invalid config, config against spec, discover, read of every stream, and a read with a
    bad catalog. The image tests are left out: the image is Airbyte's, pulled from Docker Hub."""
    sb = recent_sandbox(sandbox_factory, 97, 300, days=5, readings=HARD)
    folder = tmp_path / "source-lp-audittrail-manifest"  # the suite names the connector by it
    shutil.copytree(FOLDER, folder, ignore=shutil.ignore_patterns("secrets", "__pycache__"))
    secrets = folder / "secrets"
    secrets.mkdir()
    config = manifest_config(sb, start=sb.start_time)
    (secrets / "config.json").write_text(json.dumps(config))
    invalid = {**config, "credentials": {**config["credentials"], "bearer_token": "sbx.wrong"}}
    (secrets / "invalid_config.json").write_text(json.dumps(invalid))
    args = ["-m", "not image_tests"]
    proc, outcomes = run_standard_tests(airbyte_venv_bin("python"), folder, args, cdk_env(tmp_path))
    assert proc.returncode == 0, proc.stdout[-6000:]
    passed = {name for name, outcome in outcomes.items() if outcome == "passed"}
    for name in (
        "test_spec",
        "test_check['config' Test Scenario]",
        "test_check['invalid_config' Test Scenario]",
        "test_config_matches_spec['config' Test Scenario]",
        "test_discover['config' Test Scenario]",
        "test_basic_read['config' Test Scenario]",
        "test_fail_read_with_bad_catalog['config' Test Scenario]",
    ):
        assert name in passed, json.dumps(outcomes)
    print(json.dumps({"standard_tests": dict(sorted(outcomes.items()))}))


# ----------------------------------------------------------------------------- the docs
@E2E
def test_the_documented_local_sync_and_its_resume_read_only_the_new_changes(
    sandbox_factory, tmp_path
):
    """docs/airbyte.md's commands as written: a sync with the manifest injected from its file,
    its STATEs made into state.json, and a sync from that file."""
    block = block_after("<!-- the manifest on the command line:", "sh")
    *first, resume = [line for line in block.body.splitlines() if line and line[0] != "#"]
    sb = recent_sandbox(sandbox_factory, 98, 200, readings=HARD)
    (tmp_path / "airbyte-manifest").mkdir()
    shutil.copy(MANIFEST, tmp_path / "airbyte-manifest" / "manifest.yaml")
    (tmp_path / "config.json").write_text(json.dumps(manifest_config(sb, start=sb.start_time)))
    (tmp_path / "catalog.json").write_text(json.dumps(configured_catalog([AUDIT])))
    env = {
        **cdk_env(tmp_path),
        "PATH": f"{REPO / '.venv-airbyte' / 'bin'}{os.pathsep}/usr/bin:/bin",
    }
    run_script("\n".join(first), tmp_path, env, timeout=300)
    append_recent(sb, 12, seed=99)
    run_script(resume, tmp_path, env, timeout=300)
    runs = []
    for name in ("first.jsonl", "second.jsonl"):
        records = [json.loads(line) for line in (tmp_path / name).read_text().splitlines()]
        runs.append([m["record"]["data"] for m in records if m["type"] == "RECORD"])
    union = [as_change(r) for r in runs[0] + runs[1]]
    assert_distinct_changes(union, truth(sb))
    new = {key(r) for r in truth(sb)} - {key(as_change(r)) for r in runs[0]}
    assert len(new) == 12
