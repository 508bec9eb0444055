"""The trail: every change of the run's range once, in changeDate order, each group whole.

How a change gets here (docs/architecture.md draws it): `api.AuditClient.fetch_page` asks for
one page of one date window and checks the answer; `paging.WindowPager` pages through the
window, every changeDate group whole, in order; `concurrency.in_order` reads many windows side
by side and hands their pages on in order.

`TrailRead` trusts what each answer holds, not the window's UTC bounds: it cuts a window's
answer where the next window's answer begins, so that whatever zone the server reads the
dates in, and whether toDate is inclusive, every change is handed on once, in order. At the
start of the range it looks one day further back when the first window shows nothing before
the start (the server may read the dates in a zone behind UTC). A change older than one
handed on already stops the read: no reading of the dates explains it. After each window it
hands on a `Checkpoint`: every change before it has been handed on.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tap_lp_audittrail.concurrency import CancelledError, Lane, in_order, lanes_for
from tap_lp_audittrail.paging import PagingError, WindowPager, read_window
from tap_lp_audittrail.progress import ReadProgress
from tap_lp_audittrail.records import UTC, Row
from tap_lp_audittrail.windows import MAX_WEST, PinnedWindow, Window, WindowPlanner, floor_day

if TYPE_CHECKING:
    from tap_lp_audittrail.api import AuditClient

logger = logging.getLogger("tap-lp-audittrail")

#: What the read's requests and lines call it.
WHAT = "audit trail"
#: An instant before every record: a pinned window that asked all its pages stops.
_BEFORE_ALL = dt.datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Checkpoint:
    """A window is done: every change before `position`, and its whole group, is handed on."""

    position: dt.datetime | None


@dataclass(frozen=True)
class WindowDone:
    """End-of-window marker: pages asked for, and records the window's answers held."""

    pages: int
    records: int


class TrailRead:
    """Every change in [start, end), once each, in changeDate order, each group whole."""

    def __init__(
        self,
        client: AuditClient,
        start: dt.datetime,
        end: dt.datetime,
        component_types: Sequence[str],
        *,
        window_days: int,
        concurrency: int,
        host_time: dt.datetime,
        pinned: list[PinnedWindow] | None = None,
        note_window: Callable[[Window, list[int], int], None] | None = None,
        progress: ReadProgress | None = None,
    ) -> None:
        """A read of [start, end) through `client`, `concurrency` windows side by side.

        `host_time`: the time windows are sized from; `pinned`: a replay's plan (windows.py);
        `note_window`: told of each window read to its end (a capture lists them).
        """
        self.client = client
        self.start, self.end = start, end
        self.component_types = tuple(component_types)
        self.window_days = window_days
        self.concurrency = concurrency
        self.host_time = host_time
        self.pinned = pinned or []
        self.note_window = note_window
        self.progress = progress or ReadProgress(WHAT, start, end)

    @property
    def server_start(self) -> dt.datetime | None:
        """The server's time when the read began (the earliest `Date` of its answers)."""
        return self.client.server_start

    def __iter__(self) -> Iterator[list[Row] | Checkpoint]:
        """Batches of changes, and a checkpoint after each window."""
        planner = WindowPlanner(
            self.start,
            self.end,
            self.window_days,
            self.client.traits.records_per_page,
            now=self.host_time,
            lanes=lanes_for(self.concurrency),
            pinned=self.pinned,
        )
        self.progress.begins(self.window_days, self.component_types)
        try:
            yield from self._in_windows(planner)
        finally:
            self.progress.ends()

    def _in_windows(self, planner: WindowPlanner) -> Iterator[list[Row] | Checkpoint]:
        position: dt.datetime | None = None
        first = True
        produce = functools.partial(self._produce, planner)
        for lane, item in in_order(
            planner, produce, self.concurrency, planner.sized, planner.closing
        ):
            if first:
                first = False
                for rows in self._before_start(lane):
                    position = self._in_order(rows, position, lane.window)
                    yield rows
            if isinstance(item, WindowDone):
                self.progress.window_done(lane.window, item.pages, item.records)
                yield Checkpoint(position)
                continue
            rows = self._cut(lane, item, planner)
            if rows:
                position = self._in_order(rows, position, lane.window)
                yield rows

    def _produce(
        self, planner: WindowPlanner, lane: Lane, stop: threading.Event
    ) -> Iterator[list[Row] | WindowDone]:
        """One window's pages, read by its own thread; its head is known after its first page."""
        window = lane.window
        records = 0

        #: A replay's plan: the page sizes the captured run asked here, one per request.
        pinned = planner.pinned_firsts(window)
        firsts: list[int] = []

        def stop_at() -> dt.datetime:
            if pinned is not None:
                # As many pages as the captured run asked, whenever the next window's head
                # is known: that is what varied with the timing of its answers.
                return window.stop_at if len(firsts) < len(pinned) else _BEFORE_ALL
            successor = lane.successor
            following = successor.head.peek() if successor is not None else None
            return window.stop_at if following is None else min(window.stop_at, following)

        traits = self.client.traits
        pager = self._pager(window, stop_at, self.start if window.start == self.start else None)

        def fetch(offset: int, first: int) -> tuple[list[Row], int | None, int]:
            nonlocal records
            if stop.is_set():
                raise CancelledError
            if pinned is not None and len(firsts) < len(pinned):
                first = pinned[len(firsts)]
            firsts.append(first)
            rows, total, asked = self.client.fetch_page(
                WHAT,
                window,
                offset,
                first,
                self.component_types,
                cancelled=stop,
                # Ranked in pages at the page size known when a slot is handed on (the first
                # answers may come before the server's page cap is known).
                priority=lambda: (lane.leading, lane.records_left / traits.records_per_page),
            )
            if offset == 0 and not lane.head.known:
                lane.head.set(rows[0].instant if rows else None)
                if rows and traits.total_is_total and total:
                    planner.observe(window, total)  # sized from its first answer already
            records = max(records, offset + len(rows))
            self.progress.page_read(window, records, total if traits.total_is_total else None)
            expected = total if traits.total_is_total and total else planner.records_in(window)
            if expected is not None:
                lane.records_left = max(0.0, expected - offset - len(rows))
            return rows, total, asked

        yield from read_window(pager, fetch)
        planner.page_size = self.client.traits.records_per_page
        planner.observe(window, records)
        if self.note_window is not None:
            self.note_window(window, firsts, records)
        yield WindowDone(pager.pages, records)

    def _pager(
        self, window: Window, stop_at: Callable[[], dt.datetime], seek_to: dt.datetime | None
    ) -> WindowPager:
        """A pager for `window`, its jumps towards `seek_to` guessed up to the server's present."""
        return WindowPager(
            window, self.client.traits, stop_at, seek_to, lambda: self.client.server_start
        )

    def _before_start(self, lane: Lane) -> Iterator[list[Row]]:
        """The day before the first window, when that window shows nothing before the start.

        If the server reads the dates in a zone behind UTC, the first window's answer begins
        after the UTC midnight it names, perhaps after the start. An answer with a change
        before the start proves it covers the start; otherwise the day before is read too.
        """
        if self.start - floor_day(self.start) >= MAX_WEST:
            return  # even 12 h behind UTC, the first window's dates begin before the start
        head = lane.head.wait()
        if head is not None and head < self.start:
            return
        window = lane.window.before()
        cut = window.stop_at if head is None else min(window.stop_at, head)
        pager = self._pager(window, lambda: cut, self.start)

        def fetch(offset: int, first: int) -> tuple[list[Row], int | None, int]:
            return self.client.fetch_page(WHAT, window, offset, first, self.component_types)

        for rows in read_window(pager, fetch):
            kept = [row for row in rows if self.start <= row.instant < min(cut, self.end)]
            if kept:
                yield kept

    def _cut(self, lane: Lane, rows: list[Row], planner: WindowPlanner) -> list[Row]:
        """The changes of a window's page that this window hands on.

        Those before the next window's answer begins, and inside the run's range. An answer
        that reaches into the next one shows the server reads toDate as inclusive (exclusive,
        no zone makes two answers overlap): later windows then name their last day.
        """
        upper = self.end
        if rows[-1].instant >= lane.window.shared_from and lane.successor is not None:
            following = lane.successor.head.wait()
            if following is not None:
                upper = min(upper, following)
                if rows[-1].instant >= following and not planner.inclusive:
                    planner.inclusive = True
                    logger.info(
                        "%s: the answers of consecutive windows overlap: the server reads "
                        "toDate as inclusive; later windows name their last day",
                        WHAT,
                    )
        lower = self.start
        if rows[0].instant >= lower and rows[-1].instant < upper:
            return rows
        return [row for row in rows if lower <= row.instant < upper]

    def _in_order(
        self, rows: list[Row], position: dt.datetime | None, window: Window
    ) -> dt.datetime:
        """Refuse a change older than one handed on already.

        No reading of the dates explains it, and the tap would emit it out of order or drop it.
        """
        if position is not None and rows[0].instant < position:
            msg = (
                f"{WHAT} window {window.from_date}..{window.to_date}: the server answered a "
                f"change at {rows[0].instant.isoformat()}, before {position.isoformat()} which "
                "an earlier window had shown already. The answers of consecutive date windows "
                "overlap in a way the tap does not know how to read; it stops rather than "
                "risk a gap or a duplicate."
            )
            raise PagingError(msg)
        self.progress.handed_on += len(rows)
        return rows[-1].instant
