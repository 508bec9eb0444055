"""The fan-out: every change of the trail to each selected stream it belongs to, once.

`FanOut` gives each change its `id` once (records.py) and writes it to `audit_trail` and to
its element stream (elements.py), if they are selected and have not emitted it already
(bookmarks.py): as RECORD lines it encodes once, or through the SDK's stream maps when a
stream has any (sdk_shim.py). After each window's checkpoint it moves every stream's bookmark
to where the trail stands and writes STATE when the records since the last one outweigh it;
at the end, to where the complete read reached. A read that stops early writes a last STATE
covering every record written, unless nobody reads any more. A bookmark past the server's
clock stops the run at the first answer, before any record (`check_bookmarks`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import msgspec

from tap_lp_audittrail import sdk_shim
from tap_lp_audittrail.bookmarks import Bookmark
from tap_lp_audittrail.elements import ALL_CHANGES_STREAM
from tap_lp_audittrail.jsonfiles import unusable
from tap_lp_audittrail.records import IdAssigner, Row
from tap_lp_audittrail.stopping import STOP, Interrupted, StdoutClosed, signal_name
from tap_lp_audittrail.trail import Checkpoint

if TYPE_CHECKING:
    from singer_sdk import Stream

    from tap_lp_audittrail.progress import ReadProgress
    from tap_lp_audittrail.run import Run
    from tap_lp_audittrail.streams import AuditStream

logger = logging.getLogger("tap-lp-audittrail")


@dataclass
class Target:
    """One selected stream as the read sees it: its bookmark, and how its records are written."""

    stream: AuditStream
    bookmark: Bookmark
    start: dt.datetime
    #: The start of its RECORD lines when records go out as they are; None: through the SDK.
    prefix: bytes | None
    emitted: int = 0
    skipped: int = 0
    #: Of `emitted`, those handed to the stream's record_count metric already.
    counted: int = 0


_encode = msgspec.json.Encoder().encode


class Trail(Protocol):
    """What the fan-out reads: batches of changes in order, a checkpoint after each window."""

    #: Where the read ends (exclusive).
    end: dt.datetime

    @property
    def server_start(self) -> dt.datetime | None:
        """The server's time when the read began, once an answer has shown it."""

    def __iter__(self) -> Iterator[list[Row] | Checkpoint]:
        """The batches and checkpoints (trail.TrailRead)."""


class FanOut:
    """Hands every change of the read to each selected stream it belongs to, once."""

    def __init__(
        self,
        run: Run,
        targets: dict[str, Target],
        lookback: dt.timedelta,
        *,
        first_synced: Stream | None = None,
        progress: ReadProgress | None = None,
    ) -> None:
        """`first_synced`: the stream whose sync runs the read (the SDK ends its metrics)."""
        self.targets = targets
        self.index = run.index
        self.lookback = lookback
        self.writer = run.writer
        self.write_message = run.write_message
        self.write_state = run.write_state
        self.first_synced = first_synced
        self.progress = progress
        self.all_changes = targets.get(ALL_CHANGES_STREAM)
        self.unknown: dict[str, int] = {}
        self._routes_of: dict[object, tuple[Target, ...]] = {}
        self._unknown_types: set[object] = set()
        self._since_state = 0
        #: changeDate of the last change handed on to the streams (None: none yet).
        self.last_emitted: dt.datetime | None = None

    def run(self, read: Trail) -> None:
        """Emit every change of `read`, writing STATE after its windows and at its end.

        At the first item, the server's clock is known (the `Date` of an answer): a bookmark
        from the future stops the run before any record is written (check_bookmarks).
        """
        for name, target in self.targets.items():
            sdk_shim.write_schema(target.stream)
            if self.progress is not None:
                self.progress.stream_starts(name, target.start)
            target.stream.read_timer.start()
        ids = IdAssigner()
        position: dt.datetime | None = None
        items = iter(read)
        unchecked = True
        try:
            STOP.check()
            for item in items:
                if unchecked and read.server_start is not None:
                    check_bookmarks(self.targets, read.server_start)
                    unchecked = False
                if isinstance(item, Checkpoint):
                    if item.position is not None:
                        position = item.position
                        self._checkpoint(position, read.server_start, complete_to=None)
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
                self._stopped(read.server_start, stop)
                raise stop from exc
            self._stopped(read.server_start, exc)
            raise
        STOP.check()
        server_start = read.server_start
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
            if self.progress is not None:
                self.progress.stream_done(name, target.emitted, target.skipped)
            sdk_shim.mark_state_unflushed(target.stream)
            if target.stream is not self.first_synced:
                sdk_shim.read_already(target.stream)

    def _count(self, *, final: bool = False) -> None:
        """Hand the records emitted since the last call to each stream's `record_count`."""
        for target in self.targets.values():
            counter = target.stream.emitted_counter
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
            self.write_state()
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
                                self.write_message(message)
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
            self.write_state()
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
