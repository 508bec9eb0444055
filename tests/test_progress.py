"""progress.py, in process: the lines a person follows a read by, each said at INFO."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from tap_lp_audittrail.progress import ReadProgress
from tap_lp_audittrail.windows import Window

UTC = dt.timezone.utc
START = dt.datetime(2026, 1, 1, tzinfo=UTC)
END = dt.datetime(2026, 1, 11, tzinfo=UTC)


def said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]


@pytest.fixture
def progress(caplog: pytest.LogCaptureFixture) -> ReadProgress:
    caplog.set_level(logging.INFO, logger="tap-lp-audittrail")
    return ReadProgress("audit trail", START, END)


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
    progress.window_done(window, pages=3, records=1200, handed_on=4000)
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
