"""Capture, replay and the readings report (docs/capture.md).

A capture made against the sandbox under each reading it knows replays to the same records;
the readings report names the reading the sandbox played (null where the answers cannot show
it); no secret and no planted personal value is in any captured byte; a killed capture replays
up to where it stopped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tap_lp_audittrail.capture import PERSONAL_FIELDS
from tap_lp_audittrail.sandbox import DataSpec, Readings, Sandbox
from tap_lp_audittrail.sandbox.replay import Replay, read_exchanges, read_windows, readings_of

from ._reliability import SecretSpy, catalog_for, run_process
from .helpers import END, run_inproc, run_tap, tap_config
from .test_airbyte import configured_catalog, source

START = END - dt.timedelta(days=30)
DATA = DataSpec(seed=7, records=1500, end=END, span_days=30)
#: Each reading the sandbox plays, and what the report should say of it.
READINGS = {
    "default": ({}, {"to_date_inclusive": True, "dates_zone": "UTC", "total_count": "total"}),
    "exclusive": ({"to_date_inclusive": False}, {"to_date_inclusive": False}),
    "utc": ({"dates_timezone": "utc", "to_date_inclusive": False}, {"dates_zone": "UTC"}),
    "server zone": (
        {"dates_timezone": "server", "server_timezone": "Asia/Kolkata"},
        {"dates_zone": "Asia/Kolkata"},
    ),
    "server zone west": (
        {"dates_timezone": "server", "server_timezone": "America/Chicago"},
        {"dates_zone": "America/Chicago"},
    ),
    "page cap": ({"max_page_size": 40}, {"page_cap": 40, "above_page_cap": "cap"}),
    "page cap refused": (
        {"max_page_size": 40, "above_max_page_size": "error"},
        {"page_cap": 40, "above_page_cap": "error"},
    ),
    "count is the page": ({"total_count": "page"}, {"total_count": "page"}),
    "shuffled ties": ({"tie_order": "shuffled"}, {}),
    "no UTC": ({"utc_accepted": False}, {"dates_zone": "UTC"}),
    "no actionType": ({"action_type": "refused"}, {}),
    "subsecond": ({"subsecond": True}, {}),
}


def _config(sb: Sandbox, folder: Path, **more) -> dict:
    return tap_config(
        sb, start_date=START.isoformat(), capture_dir=str(folder), **{"page_size": 100, **more}
    )


def _without(records: list[dict], fields: tuple[str, ...]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in fields} for r in records]


def _same_zone(reported: str, played: str) -> bool:
    days = [START + dt.timedelta(days=d) for d in range(0, 31, 5)]
    return all(
        ZoneInfo(reported).utcoffset(day.replace(tzinfo=None))
        == ZoneInfo(played).utcoffset(day.replace(tzinfo=None))
        for day in days
    )


def _zone_shown(report: dict, played: str) -> bool:
    """The report names the played zone, or one the answers cannot tell from it, and its offset.

    Over a range that ends where summer time ends, a fixed zone fits every answer the played
    one does: the report then names no zone, only the offset both have over the dates asked.
    """
    offset = ZoneInfo(played).utcoffset(START.replace(tzinfo=None))
    assert offset is not None
    minutes = int(offset.total_seconds() // 60)
    shown = f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    if report["dates_zone"] is None:
        return report["dates_utc_offset"] == shown
    return _same_zone(report["dates_zone"], played)


@pytest.mark.parametrize("name", list(READINGS))
def test_a_capture_replays_to_the_same_records_and_reports_the_reading(tmp_path, name):
    played, expected = READINGS[name]
    folder = tmp_path / "capture"
    with Sandbox(data=DATA, readings=Readings(**played)) as sb:
        # One request at a time, as docs/troubleshooting.md makes a capture: what a run shows
        # of a reading, and the requests it makes once it has learnt one (a refused "UTC"),
        # then follow from the data alone, not from the timing of answers.
        captured = run_tap(_config(sb, folder, max_concurrency=1), streams=None)
    report = json.loads((folder / "readings.json").read_text())
    for key, value in expected.items():
        if key == "dates_zone":
            assert _zone_shown(report, value), report
        else:
            assert report[key] == value, (key, report)
    with Replay(folder) as replay:
        replayed = run_tap(replay.tap_config(), streams=None)
        assert not replay.missing, replay.missing[:3]
    assert captured.records.keys() == replayed.records.keys()
    ignored = ("id", "accountId", *PERSONAL_FIELDS)  # the account id is a placeholder
    for stream, records in captured.records.items():
        assert _without(records, ignored) == _without(replayed.records[stream], ignored), stream


def test_without_pseudonymisation_the_replay_emits_the_captured_messages(tmp_path, caplog):
    folder = tmp_path / "capture"
    with Sandbox(data=DATA) as sb, caplog.at_level(logging.WARNING):
        captured = run_tap(_config(sb, folder, capture_pseudonymise=False), streams=None)
        account = sb.account_id
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("capture_pseudonymise is false" in r.getMessage() for r in warned)
    assert account not in "".join(p.read_text() for p in folder.iterdir())
    # With the account's id given back (only its owner knows it), the very same messages.
    with Replay(folder, account_id=account) as replay:
        again = run_tap(replay.tap_config(), streams=None)
        assert not replay.missing, replay.missing[:3]
    assert again.records == captured.records
    assert again.states == captured.states
    # Without it, the account id is the placeholder, and so the `id` (which hashes it)
    # differs: all else is the captured run's, record for record, in the same order.
    with Replay(folder) as replay:
        replayed = run_tap(replay.tap_config(), streams=None)
    assert captured.records.keys() == replayed.records.keys()
    ids: dict[str, str] = {}
    for stream, records in captured.records.items():
        other_records = replayed.records[stream]
        assert len(other_records) == len(records), stream
        for one, other in zip(records, other_records, strict=True):
            assert other["accountId"] == "ACCOUNT"
            assert _without([one], ("id", "accountId")) == _without([other], ("id", "accountId"))
            assert ids.setdefault(one["id"], other["id"]) == other["id"]
    assert len(set(ids.values())) == len(ids), "one id for one change"
    assert [_ids_mapped(state, ids) for state in captured.states] == replayed.states


def _ids_mapped(value: object, ids: dict[str, str]) -> object:
    """`value` with every captured record id replaced by the replayed one."""
    if isinstance(value, dict):
        return {k: _ids_mapped(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_ids_mapped(v, ids) for v in value]
    return ids.get(value, value) if isinstance(value, str) else value


def test_the_report_says_null_for_what_a_run_cannot_see(tmp_path):
    """Pages never short, no count differing from its page, no state: nothing to say."""
    folder = tmp_path / "capture"
    with Sandbox(data=DataSpec(seed=3, records=0, end=END, span_days=30)) as sb:
        run_tap(_config(sb, folder))
    report = json.loads((folder / "readings.json").read_text())
    assert report["page_cap"] is None
    assert report["total_count"] is None
    assert report["late_changes"]["count"] is None


def test_late_changes_are_counted_from_the_previous_bookmark(tmp_path):
    lag = dt.timedelta(hours=2)
    clock = END - dt.timedelta(hours=1)
    with Sandbox(data=DataSpec(seed=5, records=3000, end=END, span_days=30)) as sb:
        sb.set_clock(clock)
        config = tap_config(sb, start_date=START.isoformat())
        first = run_tap(config)
        late = [
            dataclasses.replace(r.at(clock - dt.timedelta(minutes=30)), visible_after=lag)
            for r in sb.make_records(3, START, END)
        ]
        sb.append(late)
        sb.set_clock(clock + 3 * lag)
        second = run_tap({**config, "capture_dir": str(tmp_path)}, state=first.final_state)
    report = json.loads((tmp_path / "readings.json").read_text())
    assert report["late_changes"]["count"] == 3, report
    assert report["late_changes"]["largest_lag_seconds"] > 0
    assert len(second.stream("audit_trail")) >= 3


PLANTED = ("Zelda Quartermain-Obvious", "zelda.q@planted.example", "PlantedAgent/9.9 (Secret)")


@pytest.mark.parametrize("auth", ["oauth1", "login", "login_api_key", "client_credentials",
                                  "bearer"])  # fmt: skip
def test_no_secret_and_no_planted_personal_value_in_any_captured_byte(tmp_path, auth):
    sb = Sandbox(data=DataSpec(seed=9, records=300, end=END, span_days=30))
    spy = SecretSpy(sb)
    with sb:
        base = sb.make_records(4, START, END, seed=2)
        planted = [
            base[0].__class__(**{**vars(base[0]), "originator": PLANTED[0]}),
            base[1].__class__(**{**vars(base[1]), "originator_login_name": PLANTED[1]}),
            base[2].__class__(**{**vars(base[2]), "originator_user_agent": PLANTED[2]}),
            base[3].__class__(**{**vars(base[3]), "new_value": json.dumps({"n": PLANTED[0]})}),
        ]
        sb.append(planted)
        config = tap_config(sb, auth=auth, start_date=START.isoformat(),
                            capture_dir=str(tmp_path / "capture"))  # fmt: skip
        if auth == "bearer":
            spy.values.add(config["bearer_token"])
        proc = run_process(tmp_path, config, catalog=catalog_for(config))
    assert proc.returncode == 0, proc.stderr[-2000:]
    captured = b"".join(p.read_bytes() for p in sorted((tmp_path / "capture").iterdir()))
    text = captured.decode()
    leaks = spy.leaks(text)
    assert not leaks, f"{len(leaks)} secret(s) in the capture, e.g. {leaks[0][:6]}..."
    for value in PLANTED:
        for form in (value, json.dumps(value), value.split()[0]):
            assert form not in text, form
    assert sb.account_id not in text


def test_a_killed_capture_replays_up_to_where_it_stopped(tmp_path):
    folder = tmp_path / "capture"
    with Sandbox(data=DataSpec(seed=4, records=20_000, end=END, span_days=30), latency=0.02) as sb:
        config = _config(sb, folder, capture_pseudonymise=False, page_size=100)
        proc = run_process(tmp_path, config, catalog=catalog_for(config), kill_after_lines=3000)
    assert proc.killed
    killed = proc.parsed()
    # The kill may cut the last line, even inside a character: the replay leaves it out.
    assert (folder / "exchanges.jsonl").read_bytes().splitlines()
    assert not (folder / "readings.json").exists()
    with Replay(folder) as replay:
        outcome = run_inproc(replay.tap_config(), None, ("audit_trail",))
    emitted = outcome.run.stream("audit_trail")
    got = killed.stream("audit_trail")
    assert got
    assert _without(emitted[: len(got)], ("id", "accountId")) == _without(got, ("id", "accountId"))


def test_a_last_line_cut_inside_a_character_is_left_out(tmp_path):
    """A kill can stop the capture's writes in the middle of a character of a line."""
    whole = [{"seq": 1, "body": "Zoë"}, {"seq": 2, "body": "Ωmega"}]
    text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in whole).encode()
    cut = json.dumps({"seq": 3, "body": "naïve"}, ensure_ascii=False).encode()
    cut = cut[: cut.index("ï".encode()) + 1]  # the first of the character's two bytes
    (tmp_path / "exchanges.jsonl").write_bytes(text + cut)
    (tmp_path / "windows.jsonl").write_bytes(text + cut)
    assert read_exchanges(tmp_path) == whole
    assert read_windows(tmp_path) == whole


def test_readings_from_a_report_play_it():
    report = {
        "to_date_inclusive": False,
        "dates_zone": "Asia/Kolkata",
        "page_cap": 200,
        "above_page_cap": "error",
        "total_count": "page",
    }
    readings = Readings(**readings_of(report))
    assert readings.to_date_inclusive is False
    assert (readings.dates_timezone, readings.server_timezone) == ("server", "Asia/Kolkata")
    assert (readings.max_page_size, readings.above_max_page_size) == (200, "error")
    assert readings.total_count == "page"
    assert readings_of({"dates_zone": "UTC"}) == {"dates_timezone": "utc"}


def test_the_airbyte_source_captures_alike(tmp_path):
    folder = tmp_path / "capture"
    with Sandbox(data=DATA) as sb:
        config = _config(sb, folder)
        out = source(tmp_path / "read", "read", config, catalog=configured_catalog(["audit_trail"]))
    assert out.exit_code == 0, out.stderr[-2000:]
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["settings"]["account_id"] == "ACCOUNT"
    assert settings["pseudonymised"] is True
    assert json.loads((folder / "readings.json").read_text())["to_date_inclusive"] is True
    with Replay(folder) as replay:
        replayed = run_tap(replay.tap_config())
        assert not replay.missing, replay.missing[:3]
    ignored = ("id", "accountId", *PERSONAL_FIELDS)
    assert _without(out.records("audit_trail"), ignored) == _without(
        replayed.stream("audit_trail"), ignored
    )


def test_every_run_ends_by_logging_the_readings_report_once(tmp_path):
    """Without a capture too: one INFO line, after the last record was read."""
    with Sandbox(data=DataSpec(seed=8, records=400, end=END, span_days=30)) as sb:
        config = tap_config(sb, start_date=START.isoformat(), page_size=100)
        proc = run_process(tmp_path, config, catalog=catalog_for(config))
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stderr.splitlines()
    reports = [n for n, line in enumerate(lines) if "API readings seen in this run" in line]
    assert len(reports) == 1, reports
    line = lines[reports[0]]
    assert "INFO" in line
    assert "toDate inclusive true" in line, line
    assert "(UTC+00:00)" in line, line  # the offset at least: 400 changes may not settle the zone
    window_lines = [n for n, text in enumerate(lines) if ": window " in text]
    assert not window_lines or max(window_lines) < reports[0]
