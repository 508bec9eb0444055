"""The streams: what `discover` offers, and what a configured catalog selects for `read`.

Every stream of the tap is offered in both sync modes, incremental on its own cursor
`changeDate`, keyed by `id`. A configured catalog (ConfiguredAirbyteCatalog) selects streams,
each `incremental` or `full_refresh`. An entry without a stream name, or with a mode the source
does not know, is one line per problem naming the file and the entry. A stream the source does
not have (one it had, or will have, in another version) is set aside, as airbyte-cdk's
`AbstractSource.read` does: the read marks it INCOMPLETE and reads the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from tap_lp_audittrail.jsonfiles import unusable

if TYPE_CHECKING:
    from singer_sdk import Tap

SYNC_MODES = ("full_refresh", "incremental")


def airbyte_catalog(tap: Tap) -> dict[str, Any]:
    """Every stream of the tap, incremental on its own cursor `changeDate`, keyed by `id`."""
    streams = []
    for name, stream in tap.streams.items():
        streams.append(
            {
                "name": name,
                "json_schema": {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    **stream.schema,
                },
                "supported_sync_modes": list(SYNC_MODES),
                "source_defined_cursor": True,
                "default_cursor_field": [stream.replication_key],
                "source_defined_primary_key": [[key] for key in stream.primary_keys or ()],
            }
        )
    return {"streams": streams}


class Selection(NamedTuple):
    """What a configured catalog asks for."""

    #: Stream name -> sync mode, in the source's order.
    modes: dict[str, str]
    #: Entries naming a stream the source does not have: (the entry's place, the name).
    unknown: list[tuple[str, str]]


def selected_streams(catalog: object, known: Iterable[str], where: str = "catalog") -> Selection:
    """The streams a ConfiguredAirbyteCatalog selects, and those it names that `known` lacks.

    The selected ones come in the order of `known`, each in its sync mode; `where` names the
    file in messages (`--catalog PATH`).
    """
    names = list(known)
    entries = catalog.get("streams") if isinstance(catalog, dict) else None
    if not isinstance(entries, list):
        raise unusable("Catalog", [f"{where}: expected an object with a list of streams"])
    selected: dict[str, str] = {}
    unknown: list[tuple[str, str]] = []
    problems = []
    for number, entry in enumerate(entries):
        stream = entry.get("stream") if isinstance(entry, dict) else None
        name = stream.get("name") if isinstance(stream, dict) else None
        if not isinstance(name, str):
            problems.append(f"{where}: streams[{number}]: has no stream name")
            continue
        if name not in names:
            unknown.append((f"{where}: streams[{number}]", name))
            continue
        mode = entry.get("sync_mode", "incremental")
        if mode not in SYNC_MODES:
            problems.append(
                f"{where}: streams[{number}].sync_mode: {mode!r}; use {' or '.join(SYNC_MODES)}"
            )
            continue
        selected[name] = mode
    if problems:
        raise unusable("Catalog", problems)
    return Selection({name: selected[name] for name in names if name in selected}, unknown)
