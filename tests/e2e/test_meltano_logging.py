"""What `meltano run` shows of the tap's log lines.

The tap declares `structured-logging`: Meltano gives it the SDK's JSON log format, parses each
line and shows it at the tap's own level — a WARNING as `[warning]`, the ERROR a run ends with
as `[error]` — where every line of a tap without it shows as `[info]`. Secrets stay redacted
(the run that is refused runs at DEBUG, where the tap logs the most), and a run at INFO shows
no METRIC line per HTTP request.
"""

from __future__ import annotations

import re

from tap_lp_audittrail.sandbox import DataSpec

from ..helpers import END

#: A line of Meltano's console output that comes from the tap: its level and its message.
TAP_LINE = re.compile(r"^\S+ \[(\w+)\s*\] tap-lp-audittrail (.*)$")
UNKNOWN_TYPES = "objectType no element stream knows"
REFUSED = "LivePerson refused the OAuth 1.0 API key"


def _tap_lines(output: str) -> list[tuple[str, str]]:
    return [m.groups() for m in map(TAP_LINE.match, output.splitlines()) if m is not None]


def test_meltano_shows_the_taps_warning_and_error_at_their_levels(make_project, sandbox_factory):
    sb = sandbox_factory(data=DataSpec(seed=33, records=400, end=END), seed=33)
    project = make_project()
    # `skills` takes no objectType the sandbox serves: its changes are unknown, and the tap
    # says so in a WARNING at the end of a run that succeeds.
    project.use_sandbox(sb, object_types={"skills": ["Not a skill"]})
    warned = _tap_lines(project.elt("target-jsonl").output)
    assert warned, "no line of the tap in Meltano's output"
    levels = {level for level, message in warned if UNKNOWN_TYPES in message}
    assert levels == {"warning"}, warned[-20:]
    # Each line was parsed: none is the SDK's plain console line or raw JSON shown as a message.
    assert not [m for _, m in warned if m.startswith("{") or re.search(r"\| (INFO|WARNING) ", m)]
    # The SDK's metrics, shown by name and value; none per HTTP request at INFO.
    metrics = [m for _, m in warned if m.startswith("METRIC")]
    assert any("metric_name=record_count" in m for m in metrics), metrics
    assert not [m for m in metrics if "http_request_duration" in m]

    wrong = "wrong-app-secret-4d0c"
    refused = project.run(
        "--environment=sandbox",
        "--log-level=debug",
        "run",
        "--no-install",
        "tap-lp-audittrail",
        "target-jsonl",
        env={"TAP_LP_AUDITTRAIL_APP_SECRET": wrong},
    )
    assert refused.returncode != 0
    lines = _tap_lines(refused.output)
    assert {level for level, message in lines if REFUSED in message} == {"error"}, lines[-20:]
    assert "debug" in {level for level, _ in lines}, "the tap did not run at DEBUG"
    assert wrong not in refused.output
    assert sb.credentials.app_key not in refused.output
