"""Messages out, fast: whole lines written in large chunks, and the read's RECORD lines.

Lines are gathered in a buffer (`Lines`) and written out with every message that is not a
RECORD (SCHEMA, STATE, ...) or when the buffer holds a chunk, so a reader always sees whole
lines and each STATE after the records it covers. A killed run loses at most records that no
STATE it wrote covers yet: the next run reads them again. Gathering matters because stdout is
often unbuffered (PYTHONUNBUFFERED), which would cost a system call per record. The Singer
writer (`SingerOutput`, msgspec-encoded) and the Airbyte one (airbyte/messages.py) both write
through `Lines`, and both are a `RecordWriter`: the read hands them RECORD lines it encoded
itself, and asks them whether stdout's reader is still there.

The read writes every selected stream's SCHEMA before its first record, and the SDK writes it
again when that stream's turn comes: a SCHEMA equal to the last one of its stream is not
written twice.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import os
import sys
from typing import IO, Protocol, runtime_checkable

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.encoding.simple import Message, RecordMessage, SchemaMessage

from tap_lp_audittrail.records import UTC, format_utc
from tap_lp_audittrail.stopping import StdoutClosed, is_broken_pipe

_encode = msgspec.json.Encoder().encode

CHUNK_BYTES = 256 * 1024


def write_out(out: IO[str], data: bytes | bytearray) -> None:
    """Write `data` to the text stream `out`, whole, whatever signal comes meanwhile.

    A file's own descriptor is written with os.write until every byte is out: the buffered
    writer's `write` drops bytes when a signal interrupts a large write to a pipe (seen:
    lines cut after a few bytes, and whole lines lost, under a handler that only sets a flag).
    """
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):  # StringIO and the like (tests)
        buffer = getattr(out, "buffer", None)
        if buffer is not None:
            buffer.write(data)
        else:
            out.write(bytes(data).decode())
        out.flush()
        return
    out.flush()  # whatever went through the text layer first
    with memoryview(data) as whole:
        done = 0
        while done < len(whole):
            done += os.write(fd, whole[done:])


class Lines:
    """Whole lines queued for stdout, written out together: the Singer and Airbyte writers' one.

    Once the reader has gone (a closed pipe) it is `closed`: every later flush raises
    StdoutClosed.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        #: Whole lines not written yet; a writer appends to it, then calls `flush_if`.
        self.pending = bytearray()
        self.stream = stream  # None: sys.stdout as it is at each write
        self.closed = False

    def flush_if(self, now: bool) -> None:
        """Write the queued lines out `now` (a message that is not a RECORD), or once a chunk."""
        if now or len(self.pending) >= CHUNK_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write every queued line; StdoutClosed if the reader has gone."""
        if not self.pending:
            return
        if self.closed:
            self.pending.clear()
            raise StdoutClosed
        try:
            write_out(self.stream or sys.stdout, self.pending)
        except OSError as exc:
            if not is_broken_pipe(exc):
                raise
            self.closed = True
            self.pending.clear()
            raise StdoutClosed from None
        self.pending.clear()


@runtime_checkable
class RecordWriter(Protocol):
    """A message writer the read hands RECORD lines it encoded itself: the fast path.

    A line is `record_prefix(stream)`, the record's JSON, then `record_suffix()`.
    """

    def record_prefix(self, stream: str) -> bytes:
        """The start of a RECORD line of `stream`, up to the record's JSON."""

    def record_suffix(self) -> bytes:
        """The end of the RECORD lines written now (a time stamp), newline included."""

    def write_records(self, lines: bytes) -> None:
        """Queue whole RECORD lines."""

    def first_record(self, stream: str) -> None:
        """The first record of `stream` is about to be written."""

    def records_written(self, stream: str, count: int) -> None:
        """`count` more records of `stream` were written, since the last call."""

    @property
    def closed(self) -> bool:
        """Stdout's reader has gone (a closed pipe): nothing is written any more."""

    def flush(self) -> None:
        """Write every queued line; StdoutClosed if stdout's reader has gone."""


class SingerOutput(MsgSpecWriter):
    """msgspec-encoded messages; RECORD lines leave in chunks, everything else at once."""

    def __init__(self) -> None:
        super().__init__()
        self._lines = Lines()
        self._schemas: dict[str, bytes] = {}
        atexit.register(self._flush_at_exit)  # a run that fails still hands over what it read

    def write_message(self, message: Message) -> None:
        """Queue one message line; write the queue out unless it is a RECORD."""
        line = bytes(self.format_message(message))
        if isinstance(message, SchemaMessage):
            if self._schemas.get(message.stream) == line:
                return
            self._schemas[message.stream] = line
        self._lines.pending += line
        self._lines.flush_if(not isinstance(message, RecordMessage))

    def record_prefix(self, stream: str) -> bytes:
        """The start of a Singer RECORD line of `stream`."""
        return b'{"type":"RECORD","stream":' + _encode(stream) + b',"record":'

    def record_suffix(self) -> bytes:
        """`time_extracted` (now) and the line's end."""
        return b',"time_extracted":"' + format_utc(dt.datetime.now(tz=UTC)).encode() + b'"}\n'

    def first_record(self, stream: str) -> None:
        """Nothing to say in Singer."""

    def records_written(self, stream: str, count: int) -> None:
        """Nothing to count in Singer (the metrics count)."""

    def write_records(self, lines: bytes) -> None:
        """Queue RECORD lines encoded already (the read's fast path)."""
        self._lines.pending += lines
        self._lines.flush_if(False)

    def _flush_at_exit(self) -> None:
        with contextlib.suppress(StdoutClosed):
            self.flush()

    @property
    def closed(self) -> bool:
        """The reader has gone: nothing is written any more."""
        return self._lines.closed

    def flush(self) -> None:
        """Write every queued line to stdout; StdoutClosed if its reader has gone."""
        self._lines.flush()
