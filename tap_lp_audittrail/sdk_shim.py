"""Every use of the SDK's private API, in one place, so that an SDK upgrade touches one file.

The SDK syncs streams one after another; the tap reads the trail once for all of them, so
the read writes each stream's SCHEMA and RECORD messages itself, through the stream's own
message generation (selection masks, stream maps, flattening). Written against singer-sdk
0.54.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.mapper import SameRecordTransform

from tap_lp_audittrail.stopping import STOP

if TYPE_CHECKING:
    from singer_sdk import Stream
    from singer_sdk.singerlib import RecordMessage


class ConfigCheckedTap(Tap):
    """A tap whose own config checks run before any request, and its own signal handling.

    The SDK's only hook for the checks is its private `_validate_config`; the tap implements
    the public `check_config` instead. Signals: stopping.py.
    """

    def check_config(self, config: dict[str, Any], sdk_errors: list[str]) -> list[str]:
        """Problems of `config` (defaults applied), given the SDK's own messages."""
        return sdk_errors

    def _setup_signal_handlers(self) -> None:
        """The tap's own SIGINT/SIGTERM handling (stopping.py) instead of the SDK's.

        The SDK's handler writes a STATE from inside the handler, possibly in the middle of a
        RECORD line, and exits 0.
        """
        STOP.install()

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        sdk_errors = super()._validate_config(raise_errors=False)
        errors = self.check_config(self._config, sdk_errors)
        if errors:
            if raise_errors:
                raise ConfigValidationError("Config validation failed", errors=errors)
            for error in errors:
                self.logger.warning(error)
        return errors


def tap_of(stream: Stream) -> Any:
    """The tap a stream belongs to."""
    return stream._tap


def write_schema(stream: Stream) -> None:
    """Write the stream's SCHEMA message(s), one per stream map."""
    stream._write_schema_message()


def record_messages(stream: Stream, record: dict) -> Iterator[RecordMessage]:
    """The RECORD messages the SDK makes of one record (mask, stream maps, flattening)."""
    return stream._generate_record_messages(record)


def is_dry_run(stream: Stream) -> bool:
    """Whether the SDK runs this stream as a connection test (`--test`: one record each)."""
    return stream.ABORT_AT_RECORD_COUNT == 1


def writes_records_as_they_are(stream: Stream) -> bool:
    """Whether the stream's RECORD messages carry its records unchanged.

    True when no stream map, flattening or property deselection applies: the read may then
    encode each record once and write it under the stream's name.
    """
    maps = stream.stream_maps
    if len(maps) != 1:
        return False
    only = maps[0]
    if type(only) is not SameRecordTransform or only.stream_alias != stream.name:
        return False
    if only.flattening_enabled:
        return False
    mask = stream.mask
    return all(mask[("properties", name)] for name in stream.schema["properties"])


def mark_state_unflushed(stream: Stream) -> None:
    """Let the SDK write the stream's state again once it has finalized it (end of its sync)."""
    stream.state_manager.is_flushed = False
