"""Windows read side by side: handed on in order, memory bounded, the leading window first."""

from __future__ import annotations

import datetime as dt
import math
import threading
import time

import pytest

from tap_lp_audittrail.concurrency import (
    LANE_PAGES,
    PAGES_PER_SLOT,
    Slots,
    in_order,
    lanes_for,
)
from tap_lp_audittrail.windows import Window

UTC = dt.timezone.utc
DAY = dt.timedelta(days=1)


def windows(n: int) -> list[Window]:
    start = dt.datetime(2025, 1, 1, tzinfo=UTC)
    return [Window(start + i * DAY, start + (i + 1) * DAY, last=i == n - 1) for i in range(n)]


def grant_order(ranks: dict[str, list[tuple[bool, float]]], *, change=None) -> list[str]:
    """The order one slot goes to requests that asked in `ranks` order while it was held.

    Each request's rank is its list's last item when the slot is handed on; `change`, if
    given, runs after every request has asked and before the slot is first freed.
    """
    slots = Slots(1)
    granted: list[str] = []
    release = threading.Event()

    def take(name: str) -> None:
        with slots.slot(lambda: ranks[name][-1]):
            granted.append(name)
            if name == "holder":
                release.wait(5)

    ranks = {"holder": [(False, 0.0)], **ranks}
    threads = []
    for name in ranks:
        thread = threading.Thread(target=take, args=(name,))
        thread.start()
        threads.append(thread)
        while not (granted if name == "holder" else len(slots._waiting) == len(threads) - 1):
            time.sleep(0.001)  # each asks after the one before
    if change is not None:
        change()
    release.set()
    for thread in threads:
        thread.join(5)
    return granted[1:]


def test_a_leading_windows_request_goes_before_requests_that_waited_longer():
    ranks = {"behind-1": [(False, 0.0)], "behind-2": [(False, 0.0)], "leading": [(True, 0.0)]}
    assert grant_order(ranks) == ["leading", "behind-1", "behind-2"]


def test_then_the_window_with_most_pages_left_goes_first_and_equals_in_turn():
    ranks = {
        "few": [(False, 1.0)],
        "many": [(False, 12.0)],
        "few-too": [(False, 1.0)],
        "not begun": [(False, math.inf)],
    }
    assert grant_order(ranks) == ["not begun", "many", "few", "few-too"]


def test_a_window_that_becomes_leading_while_its_request_waits_goes_first():
    ranks = {"many": [(False, 12.0)], "soon leading": [(False, 1.0)]}
    order = grant_order(ranks, change=lambda: ranks["soon leading"].append((True, 1.0)))
    assert order == ["soon leading", "many"]


def test_no_more_requests_are_in_flight_than_slots():
    slots = Slots(3)
    inside = peak = 0
    lock = threading.Lock()

    def take() -> None:
        nonlocal inside, peak
        with slots.slot():
            with lock:
                inside += 1
                peak = max(peak, inside)
            time.sleep(0.01)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=take) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert peak == 3
    assert inside == 0


def test_pages_come_out_in_window_order_whatever_order_they_are_read_in():
    plan = windows(9)

    def produce(lane, stop):
        index = plan.index(lane.window)
        time.sleep(0.001 * (9 - index))  # later windows are faster
        for page in range(3):
            yield (index, page)

    out = [item for _, item in in_order(plan, produce, concurrency=2)]
    assert out == [(w, p) for w in range(9) for p in range(3)]


def test_only_the_leading_window_is_marked_leading_and_the_mark_moves_on():
    plan = windows(5)
    seen: list[tuple[int, bool, bool]] = []

    def produce(lane, stop):
        yield lane

    for lane, _item in in_order(plan, produce, concurrency=1):
        index = plan.index(lane.window)
        successor = lane.successor
        seen.append((index, lane.leading, successor is not None and successor.leading))
    assert seen == [(i, True, False) for i in range(5)]


def test_the_windows_behind_the_leading_one_hold_a_bounded_number_of_pages():
    plan = windows(12)
    concurrency = 2
    produced = dict.fromkeys(range(12), 0)
    lock = threading.Lock()
    most_held = 0

    def produce(lane, stop):
        index = plan.index(lane.window)
        for page in range(200):
            with lock:
                produced[index] += 1
            yield page

    consumed = 0
    for _lane, _ in in_order(plan, produce, concurrency):
        consumed += 1
        if consumed % 50 == 0:
            time.sleep(0.01)  # a slow consumer: the others read ahead as far as allowed
            with lock:
                ahead = sum(produced.values()) - consumed
            most_held = max(most_held, ahead)
    assert consumed == 12 * 200
    # the leading window's own queue, plus the budget the others share, plus one in hand each
    assert most_held <= LANE_PAGES + PAGES_PER_SLOT * concurrency + lanes_for(concurrency)


def test_the_first_error_of_any_window_stops_the_read_and_is_raised():
    plan = windows(6)

    def produce(lane, stop):
        if plan.index(lane.window) == 3:
            raise RuntimeError("window 3 failed")
        yield 1

    with pytest.raises(RuntimeError, match="window 3 failed"):
        for _ in in_order(plan, produce, concurrency=2):
            pass


@pytest.mark.parametrize(("concurrency", "lanes"), [(0, 2), (1, 2), (4, 8), (8, 16)])
def test_two_windows_are_open_per_request_slot_and_never_fewer_than_two(concurrency, lanes):
    assert lanes_for(concurrency) == lanes


def test_a_window_read_to_its_end_opens_the_next_while_an_earlier_one_is_still_read():
    plan = windows(6)
    started: set[int] = set()
    last_started = threading.Event()

    def produce(lane, stop):
        index = plan.index(lane.window)
        started.add(index)
        if index == len(plan) - 1:
            last_started.set()
        if index == 0:
            # the leading window is long: every later window is read meanwhile
            yield ("others read meanwhile", last_started.wait(5))
        yield (index, "done")

    out = [item for _, item in in_order(plan, produce, concurrency=1)]
    assert out[0] == ("others read meanwhile", True)
    assert out[1:] == [(i, "done") for i in range(6)]


@pytest.mark.parametrize(("concurrency", "at_first"), [(1, 2), (4, 4), (8, 8)])
def test_one_window_per_slot_opens_at_first_and_one_more_per_first_page_in(concurrency, at_first):
    """The windows cut after the first ones are cut once those have shown their density."""
    plan = windows(40)
    opened: list[int] = []
    first_pages = threading.Semaphore(0)
    lock = threading.Lock()

    def produce(lane, stop):
        with lock:
            opened.append(plan.index(lane.window))
        first_pages.acquire()  # the first page comes in when the test says so
        yield "first page"
        time.sleep(5)  # then the window reads on, long: it opens nothing more by ending
        yield "more"

    read = in_order(plan, produce, concurrency=concurrency)
    reader = threading.Thread(target=lambda: next(read), daemon=True)
    reader.start()
    deadline = time.monotonic() + 5
    while len(opened) < at_first and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert sorted(opened) == list(range(at_first))
    for n in range(1, lanes_for(concurrency) - at_first + 1):
        first_pages.release()
        while len(opened) < at_first + n and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(opened) == at_first + n
    for _ in range(lanes_for(concurrency)):
        first_pages.release()
    time.sleep(0.05)
    assert sorted(opened) == list(range(lanes_for(concurrency)))  # never more than that
    reader.join(5)
    read.close()  # the read stops: its window threads end without another page


@pytest.mark.parametrize("concurrency", [2, 4])
def test_until_an_answer_shows_the_density_no_more_windows_than_slots_are_open(concurrency):
    """Empty days before an account's first change end at once, each opening the next: they
    do not open a window per lane, every one cut before the planner can size it."""
    plan = windows(40)
    informed = threading.Event()
    go = threading.Event()
    lock = threading.Lock()
    opened: list[int] = []
    open_now = peak = 0

    def produce(lane, stop):
        nonlocal open_now, peak
        index = plan.index(lane.window)
        with lock:
            opened.append(index)
            open_now += 1
            peak = max(peak, open_now)
        try:
            if index >= 12:  # the account's first changes: their windows take a while
                go.wait(5)
            yield index
        finally:
            with lock:
                open_now -= 1

    read = in_order(plan, produce, concurrency, informed.is_set)
    out: list[int] = []
    reader = threading.Thread(target=lambda: out.extend(item for _, item in read))
    reader.start()
    deadline = time.monotonic() + 5
    while len(opened) < 12 + concurrency and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert peak == concurrency
    assert sorted(opened) == list(range(12 + concurrency))
    informed.set()  # the first answers with changes are in: the windows after them are sized
    go.set()
    reader.join(5)
    assert out == list(range(40))


@pytest.mark.parametrize("closing", [False, True])
@pytest.mark.parametrize("concurrency", [1, 4])
def test_the_last_windows_open_beside_the_others_at_most_twice_as_many(concurrency, closing):
    """Once the windows left are the run's last, they open while the others are still read:
    cut after those end, a window would read its pages alone while the other slots idle."""
    plan = windows(60)
    lanes = lanes_for(concurrency)
    ends = [threading.Event() for _ in plan]
    lock = threading.Lock()
    opened = open_now = peak = 0

    def produce(lane, stop):
        nonlocal opened, open_now, peak
        index = plan.index(lane.window)
        with lock:
            opened += 1
            open_now += 1
            peak = max(peak, open_now)
        try:
            yield "first page"
            ends[index].wait(10)  # each window reads on until the test lets it end
            yield "more"
        finally:
            with lock:
                open_now -= 1

    last_ones = threading.Event()  # what the planner says once the density is known
    read = in_order(plan, produce, concurrency, closing=last_ones.is_set)
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(item for _, item in read))

    def settled(expected: int) -> int:
        """Windows opened, once `expected` have (or 5 s passed), and a moment for more."""
        deadline = time.monotonic() + 5
        while opened < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        return opened

    reader.start()
    assert settled(lanes) == lanes
    if closing:
        last_ones.set()  # nothing opens a window but a page coming in or a window ending
    assert settled(lanes) == lanes
    ends[0].set()  # the first window ends: the next opens, and, closing, those after it
    expected = 2 * lanes + 1 if closing else lanes + 1
    assert settled(expected) == expected
    assert peak == open_now == (2 * lanes if closing else lanes)
    for end in ends:
        end.set()
    reader.join(10)
    assert not reader.is_alive()
    assert out == ["first page", "more"] * 60
    assert peak == (2 * lanes if closing else lanes)
