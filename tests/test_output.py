"""output.py, in process: whole lines out in chunks, each STATE after the records it covers,
a SCHEMA not repeated, and a reader that has gone seen as `closed` by both writers.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
from contextlib import redirect_stdout

import pytest
from singer_sdk.singerlib.encoding.simple import RecordMessage, SchemaMessage, StateMessage

from tap_lp_audittrail.airbyte.messages import AirbyteMessages, Stdout
from tap_lp_audittrail.output import CHUNK_BYTES, Lines, RecordWriter, SingerOutput, write_out
from tap_lp_audittrail.stopping import StdoutClosed

SCHEMA = {"type": "object", "properties": {"id": {"type": "string"}}}


def test_lines_wait_for_a_chunk_and_leave_whole():
    out = io.StringIO()
    lines = Lines(out)
    line = b'{"n":1}\n'
    lines.pending += line
    lines.flush_if(False)
    assert out.getvalue() == "", "a few lines wait"
    while len(lines.pending) < CHUNK_BYTES:
        lines.pending += line
    lines.flush_if(False)
    assert out.getvalue().endswith("\n")
    assert len(out.getvalue().splitlines()) == -(-CHUNK_BYTES // len(line))
    lines.pending += line
    lines.flush_if(True)
    assert lines.pending == bytearray()


def test_every_byte_reaches_a_pipe_whole():
    read_end, write_end = os.pipe()
    data = b"x" * 200_000 + b"\n"
    with os.fdopen(write_end, "w") as out, os.fdopen(read_end, "rb") as reader:
        got = bytearray()
        thread = threading.Thread(target=lambda: got.extend(reader.read()))
        thread.start()
        write_out(out, data)
        out.close()
        thread.join(timeout=30)
    assert bytes(got) == data


@pytest.fixture
def gone() -> io.TextIOWrapper:
    """A pipe's writing end whose reader has gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    out = os.fdopen(write_end, "w", encoding="utf-8")
    yield out
    with contextlib.suppress(OSError):
        out.close()


def test_a_reader_that_has_gone_closes_the_lines_and_every_later_flush_says_so(gone):
    lines = Lines(gone)
    lines.pending += b"{}\n"
    with pytest.raises(StdoutClosed):
        lines.flush()
    assert lines.closed
    lines.pending += b"{}\n"
    with pytest.raises(StdoutClosed):
        lines.flush()
    assert lines.pending == bytearray(), "nothing kept for a reader that has gone"


def test_both_writers_are_record_writers_and_answer_closed_alike(gone):
    singer, airbyte = SingerOutput(), AirbyteMessages(Stdout(gone))
    assert isinstance(singer, RecordWriter)
    assert isinstance(airbyte, RecordWriter)
    assert not airbyte.closed
    airbyte.write_records(airbyte.record_prefix("users") + b"{}" + airbyte.record_suffix())
    with pytest.raises(StdoutClosed):
        airbyte.flush()
    assert airbyte.closed
    assert not singer.closed
    singer.write_records(singer.record_prefix("users") + b"{}" + singer.record_suffix())
    with redirect_stdout(gone), pytest.raises(StdoutClosed):
        singer.flush()  # to stdout as it is at the write: the same gone reader
    assert singer.closed


def test_a_state_leaves_after_the_records_before_it_and_a_schema_is_not_repeated():
    out = io.StringIO()
    with redirect_stdout(out):
        writer = SingerOutput()
        writer.write_message(SchemaMessage("users", SCHEMA, ["id"]))
        writer.write_records(writer.record_prefix("users") + b'{"id":"a"}' + writer.record_suffix())
        writer.write_message(RecordMessage("users", {"id": "b"}))
        writer.write_message(SchemaMessage("users", SCHEMA, ["id"]))
        writer.write_message(StateMessage({"bookmarks": {}}))
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [m["type"] for m in messages] == ["SCHEMA", "RECORD", "RECORD", "STATE"]
    assert [m["record"]["id"] for m in messages if m["type"] == "RECORD"] == ["a", "b"]
    assert "time_extracted" in messages[1]
