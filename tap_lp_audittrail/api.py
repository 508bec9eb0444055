"""API access: one run's client of the Audit Trail endpoint.

Hosts, auth, the query of each page, and the checks of every answer. It adapts the query once
when the server refuses part of it (actionType, the timezone, the page size), renews a token
once on a 401, and notes the server's own time from the `Date` header of its answers, which
the bookmarks follow (never the host's clock).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import requests
from singer_sdk.exceptions import FatalAPIError

from tap_lp_audittrail import hosts
from tap_lp_audittrail.auth import Authenticator, build_authenticator
from tap_lp_audittrail.concurrency import Slots
from tap_lp_audittrail.domains import AUDIT_SERVICE, DomainResolver
from tap_lp_audittrail.elements import ALL_CHANGES_STREAM, ObjectTypeIndex
from tap_lp_audittrail.errors import AuthError, ServerAnswerError
from tap_lp_audittrail.paging import ServerTraits, count_contradiction
from tap_lp_audittrail.query import AuditQuery
from tap_lp_audittrail.records import (
    API_FIELDS,
    UTC,
    FieldTypes,
    MalformedRecordError,
    Row,
    json_kind,
    rows_of_plain_page,
    to_row,
)
from tap_lp_audittrail.transport import (
    RetryPolicy,
    Transport,
    raise_for_status,
    read_json,
    server_message,
)
from tap_lp_audittrail.windows import Window

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


class AuditClient:
    """One run's access to the Audit Trail: hosts, auth, and what it learned of the server.

    Shared by every stream of the run, and by their window threads.
    """

    def __init__(self, config: Mapping[str, Any], index: ObjectTypeIndex) -> None:
        self.config = config
        self.index = index
        self.transport = Transport(
            timeout=float(config["request_timeout"]),
            policy=RetryPolicy(
                max_retry_seconds=float(config["max_retry_seconds"]),
                initial_wait=float(config["retry_initial_wait"]),
                connection_retry_seconds=float(config["connection_retry_seconds"]),
            ),
            pool_size=max(10, int(config["max_concurrency"]) + 2),
            max_answer_megabytes=float(config["max_answer_megabytes"]),
            account_id=str(config["account_id"]),
            stream_tag=ALL_CHANGES_STREAM,
            log_request_metrics=bool(config["log_request_metrics"]),
        )
        #: The audit host `domain` names; None: asked of the Domain API.
        self.domain: hosts.Origin | None = None
        if config.get("domain"):
            self.domain = hosts.plain_host(config["domain"])
            self.transport.hosts.allow(
                self.domain,
                "domain",
                f"Check `domain` (now {config['domain']}; leave it unset to ask the Domain API) "
                "and that this machine can reach it (network, firewall, proxy).",
            )
        self.resolver = DomainResolver(
            self.transport,
            hosts.base_url(config["domain_api_url"]),
            str(config["account_id"]),
        )
        self.authenticator: Authenticator = build_authenticator(
            config,
            self.transport,
            self.resolver,
        )
        self.traits = ServerTraits(page_size=int(config["page_size"]))
        self.fields: tuple[str, ...] = API_FIELDS
        self._timezone = 0
        self._lock = threading.Lock()
        self._audit_url: str | None = None
        self.slots = Slots(int(config["max_concurrency"]))
        #: The earliest `Date` the audit endpoint answered with in this run: the server's time
        #: when the read began.
        self.server_start: dt.datetime | None = None
        self.closed = False
        #: Record fields the server sent with another type than documented (each told once).
        self.field_types = FieldTypes()

    @property
    def timezone(self) -> str:
        """The zone the server renders changeDate in for this run."""
        return TIMEZONE_CANDIDATES[self._timezone]

    @property
    def audit_url(self) -> str:
        """The audit endpoint: on `domain` if set, else on the host the Domain API names."""
        with self._lock:
            if self._audit_url is None:
                origin = self.domain or self.resolver.host(AUDIT_SERVICE)
                self._audit_url = hosts.url(origin, "audit", account=str(self.config["account_id"]))
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
            language=self.config["language"],
            lpa=bool(self.config["include_lpa"]),
            automatic_updates=bool(self.config["include_automatic_updates"]),
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
        priority: Callable[[], tuple[bool, float]] = lambda: (True, 0.0),
    ) -> tuple[list[Row], int | None, int]:
        """One page of a window: rows, X-Total-Count, and the page size really asked for.

        `priority` says, while the request waits for a slot, whether the window is the one
        being handed on and how many pages it has left (see concurrency.Slots).
        """
        renewed = False
        while True:
            query = self.query(window, offset, min(first, self.traits.page_size), component_types)
            label = f"{what} window {window.from_date}..{window.to_date} offset {offset}"
            try:
                rows, total = self.transport.call(
                    label,
                    functools.partial(self._post, query, priority, label),
                    functools.partial(self._read_page, query=query, label=label, window=window),
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

    def _post(
        self, query: AuditQuery, priority: Callable[[], tuple[bool, float]], label: str
    ) -> requests.Response:
        body = {"query": query.text()}
        url = self.audit_url
        # The slot bounds requests in flight; parsing the answer happens after it is freed.
        # A thread may wait long for a slot: it looks at the run-wide pause again once it has one.
        with self.slots.slot(priority):
            self.transport.throttle.wait()
            return self.transport.request(
                "POST",
                url,
                label,
                json=body,
                headers={"Accept": "application/json"},
                auth=self.authenticator,
            )

    def _read_page(
        self,
        response: requests.Response,
        query: AuditQuery,
        label: str,
        window: Window | None = None,
    ) -> tuple[list[Row], int | None]:
        """The records of one answer and its X-Total-Count, or the error to retry or stop with.

        `window`, when given, is the one asked for: an answer holding a change no reading of
        its dates can hold is another window's answer, and read as this one's it would show
        this window's changes as none.
        """
        status = response.status_code
        if status < 300:
            self._observe_date(response.headers.get("Date"))
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
                "the Audit Trail: give it to the API key (for auth_method login, to the "
                "user's profile); LivePerson's public documentation does not name it."
            )
            raise AuthError(msg)
        if status == 400:
            raise QueryRefusedError(label, f"HTTP 400: {server_message(response)}")
        raise_for_status(response, label)
        if status >= 300:
            # Never a page: read as one, its body could pass for "no changes".
            msg = f"{label}: HTTP {status}: the audit endpoint answers pages with 200 only"
            raise FatalAPIError(msg)
        zone = ZoneInfo(query.timezone)
        rows = rows_of_plain_page(response.content, zone)
        if rows is None:
            rows = self._rows_of(response, zone, label)
        total = _total(response.headers.get("X-Total-Count"))
        problem = count_contradiction(total, len(rows), query.offset)
        if problem is None and window is not None and rows:
            problem = window.foreign(rows[0].instant) or window.foreign(rows[-1].instant)
        if problem is not None:
            raise ServerAnswerError(f"{label}: {problem}", response)
        return rows, total

    def _rows_of(self, response: requests.Response, zone: ZoneInfo, label: str) -> list[Row]:
        """The records of an answer not exactly as documented, field by field: or why not.

        An answer that holds no list of records is malformed, never an empty page: read as
        "no changes", it would move every bookmark past the records it did not show.
        """
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
        if not isinstance(records, list):
            kind = "null" if records is None else f"a JSON {json_kind(records)}"
            msg = f"{label}: data.auditData is {kind}, not a list of records"
            raise ServerAnswerError(msg, response)
        rows = []
        for number, raw in enumerate(records):
            try:
                rows.append(to_row(raw, zone, self.field_types))
            except MalformedRecordError as exc:
                msg = f"{label}: record {number} of the page: {exc}"
                raise ServerAnswerError(msg, response) from None
        return rows

    def _observe_date(self, header: str | None) -> None:
        instant = server_time(header)
        if instant is None:
            return
        with self._lock:
            if self.server_start is None or instant < self.server_start:
                self.server_start = instant

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

    def close(self) -> None:
        """End the login session, if any."""
        self.closed = True
        self.authenticator.close()
        self.transport.closed.set()


def _total(header: str | None) -> int | None:
    try:
        return int(header) if header is not None else None
    except ValueError:
        return None


def server_time(header: str | None) -> dt.datetime | None:
    """The instant an HTTP `Date` header names, or None when it is missing or unreadable."""
    if not header:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
