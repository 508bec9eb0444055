"""What one audit record is: its fields, its instant in UTC, and its stable `id`."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import operator
import re
import threading
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import msgspec
from singer_sdk import typing as th

UTC = dt.timezone.utc
logger = logging.getLogger("tap-lp-audittrail")

#: The API's record fields, under the API's own names, in the order the API documents them.
API_FIELDS: tuple[str, ...] = (
    "accountId",
    "objectType",
    "objectName",
    "actionType",
    "element",
    "oldValue",
    "newValue",
    "changeDate",
    "originator",
    "originatorLoginName",
    "originatorUserId",
    "originatorUserAgent",
    "originatorAuthType",
    "originatorIsLpa",
)

#: Every stream's schema: the API's fields and the tap's `id`, each with what it holds.
AUDIT_SCHEMA = th.PropertiesList(
    th.Property(
        "id",
        th.StringType,
        required=True,
        description="Stable key from the record's content and its occurrence among "
        "identical records of the same instant",
    ),
    th.Property("accountId", th.StringType, description="The LivePerson account (site) id"),
    th.Property(
        "objectType",
        th.StringType,
        description="The audited element, as LivePerson names it (e.g. Users, Skills); it "
        "decides the element stream a change goes to",
    ),
    th.Property(
        "objectName",
        th.StringType,
        description="The name of the object changed (a user, a skill, a profile...)",
    ),
    th.Property(
        "actionType",
        th.StringType,
        description="Add, Edit or Delete; null when the server no longer serves it",
    ),
    th.Property("element", th.StringType, description="The changed property, or N/A"),
    th.Property(
        "oldValue",
        th.StringType,
        description="The property's value before the change, as text (a value of another "
        "type is kept as its JSON text)",
    ),
    th.Property(
        "newValue",
        th.StringType,
        description="The property's value after the change, as text (a value of another "
        "type is kept as its JSON text)",
    ),
    th.Property(
        "changeDate",
        th.DateTimeType,
        required=True,
        description="When the change was made, in UTC (the replication key)",
    ),
    th.Property(
        "originator",
        th.StringType,
        description="Who made the change, as LivePerson names them",
    ),
    th.Property(
        "originatorLoginName",
        th.StringType,
        description="The login name of who made the change",
    ),
    th.Property(
        "originatorUserId",
        th.StringType,
        description="The LivePerson user id of who made the change",
    ),
    th.Property(
        "originatorUserAgent",
        th.StringType,
        description="The user agent (browser or client) the change was made from",
    ),
    th.Property(
        "originatorAuthType",
        th.StringType,
        description="How who made the change was authenticated, as LivePerson names it",
    ),
    th.Property(
        "originatorIsLpa",
        th.BooleanType,
        description="Whether a LivePerson administrator (LPA) made the change",
    ),
).to_dict()

#: Fields that make a record what it is. `actionType` is left out on purpose: the newest API
#: docs drop it, and a record must keep its `id` whether or not the server still serves it.
ID_FIELDS: tuple[str, ...] = tuple(f for f in API_FIELDS if f != "actionType")

# LivePerson renders java.sql.Timestamp.toString(): "2019-11-12 06:10:46.0"; an ISO "T" and an
# explicit offset are accepted too, in case the server ever sends them.
_CHANGE_DATE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$",
)


class Row(NamedTuple):
    """A record with its instant parsed; `record["changeDate"]` is already UTC text."""

    instant: dt.datetime
    record: dict


class MalformedRecordError(ValueError):
    """A record the server sent cannot be read; the page is not trusted."""


def parse_change_date(value: object, zone: ZoneInfo) -> dt.datetime:
    """Turn a rendered `changeDate` into an aware UTC datetime.

    `zone` is the timezone the request asked the server to render in. The tap only asks for
    zones with a zero offset and no DST, so the conversion never meets an ambiguous hour.
    """
    if not isinstance(value, str):
        msg = f"changeDate is {value!r}, not a date-time string"
        raise MalformedRecordError(msg)
    match = _CHANGE_DATE.match(value.strip())
    if not match:
        msg = f"changeDate {value!r} is not in the 'yyyy-MM-dd HH:mm:ss.S' form"
        raise MalformedRecordError(msg)
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        naive = dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro
        )
    except ValueError as exc:
        msg = f"changeDate {value!r} is not a valid date-time: {exc}"
        raise MalformedRecordError(msg) from exc
    try:
        if offset:
            if offset == "Z":
                tz: dt.tzinfo = UTC
            else:
                sign = -1 if offset[0] == "-" else 1
                digits = offset[1:].replace(":", "")
                hours, minutes = int(digits[:2]), int(digits[2:])
                tz = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
            return naive.replace(tzinfo=tz).astimezone(UTC)
        return naive.replace(tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # an offset of 24 h or more; a year past 9999
        msg = f"changeDate {value!r} is not a valid date-time: {exc}"
        raise MalformedRecordError(msg) from exc


def format_utc(instant: dt.datetime) -> str:
    """RFC 3339 in UTC with fixed width, so that text order is time order (state compares text)."""
    return instant.astimezone(UTC).isoformat(timespec="microseconds")


def parse_utc(value: str) -> dt.datetime:
    """Read a bookmark or setting written as RFC 3339; naive values are taken as UTC."""
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_encode = msgspec.json.Encoder().encode


_id_fields = operator.itemgetter(*ID_FIELDS)


def content_key(record: dict) -> bytes:
    """Canonical JSON of what makes a record distinct (changeDate already in UTC)."""
    return _encode(tuple(map(record.get, ID_FIELDS)))


class IdAssigner:
    """Gives each record of one changeDate group a stable `id`.

    The id hashes the record's content plus its occurrence number among identical records of
    the same instant, so two identical source records stay two rows, and re-reading the same
    group (resume, look-back, ties in another order) gives the same ids again. The caller must
    feed whole groups: the pager guarantees it.
    """

    def __init__(self) -> None:
        self._instant: str | None = None
        self._seen: dict[bytes, int] = {}

    def assign(self, record: dict) -> str:
        """Return the id of `record`, whose changeDate is already the UTC text."""
        if record["changeDate"] != self._instant:
            self._instant = record["changeDate"]
            self._seen.clear()
        try:
            key = _encode(_id_fields(record))
        except KeyError:  # a record without some field: the field counts as null
            key = content_key(record)
        occurrence = self._seen.get(key, 0)
        self._seen[key] = occurrence + 1
        digest = hashlib.sha256(key + (b"\x1f0" if not occurrence else b"\x1f%d" % occurrence))
        return digest.hexdigest()[:32]


#: Fields the API documents as text (the others: `originatorIsLpa`, a boolean).
TEXT_FIELDS: tuple[str, ...] = tuple(f for f in API_FIELDS if f != "originatorIsLpa")


def json_kind(value: object) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"


class FieldTypes:
    """Record fields the server sent with a type the API does not document, told once a run.

    A value is never dropped: a text field keeps its value as JSON text (`[1, 2]`, `true`),
    the boolean flag reads the text "true" as true. One WARNING per field and run says so
    (never the value: it may name a person).
    """

    def __init__(self) -> None:
        self._told: set[str] = set()
        self._lock = threading.Lock()

    def unexpected(self, field: str, value: object) -> None:
        """Note that `field` came as `value`'s type; the first time, say so."""
        with self._lock:
            if field in self._told:
                return
            self._told.add(field)
        documented = "a boolean" if field == "originatorIsLpa" else "text"
        kept = (
            "read as true when it is the text 'true', else false"
            if field == "originatorIsLpa"
            else "kept as JSON text"
        )
        logger.warning(
            "Record field %s: the server sent a JSON %s where the API documents %s; %s (said "
            "once per field and run)",
            field,
            json_kind(value),
            documented,
            kept,
        )


def _text(value: object) -> str:
    """A value the API documents as text, sent as another JSON type: its JSON text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # a decoded JSON number's repr is its JSON text
    return json.dumps(value, ensure_ascii=False)


#: Zones in which a rendered time is already UTC: changeDate is rewritten, not converted.
_UTC_ZONES = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT"})
_FAST_SHAPE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.(\d{1,9}))?")


def _utc_text(value: object, zone: ZoneInfo) -> tuple[dt.datetime, str]:
    """(instant, RFC 3339 UTC text) of a changeDate; the common case without a conversion."""
    if zone.key in _UTC_ZONES and isinstance(value, str):
        match = _FAST_SHAPE.fullmatch(value)
        if match:
            fraction = (match.group(1) or "")[:6].ljust(6, "0")
            text = f"{value[:10]}T{value[11:19]}.{fraction}+00:00"
            try:
                return dt.datetime.fromisoformat(text), text
            except ValueError as exc:  # e.g. month 13: the shape alone does not tell
                msg = f"changeDate {value!r} is not a valid date-time: {exc}"
                raise MalformedRecordError(msg) from exc
    instant = parse_change_date(value, zone)
    return instant, format_utc(instant)


def to_row(raw: object, zone: ZoneInfo, types: FieldTypes | None = None) -> Row:
    """An API record as the tap emits it (without `id`), with its instant.

    `types` is told of every field of another type than the API documents.
    """
    if not isinstance(raw, dict):
        msg = f"a record is {type(raw).__name__}, not an object"
        raise MalformedRecordError(msg)
    instant, text = _utc_text(raw.get("changeDate"), zone)
    record: dict[str, Any] = {field: raw.get(field) for field in API_FIELDS}
    for field in TEXT_FIELDS:
        value = record[field]
        if value is not None and type(value) is not str:
            record[field] = _text(value)
            if types is not None:
                types.unexpected(field, value)
    lpa = record["originatorIsLpa"]
    if lpa is not None and not isinstance(lpa, bool):
        record["originatorIsLpa"] = str(lpa).strip().casefold() == "true"
        if types is not None:
            types.unexpected("originatorIsLpa", lpa)
    record["changeDate"] = text
    return Row(instant, record)


class _Record(msgspec.Struct, rename="camel"):
    """A record exactly as the API documents it: every field a string or null, the flag a bool."""

    account_id: str | None = None
    object_type: str | None = None
    object_name: str | None = None
    action_type: str | None = None
    element: str | None = None
    old_value: str | None = None
    new_value: str | None = None
    change_date: str | None = None
    originator: str | None = None
    originator_login_name: str | None = None
    originator_user_id: str | None = None
    originator_user_agent: str | None = None
    originator_auth_type: str | None = None
    originator_is_lpa: bool | None = None


class _Data(msgspec.Struct, rename="camel"):
    audit_data: list[_Record]


class _Answer(msgspec.Struct):
    data: _Data
    errors: None = None


_decode_answer = msgspec.json.Decoder(_Answer).decode
assert tuple(_Record.__struct_encode_fields__) == API_FIELDS  # type: ignore[attr-defined]


def rows_of_plain_page(content: bytes, zone: ZoneInfo) -> list[Row] | None:
    """The rows of an answer that is exactly as documented, decoded and typed in one step.

    None for anything else (other types, errors, no data, a malformed date): the caller then
    reads the answer field by field, and names what is wrong.
    """
    try:
        records = _decode_answer(content).data.audit_data
        rows = []
        dates: dict[str | None, tuple[dt.datetime, str]] = {}
        for struct in records:
            record = dict(zip(API_FIELDS, msgspec.structs.astuple(struct)))  # noqa: B905
            change = record["changeDate"]
            known = dates.get(change)
            if known is None:
                known = dates[change] = _utc_text(change, zone)
            instant, record["changeDate"] = known
            rows.append(Row(instant, record))
    except (msgspec.DecodeError, MalformedRecordError, RecursionError):
        return None
    return rows
