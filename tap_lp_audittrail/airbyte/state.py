"""An Airbyte state, in any of its forms, as the Singer state the tap reads.

The adapter writes per-stream (`STREAM`) states, each stream's `stream_state` its Singer
bookmark as the tap wrote it; a platform may hand back a list of those (as STATE messages or
their `state` objects), a `GLOBAL` state, or a legacy one (`{"bookmarks": {...}}`, a Singer
state as it is; stream -> bookmark; or a `LEGACY` message holding either). Each becomes
`{"bookmarks": {stream: bookmark}}`; what the bookmarks hold is then checked by the tap as any
state is (inputs.py). A state of another shape is one line naming the file and the entry. A
stream read in `full_refresh` mode starts without its bookmark.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tap_lp_audittrail.jsonfiles import unusable


def starting_state(state: object, modes: Mapping[str, str], where: str = "state") -> dict[str, Any]:
    """The Singer state a read of `modes` (stream -> sync mode) starts from.

    `state`'s, without the bookmarks of the streams read in `full_refresh` mode; `where` names
    the file in messages (`--state PATH`).
    """
    start = singer_state(state, where)
    bookmarks = start.get("bookmarks")
    if isinstance(bookmarks, dict):
        for name, mode in modes.items():
            if mode == "full_refresh":
                bookmarks.pop(name, None)
    return start


def singer_state(state: object, where: str = "state") -> dict[str, Any]:
    """The Singer state of an Airbyte state: STREAM states, GLOBAL, or LEGACY (or nothing)."""
    return _singer_state(state, where, "")


def _singer_state(state: object, where: str, path: str) -> dict[str, Any]:
    """`state`, found at `path` in the file, as a Singer state."""
    if state is None or state in ([], {}):
        return {}
    if isinstance(state, dict):
        if "bookmarks" in state:  # legacy: a Singer state as it is
            return state
        if "type" not in state and "stream" not in state:
            return {"bookmarks": state}  # legacy: stream -> its bookmark
        messages = [(path, state)]  # one state message
    elif isinstance(state, list):
        messages = [(f"{path}[{number}]", item) for number, item in enumerate(state)]
    else:
        raise _refused(where, path, f"expected a list of state messages, got {_kind(state)}")
    bookmarks: dict[str, Any] = {}
    for at, given in messages:
        item, here = given, at
        if isinstance(item, dict) and item.get("type") == "STATE" and "state" in item:
            item, here = item["state"], f"{at}.state"  # a whole AirbyteMessage
        if not isinstance(item, dict):
            raise _refused(where, here, f"expected a state message, got {_kind(item)}")
        kind = item.get("type") or ("LEGACY" if "data" in item else "STREAM")
        if kind == "STREAM":
            name, value = _stream_state(item.get("stream"), where, f"{here}.stream")
            bookmarks[name] = value
        elif kind == "GLOBAL":
            shared = item.get("global")
            entries = shared.get("stream_states") if isinstance(shared, dict) else None
            if not isinstance(entries, list):
                raise _refused(where, f"{here}.global", "expected stream_states")
            for index, entry in enumerate(entries):
                at_entry = f"{here}.global.stream_states[{index}]"
                name, value = _stream_state(entry, where, at_entry)
                bookmarks[name] = value
        elif kind == "LEGACY":
            inner = _singer_state(item.get("data"), where, f"{here}.data")
            bookmarks.update(inner.get("bookmarks") or {})
        else:
            raise _refused(where, f"{here}.type", f"{kind!r}; use STREAM, GLOBAL or LEGACY")
    return {"bookmarks": bookmarks}


def _stream_state(entry: object, where: str, path: str) -> tuple[str, Any]:
    """The stream's name and bookmark of a STREAM state's `stream` (an empty one: {})."""
    descriptor = entry.get("stream_descriptor") if isinstance(entry, dict) else None
    name = descriptor.get("name") if isinstance(descriptor, dict) else None
    if not isinstance(name, str) or not isinstance(entry, dict):
        raise _refused(where, path, "has no stream_descriptor.name")
    value = entry.get("stream_state")
    return name, {} if value is None else value


def _refused(where: str, path: str, problem: str) -> Exception:
    """The one line of a state that is not one: the file, the entry, what is wrong."""
    return unusable("State", [f"{where}: {path}: {problem}" if path else f"{where}: {problem}"])


def _kind(value: object) -> str:
    return type(value).__name__
