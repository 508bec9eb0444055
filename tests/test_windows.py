"""How a run's time range is cut: whole UTC days, contiguous, sized to about 32 pages."""

from __future__ import annotations

import datetime as dt
import itertools

from tap_lp_audittrail.windows import Window, WindowPlanner

UTC = dt.timezone.utc


def test_windows_cover_the_range_exactly_on_utc_midnights():
    start = dt.datetime(2025, 1, 3, 15, 30, tzinfo=UTC)
    end = dt.datetime(2025, 2, 1, 6, 0, tzinfo=UTC)
    windows = list(WindowPlanner(start, end, max_days=7, page_size=500))
    assert windows[0].start == start
    assert windows[-1].end == end
    for before, after in itertools.pairwise(windows):
        assert before.end == after.start
        assert after.start.hour == 0
        assert after.start.minute == 0


def test_query_dates_cover_the_window_under_both_readings_of_to_date():
    window = Window(dt.datetime(2025, 1, 3, 15, tzinfo=UTC), dt.datetime(2025, 1, 10, tzinfo=UTC))
    assert (window.from_date, window.to_date) == ("2025-01-03", "2025-01-10")
    partial = Window(dt.datetime(2025, 1, 3, tzinfo=UTC), dt.datetime(2025, 1, 5, 6, tzinfo=UTC))
    assert partial.to_date == "2025-01-06"  # the last, partial day is inside


def test_dense_data_makes_windows_shorter_and_sparse_data_longer():
    start, end = dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2025, 12, 1, tzinfo=UTC)
    planner = WindowPlanner(start, end, max_days=7, page_size=500)
    windows = iter(planner)
    first = next(windows)
    assert first.end - first.start == dt.timedelta(days=1)  # density unknown yet
    planner.observe(first, 0)  # empty: one more day
    second = next(windows)
    assert second.end - second.start == dt.timedelta(days=2)
    planner.observe(second, 20)
    spans = []
    for _ in range(4):  # 10 a day: a week is far from 32 pages; the size doubles up to it
        window = next(windows)
        spans.append((window.end - window.start).days)
        planner.observe(window, 10 * spans[-1])
    assert spans == [4, 7, 7, 7]
    planner.observe(window, 4000 * 7)  # 4,000 a day: 32 pages hold four days
    assert next(windows).end - window.end == dt.timedelta(days=4)
    planner.observe(window, 20_000 * 7)  # 20,000 a day: more than 32 pages a day, one day
    assert next(windows).end - window.end == dt.timedelta(days=5)


def test_the_window_reaching_past_the_present_runs_to_the_end_of_the_range():
    start = dt.datetime(2025, 3, 1, 6, tzinfo=UTC)
    now = dt.datetime(2025, 3, 3, 9, tzinfo=UTC)
    end = dt.datetime(2025, 3, 5, tzinfo=UTC)  # two days past the host's date
    windows = list(WindowPlanner(start, end, max_days=7, page_size=500, now=now))
    assert [(w.start.day, w.end.day) for w in windows] == [(1, 2), (2, 3), (3, 5)]
    assert windows[-1].last
    assert windows[-1].to_date == "2025-03-06"  # and the last window's 14 h past the end
    # no present given (or one past the end): days as the density says
    assert len(list(WindowPlanner(start, end, max_days=7, page_size=500))) == 4
