"""What a read says of itself as it goes, in one place: the lines a person follows it by.

The read's parts report here (trail.py: the read begins, each window is done; fanout.py:
each stream starts, and what it emitted at the end), and this module says it, at INFO.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from tap_lp_audittrail.windows import Window

logger = logging.getLogger("tap-lp-audittrail")


class ReadProgress:
    """The progress lines of one read of [start, end), `what` naming it (the audit trail)."""

    def __init__(self, what: str, start: dt.datetime, end: dt.datetime) -> None:
        self.what = what
        self.start, self.end = start, end

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

    def window_done(self, window: Window, pages: int, records: int, handed_on: int) -> None:
        """A window is read to its end: its records and pages, and the read's share done."""
        span = (self.end - self.start).total_seconds() or 1.0
        reached = min(window.end, self.end)
        logger.info(
            "%s: window %s..%s done: %d records in %d pages; %d handed on so far, %.0f%% of "
            "the time range",
            self.what,
            window.from_date,
            window.to_date,
            records,
            pages,
            handed_on,
            max(0.0, 100 * (reached - self.start).total_seconds() / span),
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
