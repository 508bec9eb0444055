"""Many windows read at once, their pages handed on in window order."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from tap_lp_audittrail.stopping import STOP
from tap_lp_audittrail.windows import Window

#: Pages one window may hold ready ahead of the consumer.
LANE_PAGES = 32
#: Pages all windows but the one being emitted may hold ready together, per request slot.
PAGES_PER_SLOT = 32
#: Windows open at once per request slot: enough that one slow window stalls nobody.
LANES_PER_SLOT = 2

_END = object()
#: Seconds between looks at the stop flag while a wait goes on.
STOP_POLL = 0.1
#: Seconds the window threads get, once the read stops, to end the requests they have in
#: flight: what they log about those comes before the run's last line, not after it.
WIND_DOWN = 2.0

#: A request's rank for a slot: (its window is the leading one, pages that window has left).
Rank = Callable[[], tuple[bool, float]]


def lanes_for(concurrency: int) -> int:
    """Windows open at once for `concurrency` request slots (at least two: see in_order)."""
    return max(2, LANES_PER_SLOT * max(1, concurrency))


class Slots:
    """Request slots: the leading window's requests first, then the window with most pages left.

    Windows are handed on in order, so the leading window (the one being handed on) is the one
    whose pages are waited for, and the windows behind it read ahead only as far as their held
    pages allow: it never waits behind them. Each window's pages are read one after another,
    so the run cannot end before the window with most pages left has read them: its requests
    go next (a window not yet begun counts as the longest: its first page also tells the window
    before it where to stop). Among equals, first come first served.
    """

    def __init__(self, count: int) -> None:
        self._free = max(1, count)
        #: Requests waiting: (ticket, their rank, the event that hands them the slot).
        self._waiting: list[tuple[int, Rank, threading.Event]] = []
        self._tickets = itertools.count()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def slot(self, rank: Rank = lambda: (False, 0.0)) -> Iterator[None]:
        """Hold one slot: a leading window's requests first, then those with most pages left.

        `rank()` says whether the request's window is leading and how many pages it has left.
        It is asked again each time a slot is handed on: a window that becomes the leading one
        while its request waits goes first. A slot freed while requests wait goes straight to
        the first of them, and wakes that thread alone: waking every waiter to let one through
        costs each answer milliseconds of threads queueing for the GIL, at every page.
        """
        granted: threading.Event | None = None
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
            else:
                granted = threading.Event()
                self._waiting.append((next(self._tickets), rank, granted))
        if granted is not None:
            granted.wait()
        try:
            yield
        finally:
            with self._lock:
                if self._waiting:
                    self._hand_on()
                else:
                    self._free += 1

    def _hand_on(self) -> None:
        """Give the freed slot to the first waiting request, as ranked now (under the lock)."""

        def order(entry: tuple[int, Rank, threading.Event]) -> tuple[bool, float, int]:
            ticket, rank, _ = entry
            leading, pages_left = rank()
            return not leading, -pages_left, ticket

        first = min(self._waiting, key=order)
        self._waiting.remove(first)
        first[2].set()  # the slot is handed on: still taken


class CancelledError(Exception):
    """The run stopped reading; a window thread ends without another request."""


class Head:
    """The first changeDate of a window's answer, once its first page is in (None: empty)."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._known = threading.Event()
        self._instant: dt.datetime | None = None
        self._error: BaseException | None = None

    def set(self, instant: dt.datetime | None) -> None:
        """The first page is in: its first record's instant, or None if it was empty."""
        self._instant = instant
        self._known.set()

    def fail(self, error: BaseException) -> None:
        """The window failed before its first page was in."""
        if not self._known.is_set():
            self._error = error
            self._known.set()

    @property
    def known(self) -> bool:
        """Whether the first page is in."""
        return self._known.is_set() and self._error is None

    def peek(self) -> dt.datetime | None:
        """The first instant if known now, else None (never waits)."""
        return self._instant if self.known else None

    def wait(self) -> dt.datetime | None:
        """The first instant (None: empty window), waiting for it; raises the window's error."""
        while not self._known.wait(STOP_POLL):
            if self._stop.is_set():
                raise CancelledError
            STOP.check()
        if self._error is not None:
            raise self._error
        return self._instant


class Lane:
    """One window being read: its pages, its head, and the window read after it."""

    def __init__(self, window: Window, stop: threading.Event) -> None:
        self.window = window
        self.head = Head(stop)
        self.pages: queue.Queue[Any] = queue.Queue()
        #: The next window's lane, once it is open; None while it is not, or when none follows
        #: (a window opens the next before its own end is handed on: see in_order).
        self.successor: Lane | None = None
        #: Pages put and not yet taken by the consumer.
        self.held = 0
        #: Whether this is the window being handed on (its requests go first: see Slots).
        self.leading = False
        #: Records the window has still to read, as far as is known (see Slots).
        self.records_left = math.inf


def _next_page(lane: Lane) -> Any:
    """The lane's next item, waiting for it; a stop asked for meanwhile raises Interrupted."""
    while True:
        try:
            return lane.pages.get(timeout=STOP_POLL)
        except queue.Empty:
            STOP.check()


def in_order(
    windows: Iterable[Window],
    produce: Callable[[Lane, threading.Event], Iterator[Any]],
    concurrency: int,
    informed: Callable[[], bool] = lambda: True,
    closing: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[Lane, Any]]:
    """Run `produce` for many windows at once; yield their items in window order.

    Up to LANES_PER_SLOT * `concurrency` windows are read at once (at least two, so that the
    window being emitted always has its successor open). One per slot opens at first, and one
    more each time a window's first page is in, so that the windows cut after the first ones
    are sized from what those showed (see windows.WindowPlanner); while `informed()` is false
    (the answers have shown nothing to size them from, e.g. empty days before the account's
    first change), no more than one per slot are open; once `closing()` is true (what is left
    to cut is the run's last windows), twice as many may be open, so that the last windows are
    read beside the others rather than alone after them. Each window that is read to
    its end opens the next one at once, even while an earlier window is still being read, so a
    long window does not hold the others up; the client's slots bound the requests in flight. A
    window reads ahead up to LANE_PAGES pages; the windows behind the one being emitted hold
    PAGES_PER_SLOT * `concurrency` pages together at most, and wait while they hold more. The
    window being emitted never waits for the others, so the read cannot lock up, and memory
    stays flat however large the backfill. The first error of any window stops the run and is
    raised here.
    """
    stop = threading.Event()
    lanes: list[Lane] = []
    pending = iter(windows)
    budget = PAGES_PER_SLOT * max(1, concurrency)
    held = threading.Condition()  # guards `lanes`, `reading` and every lane's `held`
    most = lanes_for(concurrency)
    first_lanes = max(2, min(concurrency, most))
    reading = 0  # windows open and not yet read to their end
    threads: list[threading.Thread] = []

    def put(lane: Lane, item: Any) -> bool:
        with held:
            while not stop.is_set():
                if lane.held < LANE_PAGES and (
                    lanes[0] is lane or sum(other.held for other in lanes[1:]) < budget
                ):
                    break
                held.wait(0.1)
            else:
                return False
            lane.pages.put(item)
            lane.held += 1
        return True

    def taken(lane: Lane) -> None:
        with held:
            lane.held -= 1
            held.notify_all()

    def work(lane: Lane) -> None:
        items = produce(lane, stop)
        first = True
        try:
            while not stop.is_set():
                item = next(items, _END)
                if item is _END:
                    # The next window opens before this one's end is handed on: the consumer
                    # never finds no window open while windows are left.
                    launch(ended=True)
                if not put(lane, item) or item is _END:
                    return
                if first:
                    first = False
                    launch()  # one more window, while fewer than `most` are being read
        except BaseException as exc:  # handed to the consumer to raise
            lane.head.fail(exc)
            put(lane, exc)

    def launch(*, ended: bool = False) -> None:
        """Open the next window, unless `most` are being read (`ended`: one of them is done)."""
        nonlocal reading
        with held:  # windows are cut one at a time, in order, by whichever thread opens one
            reading -= ended
            limit = (2 * most if closing() else most) if informed() else first_lanes
            if stop.is_set() or reading >= limit:
                return
            window = next(pending, None)
            if window is None:
                return
            lane = Lane(window, stop)
            if lanes:
                lanes[-1].successor = lane
            lanes.append(lane)
            lanes[0].leading = True
            reading += 1
            thread = threading.Thread(
                target=work, args=(lane,), daemon=True, name=f"window-{window.from_date}"
            )
            threads.append(thread)
            thread.start()

    try:
        for _ in range(first_lanes):
            launch()
        while lanes:
            lane = lanes[0]
            item = _next_page(lane)
            taken(lane)
            if item is _END:
                with held:
                    lanes.pop(0)
                    if lanes:
                        lanes[0].leading = True
                    held.notify_all()
                continue
            if isinstance(item, BaseException):
                raise item
            yield lane, item
    finally:
        stop.set()
        deadline = time.monotonic() + WIND_DOWN
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
