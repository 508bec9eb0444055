"""What a read says of itself as it goes, in one place: the lines a person follows it by.

The read's parts report here (trail.py: the read begins, each page and window is read;
fanout.py: each stream starts, and what it emitted at the end), and this module says it, at
INFO. A window can take far longer than a minute (a slow server, retries, a month of changes),
so besides the line of each window done, a line at least every `EVERY_SECONDS` says how far the
read is: the records written, the requests made, and the share of the work done.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence

from tap_lp_audittrail.windows import Window

logger = logging.getLogger("tap-lp-audittrail")

#: At least one line this often while a read goes on.
EVERY_SECONDS = 60.0


class ReadProgress:
    """The progress lines of one read of [start, end), `what` naming it (the audit trail)."""

    def __init__(
        self,
        what: str,
        start: dt.datetime,
        end: dt.datetime,
        *,
        requests: Callable[[], int] | None = None,
        written: Callable[[], int] | None = None,
        every: float | None = None,
    ) -> None:
        """Progress of a read of [start, end), its lines at least every `every` seconds.

        `requests`: the requests the run has made so far; `written`: the records it has
        written (every stream's); `every`: the longest silence (EVERY_SECONDS).
        """
        self.what = what
        self.start, self.end = start, end
        self.requests = requests
        self.written = written
        self.every = EVERY_SECONDS if every is None else every
        #: Changes handed on to the streams, in order (trail.py counts them).
        self.handed_on = 0
        #: The end of the windows read to their end, in order.
        self.done_to = start
        #: The windows being read: the records read so far, and the server's total if known.
        self.reading: dict[Window, tuple[int, int | None]] = {}
        self._began = time.monotonic()
        self._over = threading.Event()
        self._beat: threading.Thread | None = None

    def begins(self, window_days: int, component_types: Sequence[str]) -> None:
        """The read begins: its range, its windows' longest, the server-side filter if any."""
        logger.info(
            "%s: reading %s to %s in date windows of 1 to %d days%s",
            self.what,
            self.start.isoformat(),
            self.end.isoformat(),
            window_days,
            f" (componentTypes {', '.join(component_types)})" if component_types else "",
        )
        self._began = time.monotonic()
        self._beat = threading.Thread(target=self._beats, name="read-progress", daemon=True)
        self._beat.start()

    def ends(self) -> None:
        """The read is over, complete or not: no more lines of how far it is."""
        self._over.set()

    def page_read(self, window: Window, records: int, total: int | None) -> None:
        """A page of `window` is in: `records` read in the window so far, of `total`.

        `total`: the server's, when X-Total-Count is read as a total. Called by the window's
        thread.
        """
        self.reading[window] = (records, total)

    def share_done(self) -> tuple[float, bool]:
        """The share of the read done, 0 to 1, and whether records weighed in it.

        The windows read to their end count by the time they cover; a window being read, by
        its records against the server's total when it gives one (else not at all).
        """
        span = self._span()
        done = (self.done_to - self.start).total_seconds()
        by_records = False
        for window, (records, total) in list(self.reading.items()):
            if total:
                covered = min(window.end, self.end) - max(window.start, self.done_to)
                done += max(0.0, covered.total_seconds()) * min(1.0, records / total)
                by_records = True
        return min(1.0, max(0.0, done / span)), by_records

    def how_far(self) -> None:
        """Say how far the read is: records written, requests made, the share done."""
        share, by_records = self.share_done()
        seconds = int(time.monotonic() - self._began)
        logger.info(
            "%s: %s records written, %s requests made in %d min %02d s; about %.0f%% done (%s)",
            self.what,
            f"{self.written() if self.written is not None else self.handed_on:,}",
            f"{self.requests():,}" if self.requests is not None else "?",
            seconds // 60,
            seconds % 60,
            100 * share,
            f"the time range read to {self.done_to.isoformat()}, and the windows being read "
            "by their records against the server's totals"
            if by_records
            else f"by the time range: read to {self.done_to.isoformat()}",
        )

    def _beats(self) -> None:
        while not self._over.wait(self.every):
            self.how_far()

    def _span(self) -> float:
        """The read's range, in seconds (never 0: a share is divided by it)."""
        return (self.end - self.start).total_seconds() or 1.0

    def window_done(self, window: Window, pages: int, records: int) -> None:
        """A window is read to its end: its records and pages, and the read's share done."""
        reached = min(window.end, self.end)
        self.reading.pop(window, None)
        self.done_to = max(self.done_to, reached)
        logger.info(
            "%s: window %s..%s done: %d records in %d pages; %d handed on so far, %.0f%% of "
            "the time range",
            self.what,
            window.from_date,
            window.to_date,
            records,
            pages,
            self.handed_on,
            max(0.0, 100 * (reached - self.start).total_seconds() / self._span()),
        )

    def stream_starts(self, name: str, start: dt.datetime) -> None:
        """A selected stream's records will come from `start` on."""
        logger.info("%s: reading from %s", name, start.isoformat())

    def stream_done(self, name: str, emitted: int, skipped: int) -> None:
        """What a stream emitted in the read, and what it had emitted already."""
        logger.info(
            "%s: %d changes emitted; %d read again and skipped (emitted by an earlier run)",
            name,
            emitted,
            skipped,
        )
