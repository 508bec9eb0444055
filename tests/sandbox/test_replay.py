"""Replaying a capture that may come from anyone (sandbox/replay.py): the replay's config
takes from it only what shapes the requests, and a malformed capture is one line naming the
file and the line, before anything is served."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tap_lp_audittrail.credentials import SECRET_SETTINGS
from tap_lp_audittrail.sandbox import DataSpec, Sandbox
from tap_lp_audittrail.sandbox.replay import CREDENTIALS, REPLAYED_SETTINGS, Replay
from tests.helpers import END, run_tap, tap_config

START = END - dt.timedelta(days=20)


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    """A capture of a run reading every stream, one request at a time."""
    folder = tmp_path_factory.mktemp("capture") / "capture"
    with Sandbox(data=DataSpec(seed=21, records=300, end=END, span_days=20)) as sb:
        config = tap_config(sb, start_date=START.isoformat(), capture_dir=str(folder))
        run_tap({**config, "max_concurrency": 1, "page_size": 100}, streams=None)
    return folder


def _copy(capture: Path, to: Path) -> Path:
    to.mkdir()
    for path in capture.iterdir():
        (to / path.name).write_bytes(path.read_bytes())
    return to


def test_the_replay_takes_only_the_settings_that_shape_the_requests(capture, tmp_path):
    """A crafted settings.json naming a capture folder, a stream map dropping every record, a
    host and a far too patient retry: none reaches the replayed run's config."""
    folder = _copy(capture, tmp_path / "crafted")
    settings = json.loads((folder / "settings.json").read_text())
    elsewhere = tmp_path / "written-on-replay"
    crafted = {
        "capture_dir": str(elsewhere),
        "stream_maps": {"audit_trail": {"__filter__": "False"}},
        "stream_map_config": {"salt": "x"},
        "flattening_enabled": True,
        "domain_api_url": "https://api.example.invalid",
        "retry_initial_wait": 600,
        "request_timeout": 3600,
        "batch_config": {"encoding": {"format": "jsonl"}, "storage": {"root": str(elsewhere)}},
    }
    settings["settings"].update(crafted)
    (folder / "settings.json").write_text(json.dumps(settings))
    with Replay(folder) as replay:
        config = replay.tap_config()
        expected = dict(config)
        assert set(config) - set(REPLAYED_SETTINGS) <= {
            "account_id", "domain_api_url", "replay_host_time", "replay_windows",
        }  # fmt: skip
        assert config["domain_api_url"] == replay.url
        replayed = run_tap(config, streams=None)
        assert not replay.missing, replay.missing[:3]
    assert not elsewhere.exists()
    assert replayed.stream("audit_trail"), "the crafted filter took effect"
    with Replay(capture) as replay:
        assert replay.tap_config() == {**expected, "domain_api_url": replay.url}


def test_the_replayed_credentials_are_the_tap_s():
    assert set(CREDENTIALS) == set(SECRET_SETTINGS)


#: Ways to break a capture: (file, how), and what the one line must name.
BROKEN = {
    "no settings.json": ("settings.json", None, "settings.json: missing"),
    "settings.json not JSON": ("settings.json", b'{"format": ', "settings.json: not JSON"),
    "settings.json nested too deep": ("settings.json", b"[" * 100_000 + b"]" * 100_000,
                                      "settings.json: nested too deep"),
    "settings.json a list": ("settings.json", b"[]", "expected a JSON object, got list"),
    "another format": ("settings.json", {"format": "something else 9"}, "`format` is not"),
    "no range": ("settings.json", {"range": None}, "`range` is not an object"),
    "range without an end": ("settings.json", {"range": {"start": "2026-01-01T00:00:00Z"}},
                             "range: `end` is missing"),
    "a host time that is no date": ("settings.json", {"host_time": "yesterday"},
                                    "`host_time` is not a date-time"),
    "a page size that is text": ("settings.json", {"settings": {"page_size": "500"}},
                                 "settings: `page_size` is not an integer"),
    "users that are not strings": ("settings.json", {"settings": {"users": [1]}},
                                   "`users` is not a list of strings"),
    "no exchanges.jsonl": ("exchanges.jsonl", None, "exchanges.jsonl: missing"),
    "a line in the middle not JSON": ("exchanges.jsonl", 2, "exchanges.jsonl line 2: not JSON"),
    "an exchange without a method": ("exchanges.jsonl", {"method": None},
                                     "exchanges.jsonl line 1: `method` is not a string"),
    "an exchange without a path": ("exchanges.jsonl", {"path": ...},
                                   "exchanges.jsonl line 1: `path` is missing"),
    "a status that is text": ("exchanges.jsonl", {"status": "200"},
                              "line 1: `status` is not an HTTP status"),
    "a query that is no pairs": ("exchanges.jsonl", {"query": [["a"]]},
                                 "`query` is not a list of [name, value] pairs"),
    "a body that is no text": ("exchanges.jsonl", {"response_body": {"a": 1}},
                               "`response_body` is not a string or null"),
    "a base64 body that is not": ("exchanges.jsonl", {"response_body_base64": "%%%"},
                                  "`response_body_base64` is not base64 text"),
    "an exchange nested too deep": ("exchanges.jsonl", b"[" * 100_000 + b"]" * 100_000 + b"\n",
                                    "exchanges.jsonl line 1: nested too deep"),
    "a window with no start": ("windows.jsonl", {"start": ...}, "windows.jsonl line 1: `start`"),
    "a window's firsts not numbers": ("windows.jsonl", {"firsts": ["100"]},
                                      "`firsts` is not a list of integers"),
}  # fmt: skip


def _break(folder: Path, name: str, how: object) -> None:
    path = folder / name
    if how is None:
        path.unlink()
    elif isinstance(how, bytes):
        path.write_bytes(how)
    elif isinstance(how, int):  # line `how` is not JSON, and more lines follow it
        lines = path.read_bytes().splitlines(keepends=True)
        lines[how - 1] = b'{"method": "GET", "pa\n'
        path.write_bytes(b"".join(lines))
    elif name == "settings.json":
        value = json.loads(path.read_text())
        for key, changed in how.items():  # type: ignore[attr-defined]
            if isinstance(changed, dict) and isinstance(value.get(key), dict):
                value[key].update(changed)
                if key == "range":
                    value[key].pop("end")
            else:
                value[key] = changed
        path.write_text(json.dumps(value))
    else:  # the first line of a .jsonl file changed
        lines = path.read_text().splitlines()
        first = json.loads(lines[0])
        for key, changed in how.items():  # type: ignore[attr-defined]
            if changed is ...:
                first.pop(key)
            else:
                first[key] = changed
        lines[0] = json.dumps(first)
        path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_malformed_capture_is_one_line_naming_the_file_and_line(capture, tmp_path, case):
    name, how, said = BROKEN[case]
    folder = _copy(capture, tmp_path / "broken")
    _break(folder, name, how)
    proc = subprocess.run(
        [sys.executable, "-m", "tap_lp_audittrail.sandbox.cli", "--replay", str(folder),
         "--write-tap-config", str(tmp_path / "replay.json")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-2000:]
    assert str(folder / name) in lines[0]
    assert said in lines[0], lines[0]
    assert proc.stdout == "", "served a broken capture"
    assert not (tmp_path / "replay.json").exists()
