"""messages.py: the Airbyte messages on stdout, in process.

The tap's Singer messages translated (RECORD, STATE once per change of a stream's bookmark,
with the records it covers as sourceStats; stream statuses), the read's own RECORD lines, the
writer's answer to whether stdout's reader is still there, and logging as LOG messages: every
line an Airbyte message, the error the command's last word, no secret in any text.
"""

from __future__ import annotations

import io
import json
import logging

import pytest
from singer_sdk.singerlib.encoding.simple import RecordMessage, SchemaMessage, StateMessage

from tap_lp_audittrail.airbyte.messages import AirbyteLogHandler, AirbyteMessages, Stdout
from tap_lp_audittrail.errors import REDACT
from tap_lp_audittrail.output import RecordWriter
from tap_lp_audittrail.stopping import StdoutClosed

from .helpers import Output, parse_output

BOOKMARK = {"replication_key": "changeDate", "replication_key_value": "2025-01-01T00:00:00Z"}


def written(text: io.StringIO) -> Output:
    """What was written, every line checked against Airbyte's protocol models."""
    return parse_output(text.getvalue(), Output())


def test_records_and_states_become_airbyte_messages_each_state_once_with_its_records():
    text = io.StringIO()
    writer = AirbyteMessages(Stdout(text), streams=["users", "skills"])
    writer.started()
    writer.write_message(SchemaMessage("users", {"type": "object"}, ["id"]))
    for number in range(3):
        writer.write_message(RecordMessage("users", {"id": str(number)}))
    state = {"bookmarks": {"users": BOOKMARK, "skills": {}}}
    writer.write_message(StateMessage(state))
    writer.write_message(StateMessage(state))  # no bookmark moved: nothing to say
    writer.finished(complete=True)
    out = written(text)
    assert out.records("users") == [{"id": "0"}, {"id": "1"}, {"id": "2"}]
    assert out.statuses("users") == ["STARTED", "RUNNING", "COMPLETE"]
    assert out.statuses("skills") == ["STARTED", "COMPLETE"]
    states = out.states()
    assert [s["stream"]["stream_descriptor"]["name"] for s in states] == ["users", "skills"]
    assert states[0]["stream"]["stream_state"] == BOOKMARK
    assert [s["sourceStats"]["recordCount"] for s in states] == [3.0, 0.0]


def test_a_bookmark_the_reader_has_already_is_not_sent_again():
    text = io.StringIO()
    writer = AirbyteMessages(Stdout(text), streams=["users"])
    writer.known_state({"bookmarks": {"users": BOOKMARK}})
    writer.write_message(StateMessage({"bookmarks": {"users": BOOKMARK}}))
    writer.flush()
    assert written(text).states() == []


def test_the_reads_own_record_lines_are_airbyte_records_of_their_stream():
    text = io.StringIO()
    writer = AirbyteMessages(Stdout(text), streams=["users"])
    assert isinstance(writer, RecordWriter)
    writer.first_record("users")
    line = writer.record_prefix("users") + b'{"id":"x"}' + writer.record_suffix()
    writer.write_records(line * 2)
    writer.records_written("users", 2)
    writer.write_message(StateMessage({"bookmarks": {"users": BOOKMARK}}))
    out = written(text)
    assert out.records("users") == [{"id": "x"}, {"id": "x"}]
    assert out.statuses("users") == ["RUNNING"]
    assert out.states()[0]["sourceStats"]["recordCount"] == 2.0


class _Closed(io.StringIO):
    """A stdout whose reader has gone."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_is_told_by_the_writer_as_the_singer_one_tells_it():
    writer = AirbyteMessages(Stdout(_Closed()), streams=["users"])
    assert writer.closed is False
    with pytest.raises(StdoutClosed):  # the first write finds the reader gone
        writer.write_message(StateMessage({"bookmarks": {"users": BOOKMARK}}))
    assert writer.closed is True
    writer.write_records(writer.record_prefix("users") + b"{}" + writer.record_suffix())
    with pytest.raises(StdoutClosed):
        writer.flush()


def test_the_error_that_ends_a_command_is_its_last_word_whatever_logs_after_it():
    """A window thread still finishing a request may log after the error: it is dropped."""
    text = io.StringIO()
    out = Stdout(text)
    out.log("INFO", "before")
    out.error("it failed", "config_error")
    out.log("DEBUG", "urllib3.connectionpool: a request still in flight")
    lines = [json.loads(line) for line in text.getvalue().splitlines()]
    assert [line["type"] for line in lines] == ["LOG", "TRACE"]
    assert lines[-1]["trace"]["error"]["message"] == "it failed"


def test_logging_becomes_log_messages_redacted_with_the_traceback_in_their_stack_trace():
    REDACT.add("s3cret-for-messages")
    text = io.StringIO()
    logger = logging.getLogger("tests.airbyte.messages")
    logger.propagate = False
    logger.addHandler(AirbyteLogHandler(Stdout(text)))
    try:
        logger.warning("the token s3cret-for-messages was refused")
        error = ValueError("s3cret-for-messages")
        logger.error("it failed", exc_info=(ValueError, error, None))
    finally:
        logger.handlers.clear()
    (warning, error) = [m.log for m in written(text).of("LOG")]
    assert (warning.level.value, warning.message) == (
        "WARN",
        "tests.airbyte.messages: the token *** was refused",
    )
    assert error.level.value == "ERROR"
    assert "ValueError: ***" in error.stack_trace
    assert "s3cret-for-messages" not in text.getvalue()
