"""The run's one read: its range, each stream's start, the trail fanned out to the streams.

One read serves every selected stream (docs/architecture.md, "Why one read"). `run_read`
plans it: the range (`start_date`, else 13 months ago, to `end_date`, else two days past the
host's date), each selected stream's bookmark and where it starts, the server-side filter by
`componentTypes` (only when every selected stream has codes: then the union of their codes;
otherwise the whole trail is read once and sorted on the tap's side). Then the trail
(trail.py) is fanned out to the streams (fanout.py). `connection_test` is `--test`'s: one page
over the whole range, one record per stream found.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tap_lp_audittrail import readings, sdk_shim
from tap_lp_audittrail.bookmarks import Bookmark
from tap_lp_audittrail.elements import ALL_CHANGES_STREAM
from tap_lp_audittrail.fanout import FanOut, Target, check_bookmarks
from tap_lp_audittrail.output import RecordWriter
from tap_lp_audittrail.records import UTC, IdAssigner, parse_utc
from tap_lp_audittrail.trail import WHAT, TrailRead
from tap_lp_audittrail.windows import DAY, Window, floor_day

if TYPE_CHECKING:
    from singer_sdk import Stream, Tap

    from tap_lp_audittrail.api import AuditClient

logger = logging.getLogger("tap-lp-audittrail")

#: Seconds a thread holding the GIL runs before another may take it, during the read.
SWITCH_INTERVAL = 0.0005
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
        "%s); a record made for each stream that page holds a change of (%s); the other "
        "streams had none on it (%s)",
        client.audit_url,
        client.authenticator.credential_names,
        len(rows),
        total,
        ", ".join(written) or "none",
        ", ".join(wanted) or "none",
    )
