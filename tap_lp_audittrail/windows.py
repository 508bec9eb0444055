"""How the time range of a run is cut into date windows.

auditData filters by whole dates (`fromDate`, `toDate`), so windows run from one UTC midnight to
another; the first starts at the run's start instant and the pager drops what lies before it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass

UTC = dt.timezone.utc
DAY = dt.timedelta(days=1)


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
    """Records with `start <= changeDate < end` (UTC)."""

    start: dt.datetime
    end: dt.datetime

    @property
    def from_date(self) -> str:
        """The first date asked for: the date of `start`."""
        return floor_day(self.start).date().isoformat()

    @property
    def to_date(self) -> str:
        """The date after the last date the window covers.

        Right under both readings of `toDate`: if it is exclusive, this is exactly the window;
        if inclusive, one more day comes back, at the end of an ascending answer, and the
        pager stops at its first record.
        """
        return ceil_day(self.end).date().isoformat()

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


class WindowPlanner:
    """Windows cut as the run goes: each about one page of records, given the density so far.

    A window's pages are read one after another, but windows are read side by side: windows
    of about one page let every request slot work, while windows of many empty days would
    each cost a request for nothing. The first windows span one day; later ones between one
    day and `max_days`, from the density of the windows before.
    """

    def __init__(self, start: dt.datetime, end: dt.datetime, max_days: int, page_size: int) -> None:
        self.cursor = start.astimezone(UTC)
        self.end = end.astimezone(UTC)
        self.max_days = max_days
        self.days = 1  # until a window tells how dense the data are
        self.page_size = page_size
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
            # Otherwise about one page a window: shrink at once, grow by doubling.
            fitting = int(self.page_size / (records / span))
            self.days = max(1, min(self.max_days, fitting, 2 * self.days))

    def __iter__(self) -> Iterator[Window]:
        while self.cursor < self.end:
            with self._lock:
                days = self.days
            upper = min(floor_day(self.cursor) + dt.timedelta(days=days), self.end)
            window = Window(self.cursor, upper)
            self.cursor = upper
            yield window
