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


def day(d: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, 1, d, hour, minute, tzinfo=UTC)


def test_the_dates_asked_name_utc_days_whatever_zone_the_bounds_are_given_in():
    est = dt.timezone(-dt.timedelta(hours=5))
    window = Window(
        dt.datetime(2025, 1, 3, 20, tzinfo=est), dt.datetime(2025, 1, 5, 20, tzinfo=est)
    )
    assert (window.from_date, window.to_date) == ("2025-01-04", "2025-01-07")


def test_an_inclusive_to_date_names_the_windows_last_day():
    assert Window(day(3, 15), day(10), inclusive=True).to_date == "2025-01-09"
    assert Window(day(3), day(5, 6), inclusive=True).to_date == "2025-01-05"
    # never before the first date: a window inside one day asks for that day alone
    assert Window(day(3, 15), day(4), inclusive=True).to_date == "2025-01-03"
    assert Window(day(3, 15), day(3, 16), inclusive=True).to_date == "2025-01-03"


def test_the_last_windows_to_date_reaches_fourteen_hours_past_its_end():
    assert Window(day(3), day(5, 6), last=True).to_date == "2025-01-06"  # 20:00 on the 5th
    assert Window(day(3), day(5, 10), last=True).to_date == "2025-01-06"  # 00:00 on the 6th
    assert Window(day(3), day(5, 10, 1), last=True).to_date == "2025-01-07"  # 00:01 on the 6th
    assert Window(day(3), day(5, 10, 1), last=True, inclusive=True).to_date == "2025-01-06"


def test_a_window_stops_half_a_day_past_its_end_and_the_last_one_at_its_end():
    assert Window(day(3), day(5)).stop_at == day(5, 12)
    assert Window(day(3), day(5), last=True).stop_at == day(5)


def test_records_fourteen_hours_before_the_end_may_be_in_the_next_answer():
    assert Window(day(3), day(5)).shared_from == day(4, 10)
    assert Window(day(3), day(5), last=True).shared_from == day(4, 10)


def test_the_day_before_a_window_is_the_utc_day_before_its_start():
    window = Window(day(3, 15), day(10), last=True, inclusive=True)
    assert window.before() == Window(day(2), day(3), inclusive=True)
    assert Window(day(3), day(4)).before() == Window(day(2), day(3))


def test_a_window_is_written_as_its_utc_bounds():
    assert (
        str(Window(day(3, 15), day(4))) == "[2025-01-03T15:00:00+00:00, 2025-01-04T00:00:00+00:00)"
    )


def test_windows_are_utc_days_whatever_the_hosts_zone_and_the_zone_of_the_range(
    host_zone_east_of_utc,
):
    est = dt.timezone(-dt.timedelta(hours=5))
    start = dt.datetime(2025, 1, 3, 18, 30, tzinfo=est)  # 23:30 UTC, already the 4th in the host
    end = dt.datetime(2025, 1, 5, 1, 0, tzinfo=est)
    windows = list(WindowPlanner(start, end, max_days=1, page_size=500))
    assert [str(w) for w in windows] == [
        "[2025-01-03T23:30:00+00:00, 2025-01-04T00:00:00+00:00)",
        "[2025-01-04T00:00:00+00:00, 2025-01-05T00:00:00+00:00)",
        "[2025-01-05T00:00:00+00:00, 2025-01-05T06:00:00+00:00)",
    ]
    assert [w.last for w in windows] == [False, False, True]


def test_once_the_server_reads_to_date_as_inclusive_every_later_window_names_its_last_day():
    planner = WindowPlanner(day(1), day(4), max_days=1, page_size=500)
    windows = iter(planner)
    assert next(windows) == Window(day(1), day(2))
    planner.inclusive = True
    second = next(windows)
    assert second == Window(day(2), day(3), inclusive=True)
    assert (second.from_date, second.to_date) == ("2025-01-02", "2025-01-02")
    assert next(windows) == Window(day(3), day(4), last=True, inclusive=True)


def test_a_window_ending_at_the_present_is_cut_as_usual():
    windows = list(WindowPlanner(day(1), day(5), max_days=1, page_size=500, now=day(3)))
    assert [(w.start, w.end) for w in windows] == [
        (day(1), day(2)),
        (day(2), day(3)),
        (day(3), day(5)),
    ]


def test_a_window_of_no_length_says_nothing_of_the_density():
    planner = WindowPlanner(day(1), day(20), max_days=7, page_size=500)
    planner.observe(Window(day(1), day(1)), 0)
    first = next(iter(planner))
    assert first.end - first.start == dt.timedelta(days=1)


def test_a_window_of_no_length_never_asks_for_a_to_date_before_its_from_date():
    assert Window(day(3), day(3), inclusive=True).to_date == "2025-01-03"


def test_windows_grow_twofold_up_to_thirty_two_pages():
    planner = WindowPlanner(day(1), day(1) + dt.timedelta(days=365), max_days=60, page_size=500)
    windows = iter(planner)
    spans = []
    for _ in range(8):  # 500 a day: 32 pages of 500 hold 32 days
        window = next(windows)
        spans.append((window.end - window.start).days)
        planner.observe(window, 500 * spans[-1])
    assert spans == [1, 2, 4, 8, 16, 32, 32, 32]


def test_near_the_end_each_window_takes_its_share_of_the_pages_left_but_at_least_eight():
    # 100 a day, pages of 100: one page a day; 4 windows read side by side
    planner = WindowPlanner(
        day(1), day(1) + dt.timedelta(days=200), max_days=60, page_size=100, lanes=4
    )
    windows = iter(planner)
    spans = []
    for window in windows:
        spans.append((window.end - window.start).days)
        planner.observe(window, 100 * spans[-1])
    # growing twofold, up to 32 pages while a quarter of what is left is more; then a quarter
    # of what is left (137 pages after seven windows: 34, so 32; then 105 / 4 = 26, ...), never
    # below eight pages, and the last window whatever remains
    assert spans == [1, 2, 4, 8, 16, 32, 32, 26, 19, 15, 11, 8, 8, 8, 8, 2]


def test_empty_windows_before_the_first_change_grow_twofold():
    planner = WindowPlanner(day(1), day(1) + dt.timedelta(days=365), max_days=31, page_size=500)
    windows = iter(planner)
    spans = []
    for _ in range(7):
        window = next(windows)
        spans.append((window.end - window.start).days)
        planner.observe(window, 0)
    assert spans == [1, 2, 4, 8, 16, 31, 31]


def test_one_window_at_a_time_takes_all_that_is_left_up_to_thirty_two_pages():
    planner = WindowPlanner(day(1), day(1) + dt.timedelta(days=100), max_days=60, page_size=100)
    spans = []
    for window in planner:  # one page a day, one window read at a time (lanes=1)
        spans.append((window.end - window.start).days)
        planner.observe(window, 100 * spans[-1])
    assert spans == [1, 2, 4, 8, 16, 32, 32, 5]


def test_what_is_left_is_counted_to_the_present_not_to_the_end_of_the_range():
    # one page a day, 4 windows side by side, the present 120 days in, the range 400 days long
    now = day(1) + dt.timedelta(days=120)
    planner = WindowPlanner(
        day(1), day(1) + dt.timedelta(days=400), max_days=60, page_size=100, lanes=4, now=now
    )
    spans = []
    for window in planner:
        spans.append((window.end - window.start).days)
        planner.observe(window, 100 * spans[-1])
    # after 31 days, 89 left to the present: a quarter is 22 (not a quarter of 369); past the
    # present, one window to the end of the range
    assert spans == [1, 2, 4, 8, 16, 22, 16, 12, 9, 8, 8, 8, 286]


def test_the_last_windows_are_the_ones_cut_when_eight_pages_a_lane_are_left():
    # one page a day, 4 lanes: closing once at most 32 pages (32 days) are left to cut
    planner = WindowPlanner(
        day(1), day(1) + dt.timedelta(days=200), max_days=60, page_size=100, lanes=4
    )
    closing = []
    for window in planner:
        planner.observe(window, 100 * (window.end - window.start).days)
        closing.append(((day(1) + dt.timedelta(days=200) - window.end).days, planner.closing()))
    assert [left for left, shut in closing if shut] == [26, 18, 10, 2, 0]
    assert all(left > 32 for left, shut in closing if not shut)


def test_nothing_is_closing_before_the_density_is_known_or_past_the_present():
    planner = WindowPlanner(day(1), day(11), max_days=31, page_size=100, lanes=4)
    assert not planner.closing()  # ten days left, but how many pages they hold is unknown
    now = day(1) + dt.timedelta(days=100)
    planner = WindowPlanner(
        day(1), day(1) + dt.timedelta(days=1000), max_days=31, page_size=100, lanes=4, now=now
    )
    planner.observe(Window(day(1), day(2)), 100)
    assert not planner.closing()  # 99 pages to the present
    planner.cursor = now - dt.timedelta(days=20)
    assert planner.closing()  # 20 pages to the present; the days after it hold nothing yet


def test_a_window_should_hold_its_days_at_the_density_seen_and_nothing_is_guessed_before():
    planner = WindowPlanner(day(1), day(31), max_days=31, page_size=100)
    window = Window(day(10), day(13))
    assert planner.records_in(window) is None
    planner.observe(Window(day(1), day(3)), 150)
    assert planner.records_in(window) == 225.0


def test_an_answer_reaches_at_most_a_day_past_its_to_date_fourteen_hours_east_of_utc():
    assert Window(day(3), day(5)).reach == day(6, 14)  # toDate 01-05, read as inclusive
    assert Window(day(3), day(5), inclusive=True).reach == day(5, 14)  # toDate 01-04
