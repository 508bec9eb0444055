"""The Airbyte messages on stdout: the tap's Singer messages translated, and its logging.

One JSON line per message, written through output.py's `Lines` (RECORD lines in chunks, every
other message at once with the lines before it). The tap's RECORD and STATE messages become
Airbyte's; each selected stream's status is STARTED when the read begins, RUNNING at its
first record and COMPLETE or INCOMPLETE at the end; Python logging leaves as LOG messages, and
nothing is logged once an ERROR trace has ended the command. Every text passes the redactor.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from typing import IO, Any

import msgspec
from singer_sdk.singerlib.encoding.base import GenericSingerWriter
from singer_sdk.singerlib.encoding.simple import Message, RecordMessage, StateMessage

from tap_lp_audittrail.errors import REDACT, RedactingFilter
from tap_lp_audittrail.output import Lines
from tap_lp_audittrail.stopping import StdoutClosed

LOG_LEVELS = {
    logging.CRITICAL: "FATAL",
    logging.ERROR: "ERROR",
    logging.WARNING: "WARN",
    logging.INFO: "INFO",
    logging.DEBUG: "DEBUG",
}


def now_ms() -> int:
    """Milliseconds since the epoch, as Airbyte stamps its messages."""
    return time.time_ns() // 1_000_000


class Stdout:
    """Airbyte messages to stdout, one JSON line each, from any thread.

    RECORD lines are gathered and leave in chunks; every other message leaves at once with the
    lines before it, so a reader sees each STATE after the records it covers.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._lines = Lines(stream)
        self._lock = threading.Lock()
        self._encoder = msgspec.json.Encoder()
        #: Set by the ERROR trace that ends the command: nothing is logged after it (a window
        #: thread still finishing a request may log, and the error must be the last word).
        self._ended = False

    def write(
        self, message: Mapping[str, Any], *, chunked: bool = False, last: bool = False
    ) -> None:
        """Queue one message; write the queue out unless `chunked` and the queue is small.

        After a message written as the `last`, LOG messages are dropped.
        """
        with self._lock:
            if (self._ended or self._lines.closed) and message.get("type") == "LOG":
                return
            self._ended = self._ended or last
            self._encoder.encode_into(message, self._lines.pending, -1)
            self._lines.pending += b"\n"
            self._lines.flush_if(not chunked)

    def write_lines(self, lines: bytes) -> None:
        """Queue lines encoded already (the read's RECORD lines); out once the queue is big."""
        with self._lock:
            self._lines.pending += lines
            self._lines.flush_if(False)

    def flush(self) -> None:
        """Write every queued line."""
        with self._lock:
            self._lines.flush()

    @property
    def closed(self) -> bool:
        """The reader has gone (a closed pipe): nothing is written any more."""
        return self._lines.closed

    # ------------------------------------------------------------------ messages
    def log(self, level: str, message: str, stack_trace: str | None = None) -> None:
        """A LOG message (none once the command has ended with an error)."""
        log: dict[str, Any] = {"level": level, "message": message}
        if stack_trace:
            log["stack_trace"] = stack_trace
        self.write({"type": "LOG", "log": log})

    def stream_status(self, stream: str, status: str) -> None:
        """A TRACE message of type STREAM_STATUS."""
        self.write(
            {
                "type": "TRACE",
                "trace": {
                    "type": "STREAM_STATUS",
                    "emitted_at": now_ms(),
                    "stream_status": {
                        "stream_descriptor": {"name": stream},
                        "status": status,
                    },
                },
            }
        )

    def error(
        self,
        message: str,
        failure_type: str,
        internal_message: str | None = None,
        stack_trace: str | None = None,
    ) -> None:
        """A TRACE message of type ERROR; its texts pass the redactor."""
        error: dict[str, Any] = {"message": REDACT(message), "failure_type": failure_type}
        if internal_message:
            error["internal_message"] = REDACT(internal_message)
        if stack_trace:
            error["stack_trace"] = REDACT(stack_trace)
        self.write(
            {
                "type": "TRACE",
                "trace": {"type": "ERROR", "emitted_at": now_ms(), "error": error},
            },
            last=True,
        )

    def connection_status(self, succeeded: bool, message: str) -> None:
        """A CONNECTION_STATUS message."""
        self.write(
            {
                "type": "CONNECTION_STATUS",
                "connectionStatus": {
                    "status": "SUCCEEDED" if succeeded else "FAILED",
                    "message": REDACT(message),
                },
            }
        )


class AirbyteLogHandler(logging.Handler):
    """Python logging as Airbyte LOG messages (redacted like every log of the tap)."""

    def __init__(self, out: Stdout, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.out = out
        self.addFilter(RedactingFilter())
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Write one LOG message; a traceback goes in its stack_trace."""
        try:
            message = f"{record.name}: {record.getMessage()}"
            stack = record.exc_text
            if record.exc_info and not stack:
                stack = REDACT("".join(traceback.format_exception(*record.exc_info)))
            level = LOG_LEVELS.get(record.levelno, "INFO" if record.levelno < 40 else "ERROR")
            self.out.log(level, REDACT(message), stack)
        except StdoutClosed:
            pass  # the reader has gone: the command ends by SIGPIPE, with nothing to say
        except Exception:  # a log line must never stop the read
            self.handleError(record)


def without_nulls(value: Any) -> Any:
    """`value` without the keys whose value is null, at any depth.

    A bookmark's null says nothing the tap needs (the SDK writes `starting_replication_value`
    null when a run starts without a start date), and Airbyte's platform refuses a state
    holding one.
    """
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    return value


class AirbyteMessages(GenericSingerWriter[bytes, Message]):
    """The tap's Singer messages, written out as Airbyte messages."""

    def __init__(self, out: Stdout | None = None, streams: Sequence[str] = ()) -> None:
        self.out = out or Stdout()
        #: The selected streams, in the tap's order.
        self.streams = list(streams)
        self._encode = msgspec.json.Encoder().encode
        self._said: dict[str, bytes] = {}  # stream -> its bookmark as last sent (or received)
        self._records: dict[str, int] = {}  # stream -> records since its last STATE
        self._running: set[str] = set()

    def known_state(self, state: Mapping[str, Any]) -> None:
        """Bookmarks the reader already has: they are not sent again until they change."""
        for stream, entry in (state.get("bookmarks") or {}).items():
            self._said[stream] = self._encode(entry)

    # The read's fast path (output.RecordWriter): RECORD lines it encodes itself.
    def record_prefix(self, stream: str) -> bytes:
        """The start of an Airbyte RECORD line of `stream`, up to its data."""
        return b'{"type":"RECORD","record":{"stream":' + self._encode(stream) + b',"data":'

    def record_suffix(self) -> bytes:
        """`emitted_at` (now) and the line's end."""
        return b',"emitted_at":' + str(now_ms()).encode() + b"}}\n"

    def write_records(self, lines: bytes) -> None:
        """Queue RECORD lines."""
        self.out.write_lines(lines)

    def first_record(self, stream: str) -> None:
        """The stream is RUNNING: said before its first record."""
        if stream not in self._running:
            self._running.add(stream)
            self.out.stream_status(stream, "RUNNING")

    def records_written(self, stream: str, count: int) -> None:
        """Records of `stream` since its last STATE (its sourceStats)."""
        self._records[stream] = self._records.get(stream, 0) + count

    @property
    def closed(self) -> bool:
        """Stdout's reader has gone (a closed pipe): nothing is written any more."""
        return self.out.closed

    def flush(self) -> None:
        """Write every queued line; StdoutClosed if stdout's reader has gone."""
        self.out.flush()

    def serialize_message(self, message: Message) -> bytes:
        """Singer JSON of a message (not used for output; required by the interface)."""
        return self._encode(message.to_dict())

    def write_message(self, message: Message) -> None:
        """RECORD and STATE pass on, translated; SCHEMA and the rest say nothing here."""
        if isinstance(message, RecordMessage):
            stream = message.stream
            if stream not in self._running:
                self._running.add(stream)
                self.out.stream_status(stream, "RUNNING")
            self._records[stream] = self._records.get(stream, 0) + 1
            self.out.write(
                {
                    "type": "RECORD",
                    "record": {"stream": stream, "data": message.record, "emitted_at": now_ms()},
                },
                chunked=True,
            )
        elif isinstance(message, StateMessage):
            for stream, entry in (message.value.get("bookmarks") or {}).items():
                encoded = self._encode(without_nulls(entry))
                if self._said.get(stream) == encoded:
                    continue
                self._said[stream] = encoded
                self.out.write(
                    {
                        "type": "STATE",
                        "state": {
                            "type": "STREAM",
                            "stream": {
                                "stream_descriptor": {"name": stream},
                                "stream_state": msgspec.json.decode(encoded),
                            },
                            "sourceStats": {"recordCount": float(self._records.pop(stream, 0))},
                        },
                    }
                )

    def started(self) -> None:
        """Every selected stream is STARTED: one pass reads them all."""
        for stream in self.streams:
            self.out.stream_status(stream, "STARTED")

    def finished(self, *, complete: bool) -> None:
        """Every selected stream is COMPLETE, or INCOMPLETE when the read failed."""
        self.out.flush()
        for stream in self.streams:
            self.out.stream_status(stream, "COMPLETE" if complete else "INCOMPLETE")


class Discard(GenericSingerWriter[bytes, Message]):
    """Messages nobody reads (the records of a connection test)."""

    def serialize_message(self, message: Message) -> bytes:
        """Nothing."""
        return b""

    def write_message(self, message: Message) -> None:
        """Nothing."""
