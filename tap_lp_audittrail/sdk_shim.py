"""Every use of the SDK beyond its documented API, in one place: an SDK upgrade touches one file.

Written against singer-sdk 0.54; tests/test_sdk_shim.py pins each thing this module relies on
(names, signatures, the SDK's log lines it matches), so that an upgrade that changes one fails
there first. What the tap relies on, by purpose:

- **One read for every stream.** The SDK syncs streams one after another; the tap reads the
  trail once for all of them, so the read writes each stream's SCHEMA and RECORD messages
  itself, through the stream's own message generation (selection masks, stream maps,
  flattening: `Stream._write_schema_message`, `Stream._generate_record_messages`), knows a
  connection test by its record limit (`ABORT_AT_RECORD_COUNT`), lets the SDK write a stream's
  state again (`state_manager.is_flushed`) and starts each stream's `sync_duration` timer when
  the read begins writing it (`metrics.Timer.start_time`, its `__enter__`).
- **The tap's own checks and signals.** Config checks after the SDK's validation
  (`PluginBase._validate_config`), SIGINT and SIGTERM handled by stopping.py
  (`PluginBase._setup_signal_handlers`).
- **One line per failure.** The SDK's command line without its own config-error lines
  (`SingerCommand.invoke`, skipped for `click.Command.invoke`), made anew as the tap's command
  class (`Tap.get_singer_command`'s attributes), and the SDK's log lines that would read as a
  second, wrong, failure: its per-stream sync error line (matched by its text), its line for
  the connection test's stop after one record (`MaxRecordsLimitException`), its per-stream and
  METRIC lines during Airbyte's `check` (matched by their loggers' names).
- **Lines in a true order.** The SDK's lines as each later stream's sync begins (matched by
  their format strings), said after the read wrote that stream's records, are not said.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click
from singer_sdk import Stream, Tap, metrics
from singer_sdk.exceptions import ConfigValidationError, MaxRecordsLimitException
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.plugin_base import SingerCommand

from tap_lp_audittrail.stopping import STOP

if TYPE_CHECKING:
    from singer_sdk.singerlib import RecordMessage
    from typing_extensions import Self

#: The SDK's ERROR line when a stream's sync raises (`Stream.sync`): it names a stream that is
#: often not the cause (the first one selected), and the tap's own line follows.
SDK_SYNC_ERROR = "An unhandled error occurred while syncing"
#: The SDK's lines as a stream's sync begins (`Stream.sync`; `Starting incremental ...` from its
#: state helpers). The one read writes every stream's records during the first stream's sync:
#: for the others, said after it, they would announce a sync that is over, with the bookmark it
#: ended at as the one it starts from.
SDK_SYNC_BEGINS = (
    "Beginning sync of '%s' in %s mode",
    "Starting incremental sync of '%s' with bookmark value: %s",
)
#: Those lines, as said (a filter before this one may have formatted them already).
SDK_SYNC_BEGINS_SAID = re.compile(
    "|".join(re.escape(text).replace("%s", ".*") for text in SDK_SYNC_BEGINS), re.DOTALL
)
#: The SDK's metrics logger (METRIC lines).
SDK_METRICS_LOGGER = metrics.METRICS_LOGGER_NAME


# ----------------------------------------------------------------------------- the tap
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


# ----------------------------------------------------------------------------- streams
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


class SyncTimer(metrics.Timer):
    """A stream's `sync_duration`, which the read starts: the SDK's `with` does not restart it.

    One read writes every stream, inside the first stream's sync: each stream's records flow
    from the read's start, not from when the SDK reaches that stream.
    """

    started = False

    def start(self) -> None:
        """Start timing now, unless timing already."""
        if not self.started:
            self.started = True
            self.start_time = time.time()

    def __enter__(self) -> Self:
        """The SDK's `with`: starts the timer if the read has not."""
        self.start()
        return self


# ----------------------------------------------------------------------------- command line
class QuietCommand(SingerCommand):
    """The SDK's command, its `invoke` without the SDK's config-error lines.

    The SDK logs each problem of a bad config, then "Config validation failed", and exits 1:
    the tap's command says the one line of every failure itself (cli.py).
    """

    def invoke(self, ctx: click.Context) -> Any:
        """`SingerCommand.invoke`'s set-up, and the command, letting every error through."""
        logging.captureWarnings(capture=True)
        warnings.filterwarnings("once", category=DeprecationWarning)
        sys.excepthook = self.excepthook
        return click.Command.invoke(self, ctx)


def command_as(
    command: click.Command, command_class: type[QuietCommand], logger: logging.Logger
) -> click.Command:
    """The SDK's command line `command`, made anew as `command_class`."""
    return command_class(
        name=command.name,
        callback=command.callback,
        params=command.params,
        help=command.help,
        context_settings=command.context_settings,
        logger=logger,
    )


class DropSyncErrorLine(logging.Filter):
    """Drops the SDK's per-stream sync error line (shown at DEBUG): the tap's own line says it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the SDK's sync error line, unless its logger is at DEBUG."""
        return not str(record.msg).startswith(SDK_SYNC_ERROR) or logging.getLogger(
            record.name
        ).isEnabledFor(logging.DEBUG)


class ReadAlready(logging.Filter):
    """Drops the SDK's lines of a sync beginning, for a stream the read has written already."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for those lines (matched by the SDK's format strings)."""
        return not SDK_SYNC_BEGINS_SAID.fullmatch(record.getMessage())


_READ_ALREADY = ReadAlready()


def read_already(stream: Stream) -> None:
    """`stream`'s records came with the read (progress.py said so): no SDK line of its sync.

    The SDK's lines of its sync beginning come after the read; they are not said, until
    `sync_begun` (loggers outlive a run).
    """
    stream.logger.addFilter(_READ_ALREADY)


def sync_begun(stream: Stream) -> None:
    """The SDK has begun `stream`'s sync (its records are asked for): its lines are past."""
    stream.logger.removeFilter(_READ_ALREADY)


class RecordLimitIsNoError(logging.Filter):
    """Hides the SDK's error line for the connection test's stop after one record.

    That stop is by design; the line would read as a failure.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop only that line (logged while the limit's exception is being handled)."""
        exc = record.exc_info[1] if record.exc_info else sys.exc_info()[1]
        causes = (exc, getattr(exc, "__cause__", None))
        return not any(isinstance(cause, MaxRecordsLimitException) for cause in causes)


class OnlyWarnings(logging.Filter):
    """The SDK's per-stream lines and METRIC lines of a tap, below WARNING, are dropped.

    A stream's logger is a child of its tap's (`Stream.logger`); METRIC lines have their own.
    """

    def __init__(self, tap_name: str) -> None:
        super().__init__()
        self.prefixes = (SDK_METRICS_LOGGER, f"{tap_name}.")

    def filter(self, record: logging.LogRecord) -> bool:
        """False for an INFO or DEBUG line of a stream's or the metrics' logger."""
        return record.levelno >= logging.WARNING or not record.name.startswith(self.prefixes)
