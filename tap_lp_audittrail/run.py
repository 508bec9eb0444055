"""The run: what one invocation reads with, made once by the tap and handed to every stream.

`Run` holds the run's settings, its message writer, its API client (made at the first request,
with its capture) and what the run learns on its way (readings, unknown objectTypes). One read
serves every selected stream (docs/architecture.md, "Why one read"): the first selected stream
the SDK syncs asks for it (`Run.read`), the others find it done; then the run ends (`end`):
unknown objectTypes said, log out, the readings logged and captured.

`run_read` plans the read: the range (`configured_range`: `start_date`, else 13 months ago, to
`end_date`, else two days past the host's date), each selected stream's bookmark and where it
starts, the server-side filter by `componentTypes` (only when every selected stream has codes:
then the union of their codes; otherwise the whole trail is read once and sorted on the tap's
side). Then the trail (trail.py) is fanned out to the streams (fanout.py), its progress said
by progress.py. `connection_test` is `--test`'s: one page over the whole range, one record per
stream found.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from tap_lp_audittrail import readings, sdk_shim
from tap_lp_audittrail.api import AuditClient
from tap_lp_audittrail.bookmarks import Bookmark
from tap_lp_audittrail.capture import Capture, session_hook
from tap_lp_audittrail.elements import ALL_CHANGES_STREAM, ObjectTypeIndex, elements_from_config
from tap_lp_audittrail.errors import install_redaction, show_error_answer
from tap_lp_audittrail.fanout import FanOut, Target, check_bookmarks
from tap_lp_audittrail.output import RecordWriter
from tap_lp_audittrail.progress import ReadProgress
from tap_lp_audittrail.records import UTC, IdAssigner, parse_utc
from tap_lp_audittrail.stopping import STOP
from tap_lp_audittrail.trail import WHAT, TrailRead
from tap_lp_audittrail.windows import DAY, Window, floor_day, pinned_plan

if TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.base import GenericSingerWriter

    from tap_lp_audittrail.client import AuditStream

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


class Run:
    """One run of the tap: its settings, writer and client, and its one read for every stream.

    The tap makes it once, with what the SDK gives the tap (its writer, its state, its
    selected streams), and hands it to every stream it makes.
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        writer: GenericSingerWriter,
        write_state: Callable[[], None],
        state: Callable[[], Mapping[str, Any]],
        selected: Callable[[], Sequence[AuditStream]],
        logger: logging.Logger,
    ) -> None:
        """A run with the tap's settings, writer and state, and its selected streams.

        `write_state`: write the tap's state now; `state`: that state; `selected`: the streams
        selected, in the order the SDK syncs them.
        """
        self.config = config
        #: Every message of the run goes here (the SDK's writer, or the Airbyte one).
        self.write_message = writer.write_message
        #: The writer, when the read may hand it RECORD lines it encoded itself (output.py).
        self.writer = writer if isinstance(writer, RecordWriter) else None
        self.write_state = write_state
        self._state = state
        self._selected = selected
        self.logger = logger
        self.index = ObjectTypeIndex(elements_from_config(config))
        #: What the run's answers show of the API's open questions (readings.py).
        self.readings = readings.RunReadings()
        #: objectTypes no element stream knows, and how many changes had each.
        self.unknown_object_types: Counter[str] = Counter()
        self.capture: Capture | None = None
        self._client: AuditClient | None = None
        self._read = False

    @cached_property
    def host_time(self) -> dt.datetime:
        """The host's time the windows are sized from.

        `replay_host_time` pins it, so a replay of a capture cuts the same windows as the
        captured run.
        """
        pinned = self.config.get("replay_host_time")
        return parse_utc(str(pinned)) if pinned else dt.datetime.now(tz=UTC)

    @property
    def client(self) -> AuditClient:
        """The run's API client, made at the first request (with the run's capture)."""
        if self._client is None:
            install_redaction()
            client = AuditClient(self.config, self.index)
            hooks = [self.readings.observe, show_error_answer]
            self.capture = self._start_capture()
            if self.capture is not None:
                hooks.insert(0, self.capture.hook)
            client.transport.session.hooks["response"].append(session_hook(*hooks))
            self._client = client
        return self._client

    @property
    def made_client(self) -> AuditClient | None:
        """The run's API client if it has made one (no request made it: None)."""
        return self._client

    @property
    def credential_names(self) -> str | None:
        """The settings the run authenticated with, once its client is made."""
        if self._client is None:
            return None
        return str(self._client.authenticator.credential_names) or None

    def _start_capture(self) -> Capture | None:
        """The run's capture, when `capture_dir` is set; settings.json is written at once."""
        config = self.config
        folder = config.get("capture_dir")
        if not folder:
            return None
        pseudonymise = bool(config.get("capture_pseudonymise", True))
        if not pseudonymise:
            self.logger.warning(
                "capture_pseudonymise is false: the capture in %s holds the names, login "
                "names, user agents and values of the account's changes in clear",
                folder,
            )
        capture = Capture(folder, str(config["account_id"]), pseudonymise=pseudonymise)
        start, end = configured_range(config)
        capture.write_settings(
            config,
            start=start,
            end=end,
            host_time=self.host_time,
            streams=[stream.name for stream in self._selected()],
            state=self._state(),
        )
        self.logger.info("Capturing every HTTP exchange of this run into %s", folder)
        return capture

    def read(self, *, dry_run: bool = False) -> None:
        """The run's one read, for every selected stream, once; then the run ends."""
        if self._read:
            return
        self._read = True
        STOP.check()  # a signal during start-up: no request at all
        selected = self._selected()
        try:
            if dry_run:
                connection_test(self, selected)
            else:
                run_read(self, selected)
        finally:
            self.end()

    def end(self) -> None:
        """Said once, after the read: unknown objectTypes, log out, and the readings seen."""
        client = self._client
        if client is None or client.closed:
            return
        self._warn_unknown_object_types()
        client.close()
        report = self.readings.report()
        readings.log_report(report)
        capture, self.capture = self.capture, None
        if capture is not None:
            capture.write_readings(report)
            capture.close()

    def _warn_unknown_object_types(self) -> None:
        seen = self.unknown_object_types
        if seen:
            listing = ", ".join(f"{name!r}: {n}" for name, n in sorted(seen.items()))
            self.logger.warning(
                "%d record(s) have an objectType no element stream knows (%s); they are in "
                "`audit_trail` only. Map them with the `object_types` setting.",
                sum(seen.values()),
                listing,
            )


def run_read(run: Run, streams: Sequence[AuditStream]) -> None:
    """The run's one read for every selected stream: plan it, fan it out, write its state."""
    config = run.config
    client = run.client
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
        writer = run.writer
        prefix = (
            writer.record_prefix(stream.name)
            if writer is not None and sdk_shim.writes_records_as_they_are(stream)
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
    codes = [target.stream.component_types for target in targets.values()]
    component_types = (
        tuple(dict.fromkeys(code for group in codes for code in group)) if all(codes) else ()
    )
    progress = ReadProgress(
        WHAT,
        start,
        end,
        requests=lambda: client.transport.requests,
        written=lambda: sum(target.emitted for target in targets.values()),
    )
    capture = run.capture
    read = TrailRead(
        client,
        start,
        end,
        component_types,
        window_days=int(config["window_days"]),
        concurrency=int(config["max_concurrency"]),
        host_time=run.host_time,
        pinned=pinned_plan(config.get("replay_windows")),
        note_window=capture.note_window if capture is not None else None,
        progress=progress,
    )
    # The SDK syncs the selected streams in this order: the first one runs the read.
    fan_out = FanOut(run, targets, lookback, first_synced=streams[0], progress=progress)
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
    run.unknown_object_types.update(fan_out.unknown)
    run.readings.note_bookmarks(target.bookmark for target in targets.values())


def connection_test(run: Run, streams: Sequence[AuditStream]) -> None:
    """`--test`: domain, auth and one page over the whole range, one record per stream found."""
    start, end = configured_range(run.config)
    client = run.client
    rows, total, _ = client.fetch_page(
        "connection test", Window(start, end, last=True), 0, client.traits.page_size, ()
    )
    wanted = {stream.name: stream for stream in streams}
    written: list[str] = []
    ids = IdAssigner()
    for row in rows:
        record = row.record
        record["id"] = ids.assign(record)
        element = run.index.stream_of(record["objectType"])
        for name in (ALL_CHANGES_STREAM, element):
            stream = wanted.pop(name, None) if name else None
            if stream is None:
                continue
            sdk_shim.write_schema(stream)
            for message in sdk_shim.record_messages(stream, dict(record)):
                run.write_message(message)
            stream.emitted_counter.increment()
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
