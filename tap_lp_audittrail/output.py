"""Singer messages out, fast: msgspec encoding, written in large chunks.

Lines are gathered in a buffer and written out with every message that is not a RECORD
(SCHEMA, STATE, ...) or when the buffer is full, so a reader always sees whole lines and each
STATE after the records it covers. A killed run loses at most records that no STATE it wrote
covers yet: the next run reads them again. Gathering matters because stdout is often
unbuffered (PYTHONUNBUFFERED), which would cost a system call per record.

The read writes every selected stream's SCHEMA before its first record, and the SDK writes it
again when that stream's turn comes: a SCHEMA equal to the last one of its stream is not
written twice.
"""

from __future__ import annotations

import atexit
import sys

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.encoding.simple import Message, RecordMessage, SchemaMessage

CHUNK_BYTES = 256 * 1024


class SingerOutput(MsgSpecWriter):
    """msgspec-encoded messages; RECORD lines leave in chunks, everything else at once."""

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()
        self._schemas: dict[str, bytes] = {}
        atexit.register(self.flush)  # a run that fails still hands over what it read

    def write_message(self, message: Message) -> None:
        """Queue one message line; write the queue out unless it is a RECORD."""
        line = bytes(self.format_message(message))
        if isinstance(message, SchemaMessage):
            if self._schemas.get(message.stream) == line:
                return
            self._schemas[message.stream] = line
        self._pending += line
        if not isinstance(message, RecordMessage) or len(self._pending) >= CHUNK_BYTES:
            self.flush()

    def write_records(self, lines: bytes) -> None:
        """Queue RECORD lines encoded already (the read's fast path)."""
        self._pending += lines
        if len(self._pending) >= CHUNK_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write every queued line to stdout."""
        if not self._pending:
            return
        out = sys.stdout
        buffer = getattr(out, "buffer", None)
        if buffer is not None:
            buffer.write(self._pending)
        else:  # a text stream with no bytes underneath (tests capture into StringIO)
            out.write(self._pending.decode())
        out.flush()
        self._pending.clear()
