"""fanout.py, in process: every change of the trail to each selected stream it belongs to, once.

A real tap's streams, its run and its writers (Singer and Airbyte), fed a trail scripted here
(batches of changes and window checkpoints, as trail.TrailRead hands them on): no server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
from collections.abc import Iterator
from contextlib import redirect_stdout
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_lp_audittrail import sdk_shim
from tap_lp_audittrail.airbyte.messages import AirbyteMessages, Stdout
from tap_lp_audittrail.bookmarks import Bookmark
from tap_lp_audittrail.fanout import FanOut, Target
from tap_lp_audittrail.records import UTC, IdAssigner, Row, format_utc
from tap_lp_audittrail.run import Run
from tap_lp_audittrail.stopping import StdoutClosed
from tap_lp_audittrail.tap import TapLPAuditTrail
from tap_lp_audittrail.trail import Checkpoint

CONFIG = {"account_id": "12345678", "bearer_token": "t0ken-for-the-fan-out"}
T = dt.datetime(2026, 3, 2, 12, tzinfo=UTC)
LOOKBACK = dt.timedelta(minutes=360)
FLOOR = T - dt.timedelta(days=30)


def change(minutes: int, object_type: str, name: str = "x") -> Row:
    instant = T + dt.timedelta(minutes=minutes)
    record = {
        "accountId": CONFIG["account_id"],
        "objectType": object_type,
        "objectName": name,
        "changeDate": format_utc(instant),
    }
    return Row(instant, record)


def id_of(row: Row) -> str:
    return IdAssigner().assign(dict(row.record))


class Trail:
    """A trail as TrailRead hands it on: `items` in order, then `error` if any."""

    def __init__(
        self,
        items: list[list[Row] | Checkpoint],
        *,
        server_start: dt.datetime | None = T,
        end: dt.datetime = T + dt.timedelta(days=2),
        error: BaseException | None = None,
    ) -> None:
        self.items, self.end, self.error = items, end, error
        self._server_start = server_start

    @property
    def server_start(self) -> dt.datetime | None:
        return self._server_start

    def __iter__(self) -> Iterator[list[Row] | Checkpoint]:
        yield from self.items
        if self.error is not None:
            raise self.error


def make_tap(state: dict[str, Any] | None = None, **kwargs: Any) -> TapLPAuditTrail:
    return TapLPAuditTrail(config=CONFIG, state=state or {}, parse_env_config=False, **kwargs)


def fan_out(run: Run, tap: TapLPAuditTrail, names: tuple[str, ...]) -> FanOut:
    """The fan-out run_read makes for the streams `names` (run.py)."""
    targets = {}
    for name in names:
        stream = tap.streams[name]
        bookmark = Bookmark.from_state(stream.get_context_state(None), LOOKBACK)
        prefix = (
            run.writer.record_prefix(name)
            if run.writer is not None and sdk_shim.writes_records_as_they_are(stream)
            else None
        )
        targets[name] = Target(stream, bookmark, bookmark.start(FLOOR), prefix)
    return FanOut(run, targets, LOOKBACK, first_synced=tap.streams[names[0]])


def singer_read(
    trail: Trail, names: tuple[str, ...] = ("audit_trail", "users", "skills"), **state: Any
) -> tuple[list[dict], FanOut, BaseException | None]:
    """The Singer messages a fan-out of `trail` writes, the fan-out, and what it raised."""
    tap = make_tap({"bookmarks": state} if state else None)
    out = io.StringIO()
    raised = None
    with redirect_stdout(out):
        fan = fan_out(tap.run, tap, names)
        try:
            fan.run(trail)
        except Exception as exc:  # the tests look at it
            raised = exc
        tap.message_writer.flush()
    return [json.loads(line) for line in out.getvalue().splitlines()], fan, raised


def records(messages: list[dict], stream: str) -> list[dict]:
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def last_state(messages: list[dict]) -> dict:
    return [m for m in messages if m["type"] == "STATE"][-1]["value"]["bookmarks"]


# ----------------------------------------------------------------------------- routing
def test_every_change_goes_to_audit_trail_and_to_its_element_stream_once_under_one_id():
    rows = [change(1, "User", "alice"), change(2, "Skill", "sales"), change(3, "Gizmo")]
    messages, _, raised = singer_read(Trail([rows, Checkpoint(rows[-1].instant)]))
    assert raised is None
    trail = records(messages, "audit_trail")
    assert [r["objectName"] for r in trail] == ["alice", "sales", "x"]
    assert [r["id"] for r in records(messages, "users")] == [trail[0]["id"]]
    assert [r["id"] for r in records(messages, "skills")] == [trail[1]["id"]]
    assert len({r["id"] for r in trail}) == 3


def test_a_change_of_an_objecttype_no_element_knows_is_in_audit_trail_only_and_counted():
    rows = [change(1, "Gizmo"), change(2, "Gizmo"), change(3, "User")]
    messages, fan, _ = singer_read(Trail([rows]))
    assert len(records(messages, "audit_trail")) == 3
    assert len(records(messages, "users")) == 1
    assert fan.unknown == {"Gizmo": 2}


def test_a_change_a_stream_emitted_already_is_skipped_for_that_stream_only():
    rows = [change(1, "User", "alice"), change(2, "User", "bob")]
    emitted = {
        "replication_key": "changeDate",
        "replication_key_value": format_utc(rows[0].instant),
        "reread_from": format_utc(rows[0].instant - LOOKBACK),
        "seen": [id_of(rows[0])],
    }
    messages, fan, _ = singer_read(Trail([rows]), audit_trail=emitted)
    assert [r["objectName"] for r in records(messages, "audit_trail")] == ["bob"]
    assert [r["objectName"] for r in records(messages, "users")] == ["alice", "bob"]
    assert (fan.targets["audit_trail"].emitted, fan.targets["audit_trail"].skipped) == (1, 1)


def test_a_change_before_a_streams_start_is_not_its_own():
    rows = [change(-60 * 24 * 40, "User", "old"), change(1, "User", "new")]
    messages, _, _ = singer_read(Trail([rows]), names=("users",))
    assert [r["objectName"] for r in records(messages, "users")] == ["new"]


# ----------------------------------------------------------------------------- state
def test_a_complete_read_moves_every_bookmark_to_the_servers_time_at_its_start():
    rows = [change(-5, "User")]
    messages, _, _ = singer_read(Trail([rows, Checkpoint(rows[-1].instant)]))
    bookmarks = last_state(messages)
    assert set(bookmarks) == {"audit_trail", "users", "skills"}
    for bookmark in bookmarks.values():
        assert bookmark["replication_key_value"] == format_utc(T)


def test_every_state_follows_the_records_it_covers():
    rows = [change(1, "User"), change(2, "User")]
    messages, _, _ = singer_read(Trail([rows[:1], Checkpoint(rows[0].instant), rows[1:]]))
    kinds = [m["type"] for m in messages if m["type"] in ("RECORD", "STATE")]
    assert kinds[-1] == "STATE"
    covered = {m["record"]["id"] for m in messages if m["type"] == "RECORD"}
    assert set(last_state(messages)["audit_trail"]["seen"]) <= covered


def test_a_read_that_fails_midway_writes_a_last_state_covering_every_record_written():
    rows = [change(1, "User", "alice"), change(2, "Skill", "sales")]
    messages, _, raised = singer_read(Trail([rows], error=RuntimeError("the server broke")))
    assert isinstance(raised, RuntimeError)
    assert messages[-1]["type"] == "STATE", "the records written are covered by a STATE"
    bookmark = last_state(messages)["audit_trail"]
    assert bookmark["replication_key_value"] == format_utc(rows[-1].instant)
    assert set(bookmark["seen"]) == {r["id"] for r in records(messages, "audit_trail")}


def test_a_bookmark_past_the_servers_clock_stops_the_read_before_any_record():
    future = {"replication_key": "changeDate", "replication_key_value": "2099-01-01T00:00:00Z"}
    messages, _, raised = singer_read(Trail([[change(1, "User")]]), users=future)
    assert isinstance(raised, ConfigValidationError)
    assert "bookmarks.users.replication_key_value" in " ".join(raised.errors)
    assert records(messages, "users") == records(messages, "audit_trail") == []


# ----------------------------------------------------------------------------- writers
def closed_pipe() -> io.TextIOWrapper:
    """A pipe's writing end whose reader has gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return os.fdopen(write_end, "w", encoding="utf-8")


def test_a_closed_airbyte_pipe_is_seen_by_the_fan_out_which_writes_no_more_state():
    """The Airbyte writer answers `closed` as the Singer one does (output.RecordWriter)."""
    pipe = closed_pipe()
    try:
        writer = AirbyteMessages(Stdout(pipe), streams=["audit_trail"])
        tap = make_tap(message_writer=writer)
        states: list[None] = []
        run = Run(
            tap.config,
            writer=writer,
            write_state=lambda: states.append(None),
            state=lambda: tap.state,
            selected=lambda: [tap.streams["audit_trail"]],
            logger=tap.logger,
        )
        assert run.writer is writer
        with pytest.raises(StdoutClosed):
            writer.started()  # the reader has gone: the first message finds it out
        assert writer.closed
        fan = fan_out(run, tap, ("audit_trail",))
        with pytest.raises(RuntimeError):
            fan.run(Trail([], error=RuntimeError("the server broke")))
        assert states == [], "a STATE nobody reads is not written"
    finally:
        with contextlib.suppress(OSError):
            pipe.close()


def test_an_open_airbyte_pipe_is_not_closed():
    writer = AirbyteMessages(Stdout(io.StringIO()), streams=["audit_trail"])
    writer.started()
    assert not writer.closed
