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
import os
import stat
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from tap_lp_audittrail.capture import PERSONAL_FIELDS, Capture
from tap_lp_audittrail.sandbox import DataSpec, Readings, Sandbox
from tap_lp_audittrail.sandbox.replay import Replay, read_exchanges, read_windows, readings_of

from ._reliability import SecretSpy, catalog_for, run_process, tap_command
from .airbyte.helpers import configured_catalog, source
from .helpers import END, peak_memory, run_inproc, run_tap, tap_config
from .hostile import Answer, Seen, forward

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
    exchange = {"method": "GET", "path": "/x", "query": [], "service": "other", "status": 200}
    window = {"start": START.isoformat(), "end": END.isoformat(), "last": True,
              "inclusive": None, "firsts": [100]}  # fmt: skip
    for name, read, fields in (
        ("exchanges.jsonl", read_exchanges, exchange),
        ("windows.jsonl", read_windows, window),
    ):
        whole = [{**fields, "seq": 1, "body": "Zoë"}, {**fields, "seq": 2, "body": "Ωmega"}]
        text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in whole).encode()
        cut = json.dumps({**fields, "seq": 3, "body": "naïve"}, ensure_ascii=False).encode()
        cut = cut[: cut.index("ï".encode()) + 1]  # the first of the character's two bytes
        (tmp_path / name).write_bytes(text + cut)
        assert read(tmp_path) == whole


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


# ----------------------------------------------------------------------------- private files
def _modes(folder: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.iterdir()]}


def test_a_capture_is_private_whatever_the_umask_and_whatever_was_there(tmp_path):
    """Folder 0700, files 0600: under umask 0, into a folder and files left 0755 and 0644."""
    folder = tmp_path / "capture"
    folder.mkdir(mode=0o755)
    (folder / "exchanges.jsonl").write_text("old\n")
    (folder / "exchanges.jsonl").chmod(0o644)
    folder.chmod(0o755)
    before = os.umask(0)
    try:
        with Sandbox(data=DataSpec(seed=3, records=50, end=END, span_days=30)) as sb:
            run_tap(_config(sb, folder))
    finally:
        os.umask(before)
    modes = _modes(folder)
    assert set(modes) == {"capture", "settings.json", "exchanges.jsonl", "windows.jsonl",
                          "readings.json"}  # fmt: skip
    assert modes.pop("capture") == 0o700
    assert set(modes.values()) == {0o600}, modes


def test_a_capture_file_that_is_a_link_is_not_followed(tmp_path):
    """A folder someone prepared cannot turn the capture's writes into another file's."""
    folder, victim = tmp_path / "capture", tmp_path / "victim.txt"
    folder.mkdir()
    victim.write_text("kept\n")
    (folder / "exchanges.jsonl").symlink_to(victim)
    with Sandbox(data=DataSpec(seed=3, records=50, end=END, span_days=30)) as sb:
        config = _config(sb, folder)
        proc = run_process(tmp_path / "run", config, catalog=catalog_for(config))
        requests = sum(sb.stats.requests.values())
    assert proc.returncode == 1
    assert victim.read_text() == "kept\n"
    assert requests == 0
    _one_line_naming(proc.stderr, "capture_dir", str(folder))


@pytest.mark.parametrize("where", ["under a file", "a file"])
def test_a_capture_folder_that_cannot_be_written_stops_the_run_with_one_line(tmp_path, where):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    folder = a_file / "capture" if where == "under a file" else a_file
    with Sandbox(data=DataSpec(seed=3, records=50, end=END, span_days=30)) as sb:
        config = _config(sb, folder)
        proc = run_process(tmp_path / "run", config, catalog=catalog_for(config))
        requests = sum(sb.stats.requests.values())
    assert proc.returncode == 1
    assert requests == 0, "a request went out before the capture folder was checked"
    _one_line_naming(proc.stderr, "capture_dir", str(folder))


def _one_line_naming(stderr: str, *words: str) -> None:
    assert "Traceback" not in stderr, stderr[-2000:]
    lines = [line for line in stderr.splitlines() if all(word in line for word in words)]
    assert len(lines) == 1, stderr[-2000:]


# ----------------------------------------------------------------------------- bounded memory
#: One value of this many characters in an answer, as text and again as JSON text.
BIG_VALUE = 6_000_000


def _big_record(sb: Sandbox, scripts: bool = True):
    """A record holding a BIG_VALUE text and a BIG_VALUE JSON text full of escapes."""
    base = sb.make_records(1, START, END, seed=2)[0]
    line = "Zoë wrote\n" if scripts else "Zelda wrote\n"
    return dataclasses.replace(
        base,
        old_value=("Zelda wrote " * (BIG_VALUE // 12 + 1))[:BIG_VALUE],
        new_value=json.dumps({"k": line * (BIG_VALUE // len(line))}),
    )


def test_a_capture_takes_a_few_times_an_answer_in_memory(tmp_path, hostile):
    """What the capture allocates for one answer (Python's allocations, traced): at most 6
    times the answer's size, whatever one value of it holds."""
    with Sandbox(data=DataSpec(seed=3, records=5, end=END, span_days=30)) as sb:
        big = _big_record(sb, scripts=False)
        account = sb.account_id
    record = {
        "accountId": account,
        "objectType": big.object_type,
        "changeDate": "2026-10-02 10:00:00.0",
        "originator": big.originator,
        "oldValue": big.old_value,
        "newValue": big.new_value,
    }
    content = json.dumps({"data": {"auditData": [record]}}).encode()
    server = hostile(lambda seen: Answer(200, content, {"Content-Type": "application/json"}))
    response = requests.post(
        f"{server.url}/api/account/{account}/configuration/metadata/audit",
        json={"query": "{ auditData(first: 100) { originator } }"},
        timeout=60,
    )
    capture = Capture(tmp_path / "capture", account, pseudonymise=True)
    try:
        peak = peak_memory(capture.hook, response)
    finally:
        capture.close()
    written = (tmp_path / "capture" / "exchanges.jsonl").read_text()
    assert len(written) > len(content)
    assert "Zelda wrote" not in written  # "Zelda" alone: one pseudonym in 12 million
    assert peak < 6 * len(content), peak / len(content)


def _peak_rss(tmp_path: Path, config: dict) -> int:
    """The peak resident memory (bytes) of one tap process, which must succeed."""
    command = tap_command(tmp_path, config, None, catalog_for(config))
    with (tmp_path / "stderr.txt").open("wb") as err:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, (tmp_path / "stderr.txt").read_text()[-2000:]
    return usage.ru_maxrss * 1024  # kilobytes on Linux


def test_a_run_with_a_capture_peaks_at_a_multiple_of_its_largest_answer(tmp_path):
    """An answer holding a 6 MB value as text and a 6 MB JSON text full of escapes (and
    letters of other scripts): the run, capture included, peaks at most 20 times the answer
    above a run over small answers (the tap's own reading takes most of it)."""
    with Sandbox(data=DataSpec(seed=3, records=50, end=END, span_days=30)) as sb:
        config = tap_config(sb, start_date=START.isoformat(), page_size=100)
        config["capture_dir"] = str(tmp_path / "capture")
        floor = _peak_rss(tmp_path / "small", config)
        big = _big_record(sb)
        sb.append([big])
        answer = len(json.dumps({"oldValue": big.old_value, "newValue": big.new_value}))
        peak = _peak_rss(tmp_path / "big", config)
    exchanges = (tmp_path / "capture" / "exchanges.jsonl").read_text()
    assert len(exchanges) > 2 * BIG_VALUE
    assert "Zelda wrote" not in exchanges  # "Zelda" alone: one pseudonym in 12 million
    assert peak - floor < 20 * answer, (peak >> 20, floor >> 20, answer >> 20)


# ----------------------------------------------------------------------------- escapes
def test_a_401_echoing_the_oauth_header_leaves_no_signature_in_the_capture(tmp_path, hostile):
    """The header echoed inside a JSON string: its quotes escaped (`oauth_signature=\\"...\\"`)."""
    sb = Sandbox(data=DataSpec(seed=3, records=50, end=END, span_days=30))
    spy = SecretSpy(sb)

    def script(seen: Seen) -> Answer:
        if seen.path.endswith("/baseURI.json"):
            return Answer.json({"baseURI": api.host_port})
        echoed = seen.headers.get("Authorization", "")
        return Answer.json({"message": f"refused: Authorization: {echoed}"}, status=401)

    api = hostile(script)
    with sb:
        config = {**_config(sb, tmp_path / "capture"), "domain_api_url": api.url}
        proc = run_process(tmp_path, config, catalog=catalog_for(config))
    assert proc.returncode == 1
    for seen in api.seen:
        spy.see_request({"HTTP_AUTHORIZATION": seen.headers.get("Authorization", "")})
    captured = (tmp_path / "capture" / "exchanges.jsonl").read_text()
    assert "oauth_signature" in captured, "the echo was not captured"
    leaks = spy.leaks(captured)
    assert not leaks, leaks


def test_no_escape_hides_a_personal_field_and_no_name_echoed_in_an_error_stays(tmp_path, hostile):
    """Keys spelled with JSON escapes (`"origin\\u0061tor"`) are the tap's `originator`: their
    values are pseudonymised. A 401 naming the login user does not keep the name."""
    sb = Sandbox(data=DataSpec(seed=9, records=60, end=END, span_days=30))
    spy = SecretSpy(sb)
    audits: list[Seen] = []
    spelt: list[bool] = []
    user = sb.credentials.username

    def script(seen: Seen) -> Answer:
        if seen.path.endswith("/baseURI.json"):
            return Answer.json({"baseURI": api.host_port})
        if not seen.path.endswith("/metadata/audit"):
            return forward(seen, sb.url)  # the Login Service
        audits.append(seen)
        if len(audits) == 2:  # renewed once, then all goes on
            return Answer.json({"message": f"user {user} is not authorized"}, status=401)
        answer = forward(seen, sb.url)
        held = b'"originator":' in answer.body
        for key in ("originator", "originatorLoginName", "objectName", "newValue"):
            spelled = key.replace("a", "\\u0061", 1).replace("N", "\\u004e", 1)
            answer.body = answer.body.replace(f'"{key}":'.encode(), f'"{spelled}":'.encode())
        if held:
            spelt.append(b"origin\\u0061tor" in answer.body)
        return answer

    api = hostile(script)
    with sb:
        sb.append(_planted(sb))
        config = {
            **tap_config(sb, auth="login", start_date=START.isoformat(), page_size=500),
            "domain_api_url": api.url,
            "capture_dir": str(tmp_path / "capture"),
        }
        proc = run_process(tmp_path, config, catalog=catalog_for(config))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert spelt, "no answer held a record"
    assert all(spelt), "an answer was not spelt with escapes"
    read = {r["originator"] for r in proc.parsed().stream("audit_trail")}
    assert PLANTED[0] in read, "the tap did not read the escaped key"
    captured = "".join(p.read_text() for p in sorted((tmp_path / "capture").iterdir()))
    for value in (*PLANTED, user):
        for form in (value, json.dumps(value)[1:-1], value.split()[0]):
            assert form not in captured, form
    assert not spy.leaks(captured)


def _planted(sb: Sandbox) -> list:
    """Records naming PLANTED people in the fields a capture pseudonymises."""
    base = sb.make_records(4, START, END, seed=2)
    return [
        dataclasses.replace(base[0], originator=PLANTED[0]),
        dataclasses.replace(base[1], originator_login_name=PLANTED[1]),
        dataclasses.replace(base[2], object_name=PLANTED[2]),
        dataclasses.replace(base[3], new_value=json.dumps({"n": PLANTED[0]})),
    ]
