"""progress.py, in process: the lines a person follows a read by, each said at INFO."""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Iterator

import pytest

from tap_lp_audittrail import progress as progress_module
from tap_lp_audittrail.progress import ReadProgress
from tap_lp_audittrail.sandbox import DataSpec
from tap_lp_audittrail.windows import Window

from .helpers import END as SANDBOX_END
from .helpers import run_inproc, tap_config

UTC = dt.timezone.utc
START = dt.datetime(2026, 1, 1, tzinfo=UTC)
END = dt.datetime(2026, 1, 11, tzinfo=UTC)


def said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]


@pytest.fixture
def progress(caplog: pytest.LogCaptureFixture) -> Iterator[ReadProgress]:
    caplog.set_level(logging.INFO, logger="tap-lp-audittrail")
    progress = ReadProgress("audit trail", START, END)
    yield progress
    progress.ends()


def test_the_read_begins_with_its_range_its_longest_window_and_its_filter(progress, caplog):
    progress.begins(7, ("ACUserObject", "ACSkillObject"))
    progress.begins(7, ())
    assert said(caplog) == [
        "audit trail: reading 2026-01-01T00:00:00+00:00 to 2026-01-11T00:00:00+00:00 in date "
        "windows of 1 to 7 days (componentTypes ACUserObject, ACSkillObject)",
        "audit trail: reading 2026-01-01T00:00:00+00:00 to 2026-01-11T00:00:00+00:00 in date "
        "windows of 1 to 7 days",
    ]


@pytest.mark.parametrize(
    ("window", "share"),
    [
        (Window(START, START + dt.timedelta(days=1)), "10%"),
        (Window(START, START + dt.timedelta(days=5)), "50%"),
        # the last window reaches past the end: the share stops at 100%
        (Window(END - dt.timedelta(days=1), END + dt.timedelta(days=2), last=True), "100%"),
        # a window ending before the start (the day before it, read for a zone behind UTC):
        # never a negative share
        (Window(START - dt.timedelta(days=2), START - dt.timedelta(days=1)), "0%"),
    ],
)
def test_each_window_done_says_its_records_pages_and_the_share_of_the_range(
    progress, caplog, window, share
):
    progress.handed_on = 4000
    progress.window_done(window, pages=3, records=1200)
    (line,) = said(caplog)
    assert line.startswith(f"audit trail: window {window.from_date}..{window.to_date} done: ")
    assert line.endswith(
        f"1200 records in 3 pages; 4000 handed on so far, {share} of the time range"
    )


def test_each_stream_says_where_it_starts_and_what_it_emitted(progress, caplog):
    progress.stream_starts("users", START)
    progress.stream_done("users", 12, 3)
    assert said(caplog) == [
        "users: reading from 2026-01-01T00:00:00+00:00",
        "users: 12 changes emitted; 3 read again and skipped (emitted by an earlier run)",
    ]


# ------------------------------------------------------------------ how far, at least a minute


HOW_FAR = re.compile(
    r"audit trail: (?P<written>[\d,]+) records written, (?P<requests>[\d,]+) requests made in "
    r"\d+ min \d\d s; about (?P<share>\d+)% done \((?P<how>.*)\)$"
)


def how_far_lines(caplog: pytest.LogCaptureFixture) -> list[re.Match[str]]:
    return [m for line in said(caplog) if (m := HOW_FAR.match(line))]


def test_the_share_done_is_the_time_range_read_while_no_total_is_known(progress):
    progress.window_done(Window(START, START + dt.timedelta(days=2)), 1, 10)
    progress.page_read(Window(START + dt.timedelta(days=2), START + dt.timedelta(days=4)), 50, None)
    assert progress.share_done() == (pytest.approx(0.2), False)


def test_a_window_being_read_counts_by_its_records_against_the_servers_total(progress):
    progress.window_done(Window(START, START + dt.timedelta(days=2)), 1, 10)
    # two days being read, half their records in: one day's worth of the range
    progress.page_read(Window(START + dt.timedelta(days=2), START + dt.timedelta(days=4)), 50, 100)
    assert progress.share_done() == (pytest.approx(0.3), True)
    # read whole but not yet handed on (an earlier window still open): counted whole, never more
    progress.page_read(Window(START + dt.timedelta(days=4), END + dt.timedelta(days=1)), 90, 80)
    assert progress.share_done() == (pytest.approx(0.2 + 0.1 + 0.6), True)


def test_a_line_says_how_far_the_read_is_every_interval_until_it_ends(caplog):
    caplog.set_level(logging.INFO, logger="tap-lp-audittrail")
    written = iter(range(0, 10_000, 1_000))
    progress = ReadProgress(
        "audit trail", START, END, requests=lambda: 7, written=lambda: next(written), every=0.1
    )
    began = time.monotonic()
    progress.begins(7, ())
    waited = began + 30  # a loaded machine may be slow to run the thread; the rule is the gap
    while len(how_far_lines(caplog)) < 3 and time.monotonic() < waited:
        time.sleep(0.02)
    progress.ends()
    lines = how_far_lines(caplog)
    assert len(lines) <= (time.monotonic() - began) / 0.1 + 1, "more than one line an interval"
    assert [m["written"] for m in lines[:3]] == ["0", "1,000", "2,000"]
    assert {m["requests"] for m in lines} == {"7"}
    assert lines[0]["how"] == "by the time range: read to 2026-01-01T00:00:00+00:00"
    count = len(how_far_lines(caplog))
    time.sleep(0.3)
    assert len(how_far_lines(caplog)) == count, "a line after the read ended"


def test_a_read_longer_than_the_interval_says_how_far_it_is_as_it_goes(
    sandbox_factory, caplog, monkeypatch
):
    """A slow server: lines come at the interval, whatever the windows, their numbers growing
    to what the run wrote and asked, the share never going back."""
    monkeypatch.setattr(progress_module, "EVERY_SECONDS", 0.3)
    caplog.set_level(logging.INFO, logger="tap-lp-audittrail")
    sb = sandbox_factory(data=DataSpec(seed=45, records=1_500, end=SANDBOX_END), latency=0.1)
    outcome = run_inproc(tap_config(sb, page_size=100, max_concurrency=1), streams=None)
    assert outcome.error is None, outcome.error
    lines = how_far_lines(caplog)
    assert len(lines) >= 2, said(caplog)
    written = [int(m["written"].replace(",", "")) for m in lines]
    requests = [int(m["requests"].replace(",", "")) for m in lines]
    shares = [int(m["share"]) for m in lines]
    assert written == sorted(written)
    assert written[-1] > 0
    assert written[-1] <= sum(len(records) for records in outcome.run.records.values())
    assert requests == sorted(requests)
    assert 0 < requests[-1] <= len(sb.stats.log)
    assert shares == sorted(shares)
    assert shares[0] >= 0
    assert shares[-1] <= 100


def test_the_lines_of_a_run_come_in_a_true_order(sandbox_factory, caplog):
    """Each stream says where it starts before the read, and what it emitted after; the SDK's
    lines of a sync beginning are said for the stream whose sync runs the read, before it, and
    for no stream after the read wrote its records."""
    caplog.set_level(logging.INFO)
    sb = sandbox_factory(data=DataSpec(seed=46, records=600, end=SANDBOX_END))
    streams = ("audit_trail", "skills", "users")
    outcome = run_inproc(tap_config(sb, page_size=200), streams=streams)
    assert outcome.error is None, outcome.error
    lines = [r.getMessage() for r in caplog.records]

    def at(prefix: str) -> int:
        (index,) = [i for i, line in enumerate(lines) if line.startswith(prefix)]
        return index

    read = at("audit trail: reading ")
    first = at("Beginning sync of 'audit_trail'")
    assert first < at("Starting incremental sync of 'audit_trail'") < read
    for name in streams:
        emitted = at(f"{name}: {len(outcome.run.stream(name))} changes emitted")
        assert at(f"{name}: reading from ") < read < emitted
    for name in ("skills", "users"):
        assert not [
            line
            for line in lines
            if line.startswith(("Beginning sync of", "Starting incremental"))
            and f"'{name}'" in line
        ], "the SDK said a sync began after the read wrote its records"
