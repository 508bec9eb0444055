"""A capture made from Meltano: `capture_dir` set as TAP_LP_AUDITTRAIL_CAPTURE_DIR, the tap run
by `meltano invoke` as docs/troubleshooting.md says, and the capture replayed."""

from __future__ import annotations

import json

from tap_lp_audittrail.capture import PERSONAL_FIELDS
from tap_lp_audittrail.sandbox import DataSpec
from tap_lp_audittrail.sandbox.replay import Replay

from ..helpers import END, parse_messages, run_tap
from ..helpers import Run as TapRun


def _without(records: list[dict]) -> list[dict]:
    ignored = ("id", "accountId", *PERSONAL_FIELDS)
    return [{k: v for k, v in r.items() if k not in ignored} for r in records]


def test_a_capture_made_through_meltano_invoke_replays(sandbox_factory, make_project, tmp_path):
    sb = sandbox_factory(data=DataSpec(seed=71, records=800, end=END, span_days=30), seed=71)
    project = make_project()
    folder = tmp_path / "capture"
    project.use_sandbox(sb, capture_dir=str(folder), start_date=sb.start_time.isoformat())
    # stdout apart from the log lines on stderr, as `> /dev/null` in the doc keeps them apart
    proc = project.command(
        [project.meltano, "--environment=sandbox", "invoke", "tap-lp-audittrail"]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    invoked = parse_messages(proc.stdout, TapRun())
    assert len(invoked.stream("audit_trail")) == len(sb.ground_truth())
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["settings"]["account_id"] == "ACCOUNT"
    assert settings["settings"]["app_secret"] == "***"
    assert (folder / "readings.json").exists()
    with Replay(folder) as replay:
        replayed = run_tap(replay.tap_config(), streams=None)
        assert not replay.missing, replay.missing[:3]
    for stream, records in invoked.records.items():
        assert _without(records) == _without(replayed.records.get(stream, [])), stream
