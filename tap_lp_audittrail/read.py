"""The run's one read of the audit trail, and its fan-out to every selected stream.

How a change travels (docs/architecture.md draws it):

1. `api.AuditClient.fetch_page` asks for one page of one date window and checks the answer.
2. `paging.WindowPager` pages through the window: every changeDate group whole, in order.
3. `concurrency.in_order` reads many windows side by side and hands their pages on in order.
4. `TrailRead` (here) trusts what each answer holds, not the window's UTC bounds: it cuts a
   window's answer where the next window's answer begins, so that whatever zone the server
   reads the dates in, and whether toDate is inclusive, every change is handed on once, in
   order. At the start of the range it looks one day further back when the first window
   shows nothing before the start (the server may read the dates in a zone behind UTC).
5. `FanOut` (here) gives each change its `id` once and writes it to `audit_trail` and to its
   element stream, if they are selected and have not emitted it already (bookmarks.py).
6. After each window, a checkpoint moves every stream's bookmark to where the read stands and
   writes STATE; at the end, to where the complete read reached.

One read serves every selected stream. It asks the server to filter by `componentTypes` only
when every selected stream has codes (then the union of their codes): otherwise the whole
trail is read once and sorted on the tap's side.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from tap_lp_audittrail import readings, sdk_shim
from tap_lp_audittrail.bookmarks import Bookmark
from tap_lp_audittrail.concurrency import CancelledError, Lane, in_order, lanes_for
from tap_lp_audittrail.elements import ALL_CHANGES_STREAM, ObjectTypeIndex
from tap_lp_audittrail.jsonfiles import unusable
from tap_lp_audittrail.output import RecordWriter
from tap_lp_audittrail.paging import PagingError, WindowPager, read_window
from tap_lp_audittrail.records import UTC, IdAssigner, Row, parse_utc
from tap_lp_audittrail.stopping import STOP, Interrupted, StdoutClosed, signal_name
from tap_lp_audittrail.windows import (
    DAY,
    MAX_WEST,
    Window,
    WindowPlanner,
    floor_day,
    pinned_plan,
)

if TYPE_CHECKING:
    from singer_sdk import Stream, Tap

    from tap_lp_audittrail.api import AuditClient

logger = logging.getLogger("tap-lp-audittrail")

WHAT = "audit trail"
#: An instant before every record: a pinned window that asked all its pages stops.
_BEFORE_ALL = dt.datetime.min.replace(tzinfo=UTC)
#: LivePerson keeps 13 months of changes: where a stream with no bookmark and no start_date starts.
RETENTION_MONTHS = 13


def months_ago(now: dt.datetime, months: int) -> dt.datetime:
    """Midnight UTC `months` calendar months before `now`."""
    index = now.year * 12 + now.month - 1 - months
    year, month = divmod(index, 12)
    return dt.datetime(year, month + 1, min(now.day, 28), tzinfo=UTC)


def configured_range(config: Mapping[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    """Where a stream without a bookmark starts, and where every read ends.

    `start_date`, else 13 months ago; `end_date`, else two days past the host's date: an
    upper bound of what to ask for, never a bookmark (those follow the server's clock).
    """
    now = dt.datetime.now(tz=UTC)
    start = config.get("start_date")
    end = config.get("end_date")
    return (
        parse_utc(start) if start else months_ago(now, RETENTION_MONTHS),
        parse_utc(end) if end else floor_day(now) + 2 * DAY,
    )


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

    def __init__(  # noqa: PLR0917
        self,
        client: AuditClient,
        start: dt.datetime,
        end: dt.datetime,
        component_types: Sequence[str],
        window_days: int,
        concurrency: int,
    ) -> None:
        self.client = client
        self.start, self.end = start, end
        self.component_types = tuple(component_types)
        self.window_days = window_days
        self.concurrency = concurrency
        self.handed_on = 0

    def __iter__(self) -> Iterator[list[Row] | Checkpoint]:
        """Batches of changes, and a checkpoint after each window."""
        planner = WindowPlanner(
            self.start,
            self.end,
            self.window_days,
            self.client.traits.records_per_page,
            now=self.client.host_time,
            lanes=lanes_for(self.concurrency),
            pinned=pinned_plan(self.client.config.get("replay_windows")),
        )
        logger.info(
            "%s: reading %s to %s in date windows of 1 to %d days%s",
            WHAT,
            self.start.isoformat(),
            self.end.isoformat(),
            self.window_days,
            f" (componentTypes {', '.join(self.component_types)})" if self.component_types else "",
        )
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
                self._log_window(lane.window, item)
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
            expected = total if traits.total_is_total and total else planner.records_in(window)
            if expected is not None:
                lane.records_left = max(0.0, expected - offset - len(rows))
            return rows, total, asked

        yield from read_window(pager, fetch)
        planner.page_size = self.client.traits.records_per_page
        planner.observe(window, records)
        note = self.client.note_window
        if note is not None:
            note(window, firsts, records)
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
        self.handed_on += len(rows)
        return rows[-1].instant

    def _log_window(self, window: Window, done: WindowDone) -> None:
        span = (self.end - self.start).total_seconds() or 1.0
        reached = min(window.end, self.end)
        logger.info(
            "%s: window %s..%s done: %d records in %d pages; %d handed on so far, %.0f%% of "
            "the time range",
            WHAT,
            window.from_date,
            window.to_date,
            done.records,
            done.pages,
            self.handed_on,
            max(0.0, 100 * (reached - self.start).total_seconds() / span),
        )


@dataclass
class Target:
    """One selected stream as the read sees it: its bookmark, and how its records are written."""

    stream: Stream
    bookmark: Bookmark
    start: dt.datetime
    #: The start of its RECORD lines when records go out as they are; None: through the SDK.
    prefix: bytes | None
    emitted: int = 0
    skipped: int = 0
    #: Of `emitted`, those handed to the stream's record_count metric already.
    counted: int = 0


_encode = msgspec.json.Encoder().encode
#: Seconds a thread holding the GIL runs before another may take it, during the read.
SWITCH_INTERVAL = 0.0005


class FanOut:
    """Hands every change of the read to each selected stream it belongs to, once."""

    def __init__(
        self,
        tap: Tap,
        targets: dict[str, Target],
        index: ObjectTypeIndex,
        lookback: dt.timedelta,
    ) -> None:
        self.tap = tap
        self.targets = targets
        self.index = index
        self.lookback = lookback
        writer = tap.message_writer
        self.writer = writer if isinstance(writer, RecordWriter) else None
        self.all_changes = targets.get(ALL_CHANGES_STREAM)
        self.unknown: dict[str, int] = {}
        self._routes_of: dict[object, tuple[Target, ...]] = {}
        self._unknown_types: set[object] = set()
        self._since_state = 0
        #: changeDate of the last change handed on to the streams (None: none yet).
        self.last_emitted: dt.datetime | None = None
        #: The stream whose sync runs the read: the SDK ends its metrics (the others' too,
        #: when the read completes and their turn comes).
        self.first_synced: Stream | None = None

    def run(self, read: TrailRead) -> None:
        """Emit every change of `read`, writing STATE after its windows and at its end.

        At the first item, the server's clock is known (the `Date` of an answer): a bookmark
        from the future stops the run before any record is written (check_bookmarks).
        """
        for name, target in self.targets.items():
            sdk_shim.write_schema(target.stream)
            logger.info("%s: reading from %s", name, target.start.isoformat())
            timer = getattr(target.stream, "read_timer", None)
            if timer is not None:
                timer.start()
        ids = IdAssigner()
        position: dt.datetime | None = None
        items = iter(read)
        unchecked = True
        try:
            STOP.check()
            for item in items:
                if unchecked and read.client.server_start is not None:
                    check_bookmarks(self.targets, read.client.server_start)
                    unchecked = False
                if isinstance(item, Checkpoint):
                    if item.position is not None:
                        position = item.position
                        self._checkpoint(position, read.client.server_start, complete_to=None)
                    continue
                self._emit(item, ids)
                self.last_emitted = item[-1].instant
                self._count()
                STOP.check()
        except BaseException as exc:
            self._count(final=True)  # the streams not synced yet say theirs now
            close = getattr(items, "close", None)
            if close is not None:
                close()  # the window threads stop at once
            if STOP.is_set() and not isinstance(exc, Interrupted | StdoutClosed):
                # What the stop broke on its way (a window thread's request given up).
                stop = Interrupted(STOP.signum or 0)
                self._stopped(read.client.server_start, stop)
                raise stop from exc
            self._stopped(read.client.server_start, exc)
            raise
        STOP.check()
        server_start = read.client.server_start
        complete_to = None if server_start is None else min(server_start, read.end)
        reached = position if complete_to is None else max(position or complete_to, complete_to)
        if reached is not None:
            self._checkpoint(reached, server_start, complete_to=complete_to, force=True)
        elif server_start is None:
            logger.info(
                "The server sent no Date header: bookmarks follow the changes read only, so a "
                "stream with no new change reads its last %s again next time.",
                self.lookback,
            )
        for name, target in self.targets.items():
            logger.info(
                "%s: %d changes emitted; %d read again and skipped (emitted by an earlier run)",
                name,
                target.emitted,
                target.skipped,
            )
            sdk_shim.mark_state_unflushed(target.stream)

    def _count(self, *, final: bool = False) -> None:
        """Hand the records emitted since the last call to each stream's `record_count`."""
        for target in self.targets.values():
            counter = getattr(target.stream, "emitted_counter", None)
            if counter is None:
                continue
            new = target.emitted - target.counted
            if new:
                target.counted = target.emitted
                counter.increment(new)
                if self.writer is not None and target.prefix is not None:
                    # Lines the writer got encoded (through the SDK, it counts them itself).
                    self.writer.records_written(target.stream.name, new)
            if final and target.stream is not self.first_synced:
                counter.exit()

    def _stopped(self, server_start: dt.datetime | None, exc: BaseException) -> None:
        """The read stops early: a last STATE that covers every record written so far.

        Changes are handed on in changeDate order, so every change before the last one emitted
        has been handed on; at that instant, the group may be partial. Moving the bookmarks
        there keeps `reread_from` at or before it and every id emitted at it in `seen`: a run
        from this STATE reads that group again, skips what was emitted, and goes on.
        """
        if isinstance(exc, StdoutClosed) or (self.writer is not None and self.writer.closed):
            return  # nobody reads any more
        last = self.last_emitted
        if last is not None:
            for target in self.targets.values():
                if last < target.start:
                    continue
                target.bookmark.checkpoint(last, server_start, self.lookback)
                target.bookmark.to_state(target.stream.get_context_state(None))
        with contextlib.suppress(StdoutClosed):
            self.tap.state_writer.write_state(self.tap.state)
            if self.writer is not None:
                self.writer.flush()
        if isinstance(exc, Interrupted):
            logger.info(
                "Stopped by %s: the last STATE covers every record written (%s); a run "
                "from it goes on from there",
                signal_name(exc.signum),
                ", ".join(f"{name}: {t.emitted}" for name, t in self.targets.items()),
            )

    def _routes(self, object_type: object) -> tuple[Target, ...]:
        """The selected streams a change of `object_type` goes to (looked up once per type)."""
        routes = self._routes_of.get(object_type)
        if routes is None:
            element = self.index.stream_of(object_type)
            if element is None:
                self._unknown_types.add(object_type)
            chosen = (self.all_changes, self.targets.get(element) if element else None)
            routes = self._routes_of[object_type] = tuple(t for t in chosen if t is not None)
        if object_type in self._unknown_types:
            kind = str(object_type)
            self.unknown[kind] = self.unknown.get(kind, 0) + 1
        return routes

    def _emit(self, rows: list[Row], ids: IdAssigner) -> None:
        writer = self.writer
        fast = writer is not None
        suffix = writer.record_suffix() if writer is not None else b""
        lines: list[bytes] = []
        routes_of = self._routes
        row = rows[0]
        try:
            for row in rows:
                record = row.record
                record_id = record["id"] = ids.assign(record)
                encoded: bytes | None = None
                for target in routes_of(record["objectType"]):
                    if row.instant < target.start:
                        continue
                    if not target.bookmark.first_emission(record_id, row.instant):
                        target.skipped += 1
                        continue
                    if fast and target.prefix is not None:
                        if encoded is None:
                            encoded = _encode(record)
                        if not target.emitted and writer is not None:
                            if lines:
                                self._flush(lines)
                            writer.first_record(target.stream.name)
                        lines.append(target.prefix + encoded + suffix)
                    else:
                        if lines:
                            self._flush(lines)
                        try:
                            for message in sdk_shim.record_messages(target.stream, dict(record)):
                                self.tap.write_message(message)
                        except BaseException:
                            del target.bookmark.seen[record_id]  # not written: not emitted
                            raise
                    target.emitted += 1
                    self._since_state += 1
        except BaseException:
            # What was marked emitted is written before the last STATE says so.
            self.last_emitted = row.instant
            if lines:
                with contextlib.suppress(StdoutClosed):
                    self._flush(lines)
            raise
        if lines:
            self._flush(lines)

    def _flush(self, lines: list[bytes]) -> None:
        assert self.writer is not None
        self.writer.write_records(b"".join(lines))
        lines.clear()

    def _checkpoint(
        self,
        position: dt.datetime,
        server_start: dt.datetime | None,
        *,
        complete_to: dt.datetime | None,
        force: bool = False,
    ) -> None:
        seen = 0
        for target in self.targets.values():
            if position < target.start:
                continue
            bookmark = target.bookmark
            bookmark.checkpoint(position, server_start, self.lookback, complete_to=complete_to)
            bookmark.to_state(target.stream.get_context_state(None))
            seen += len(bookmark.seen)
        # A STATE carries every id of the look-back; near the present that is thousands. Write
        # one when the records since the last one outweigh it, so its cost per record is small.
        if force or 4 * self._since_state >= seen:
            self.tap.state_writer.write_state(self.tap.state)
            self._since_state = 0


def check_bookmarks(targets: Mapping[str, Target], server_time: dt.datetime) -> None:
    """Stop the run if a loaded bookmark is past the server's clock (bookmarks.py)."""
    problems = []
    for name, target in targets.items():
        ahead = target.bookmark.ahead_of(server_time)
        if ahead is None:
            continue
        loaded = target.bookmark.previous_read_to
        assert loaded is not None
        problems.append(
            f"state: bookmarks.{name}.replication_key_value: {loaded.isoformat()} is "
            f"{ahead.days:,} days past the server's clock ({server_time.isoformat()}, the Date "
            "of its answer): no run of this tap writes a bookmark ahead of it, and from there "
            "the stream would read nothing; fix it or start without state"
        )
    if problems:
        raise unusable("State", problems)


def run_read(tap: Tap, client: AuditClient, streams: Sequence[Stream]) -> None:
    """The run's one read for every selected stream: plan it, fan it out, write its state."""
    config = tap.config
    floor, end = configured_range(config)
    lookback = dt.timedelta(minutes=float(config["lookback_minutes"]))
    targets = {}
    for stream in streams:
        state = stream.get_context_state(None)
        bookmark = Bookmark.from_state(state, lookback)
        if bookmark.read_to is not None and "reread_from" not in state:
            logger.info(
                "%s: the state has no `reread_from` (an older version wrote it): reading again "
                "from %s; what that run emitted since then comes again, under the same ids",
                stream.name,
                bookmark.reread_from,
            )
        writer = tap.message_writer
        prefix = (
            writer.record_prefix(stream.name)
            if isinstance(writer, RecordWriter) and sdk_shim.writes_records_as_they_are(stream)
            else None
        )
        targets[stream.name] = Target(stream, bookmark, bookmark.start(floor), prefix)
    if not targets:
        return
    start = min(target.start for target in targets.values())
    if start >= end:
        # The bookmarks are past the end: one answer tells whether they are past the server's
        # clock too (a state no run of this tap wrote, which would read nothing forever).
        client.fetch_page(WHAT, Window(floor_day(end) - DAY, floor_day(end)), 0, 1, ())
        if client.server_start is not None:
            check_bookmarks(targets, client.server_start)
        logger.info(
            "Nothing to read: start %s is not before end %s", start.isoformat(), end.isoformat()
        )
        return
    codes = [getattr(target.stream, "component_types", ()) for target in targets.values()]
    component_types = (
        tuple(dict.fromkeys(code for group in codes for code in group)) if all(codes) else ()
    )
    read = TrailRead(
        client,
        start,
        end,
        component_types,
        window_days=int(config["window_days"]),
        concurrency=int(config["max_concurrency"]),
    )
    fan_out = FanOut(tap, targets, client.index, lookback)
    fan_out.first_synced = streams[0]  # the SDK syncs the selected streams in this order
    # Window threads mostly wait on the network, and each answer needs the GIL a few times
    # before the next request can go: with Python's default 5 ms switch interval they queue
    # behind the thread writing records, and a 100 ms request holds its slot for 135 ms.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    readings.warm()
    try:
        fan_out.run(read)
    finally:
        sys.setswitchinterval(previous)
    client.unknown_object_types.update(fan_out.unknown)
    client.readings.note_bookmarks(target.bookmark for target in targets.values())


def connection_test(tap: Tap, client: AuditClient, streams: Sequence[Stream]) -> None:
    """`--test`: domain, auth and one page over the whole range, one record per stream found."""
    start, end = configured_range(tap.config)
    rows, total, _ = client.fetch_page(
        "connection test", Window(start, end, last=True), 0, client.traits.page_size, ()
    )
    wanted = {stream.name: stream for stream in streams}
    written: list[str] = []
    ids = IdAssigner()
    for row in rows:
        record = row.record
        record["id"] = ids.assign(record)
        element = client.index.stream_of(record["objectType"])
        for name in (ALL_CHANGES_STREAM, element):
            stream = wanted.pop(name, None) if name else None
            if stream is None:
                continue
            sdk_shim.write_schema(stream)
            for message in sdk_shim.record_messages(stream, dict(record)):
                tap.write_message(message)
            counter = getattr(stream, "emitted_counter", None)
            if counter is not None:
                counter.increment()
            written.append(stream.name)
    logger.info(
        "Connection test passed: %s reached with %s; one page read (%d changes, X-Total-Count "
        "%s); one record written for each stream that page holds a change of (%s); the other "
        "streams had none on it (%s)",
        client.audit_url,
        client.authenticator.credential_names,
        len(rows),
        total,
        ", ".join(written) or "none",
        ", ".join(wanted) or "none",
    )
