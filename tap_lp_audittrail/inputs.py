"""The state and the catalog a run is given: checked before any request, as the config is.

The `--state` and `--catalog` files are read by the one JSON loader (jsonfiles.py), checked
here, and handed to the SDK as they were read; a state or catalog handed over in process is
checked alike. Each problem is one line naming the file (`--state PATH`, or `state` when the
state is handed over in process) and the field, as a path in the file:
`bookmarks.audit_trail.seen[1]`.

**State.** Meltano's wrapped form `{"singer_state": {...}}` is read as the state inside it.
Every field the tap or the SDK reads from a bookmark of one of the tap's streams has its type
(bookmarks.py says what each means); `replication_key_value` and `reread_from` are date-times
from 1970 on; `replication_key` is `changeDate`. Bookmarks of other streams are left alone.
A bookmark past the server's clock is told at the read's first answer (fanout.py): no clock is
known before.

**Catalog.** The SDK parses the catalog as it is given, then takes its key properties,
replication key and replication method over the stream's own, and writes the SCHEMA messages
targets build their tables from out of its schema. A catalog keyed on `objectName` would have
a target upsert changes away; one typing `changeDate` as an integer, or declaring no
properties, would break or empty the target's table. So a catalog has the shape the Singer
spec gives it, selects at least one stream of this tap, and does not contradict the schema of
any stream it selects: key properties `[id]`, replication key `changeDate`, replication
method INCREMENTAL, every property of the tap with its types and format, no other, and the
key and the replication key not deselected.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections.abc import Iterable, Mapping
from typing import IO, Any

from singer_sdk.singerlib import CatalogEntry
from singer_sdk.typing import DEFAULT_JSONSCHEMA_VALIDATOR

from tap_lp_audittrail.bookmarks import REPLICATION_KEY
from tap_lp_audittrail.elements import STREAM_NAMES
from tap_lp_audittrail.jsonfiles import read_json_object, unusable
from tap_lp_audittrail.records import AUDIT_SCHEMA, UTC, json_kind, parse_utc

#: The key Meltano wraps a Singer state in (`meltano state get` writes this form).
MELTANO_STATE_KEY = "singer_state"
#: Every stream's key: the stable id of a change (records.py).
KEY_PROPERTIES = ("id",)
#: The earliest bookmark a state may hold (no earlier instant means anything to the API).
EARLIEST_BOOKMARK = dt.datetime(1970, 1, 1, tzinfo=UTC)

_TYPES = {"string": "a string", "object": "an object", "array": "a list", "boolean": "a boolean"}
_BOOKMARK = {
    "type": "object",
    "properties": {
        "replication_key": {"type": "string", "const": REPLICATION_KEY},
        "replication_key_value": {"type": ["string", "null"]},
        "reread_from": {"type": ["string", "null"]},
        "seen": {"type": ["array", "null"], "items": {"type": "string"}},
        # The SDK's own, read back by it at the end of a stream's sync.
        "progress_markers": {"type": "object"},
        "partitions": {
            "type": "array",
            "items": {"type": "object", "properties": {"progress_markers": {"type": "object"}}},
        },
    },
}
STATE_SCHEMA = {
    "type": "object",
    "properties": {
        "bookmarks": {
            "type": "object",
            "properties": dict.fromkeys(STREAM_NAMES, _BOOKMARK),
            "additionalProperties": {"type": "object"},
        },
    },
}
_METADATA = {
    "type": "object",
    "properties": {
        "selected": {"type": "boolean"},
        "selected-by-default": {"type": "boolean"},
        "inclusion": {"enum": ["available", "automatic", "unsupported"]},
        "table-key-properties": {"type": "array", "items": {"type": "string"}},
        "valid-replication-keys": {"type": "array", "items": {"type": "string"}},
        "replication-key": {"type": "string"},
        "forced-replication-method": {"type": "string"},
    },
}
CATALOG_SCHEMA = {
    "type": "object",
    "properties": {
        "streams": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["tap_stream_id"],
                "properties": {
                    "tap_stream_id": {"type": "string"},
                    "stream": {"type": "string"},
                    "key_properties": {"type": "array", "items": {"type": "string"}},
                    "replication_key": {"type": ["string", "null"]},
                    "replication_method": {"type": ["string", "null"]},
                    "schema": {
                        "type": "object",
                        "properties": {
                            "properties": {
                                "type": "object",
                                "additionalProperties": {"type": "object"},
                            },
                        },
                    },
                    "metadata": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["breadcrumb", "metadata"],
                            "properties": {
                                "breadcrumb": {"type": "array", "items": {"type": "string"}},
                                "metadata": _METADATA,
                            },
                        },
                    },
                },
            },
        },
    },
}


def state_file(file: IO[str] | None, logger: logging.Logger) -> IO[str] | None:
    """The `--state` file checked, and unwrapped from Meltano's form, as the SDK is to read it.

    A state without a bookmark for any stream is said to be so.
    """
    if file is None:
        return None
    value, where = read_json_object(file, "state")
    value = checked_state(value, logger, where)
    if not value:
        note_missing_bookmarks(value, logger)
    return io.StringIO(json.dumps(value))


def catalog_file(file: IO[str] | None) -> IO[str] | None:
    """The `--catalog` file checked, as the SDK is to read it."""
    if file is None:
        return None
    value, where = read_json_object(file, "catalog")
    checked_catalog(value, where)
    return io.StringIO(json.dumps(value))


# ----------------------------------------------------------------------------------- state
def unwrap_state(
    state: dict[str, Any], logger: logging.Logger, where: str = "state"
) -> tuple[dict[str, Any], str]:
    """The Singer state inside Meltano's `{"singer_state": {...}}`, or `state` as it is.

    Also the path of the inner state in the file, for messages (`singer_state.`, or none).
    """
    if not isinstance(state, dict) or MELTANO_STATE_KEY not in state:
        return state, ""
    inner = state[MELTANO_STATE_KEY]
    if "bookmarks" in state:
        raise unusable(
            "State",
            [
                f"{where}: holds both `{MELTANO_STATE_KEY}` (Meltano's form) and `bookmarks` "
                "(the tap's); keep one of them"
            ],
        )
    if not isinstance(inner, dict):
        raise unusable(
            "State",
            [f"{where}: {MELTANO_STATE_KEY}: expected an object, got {_kind(inner)}"],
        )
    logger.info(
        'State is in Meltano\'s form {"%s": ...}, as `meltano state get` writes it: '
        "reading the state inside it",
        MELTANO_STATE_KEY,
    )
    return inner, f"{MELTANO_STATE_KEY}."


def checked_state(
    state: dict[str, Any], logger: logging.Logger, where: str = "state"
) -> dict[str, Any]:
    """The Singer state of `state` (unwrapped from Meltano's form), or one line per problem."""
    state, inside = unwrap_state(state, logger, where)
    problems = state_errors(state, where, inside)
    if problems:
        raise unusable("State", problems)
    return state


def state_errors(state: object, where: str = "state", inside: str = "") -> list[str]:
    """Every problem of a state, each naming the file (`where`) and the field.

    `inside` is the path of the state in the file (`singer_state.` for Meltano's form).
    """
    if not isinstance(state, dict):
        return [f"{where}: expected a JSON object, got {_kind(state)}"]
    state = _as_json(state)
    problems = _schema_problems(STATE_SCHEMA, state, where, inside)
    bookmarks = state.get("bookmarks")
    if problems or not isinstance(bookmarks, dict):
        return problems
    for stream in STREAM_NAMES:
        entry = bookmarks.get(stream) or {}
        for name in ("replication_key_value", "reread_from"):
            value = entry.get(name)
            if value is None:
                continue
            problem = _bookmark_problem(value)
            if problem:
                field = f"{inside}bookmarks.{stream}.{name}"
                problems.append(f"{where}: {field}: {value!r} {problem}")
    return problems


def _bookmark_problem(value: str) -> str | None:
    try:
        instant = parse_utc(value)
    except ValueError:
        return "is not a date-time; fix it or start without state"
    if instant < EARLIEST_BOOKMARK:
        return "is before 1970: no run of this tap writes it; fix it or start without state"
    return None


def note_missing_bookmarks(state: dict[str, Any], logger: logging.Logger) -> None:
    """Say so at INFO when `state` holds no bookmark for any of the tap's streams."""
    bookmarks = state.get("bookmarks")
    found = set(bookmarks) if isinstance(bookmarks, dict) else set()
    if found & set(STREAM_NAMES):
        return
    others = f" (it has bookmarks for: {', '.join(sorted(found))})" if found else ""
    logger.info(
        "State holds no bookmark for any of this tap's streams%s: every selected stream "
        "starts at `start_date` (default: 13 months ago)",
        others,
    )


# --------------------------------------------------------------------------------- catalog
def checked_catalog(catalog: object, where: str = "catalog") -> None:
    """Nothing if the catalog is one this tap can follow; else one line per problem."""
    problems = catalog_errors(catalog, where)
    if problems:
        raise unusable("Catalog", problems)


def catalog_errors(catalog: object, where: str = "catalog") -> list[str]:
    """Every problem of a catalog, each naming the file (`where`) and the field."""
    if not isinstance(catalog, dict):
        return [f"{where}: expected a JSON object, got {_kind(catalog)}"]
    catalog = _as_json(catalog)
    problems = _schema_problems(CATALOG_SCHEMA, catalog, where)
    if problems:
        return problems
    entries: list[dict[str, Any]] = catalog.get("streams") or []
    first_of: dict[str, int] = {}
    chosen = 0
    for number, raw in enumerate(entries):
        name = raw["tap_stream_id"]
        at = f"{where}: streams[{number}]"
        if name in first_of:
            problems.append(f"{at}: {name!r} again (also streams[{first_of[name]}]); keep one")
            continue
        first_of[name] = number
        entry = CatalogEntry.from_dict(raw)
        mask = entry.metadata.resolve_selection()
        if not mask.get((), True):
            continue
        if name not in STREAM_NAMES:
            problems.append(
                f"{at}: {name!r} is selected and is not a stream of this tap; its streams are "
                f"{', '.join(STREAM_NAMES)}"
            )
            continue
        chosen += 1
        problems += [f"{at} ({name}): {problem}" for problem in _contradictions(raw, entry, mask)]
    if not chosen and not problems:
        problems.append(
            f"{where}: selects none of this tap's streams ({', '.join(STREAM_NAMES)}): nothing "
            "would be read; select at least one (Meltano: `select`)"
        )
    return problems


def _contradictions(
    raw: Mapping[str, Any], entry: CatalogEntry, mask: Mapping[tuple[str, ...], bool]
) -> list[str]:
    """How a selected entry contradicts the tap's stream, as the SDK would apply it."""
    root = entry.metadata.get(())
    problems = []
    keys = tuple(entry.key_properties or getattr(root, "table_key_properties", None) or ())
    if keys != KEY_PROPERTIES:
        problems.append(
            f"key properties {list(keys)}: this tap's are {list(KEY_PROPERTIES)} (each change's "
            "stable id; another key would have targets merge distinct changes)"
        )
    replication_key = entry.replication_key or getattr(root, "replication_key", None)
    if replication_key != REPLICATION_KEY:
        problems.append(f"replication key {replication_key!r}: this tap's is {REPLICATION_KEY!r}")
    method = entry.replication_method or getattr(root, "forced_replication_method", None)
    if method not in (None, "INCREMENTAL"):
        problems.append(
            f"replication method {method!r}: this tap reads INCREMENTAL only (a full re-read: "
            "run without state, `meltano run --full-refresh`)"
        )
    for name in (*KEY_PROPERTIES, REPLICATION_KEY):
        if not mask.get(("properties", name), True):
            problems.append(f"metadata: deselects {name}, which every record needs")
    declared = (raw.get("schema") or {}).get("properties") or {}
    own = AUDIT_SCHEMA["properties"]
    missing = [name for name in own if name not in declared]
    if missing:
        problems.append(
            f"schema.properties: lacks {', '.join(missing)} (to leave a field out, deselect it "
            "in the metadata)"
        )
    for name, prop in declared.items():
        problem = _property_contradiction(prop, own.get(name))
        if problem:
            problems.append(f"schema.properties.{name}: {problem}")
    return problems


def _property_contradiction(declared: Mapping[str, Any], own: Mapping[str, Any] | None) -> str:
    if own is None:
        return "not a field of this tap (run --discover for its catalog)"
    types, expected = _types(declared), _types(own)
    if types != expected:
        shown = " or ".join(sorted(types)) if types else "no type"
        return f"declared {shown}; this tap's is {' or '.join(sorted(expected))}"
    if declared.get("format") != own.get("format"):
        return f"format {declared.get('format')!r}; this tap's is {own.get('format')!r}"
    return ""


def _types(prop: Mapping[str, Any]) -> set[str]:
    """The JSON types a property schema allows, null left out."""
    found = prop.get("type", [])
    kinds = {found} if isinstance(found, str) else set(found)
    for member in [*prop.get("anyOf", ()), *prop.get("oneOf", ())]:
        if isinstance(member, Mapping):
            kinds |= _types(member)
    return kinds - {"null"}


# ---------------------------------------------------------------------------------- shared
def _schema_problems(
    schema: Mapping[str, Any], value: object, where: str, inside: str = ""
) -> list[str]:
    validator = DEFAULT_JSONSCHEMA_VALIDATOR(schema)
    errors = sorted(validator.iter_errors(value), key=_order)
    return [f"{where}: {_describe(error, inside)}" for error in errors]


def _describe(error: Any, inside: str) -> str:
    """One jsonschema error as `field: problem`, the field a path in the file."""
    path = inside + _path(error.absolute_path)
    field = path or "(the whole file)"
    got = error.instance
    if error.validator == "type":
        wanted = error.validator_value
        wanted = [wanted] if isinstance(wanted, str) else wanted
        names = " or ".join(_TYPES.get(kind, kind) for kind in wanted)
        return f"{field}: expected {names}, got {_kind(got)}"
    if error.validator == "const":
        return f"{field}: {got!r}; this tap's is {error.validator_value!r}"
    if error.validator == "enum":
        allowed = ", ".join(map(repr, error.validator_value))
        return f"{field}: {got!r}; use one of {allowed}"
    return f"{field}: {error.message}"


def _as_json(value: dict[str, Any]) -> dict[str, Any]:
    """`value` as its JSON reads: one handed over in process may hold tuples for lists."""
    return json.loads(json.dumps(value, default=str))  # type: ignore[no-any-return]


def _order(error: Any) -> list[tuple[bool, str]]:
    """Errors in the order of the file: streams[2] before streams[10]."""
    return [(isinstance(p, str), f"{p:09d}" if isinstance(p, int) else p) for p in error.path]


def _path(parts: Iterable[object]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _kind(value: object) -> str:
    """What a value is, for messages: its JSON type, and the value when it is short."""
    if value is None:
        return "null"
    kind = json_kind(value)
    article = "an" if kind[0] in "aeiou" else "a"
    shown = json.dumps(value, ensure_ascii=False)
    return f"{article} {kind}, {shown}" if len(shown) <= 40 else f"{article} {kind}"
