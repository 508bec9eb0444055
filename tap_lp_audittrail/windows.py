"""How the time range of a run is cut into date windows, and what each window's dates mean.

auditData filters by whole dates (`fromDate`, `toDate`). LivePerson does not say in which zone
it reads them (UTC, the requested `timezone`, or a zone of its own), nor whether `toDate` is
inclusive. Windows run from one UTC midnight to the next, and the read never trusts a window's
UTC bounds: whatever the zone, the answers of consecutive windows tile the timeline (or overlap
by a day, with `toDate` inclusive), and the read cuts each answer where the next one begins
(see trail.py). Only the edges of the run's range need care:

- the zone may be up to MAX_WEST behind UTC: the dates asked for may begin after the run's
  start, so the read looks one day further back when the first window shows nothing before it;
- the zone may be up to MAX_EAST ahead of UTC: the last window's toDate reaches past the end.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

UTC = dt.timezone.utc
DAY = dt.timedelta(days=1)
#: The furthest a zone is behind UTC (-12:00) and ahead of it (+14:00).
MAX_WEST = dt.timedelta(hours=12)
MAX_EAST = dt.timedelta(hours=14)


def floor_day(instant: dt.datetime) -> dt.datetime:
    """Midnight UTC at or before `instant`."""
    utc = instant.astimezone(UTC)
    return dt.datetime(utc.year, utc.month, utc.day, tzinfo=UTC)


def ceil_day(instant: dt.datetime) -> dt.datetime:
    """Midnight UTC at or after `instant`."""
    floor = floor_day(instant)
    return floor if floor == instant else floor + DAY


@dataclass(frozen=True)
class Window:
    """The dates of one request, meant to hold `start <= changeDate < end` (UTC).

    `last` marks the run's last window, whose toDate reaches MAX_EAST past `end`.
    """

    start: dt.datetime
    end: dt.datetime
    last: bool = False
    #: Whether the server has shown that it reads toDate as inclusive: then toDate names the
    #: window's last day, and consecutive answers tile the timeline without overlapping.
    inclusive: bool = False

    @property
    def from_date(self) -> str:
        """The first date asked for: the date of `start`."""
        return floor_day(self.start).date().isoformat()

    @property
    def to_date(self) -> str:
        """The date after the last date the window covers (the last window's reaches further).

        With `toDate` exclusive this is the window in UTC; inclusive, or in another zone, the
        answer reaches up to a day further, and the read cuts it where the next window begins.
        """
        end = self.end + MAX_EAST if self.last else self.end
        day = ceil_day(end) - DAY if self.inclusive else ceil_day(end)
        return max(day, floor_day(self.start)).date().isoformat()

    @property
    def reach(self) -> dt.datetime:
        """The latest instant the answer can hold: toDate read as inclusive, 14 h east of UTC."""
        to_date = dt.datetime.fromisoformat(self.to_date).replace(tzinfo=UTC)
        return to_date + DAY + MAX_EAST

    def foreign(self, instant: dt.datetime) -> str | None:
        """Why a change at `instant` cannot be in this window's answer, or None when it can.

        Whatever the zone the dates are read in (MAX_EAST ahead of UTC to MAX_WEST behind), and
        whether toDate is inclusive: from fromDate's midnight MAX_EAST early up to `reach`.
        """
        if floor_day(self.start) - MAX_EAST <= instant < self.reach:
            return None
        return (
            f"the answer holds a change at {instant.isoformat()}, which no reading of the dates "
            f"asked for ({self.from_date} to {self.to_date}) holds: another window's answer"
        )

    @property
    def stop_at(self) -> dt.datetime:
        """A record at or past this instant is in the next window's answer under any reading."""
        return self.end if self.last else self.end + MAX_WEST

    @property
    def shared_from(self) -> dt.datetime:
        """Records before this instant cannot be in the next window's answer, in any zone."""
        return self.end - MAX_EAST

    def before(self) -> Window:
        """The day before this window: read when this one shows nothing before its start."""
        day = floor_day(self.start)
        return Window(day - DAY, day, inclusive=self.inclusive)

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


@dataclass(frozen=True)
class PinnedWindow:
    """A window a captured run cut, and the page size it asked for at each of its requests.

    A replay of a capture (docs/capture.md) cuts exactly these windows and asks exactly these
    pages: under concurrency, the captured run's window sizes, page sizes and where each window
    stopped depended on when the answers of the other windows came in.
    """

    window: Window
    firsts: tuple[int, ...]

    @classmethod
    def from_setting(cls, value: Mapping[str, Any]) -> PinnedWindow:
        """One entry of the `replay_windows` setting (a capture's windows.jsonl line)."""
        window = Window(
            parse_instant(str(value["start"])),
            parse_instant(str(value["end"])),
            last=bool(value.get("last", False)),
            inclusive=bool(value.get("inclusive", False)),
        )
        return cls(window, tuple(int(first) for first in value.get("firsts") or ()))


def parse_instant(text: str) -> dt.datetime:
    """An ISO 8601 instant (UTC when it names no offset)."""
    instant = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def pinned_plan(entries: Sequence[Mapping[str, Any]] | None) -> list[PinnedWindow]:
    """The `replay_windows` setting, in the order the captured run cut them, gaps left out.

    A capture lists each window as it ends, so a killed run may have finished a window after
    one it never finished: the plan stops at the first window missing.
    """
    pins = sorted(
        (PinnedWindow.from_setting(entry) for entry in entries or ()),
        key=lambda pin: pin.window.start,
    )
    plan: list[PinnedWindow] = []
    for pin in pins:
        if plan and pin.window.start != plan[-1].window.end:
            break
        plan.append(pin)
    return plan


#: Pages a window is sized to hold at most: its last page is partly empty, so fewer, larger
#: windows cost fewer requests...
PAGES_PER_WINDOW = 32
#: ...and at least, once the density is known: near the end of the range windows shrink so
#: that every window open at once has pages left to read, but not below this.
MIN_PAGES_PER_WINDOW = 8


class WindowPlanner:
    """Windows cut as the run goes, sized from the density of the windows read before.

    A window's pages are read one after another, but `lanes` windows are read side by side.
    Each window is sized to its share of what is left (the pages the rest of the range should
    hold at the density seen so far, over `lanes`), between MIN_PAGES_PER_WINDOW and
    PAGES_PER_WINDOW pages: few partly empty last pages, and no lane left alone at the end with
    a long window while the others idle. Windows span one day until a window has been read,
    then grow at most twofold from one window to the next, up to `max_days`. `inclusive` (set
    once the server shows it reads toDate as inclusive) goes into every window cut after it.

    A window that would end after `now` (the host's clock: a hint for sizing, never a
    boundary) runs to the end of the range instead: the days past the present hold no change
    yet, and one window for them all saves a request per empty day on every scheduled run.
    """

    def __init__(
        self,
        start: dt.datetime,
        end: dt.datetime,
        max_days: int,
        page_size: int,
        *,
        now: dt.datetime | None = None,
        lanes: int = 1,
        pinned: Sequence[PinnedWindow] = (),
    ) -> None:
        self.cursor = start.astimezone(UTC)
        #: The windows of a captured run, cut first and as they were (a replay's plan).
        self.pinned = list(pinned)
        self._pinned_firsts = {pin.window: pin.firsts for pin in self.pinned}
        self.end = end.astimezone(UTC)
        self.now = None if now is None else now.astimezone(UTC)
        self.max_days = max_days
        self.days = 1  # the span of the last window cut
        self.density: float | None = None  # records a day, from the last window with any
        self.page_size = page_size
        self.lanes = max(1, lanes)
        self.inclusive = False
        self._lock = threading.Lock()

    def observe(self, window: Window, records: int) -> None:
        """A window ended with `records` records: what the next windows are sized from."""
        span = (window.end - window.start) / DAY
        if span <= 0:
            return
        with self._lock:
            if records:
                self.density = records / span
            elif self.density is None:
                # Empty windows before the account's first change: grow at once.
                self.days = min(self.max_days, 2 * self.days)

    def sized(self) -> bool:
        """Whether an answer has shown how dense the trail is: windows are sized from it."""
        return self.density is not None

    def closing(self) -> bool:
        """Whether what is left to cut is the run's last windows: they may all open at once.

        A window's pages are read one after another, so a window cut late, when the others
        are nearly done, ends the run alone: open together, the slots share its pages with
        theirs (see concurrency.Slots: the window with most pages left goes first).
        """
        with self._lock:
            if self.density is None:
                return False
            return self._pages_left(self.density) <= MIN_PAGES_PER_WINDOW * self.lanes

    def _pages_left(self, density: float) -> float:
        """Pages the range not yet cut should hold up to the present (under the lock)."""
        horizon = self.end if self.now is None else min(self.end, self.now)
        return max(0.0, (horizon - self.cursor) / DAY) * density / self.page_size

    def records_in(self, window: Window) -> float | None:
        """The records `window` should hold at the density seen so far (None: none seen yet)."""
        density = self.density
        return None if density is None else density * (window.end - window.start) / DAY

    def _next_days(self) -> int:
        """Days of the next window (under the lock)."""
        if self.density is None:
            return self.days
        left = self._pages_left(self.density)
        pages = min(PAGES_PER_WINDOW, max(MIN_PAGES_PER_WINDOW, left / self.lanes))
        fitting = int(pages * self.page_size / self.density)
        return max(1, min(self.max_days, fitting, 2 * self.days))

    def pinned_firsts(self, window: Window) -> tuple[int, ...] | None:
        """The page sizes a captured run asked of `window`, if the plan pins it."""
        return self._pinned_firsts.get(window)

    def __iter__(self) -> Iterator[Window]:
        for pin in self.pinned:
            window = pin.window
            if window.start != self.cursor or window.end > self.end:
                break
            self.cursor = window.end
            yield window
        while self.cursor < self.end:
            with self._lock:
                days = self.days = self._next_days()
            upper = min(floor_day(self.cursor) + dt.timedelta(days=days), self.end)
            if self.now is not None and upper > self.now:
                upper = self.end
            window = Window(self.cursor, upper, last=upper >= self.end, inclusive=self.inclusive)
            self.cursor = upper
            yield window
