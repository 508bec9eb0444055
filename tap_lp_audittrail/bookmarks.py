"""One stream's bookmark: where its next run starts, and which changes it must not emit again.

LivePerson may show a change late, some time after its `changeDate` (its docs say nothing either
way; other audit logs lag by minutes to hours). So every run reads again the last `lookback`
before the point the previous run reached, and skips, by `id`, the changes it emitted there. A
stream's state holds three things:

- ``replication_key_value`` (`read_to`): the read has gone up to here. It follows what the
  server showed (its records, and the time in the `Date` header of its first answer), never the
  host's clock.
- ``reread_from``: where the next run starts reading. Every change emitted at or after it is in
  `seen`; a change before it that no run emitted became visible more than `lookback` after its
  changeDate: the documented miss, which only a full refresh reads.
- ``seen``: the ids emitted at or after `reread_from`, in changeDate order.

The rules, each with a test in tests/test_bookmarks.py:

- Neither `read_to` nor `reread_from` ever moves back.
- At a checkpoint the read has handled every change before `position`, and the whole group of
  changes at `position`. A change before `server_start - lookback` that was not visible when the
  read started is later than the bound, so `reread_from` becomes
  ``min(position, server_start - lookback)``. Without a server time, ``position - lookback``.
  During a backfill (far from now) that is `position` itself: the state stays a few ids small.
- When the read is complete, it has handled everything before ``min(server_start, end)``: the
  quiet stream's bookmark moves there even with no change of its own, so it does not re-read
  its history next time.
- A bookmark loaded more than FUTURE_TOLERANCE past the server's clock (the `Date` of the
  read's first answer) was not written by a run of this tap: the run stops before it writes a
  record (fanout.py), rather than keep it, and emit nothing, forever.
- `seen` keeps only ids at or after `reread_from`. Ids loaded from a state have no known instant
  until the read meets them again; those the read never meets again, once it has gone past the
  loaded `read_to`, are gone from the server and are dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tap_lp_audittrail.records import format_utc, parse_utc

REPLICATION_KEY = "changeDate"
#: How far past the server's clock a loaded bookmark may be: a run's bookmarks never pass it
#: (the end of a complete read is the server's time); two days leave room for any skew.
FUTURE_TOLERANCE = dt.timedelta(days=2)


@dataclass
class Bookmark:
    """One stream's place in the trail, as loaded from and written to its state."""

    read_to: dt.datetime | None = None
    reread_from: dt.datetime | None = None
    #: id -> changeDate, or None for an id loaded from the state and not met again yet.
    seen: dict[str, dt.datetime | None] = field(default_factory=dict)
    #: `read_to` as loaded: an unmet loaded id is gone once the read has passed it.
    loaded_read_to: dt.datetime | None = None
    #: `read_to` as loaded, kept for the whole run: a change first emitted before it showed up
    #: late (after the previous run had read past it). Counted for the readings report.
    previous_read_to: dt.datetime | None = None
    late_count: int = 0
    late_lag: dt.timedelta | None = None

    @classmethod
    def from_state(cls, state: Mapping[str, Any], lookback: dt.timedelta) -> Bookmark:
        """The bookmark a stream's state describes.

        A state without `reread_from` is older: its next run starts `lookback` before its
        `replication_key_value`.
        """
        value = state.get("replication_key_value")
        if not value:
            return cls()
        read_to = parse_utc(str(value))
        again = state.get("reread_from")
        reread_from = parse_utc(str(again)) if again else read_to - lookback
        seen: dict[str, dt.datetime | None] = dict.fromkeys(state.get("seen") or ())
        return cls(read_to, min(reread_from, read_to), seen, read_to, read_to)

    def ahead_of(self, server_time: dt.datetime) -> dt.timedelta | None:
        """How far the loaded bookmark is past `server_time`, if more than FUTURE_TOLERANCE."""
        loaded = self.previous_read_to
        if loaded is None or loaded - server_time <= FUTURE_TOLERANCE:
            return None
        return loaded - server_time

    def start(self, floor: dt.datetime) -> dt.datetime:
        """Where this stream's records begin in this run: `reread_from`, or `floor` (start_date)."""
        if self.reread_from is None:
            return floor
        return max(floor, self.reread_from)

    def first_emission(self, record_id: str, instant: dt.datetime) -> bool:
        """Whether the change `record_id` at `instant` is new to this stream (then it is noted)."""
        if record_id in self.seen:
            self.seen[record_id] = instant
            return False
        self.seen[record_id] = instant
        previous = self.previous_read_to
        if previous is not None and instant < previous:
            self.late_count += 1
            lag = previous - instant
            if self.late_lag is None or lag > self.late_lag:
                self.late_lag = lag
        return True

    def checkpoint(
        self,
        position: dt.datetime,
        server_start: dt.datetime | None,
        lookback: dt.timedelta,
        *,
        complete_to: dt.datetime | None = None,
    ) -> None:
        """Everything before `position` (and its whole group) is handled; move the marks.

        `complete_to` is where a complete read has handled everything, for its last checkpoint.
        """
        reached = max(position, complete_to) if complete_to is not None else position
        self.read_to = reached if self.read_to is None else max(self.read_to, reached)
        settled = reached - lookback if server_start is None else server_start - lookback
        candidate = min(reached, settled)
        if self.reread_from is None or candidate > self.reread_from:
            self.reread_from = candidate
        self._prune(reached)

    def _prune(self, reached: dt.datetime) -> None:
        floor = self.reread_from
        assert floor is not None
        gone = self.loaded_read_to is not None and (
            reached > self.loaded_read_to or floor > self.loaded_read_to
        )
        self.seen = {
            key: instant
            for key, instant in self.seen.items()
            if (instant is None and not gone) or (instant is not None and instant >= floor)
        }
        if gone:
            self.loaded_read_to = None

    def to_state(self, state: dict[str, Any]) -> None:
        """Write the bookmark into a stream's state dict (other keys are left as they are)."""
        if self.read_to is None:
            return
        assert self.reread_from is not None
        state["replication_key"] = REPLICATION_KEY
        state["replication_key_value"] = format_utc(self.read_to)
        state["reread_from"] = format_utc(self.reread_from)
        order = sorted(
            self.seen.items(), key=lambda item: (item[1] is not None, item[1] or self.read_to)
        )
        state["seen"] = [key for key, _ in order]
