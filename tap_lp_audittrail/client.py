"""The Audit Trail API client and the base stream every audit stream is built on."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import threading
from collections import Counter
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import requests
from singer_sdk import RESTStream
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import RecordMessage

from tap_lp_audittrail.auth import (
    AUDIT_SERVICE,
    Authenticator,
    DomainResolver,
    build_authenticator,
    service_url,
)
from tap_lp_audittrail.concurrency import CancelledError, in_order
from tap_lp_audittrail.errors import AuthError, ServerAnswerError
from tap_lp_audittrail.feed import SharedFeed
from tap_lp_audittrail.paging import ServerTraits, WindowPager, read_window
from tap_lp_audittrail.query import AuditQuery
from tap_lp_audittrail.records import (
    API_FIELDS,
    UTC,
    IdAssigner,
    MalformedRecordError,
    Row,
    format_utc,
    parse_utc,
    to_row,
)
from tap_lp_audittrail.transport import (
    RetryPolicy,
    Transport,
    raise_for_status,
    read_json,
    server_message,
)
from tap_lp_audittrail.windows import DAY, Window, WindowPlanner, floor_day

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_lp_audittrail.streams import Element, ObjectTypeIndex

logger = logging.getLogger("tap-lp-audittrail")

#: Zones the tap asks the server to render changeDate in, best first: all have a zero offset
#: and no DST, so a rendered time maps to exactly one instant, and dates mean UTC dates
#: whether the server reads fromDate/toDate in the requested zone or in UTC.
TIMEZONE_CANDIDATES = ("UTC", "Etc/UTC", "GMT", "Etc/GMT", "Atlantic/Reykjavik", "Africa/Abidjan")
MIN_PAGE_SIZE = 10
_VALIDATION_WORDS = (
    "cannot query field",
    "unknown argument",
    "syntax error",
    "unknown type",
    "validation",
)

AUDIT_SCHEMA = th.PropertiesList(
    th.Property(
        "id",
        th.StringType,
        required=True,
        description="Stable key from the record's content and its occurrence among "
        "identical records of the same instant",
    ),
    th.Property("accountId", th.StringType),
    th.Property("objectType", th.StringType, description="The audited element"),
    th.Property("objectName", th.StringType),
    th.Property(
        "actionType",
        th.StringType,
        description="Add, Edit or Delete; null when the server no longer serves it",
    ),
    th.Property("element", th.StringType, description="The changed property, or N/A"),
    th.Property("oldValue", th.StringType),
    th.Property("newValue", th.StringType),
    th.Property("changeDate", th.DateTimeType, required=True, description="When, in UTC"),
    th.Property("originator", th.StringType),
    th.Property("originatorLoginName", th.StringType),
    th.Property("originatorUserId", th.StringType),
    th.Property("originatorUserAgent", th.StringType),
    th.Property("originatorAuthType", th.StringType),
    th.Property("originatorIsLpa", th.BooleanType),
).to_dict()


class UnauthorizedError(FatalAPIError):
    """A 401: the token may be renewed once."""

    def __init__(self, message: str, generation: int) -> None:
        super().__init__(message)
        self.generation = generation  # of the token the refused request carried


class QueryRefusedError(FatalAPIError):
    """A 400 or a GraphQL validation error: the tap may adapt its query once, else stop."""

    def __init__(self, label: str, server_text: str) -> None:
        super().__init__(f"{label}: {server_text}")
        self.server_text = server_text


def months_ago(now: dt.datetime, months: int) -> dt.datetime:
    """Midnight UTC `months` calendar months before `now` (LivePerson keeps 13)."""
    index = now.year * 12 + now.month - 1 - months
    year, month = divmod(index, 12)
    return dt.datetime(year, month + 1, min(now.day, 28), tzinfo=UTC)


class AuditClient:
    """One run's access to the Audit Trail: hosts, auth, and what it learned of the server.

    Shared by every stream of the run, and by their window threads.
    """

    def __init__(self, config: Mapping[str, Any], index: ObjectTypeIndex) -> None:
        self.config = config
        self.index = index
        self.transport = Transport(
            timeout=float(config.get("request_timeout", 60)),
            policy=RetryPolicy(
                max_retry_seconds=float(config.get("max_retry_seconds", 900)),
                initial_wait=float(config.get("retry_initial_wait", 5.0)),
            ),
            pool_size=max(10, int(config.get("max_concurrency", 4)) + 2),
        )
        self.resolver = DomainResolver(
            self.transport,
            config.get("domain_api_url") or "https://api.liveperson.net",
            str(config["account_id"]),
        )
        self.authenticator: Authenticator = build_authenticator(
            config,
            self.transport,
            self.resolver,
        )
        self.traits = ServerTraits(page_size=int(config.get("page_size", 500)))
        self.fields: tuple[str, ...] = API_FIELDS
        self._timezone = 0
        self._lock = threading.Lock()
        self._audit_url: str | None = None
        self.slots = threading.Semaphore(max(1, int(config.get("max_concurrency", 4))))
        self.unknown_object_types: dict[str, Counter[str]] = {}
        self.shared_feed: SharedFeed | None = None
        self.closed = False

    @property
    def timezone(self) -> str:
        """The zone the server renders changeDate in for this run."""
        return TIMEZONE_CANDIDATES[self._timezone]

    @property
    def audit_url(self) -> str:
        """The audit endpoint: on `domain` if set, else on the host the Domain API names."""
        with self._lock:
            if self._audit_url is None:
                host = self.config.get("domain") or self.resolver.host(AUDIT_SERVICE)
                account = quote(str(self.config["account_id"]), safe="")
                self._audit_url = (
                    f"{service_url(host)}/api/account/{account}/configuration/metadata/audit"
                )
            return self._audit_url

    def query(
        self, window: Window, offset: int, first: int, component_types: Sequence[str]
    ) -> AuditQuery:
        """The auditData query for one page, with this run's settings."""
        return AuditQuery(
            from_date=window.from_date,
            to_date=window.to_date,
            first=first,
            offset=offset,
            timezone=self.timezone,
            fields=self.fields,
            language=self.config.get("language") or "en-US",
            lpa=bool(self.config.get("include_lpa", True)),
            automatic_updates=bool(self.config.get("include_automatic_updates", True)),
            users=tuple(self.config.get("users") or ()),
            component_types=tuple(component_types),
        )

    def fetch_page(
        self,
        what: str,
        window: Window,
        offset: int,
        first: int,
        component_types: Sequence[str],
        *,
        cancelled: threading.Event | None = None,
    ) -> tuple[list[Row], int | None, int]:
        """One page of a window: rows, X-Total-Count, and the page size really asked for."""
        renewed = False
        while True:
            query = self.query(window, offset, min(first, self.traits.page_size), component_types)
            label = f"{what} window {window.from_date}..{window.to_date} offset {offset}"
            try:
                rows, total = self.transport.call(
                    label,
                    functools.partial(self._post, query),
                    functools.partial(self._read_page, query=query, label=label),
                    cancelled,
                )
            except UnauthorizedError as exc:
                if exc.generation <= self.authenticator.accepted_generation:
                    renewed = False  # that token had worked: it expired, it was not refused
                if not renewed and self.authenticator.renew(exc.generation):
                    renewed = True
                    logger.info("%s: 401, renewing the token once", label)
                    continue
                msg = (
                    f"{label}: LivePerson refused {self.authenticator.credential_names} "
                    f"(HTTP 401: {exc}). Check these settings"
                    + (
                        ", or issue a new token"
                        if self.authenticator.credential_names == "bearer_token"
                        else ""
                    )
                    + "."
                )
                raise AuthError(msg) from None
            except QueryRefusedError as exc:
                if self._adapt(exc.server_text, query):
                    renewed = False  # the token was accepted: a later 401 may renew again
                    continue
                raise
            return rows, total, query.first

    def _post(self, query: AuditQuery) -> requests.Response:
        body = {"query": query.text()}
        url = self.audit_url
        # The slot bounds requests in flight; parsing the answer happens after it is freed.
        # A thread may wait long for a slot: it looks at the run-wide pause again once it has one.
        with self.slots:
            self.transport.throttle.wait()
            return self.transport.session.post(
                url,
                json=body,
                headers={"Accept": "application/json"},
                auth=self.authenticator,
                timeout=self.transport.timeout,
            )

    def _read_page(
        self, response: requests.Response, query: AuditQuery, label: str
    ) -> tuple[list[Row], int | None]:
        status = response.status_code
        if status == 401:
            raise UnauthorizedError(
                server_message(response), self.authenticator.generation_of(response.request)
            )
        if status < 300 or status in (400, 403):
            # Answers given only after authentication: the token works.
            self.authenticator.accepted(response.request)
        if status == 403:
            msg = (
                f"{label}: HTTP 403: {server_message(response)}. LivePerson accepted "
                f"{self.authenticator.credential_names} but it lacks the permission to read "
                "the Audit Trail: grant the API key (or the user's profile) the "
                "account-configuration read permission that covers the Audit Trail."
            )
            raise AuthError(msg)
        if status == 400:
            raise QueryRefusedError(label, f"HTTP 400: {server_message(response)}")
        raise_for_status(response, label)
        body = read_json(response, label)
        if not isinstance(body, dict):
            msg = f"{label}: the answer is JSON but not an object"
            raise ServerAnswerError(msg, response)
        if body.get("errors"):
            message = server_message(response)
            if any(word in message.casefold() for word in _VALIDATION_WORDS):
                raise QueryRefusedError(label, message)
            msg = f"{label}: the server answered GraphQL errors: {message}"
            raise ServerAnswerError(msg, response)
        data = body.get("data")
        records = data.get("auditData", ...) if isinstance(data, dict) else ...
        if records is ...:
            msg = f"{label}: the answer has no data.auditData"
            raise ServerAnswerError(msg, response)
        if records is None:
            records = []
        if not isinstance(records, list):
            msg = f"{label}: data.auditData is not a list"
            raise ServerAnswerError(msg, response)
        zone = ZoneInfo(query.timezone)
        rows = []
        for number, raw in enumerate(records):
            try:
                rows.append(to_row(raw, zone))
            except MalformedRecordError as exc:
                msg = f"{label}: record {number} of the page: {exc}"
                raise ServerAnswerError(msg, response) from None
        return rows, _total(response.headers.get("X-Total-Count"))

    def _adapt(self, message: str, query: AuditQuery) -> bool:
        """Change the query after the server refused part of it; False if nothing fits."""
        folded = message.casefold()
        with self._lock:
            if "actiontype" in folded:
                if "actionType" in self.fields:
                    self.fields = tuple(f for f in self.fields if f != "actionType")
                    logger.warning(
                        "The server refuses the field actionType (%s); it is null in "
                        "every record of this run.",
                        message,
                    )
                    return True
                return "actionType" in query.fields  # another thread dropped it already
            if "timezone" in folded or query.timezone.casefold() in folded:
                if query.timezone != self.timezone:
                    return True
                if self._timezone + 1 < len(TIMEZONE_CANDIDATES):
                    self._timezone += 1
                    logger.warning(
                        "The server refuses the timezone %s (%s); asking for %s",
                        query.timezone,
                        message,
                        self.timezone,
                    )
                    return True
                return False
            if any(word in folded for word in ("first", "page size", "limit")):
                if query.first != self.traits.page_size:
                    return True
                if self.traits.page_size > MIN_PAGE_SIZE:
                    # Take the largest the server names (e.g. "must not exceed 200"), else halve.
                    named = [
                        int(n)
                        for n in re.findall(r"\d+", message)
                        if MIN_PAGE_SIZE <= int(n) < query.first
                    ]
                    self.traits.page_size = (
                        max(named) if named else max(MIN_PAGE_SIZE, self.traits.page_size // 2)
                    )
                    logger.warning(
                        "The server refuses pages of %d (%s); asking for %d",
                        query.first,
                        message,
                        self.traits.page_size,
                    )
                    return True
        return False

    def read_windows(
        self, what: str, planner: WindowPlanner, component_types: Sequence[str], concurrency: int
    ) -> Iterator[tuple[Window, list[Row] | WindowDone]]:
        """Pages of every window, in window order, with up to `concurrency` requests at once."""

        def produce(window: Window, stop: threading.Event) -> Iterator[list[Row] | WindowDone]:
            pager = WindowPager(window, self.traits)
            records = 0

            def fetch(offset: int, first: int) -> tuple[list[Row], int | None, int]:
                nonlocal records
                if stop.is_set():
                    raise CancelledError
                rows, total, asked = self.fetch_page(
                    what, window, offset, first, component_types, cancelled=stop
                )
                records = max(records, offset + len(rows))
                return rows, total, asked

            yield from read_window(pager, fetch)
            planner.observe(window, records)
            yield WindowDone(pager.pages)

        yield from in_order(planner, produce, concurrency)

    def close(self) -> None:
        """End the login session, if any, and drop the run's shared copy."""
        self.closed = True
        self.authenticator.close()
        self.transport.closed.set()
        if self.shared_feed is not None:
            self.shared_feed.close()
            self.shared_feed = None


def _total(header: str | None) -> int | None:
    try:
        return int(header) if header is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class WindowDone:
    """End-of-window marker with the number of pages the window took."""

    pages: int


class AuditStream(RESTStream):
    """Base of every audit stream: windows over time, each paged safely, in time order."""

    http_method = "POST"
    path = "/api/account/{account_id}/configuration/metadata/audit"
    primary_keys = ("id",)
    replication_key = "changeDate"
    #: Records leave in changeDate order, so a bookmark is valid mid-stream and a killed run
    #: resumes from its last STATE.
    is_sorted = True
    #: The look-back re-reads records older than the bookmark; they must not fail the run.
    check_sorted = False
    schema = AUDIT_SCHEMA
    #: to_row already gives every field its schema type; the SDK's per-value conforming would
    #: cost ~40% of the run for nothing.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap, name: str, element: Element | None) -> None:
        self.element = element
        self._every_property_selected: bool | None = None
        super().__init__(tap, name=name, schema=AUDIT_SCHEMA)

    def _generate_record_messages(self, record: dict) -> Generator[RecordMessage, None, None]:
        """The SDK's RECORD messages, without its per-record work that cannot change ours.

        Records already have their schema types (no conforming), and when every property is
        selected there is nothing to pop; the SDK's generic path would cost a third of the run.
        """
        if self._every_property_selected is None:
            self._every_property_selected = all(
                self.mask[("properties", name)] for name in self.schema["properties"]
            )
        if not self._every_property_selected:
            pop_deselected_record_properties(record, self.schema, self.mask)
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=utc_now(),
                )

    @property
    def client(self) -> AuditClient:
        """The run's shared API client (made by the tap)."""
        return self._tap.client  # type: ignore[attr-defined,no-any-return]

    @property
    def url_base(self) -> str:
        """Not used to build requests (the client does); kept for the SDK's metadata."""
        return self.config.get("domain_api_url") or "https://api.liveperson.net"

    def get_new_paginator(self) -> None:
        """Paging is per window, by WindowPager: see paging.py."""
        return

    def parse_response(self, response: requests.Response) -> Iterator[dict]:
        """Not used: the client parses pages."""
        yield from ()

    @property
    def component_types(self) -> tuple[str, ...]:
        """The server-side filter of this stream, when its codes are known."""
        return self.element.component_types if self.element else ()

    def time_range(self, context: Context | None) -> tuple[dt.datetime, dt.datetime]:
        """Where this run starts and ends: bookmark minus look-back, else start_date."""
        now = dt.datetime.now(tz=UTC)
        start_date = self.config.get("start_date")
        floor = parse_utc(start_date) if start_date else months_ago(now, 13)
        state = self.get_context_state(context)
        bookmark = state.get("replication_key_value")
        start = floor
        if bookmark:
            lookback = dt.timedelta(minutes=float(self.config.get("lookback_minutes", 5)))
            start = max(floor, parse_utc(str(bookmark)) - lookback)
        end_date = self.config.get("end_date")
        end = parse_utc(end_date) if end_date else floor_day(now) + 2 * DAY
        return start, end

    @property
    def is_last_selected(self) -> bool:
        """Whether no stream after this one will sync in this run."""
        names = list(self._tap.streams)
        later = names[names.index(self.name) + 1 :]
        return not any(self._tap.streams[name].selected for name in later)

    def get_records(self, context: Context | None) -> Iterator[dict]:
        """Every record of this stream in [start, end), in changeDate order, each group whole."""
        # `--test` runs every stream with a limit of one record (the SDK's dry run).
        dry_run = self.ABORT_AT_RECORD_COUNT == 1
        if dry_run and self.element is not None:
            # A connection test (--test) reads one page of `audit_trail`: element streams take
            # the same path, and a rare element could need the whole history to find a record.
            return
        try:
            yield from self._connection_test(context) if dry_run else self._read(context)
        except GeneratorExit:  # the SDK stopped reading (a record limit, as in --test)
            if dry_run or self.is_last_selected:
                self._tap.end_of_run()  # type: ignore[attr-defined]
            raise
        except BaseException:  # the run stops here: log out, and stop other threads' retries
            self._tap.end_of_run()  # type: ignore[attr-defined]
            raise
        else:
            if self.is_last_selected:
                self._tap.end_of_run()  # type: ignore[attr-defined]

    def _connection_test(self, context: Context | None) -> Iterator[dict]:
        """Domain, auth and one page over the whole range: the full path for one request."""
        client = self.client
        rows, total, _ = client.fetch_page(
            "connection test", Window(*self.time_range(context)), 0, client.traits.page_size, ()
        )
        self.logger.info(
            "Connection test passed: %s reached with %s; one page read (%d records, "
            "X-Total-Count %s)",
            client.audit_url,
            client.authenticator.credential_names,
            len(rows),
            total,
        )
        ids = IdAssigner()
        for row in rows:
            row.record["id"] = ids.assign(row.record)
            yield row.record

    def _read(self, context: Context | None) -> Iterator[dict]:
        started = dt.datetime.now(tz=UTC)
        start, end = self.time_range(context)
        if start >= end:
            self.logger.info(
                "%s: nothing to read (start %s is not before end %s)",
                self.name,
                start.isoformat(),
                end.isoformat(),
            )
            return
        ids = IdAssigner()
        unknown = self.client.unknown_object_types.setdefault(self.name, Counter())
        for row in self._rows(start, end):
            record = row.record
            belongs = self.client.index.stream_of(record["objectType"])
            if belongs is None:
                unknown[str(record["objectType"])] += 1
            if self.element is not None and belongs != self.name:
                continue
            record["id"] = ids.assign(record)
            yield record
        feed = self.client.shared_feed
        read_at = feed.started if feed is not None and self._shares_feed() else started
        self._mark_read_until(context, min(end, read_at))

    def _shares_feed(self) -> bool:
        """Whether this stream reads the run's shared copy of the whole trail.

        Streams that filter on the tap's side all need every change; when two or more of them
        are selected, one read of the API serves them all (kept on disk for the run).
        """
        if self.component_types:
            return False
        return len(self._tap_side_streams()) >= 2

    def _tap_side_streams(self) -> list[AuditStream]:
        return [
            stream
            for stream in self._tap.streams.values()
            if isinstance(stream, AuditStream) and stream.selected and not stream.component_types
        ]

    def _rows(self, start: dt.datetime, end: dt.datetime) -> Iterator[Row]:
        """Rows in [start, end) for this stream: from the API, or the run's shared copy."""
        client = self.client
        if not self._shares_feed():
            yield from self._from_api(start, end, feed=None)
            return
        feed = client.shared_feed
        if feed is not None and feed.complete:
            self.logger.info(
                "%s: reading %s to %s from this run's copy of the whole audit trail",
                self.name,
                start.isoformat(),
                end.isoformat(),
            )
            yield from feed.rows(start, end)
            return
        ranges = [stream.time_range(None) for stream in self._tap_side_streams()]
        lower, upper = min(r[0] for r in ranges), max(r[1] for r in ranges)
        if feed is not None:
            feed.close()
        client.shared_feed = SharedFeed(dt.datetime.now(tz=UTC))
        for row in self._from_api(lower, upper, feed=client.shared_feed):
            if start <= row.instant < end:
                yield row
        client.shared_feed.finish()

    def _from_api(
        self, start: dt.datetime, end: dt.datetime, feed: SharedFeed | None
    ) -> Iterator[Row]:
        client = self.client
        days = int(self.config.get("window_days", 7))
        planner = WindowPlanner(start, end, days, client.traits.page_size)
        self.logger.info(
            "%s: reading %s to %s in date windows of 1 to %d days%s",
            self.name,
            start.isoformat(),
            end.isoformat(),
            days,
            " (kept for the other streams that filter on the tap's side)" if feed else "",
        )
        total = in_window = 0
        span = (end - start).total_seconds()
        for window, item in client.read_windows(
            self.name,
            planner,
            self.component_types,
            int(self.config.get("max_concurrency", 4)),
        ):
            if isinstance(item, WindowDone):
                self.logger.info(
                    "%s: window %s..%s done: %d records in %d pages; %d records so far, "
                    "%.0f%% of the time range",
                    self.name,
                    window.from_date,
                    window.to_date,
                    in_window,
                    item.pages,
                    total,
                    100 * (window.end - start).total_seconds() / span,
                )
                in_window = 0
                # Every record of the windows so far is out: a STATE now lets a killed run
                # resume from this window rather than from its start (the SDK alone writes
                # one per 10,000 records).
                self._write_state_message()
                continue
            if feed is not None:
                feed.add(item)
            total += len(item)
            in_window += len(item)
            yield from item

    def _mark_read_until(self, context: Context | None, until: dt.datetime) -> None:
        """Move the bookmark to where this complete read reached, even past its last record.

        Everything before `until` was read (what is written later with an older changeDate
        is the look-back's job), so the next run need not read it again: a stream whose
        element rarely changes does not re-read the whole history on every run.
        """
        state = self.get_context_state(context)
        # Whole seconds: the API renders changeDate to the second, so a change made later in
        # the same second shows an earlier time than `until` and must still be read next run.
        mark = format_utc(until.replace(microsecond=0))
        if mark > str(state.get("replication_key_value") or ""):
            state["replication_key"] = self.replication_key
            state["replication_key_value"] = mark
