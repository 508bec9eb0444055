"""The run's copy of the whole trail, for streams that filter on the tap's side."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator, Sequence

import msgspec

from tap_lp_audittrail.records import Row


class SharedFeed:
    """Every change one stream read from the API this run, on disk, for the streams after it.

    A temporary file, deleted when the run ends; rows are kept in the order they were read.
    """

    def __init__(self, started: dt.datetime) -> None:
        self.started = started
        self.complete = False
        self._file = tempfile.TemporaryFile(prefix="tap-lp-audittrail-")  # noqa: SIM115
        self._encode = msgspec.json.Encoder().encode

    def add(self, rows: Sequence[Row]) -> None:
        """Keep rows (before their stream adds an `id`)."""
        self._file.write(b"".join(self._encode(row.record) + b"\n" for row in rows))

    def finish(self) -> None:
        """The read went to its end: later streams may rely on the copy."""
        self._file.flush()
        self.complete = True

    def rows(self, start: dt.datetime, end: dt.datetime) -> Iterator[Row]:
        """The kept rows in [start, end), in order."""
        self._file.seek(0)
        decode = msgspec.json.Decoder().decode
        for line in self._file:
            record = decode(line)
            instant = dt.datetime.fromisoformat(record["changeDate"])
            if start <= instant < end:
                yield Row(instant, record)

    def close(self) -> None:
        """Drop the copy."""
        self._file.close()
