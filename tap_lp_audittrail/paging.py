"""Offset paging through one date window without losing or repeating a record.

auditData pages by `first`/`offset` over records ordered by change time. Offsets alone are
not safe: records sharing one changeDate may come in another order on every request, the
server may serve fewer records than asked for, `X-Total-Count` may mean either the total or
the page, and records can appear or expire between two requests. The pager therefore:

- holds back the last changeDate group of every page that may continue, and starts the next
  page one record before that group: a page that begins with an earlier record holds the
  whole group (records come in order), however many records before it came or went between
  the two requests, so every group is read whole in one answer;
- re-aligns when the next page does not begin before that group (records inserted before it
  are skipped, records gone before it make it step back), MAX_BACKTRACKS times in a row at
  most each way;
- reads a group that fills a page twice and accepts it only if both reads agree record for
  record, in the same order when either read took more than one answer (a server that
  reorders ties cannot be paged through such a group). In the first read, a page after a
  full one is asked from the last record read and must begin with it (with any record of the
  group if the group ends in it); a group is held in memory, MAX_GROUP_RECORDS at most;
- given `seek_to` (the run's start, inside the first window's dates), jumps over the records
  before it once the total is known, to an offset guessed from the time; a page that begins
  with a record before `seek_to` proves nothing at or after it was jumped over (records come
  in order), and one that does not makes the pager step back half way, until one does;
- ends a window on an empty page, on a known total, on a short page once the server's page cap
  is known, or on a record at or past `stop_at()`: an instant from which every record is in the
  next window's answer (the read passes it in; the window's own UTC bounds are not trusted,
  since the server may read the dates in another zone).

Every window ends. Each answer brings records the window has not handed on yet, or is one of
a bounded number of steps towards them (back, forward, a jump, a group's second read, no
longer than its first); a window whose pages stop bringing new records stops the run with a
PagingError naming the window: a server that answers the same page whatever the offset,
pages of records already read, or more pages than its X-Total-Count allows. An answer whose
count contradicts its own page is malformed before the pager sees it (`count_contradiction`,
checked with every answer in api.py). Identical records of one instant are the one case
where the same page again cannot be told from the next: the group bound ends it.

It hands on every record it reads, in order, each changeDate group whole; which of them the
run emits is the trail's and the fan-out's decision (trail.py, fanout.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Protocol

from tap_lp_audittrail.records import Row, content_key
from tap_lp_audittrail.windows import Window

logger = logging.getLogger("tap-lp-audittrail.paging")

#: Steps back (records vanished) or forward (records appeared) in a row, looking for a group.
MAX_BACKTRACKS = 20
#: Records of one changeDate group held in memory to be read whole.
MAX_GROUP_RECORDS = 50_000
#: Jumps towards `seek_to` in one window, each guessed from the one before.
MAX_JUMPS = 6


class PagingError(RuntimeError):
    """The server's answers cannot be paged without risking a lost record.

    A transient failure (failures.py): the answers changed while they were read (records
    came, went or were reordered between two pages), and the tap stops before it could lose
    or repeat one; a later run goes on from the last STATE and reads them again. When a
    setting gets past it, `setting` names it, and the failure is a config one.
    """

    def __init__(self, message: str, setting: str = "") -> None:
        super().__init__(message)
        self.setting = setting


@dataclass
class ServerTraits:
    """What this run has learned about the server, shared by every window and thread."""

    page_size: int
    max_served: int = 0  # the most records one answer has held
    cap: int | None = None  # a silent cap on the page size, once a short page had a sequel
    total_is_total: bool | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def learn_cap(self, served: int) -> None:
        """A page of `served` records, fewer than asked, was not the end: the server's cap."""
        with self._lock:
            if self.cap is None or served > self.cap:
                self.cap = served

    @property
    def records_per_page(self) -> int:
        """How many records one request brings at most, as far as this run knows."""
        return min(self.page_size, self.cap) if self.cap else self.page_size

    def observe(self, header: int | None, served: int) -> None:
        """Learn from one answer: its size, and what its X-Total-Count can mean."""
        with self._lock:
            self.max_served = max(self.max_served, served)
            if header is not None and header != served and self.total_is_total is None:
                # A count unequal to the page's size can only be a total.
                self.total_is_total = True
                logger.info(
                    "X-Total-Count is the total of matching records (%d on a page of %d)",
                    header,
                    served,
                )


def count_contradiction(total: int | None, served: int, offset: int) -> str | None:
    """Why an answer's X-Total-Count cannot be read either way, or None when it can.

    The count is the page's size, or the total of matching records: a count unequal to the
    page is a total, and a total is never below the records up to the page's end, nor above
    the offset of an empty page (records there would be on it). Such an answer is malformed;
    an empty one read as the window's end would lose the records its count announces.
    """
    if total is None or total == served:
        return None
    if total < 0:
        return f"X-Total-Count {total} is negative: neither a page's size nor a total"
    if served == 0:
        if total <= offset:
            return None
        return (
            f"an empty page at offset {offset}, while its X-Total-Count {total} counts records "
            "from there on"
        )
    if total < offset + served:
        return (
            f"X-Total-Count {total} is neither the page's size ({served}) nor a total of at "
            f"least the {offset + served} records up to the page's end"
        )
    return None


class WindowPager:
    """Decides which page to ask for next in one window, and which records to emit."""

    def __init__(
        self,
        window: Window,
        traits: ServerTraits,
        stop_at: Callable[[], dt.datetime] | None = None,
        seek_to: dt.datetime | None = None,
        present: Callable[[], dt.datetime | None] = lambda: None,
    ) -> None:
        self.window = window
        self.traits = traits
        self.stop_at = stop_at or (lambda: window.stop_at)
        self.seek_to = seek_to
        #: The server's present, once known: no record is later (a hint for jumps only).
        self.present = present
        self._safe: int | None = None  # while probing: every record before it is earlier
        self._jumps = 0
        self.offset = 0
        self.first = traits.page_size
        self.finished = False
        self.pages = 0
        self.skipped_shifted = 0
        self._held: dt.datetime | None = None  # instant of the group the next page starts with
        self._backtracks = 0
        #: Pages in a row that held only records before the group they were asked for.
        self._passes = 0
        #: Records the pager stepped back over: read again before the group, not new.
        self._rewound = 0
        self._big: list[Row] | None = None  # a group larger than a page, being read
        self._big_instant: dt.datetime | None = None
        self._big_pages = 0  # answers the group was read from
        #: Whether its first answer held as many records as asked: the page may have cut it.
        self._big_full = False
        self._big_start = 0
        self._big_first_read: list[bytes] | None = None
        self._big_first_pages = 0  # answers the first read came in
        self._big_after: dt.datetime | None = None  # the first instant after it, once seen
        #: Whether the next page was asked from the group's last record read (it must begin so).
        self._big_follows = False
        #: The size of the last page, if it was short, and the offset just past it.
        self._short: tuple[int, int] | None = None

    def next_request(self) -> tuple[int, int]:
        """(offset, first) of the next request."""
        return self.offset, self.traits.page_size

    def accept(self, rows: list[Row], total: int | None, first: int | None = None) -> list[Row]:
        """Take the answer to `next_request()`; return the records to hand on, in order.

        `first` is the page size the request really asked for, if the client had to lower it.
        """
        self.first = first or self.traits.page_size
        self.pages += 1
        served = len(rows)
        _check_ascending(rows, self.window)
        largest_before = self.traits.max_served
        self.traits.observe(total, served)
        short = self._short
        if short is not None and self.offset + served > short[1]:
            # Records past the end of a short page: it was the server's cap, not the end.
            self.traits.learn_cap(short[0])
            if self.traits.cap == 1:
                raise PagingError(self._one_record())
        self._short = (served, self.offset + served) if 0 < served < self.first else None
        if self._big is not None:
            return self._accept_big(rows, total)
        if self._safe is not None and not self._landed(rows):
            return []

        start = self.offset
        if self._held is not None:
            aligned = self._align(rows)
            if aligned is None:
                return []
            skip, rows = aligned
            start += skip
        more = self._may_continue(served, total, largest_before)
        past_end = bool(rows) and rows[-1].instant >= self.stop_at()
        if not more or past_end:
            self.finished = True
            return rows
        last = rows[-1].instant
        cut = next(i for i, row in enumerate(rows) if row.instant == last)
        if cut == 0 or (cut == 1 and start == self.offset):
            # The group fills the page after the record before it (here, or the one the page
            # was asked from): the next page would be this one again. Read it by plain offsets.
            self._big, self._big_start, self._big_instant = rows[cut:], start + cut, last
            self._big_pages, self._big_full, self._big_after = 1, served >= self.first, None
            self._next_in_group(start + len(rows), served)
            return rows[:cut]
        self._held = last
        self.offset = start + cut - 1  # the record before the group: see _align
        self._jump(last, total)
        return rows[:cut]

    def _jump(self, last: dt.datetime, total: int | None) -> None:
        """Jump towards `seek_to` when the page ended before it and the total is known."""
        seek_to = self.seek_to
        if seek_to is None or self._jumps >= MAX_JUMPS or last >= seek_to:
            return
        if not (self.traits.total_is_total and total):
            return
        self._jumps += 1
        # The records are guessed to spread evenly up to the window's end, or up to the present
        # when that comes first (the last window runs to the end of the range) or when the
        # start is at the window's end (the day before the first window, whose answer may
        # reach a day further).
        horizon = self.window.end
        present = self.present()
        if present is not None and (present < horizon or seek_to >= horizon):
            horizon = max(last, min(self.window.reach, present))
        span = (horizon - last).total_seconds()
        share = min(1.0, max(0.0, (seek_to - last).total_seconds() / span)) if span > 0 else 0
        guess = min(total - 1, self.offset + int(0.9 * share * (total - self.offset)))
        if guess - self.offset <= 2 * self.first:
            return  # not worth a probe
        logger.debug("window %s: jumping from offset %d to %d", self.window, self.offset, guess)
        self._safe, self._held, self.offset = self.offset, None, guess

    def _landed(self, rows: list[Row]) -> bool:
        """Whether a page after a jump begins before `seek_to` (else: step back half way)."""
        assert self._safe is not None
        assert self.seek_to is not None
        if rows and rows[0].instant < self.seek_to:
            self._safe = None
            return True
        middle = (self._safe + self.offset) // 2
        if middle - self._safe <= self.first:
            self.offset, self._safe = self._safe, None  # close enough: page on from there
        else:
            self.offset = middle
        return False

    def _align(self, rows: list[Row]) -> tuple[int, list[Row]] | None:
        """Find the held group in the page; None if another request is needed.

        The page was asked from the record before the group. Only a page that begins before
        the group proves that no record of the group is before it: one that begins inside the
        group, after records before it vanished (retention), would lose the group's first
        records, and one that begins after it would lose all of them.
        """
        held = self._held
        assert held is not None
        if not rows or rows[0].instant >= held:
            if self.offset == 0:
                return 0, rows  # nothing is before offset 0: the group is whole, or gone
            # Records before the group vanished (retention) and shifted it left: step back.
            self._backtracks += 1
            if self._backtracks > MAX_BACKTRACKS:
                msg = (
                    f"window {self.window}: records kept vanishing while paging "
                    f"(stepped back {MAX_BACKTRACKS} times); rerun to resume"
                )
                raise PagingError(msg)
            logger.warning(
                "window %s: records vanished before offset %d; stepping back",
                self.window,
                self.offset,
            )
            back = max(0, self.offset - self.first)
            self._rewound += self.offset - back
            self.offset = back
            return None
        skip = next((i for i, row in enumerate(rows) if row.instant >= held), len(rows))
        # Those the pager stepped back over were read before: only the rest are new here.
        again = min(skip - 1, self._rewound)
        self._rewound -= again
        if skip - 1 > again:
            # Records were inserted before the group (a delayed write): those at the head of
            # this page after the one asked for were emitted already or are older than the
            # page boundary; the next run's look-back re-reads them.
            self.skipped_shifted += skip - 1 - again
            logger.warning(
                "window %s: %d record(s) appeared before offset %d while paging (delayed "
                "writes); the look-back of the next run re-reads them",
                self.window,
                skip - 1 - again,
                self.offset + 1 + again,
            )
        if skip == len(rows):
            if skip == 1:
                raise PagingError(self._one_record())
            self._passes += 1
            if self._passes > MAX_BACKTRACKS:
                msg = (
                    f"window {self.window}: {MAX_BACKTRACKS + 1} pages in a row held only "
                    f"records before the changes at {held.isoformat()} they were asked for "
                    "(records kept appearing before them, or the server does not page by "
                    "offset); rerun to resume"
                )
                raise PagingError(msg)
            self.offset += skip - 1  # the next page begins before the group again
            return None
        self._held = None
        self._backtracks = self._passes = self._rewound = 0
        return skip, rows[skip:]

    def _one_record(self) -> str:
        return (
            f"window {self.window}: the server answered one record where {self.first} were "
            "asked for; paging needs two or more in an answer, to see that no record before a "
            "page boundary came or went, so the run stops rather than risk a gap"
        )

    def _may_continue(self, served: int, total: int | None, largest_before: int) -> bool:
        """Whether a page after this one may hold records."""
        if served == 0:
            return False
        if self.traits.total_is_total and total is not None:
            return self.offset + served < total
        if served >= self.first:
            return True
        # A short page is the end if the server has served more at once before; otherwise
        # it may be a silent cap on the page size, and one more request tells.
        return served >= largest_before

    def _same_group(self, read: list[bytes]) -> bool:
        """Whether the second read of a group found what the first did.

        Two reads that each came in one answer hold the whole group each, in any order: they
        must hold the same records. Across answers, ties must also come in the same order,
        or offset paging through them may have skipped one and read another twice.
        """
        first = self._big_first_read
        assert first is not None
        if self._big_pages == self._big_first_pages == 1:
            return sorted(read) == sorted(first)
        return read == first

    def _accept_big(self, rows: list[Row], total: int | None) -> list[Row]:
        """Read a group that fills a page by plain offsets, twice, and compare.

        Each page after a read's first is asked from the last record read, and must begin
        with it: a server that does not page by offset (the same page again), or ties in
        another order, or records come or gone, would otherwise pass unseen, or feed the group
        the same records again and again.
        """
        big, instant = self._big, self._big_instant
        assert big is not None
        assert instant is not None
        served = len(rows)
        if self._big_follows:
            rows = self._after_overlap(rows, big, instant)
        elif rows and rows[0].instant < instant:
            raise PagingError(self._not_following(rows, instant))
        count = next((i for i, row in enumerate(rows) if row.instant != instant), len(rows))
        big.extend(rows[:count])
        self._big_pages += bool(count)
        self._bound_group(big, instant)
        later = count < len(rows)
        if later:
            after = rows[count].instant
            self._big_after = after if self._big_after is None else min(self._big_after, after)
        if not later and self._may_continue(served, total, self.traits.max_served):
            if not rows:
                # Nothing after the record it was asked from, while its count says there is.
                raise PagingError(self._one_record())
            self._next_in_group(self.offset + served, served)
            return []
        self._big_follows = False
        read = [content_key(row.record) for row in big]
        if self._big_first_read is None and (self._big_pages > 1 or self._big_full):
            # A group read in one full answer is read again too: the answer after it was asked
            # by plain offset, and a record gone before the group meanwhile hides its last one.
            logger.warning(
                "window %s: %d records share the instant %s, too many for one page; reading "
                "them again to make sure the server orders ties the same way every time and "
                "none came or went meanwhile",
                self.window,
                len(big),
                instant,
            )
            self._big_first_read, self._big_first_pages = read, self._big_pages
            self._big, self.offset, self._big_pages = [], self._big_start, 0
            return []
        if self._big_first_read is not None and not self._same_group(read):
            raise PagingError(self._reads_differ(len(big), instant), setting="page_size")
        # Either read may have seen the records after the group: the second may end earlier,
        # if one before the group went meanwhile. The next page begins with the group's last
        # record, before the first later one.
        following = self._big_after
        self._big = self._big_instant = self._big_first_read = None
        self._big_after = None
        self.finished = following is None or big[-1].instant >= self.stop_at()
        self.offset = self._big_start + len(big) - 1
        self._held = following
        return big

    def _after_overlap(self, rows: list[Row], big: list[Row], instant: dt.datetime) -> list[Row]:
        """A page asked from the group's last record read, without that record.

        If the group goes on in the page, it must begin with that record: a group over several
        answers is only read right in the server's one order. If the group ends in the page,
        with any of the group's records (ties may come in another order on every request).
        """
        if rows and big and rows[0].instant == instant:
            first = content_key(rows[0].record)
            goes_on = len(rows) > 1 and rows[1].instant == instant
            if first == content_key(big[-1].record) or (
                not goes_on and first in {content_key(row.record) for row in big}
            ):
                return rows[1:]
        raise PagingError(self._not_following(rows, instant))

    def _next_in_group(self, end: int, served: int) -> None:
        """Ask a group's next page after a page of `served` records ending before `end`.

        In the first read, after a full page, from its last record, which the next page must
        begin with (see _accept_big). After a short page, from `end`: it asks whether the
        short page was the server's cap, and a page beginning with the record before would
        tell nothing (it is there either way; of ties in another order, it may not come
        first). The second read is compared with the first record for record: plain offsets.
        """
        cap = self.traits.cap
        full = served >= self.first or (cap is not None and served >= cap)
        self._big_follows = full and served >= 2 and self._big_first_read is None
        self.offset = end - 1 if self._big_follows else end

    def _bound_group(self, big: list[Row], instant: dt.datetime) -> None:
        """Stop a group read that cannot be right, or would grow without end."""
        first = self._big_first_read
        if first is not None and len(big) > len(first):
            raise PagingError(  # the second read is longer
                self._reads_differ(len(big), instant), setting="page_size"
            )
        if len(big) > MAX_GROUP_RECORDS:
            msg = (
                f"window {self.window}: more than {MAX_GROUP_RECORDS:,} records share the "
                f"instant {instant}; a group is read whole, in memory, and the run stops "
                "rather than hold more (a server answering the same records for every offset "
                "looks so too)"
            )
            raise PagingError(msg)

    def _reads_differ(self, size: int, instant: dt.datetime) -> str:
        return (
            f"window {self.window}: {size} records share the instant {instant}, too many for "
            f"one page of {self.first}, and two reads of them differ: the server orders ties "
            "differently on every request, or records came or went while they were read, so "
            "offset paging through them could lose records. Raise `page_size` above the size "
            "of that group."
        )

    def _not_following(self, rows: list[Row], instant: dt.datetime) -> str:
        """Why a page asked inside a group larger than a page cannot be its continuation."""
        if self._big_follows:
            asked = f"the last record read (offset {self.offset}, a change at {instant})"
        else:
            asked = f"the first of the changes at {instant} (offset {self.offset})"
        if not rows:
            found = "is empty"
        elif rows[0].instant == instant:
            found = "begins with another change of that instant"
        else:
            found = f"begins with a change at {rows[0].instant}"
        return (
            f"window {self.window}: the page asked from {asked} {found}: the server orders "
            "ties differently on every request, does not page by offset, or records came or "
            "went meanwhile, so offset paging could lose records. If more changes than a page "
            f"({self.first}) share that instant, raise `page_size` above their number."
        )


def _check_ascending(rows: list[Row], window: Window) -> None:
    for before, after in pairwise(rows):
        if after.instant < before.instant:
            msg = (
                f"window {window}: the server answered records out of ascending changeDate "
                f"order ({before.instant.isoformat()} then {after.instant.isoformat()})"
            )
            raise PagingError(msg)


class Fetch(Protocol):
    """Fetches one page: (rows, X-Total-Count, the page size really asked for)."""

    def __call__(self, offset: int, first: int) -> tuple[list[Row], int | None, int]:
        """Ask for `first` records from `offset`."""
        ...


def read_window(pager: WindowPager, fetch: Fetch) -> Iterator[list[Row]]:
    """Drive `pager` with `fetch` until the window ends; yield what to emit, in order."""
    while not pager.finished:
        offset, first = pager.next_request()
        rows, total, asked = fetch(offset, first)
        emitted = pager.accept(rows, total, asked)
        if emitted:
            yield emitted
