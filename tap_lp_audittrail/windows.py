"""How the time range of a run is cut into date windows, and what each window's dates mean.

auditData filters by whole dates (`fromDate`, `toDate`). LivePerson does not say in which zone
it reads them (UTC, the requested `timezone`, or a zone of its own), nor whether `toDate` is
inclusive. Windows run from one UTC midnight to the next, and the read never trusts a window's
UTC bounds: whatever the zone, the answers of consecutive windows tile the timeline (or overlap
by a day, with `toDate` inclusive), and the read cuts each answer where the next one begins
(see read.py). Only the edges of the run's range need care:

- the zone may be up to MAX_WEST behind UTC: the dates asked for may begin after the run's
  start, so the read looks one day further back when the first window shows nothing before it;
- the zone may be up to MAX_EAST ahead of UTC: the last window's toDate reaches past the end.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass

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


#: Pages a window is sized to hold: its last page is partly empty, so fewer, larger windows
#: cost fewer requests, while more windows than request slots keep every slot busy.
PAGES_PER_WINDOW = 32


class WindowPlanner:
    """Windows cut as the run goes: each about PAGES_PER_WINDOW pages, given the density so far.

    A window's pages are read one after another, but windows are read side by side. The first
    windows span one day; later ones between one day and `max_days`, from the density of the
    windows before. `inclusive` (set once the server shows it reads toDate as inclusive) goes
    into every window cut after it.

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
        now: dt.datetime | None = None,
    ) -> None:
        self.cursor = start.astimezone(UTC)
        self.end = end.astimezone(UTC)
        self.now = None if now is None else now.astimezone(UTC)
        self.max_days = max_days
        self.days = 1  # until a window tells how dense the data are
        self.page_size = page_size
        self.inclusive = False
        self._lock = threading.Lock()

    def observe(self, window: Window, records: int) -> None:
        """A window ended with `records` records: size the next windows from its density."""
        span = (window.end - window.start) / DAY
        if span <= 0:
            return
        with self._lock:
            if not records:
                # An empty window (say, the days before an account's first change) says little
                # about the next days: grow one day at a time.
                self.days = min(self.max_days, self.days + 1)
                return
            # Otherwise about PAGES_PER_WINDOW pages a window: shrink at once, grow by doubling.
            fitting = int(PAGES_PER_WINDOW * self.page_size / (records / span))
            self.days = max(1, min(self.max_days, fitting, 2 * self.days))

    def __iter__(self) -> Iterator[Window]:
        while self.cursor < self.end:
            with self._lock:
                days = self.days
            upper = min(floor_day(self.cursor) + dt.timedelta(days=days), self.end)
            if self.now is not None and upper > self.now:
                upper = self.end
            window = Window(self.cursor, upper, last=upper >= self.end, inclusive=self.inclusive)
            self.cursor = upper
            yield window
