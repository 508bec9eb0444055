"""A stream's bookmark, in process: given this state, the next run starts here and skips these
ids; each checkpoint moves the marks only forward, and the state stays as small as the
look-back."""

from __future__ import annotations

import datetime as dt

from tap_lp_audittrail.bookmarks import FUTURE_TOLERANCE, Bookmark
from tap_lp_audittrail.records import format_utc

UTC = dt.timezone.utc
T = dt.datetime(2026, 10, 31, 12, tzinfo=UTC)
LAG = dt.timedelta(hours=6)
FLOOR = dt.datetime(2025, 10, 1, tzinfo=UTC)


def at(minutes: float) -> dt.datetime:
    return T + dt.timedelta(minutes=minutes)


def state(read_to: dt.datetime, reread_from: dt.datetime | None, seen: list[str]) -> dict:
    out = {"replication_key": "changeDate", "replication_key_value": format_utc(read_to)}
    if reread_from is not None:
        out["reread_from"] = format_utc(reread_from)
    out["seen"] = seen
    return out


def test_a_stream_without_state_starts_at_the_floor():
    bookmark = Bookmark.from_state({}, LAG)
    assert bookmark.start(FLOOR) == FLOOR
    assert bookmark.first_emission("a", at(0))


def test_the_next_run_starts_at_reread_from_and_skips_the_ids_seen():
    bookmark = Bookmark.from_state(state(at(0), at(-360), ["a", "b"]), LAG)
    assert bookmark.start(FLOOR) == at(-360)
    assert not bookmark.first_emission("a", at(-30))
    assert not bookmark.first_emission("b", at(-1))
    assert bookmark.first_emission("c", at(-30))  # a late change: new to the stream
    assert not bookmark.first_emission("c", at(-30))  # and only once


def test_start_date_later_than_the_bookmark_wins():
    bookmark = Bookmark.from_state(state(at(0), at(-360), []), LAG)
    assert bookmark.start(at(10)) == at(10)


def test_an_older_state_rereads_the_lookback_before_its_bookmark():
    bookmark = Bookmark.from_state(
        {"replication_key": "changeDate", "replication_key_value": format_utc(at(0))}, LAG
    )
    assert bookmark.start(FLOOR) == at(0) - LAG
    assert bookmark.seen == {}


def test_in_a_backfill_the_checkpoint_keeps_only_the_group_at_the_position():
    bookmark = Bookmark()
    for n in range(10):
        assert bookmark.first_emission(f"r{n}", at(-10_000 + n))
    bookmark.first_emission("tie", at(-10_000 + 9))
    bookmark.checkpoint(at(-10_000 + 9), server_start=at(0), lookback=LAG)
    assert bookmark.reread_from == at(-10_000 + 9)
    assert bookmark.read_to == at(-10_000 + 9)
    assert set(bookmark.seen) == {"r9", "tie"}


def test_near_the_present_the_checkpoint_keeps_the_lookback_before_the_server_time():
    bookmark = Bookmark()
    bookmark.first_emission("old", at(-400))
    bookmark.first_emission("recent", at(-300))
    bookmark.checkpoint(at(-5), server_start=at(0), lookback=LAG)
    assert bookmark.reread_from == at(-360)
    assert set(bookmark.seen) == {"recent"}


def test_a_complete_read_moves_a_quiet_stream_to_the_server_time():
    bookmark = Bookmark.from_state(state(at(-3000), at(-3360), []), LAG)
    bookmark.checkpoint(at(-3000), server_start=at(0), lookback=LAG, complete_to=at(0))
    assert bookmark.read_to == at(0)
    assert bookmark.reread_from == at(-360)


def test_the_marks_never_move_back():
    bookmark = Bookmark.from_state(state(at(0), at(-360), ["a"]), LAG)
    bookmark.first_emission("late", at(-200))
    # a server clock that reads earlier than before, and a position before the bookmark
    bookmark.checkpoint(at(-200), server_start=at(-30), lookback=LAG)
    assert bookmark.read_to == at(0)
    assert bookmark.reread_from == at(-360)
    assert {"a", "late"} <= set(bookmark.seen)


def test_without_a_server_time_the_lookback_follows_the_position():
    bookmark = Bookmark()
    bookmark.first_emission("x", at(-100))
    bookmark.checkpoint(at(0), server_start=None, lookback=LAG)
    assert bookmark.reread_from == at(-360)
    assert bookmark.read_to == at(0)
    assert "x" in bookmark.seen


def test_loaded_ids_the_read_passes_without_meeting_are_dropped():
    bookmark = Bookmark.from_state(state(at(0), at(-360), ["kept", "gone"]), LAG)
    bookmark.first_emission("kept", at(-10))
    bookmark.checkpoint(at(-20), server_start=at(60), lookback=LAG)
    assert set(bookmark.seen) == {"kept", "gone"}  # the read has not reached `gone` yet
    bookmark.checkpoint(at(30), server_start=at(60), lookback=LAG)
    assert set(bookmark.seen) == {"kept"}
    # from then on the ids met are kept as any others
    bookmark.first_emission("new", at(40))
    bookmark.checkpoint(at(50), server_start=at(60), lookback=LAG)
    assert set(bookmark.seen) == {"kept", "new"}


def test_loaded_ids_are_kept_while_the_read_stands_at_the_loaded_read_to():
    bookmark = Bookmark.from_state(state(at(0), at(-360), ["met", "unmet"]), LAG)
    bookmark.first_emission("met", at(0))
    bookmark.checkpoint(at(0), server_start=at(60), lookback=LAG)
    assert set(bookmark.seen) == {"met", "unmet"}  # not past the loaded read_to yet
    bookmark.checkpoint(at(1), server_start=at(60), lookback=LAG)
    assert set(bookmark.seen) == {"met"}


def test_a_backfill_states_ids_are_kept_while_the_read_stands_at_its_position():
    """A backfill's state starts its next run at its position: the group there is seen."""
    bookmark = Bookmark.from_state(state(at(-9000), at(-9000), ["met", "unmet"]), LAG)
    bookmark.first_emission("met", at(-9000))
    bookmark.checkpoint(at(-9000), server_start=at(0), lookback=LAG)
    assert bookmark.reread_from == at(-9000)
    assert set(bookmark.seen) == {"met", "unmet"}
    bookmark.checkpoint(at(-8999), server_start=at(0), lookback=LAG)
    assert set(bookmark.seen) == set()


def test_the_state_lists_the_ids_in_changedate_order():
    bookmark = Bookmark()
    for name, minute in (("b", -2), ("c", -3), ("a", -1)):
        bookmark.first_emission(name, at(minute))
    bookmark.checkpoint(at(-1), server_start=at(0), lookback=LAG)
    written: dict = {"starting_replication_value": "kept as it is"}
    bookmark.to_state(written)
    assert written["seen"] == ["c", "b", "a"]
    assert written["replication_key"] == "changeDate"
    assert written["replication_key_value"] == format_utc(at(-1))
    assert written["reread_from"] == format_utc(at(-360))
    assert written["starting_replication_value"] == "kept as it is"
    again = Bookmark.from_state(written, LAG)
    assert again.start(FLOOR) == at(-360)
    assert not again.first_emission("b", at(-2))


def test_ids_loaded_and_not_met_again_come_first_in_the_state():
    bookmark = Bookmark.from_state(state(at(0), at(-360), ["z-loaded"]), LAG)
    bookmark.first_emission("a-new", at(-100))
    bookmark.checkpoint(at(-50), server_start=at(60), lookback=LAG)
    written: dict = {}
    bookmark.to_state(written)
    assert written["seen"] == ["z-loaded", "a-new"]


def test_a_bookmark_never_read_writes_no_state():
    written: dict = {"kept": 1}
    Bookmark().to_state(written)
    assert written == {"kept": 1}


def test_the_state_stays_the_size_of_the_lookback_run_after_run():
    """Hourly runs over an account with a change a minute: the ids kept stay ~lookback's worth."""
    bookmark = Bookmark()
    sizes = []
    for hour in range(48):
        server = at(60 * hour)
        for minute in range(60):
            bookmark.first_emission(f"{hour}-{minute}", server - dt.timedelta(minutes=minute))
        bookmark.checkpoint(server, server_start=server, lookback=LAG, complete_to=server)
        sizes.append(len(bookmark.seen))
    assert max(sizes[10:]) <= 361
    assert sizes[-1] == sizes[10]


def test_a_bookmark_more_than_two_days_past_the_servers_clock_is_from_the_future():
    loaded = Bookmark.from_state(state(T, at(-60), []), LAG)
    assert loaded.ahead_of(T - FUTURE_TOLERANCE) is None
    later = dt.timedelta(days=2, seconds=1)
    assert loaded.ahead_of(T - later) == later
    assert Bookmark().ahead_of(T) is None  # no state: nothing to judge
    loaded.checkpoint(T + dt.timedelta(days=9), T, LAG)
    assert loaded.ahead_of(T) is None, "judged by the bookmark as loaded, not as moved since"
    assert dt.timedelta(days=2) == FUTURE_TOLERANCE
