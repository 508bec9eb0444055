"""A sandbox that grows while it runs: what `tap-lp-audittrail-sandbox --grow` adds, and when.

Every `every` seconds, growth number k adds `changes` changes made by the sandbox's own
generator (`Sandbox.make_records`), from seeds derived from (seed, k). Most are dated in the
`every` seconds before the growth: changes made since the last one. `round(changes *
late_share)` of them are dated between `late_minutes` and `every` seconds before it: appended
now, so visible now, but dated in the past, as a change LivePerson shows late would be. The
default 300 minutes stay inside the tap's default look-back (`lookback_minutes` 360), so an
incremental run reads them. The same seed draws the same changes at the same offsets from each
growth's time, so a growth can be drawn again from the line it printed.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tap_lp_audittrail.sandbox.data import SandboxRecord

if TYPE_CHECKING:
    from tap_lp_audittrail.sandbox.server import Sandbox


@dataclass(frozen=True)
class Growth:
    """`changes` changes every `every` seconds; a share of them dated up to hours back."""

    changes: int
    every: float = 60.0
    late_share: float = 0.25
    late_minutes: float = 300.0
    seed: int = 1

    def __post_init__(self) -> None:
        """Refuse a growth that could not add what it says."""
        if self.changes < 1:
            raise ValueError(f"--grow takes a number of changes of 1 or more, not {self.changes}")
        if not self.every > 0:
            raise ValueError(f"--every takes a number of seconds above 0, not {self.every:g}")
        if not 0 <= self.late_share <= 1:
            raise ValueError(f"--grow-late takes a share from 0 to 1, not {self.late_share:g}")
        if self.late and self.late_minutes * 60 <= self.every:
            raise ValueError(
                f"--grow-late-minutes ({self.late_minutes:g}) must reach back further than "
                f"--every ({self.every:g} s): late changes are dated before the last growth"
            )

    @property
    def late(self) -> int:
        """How many changes of each growth are dated hours back."""
        return round(self.changes * self.late_share)

    def _seed(self, number: int, part: str) -> int:
        digest = hashlib.sha256(f"{self.seed}:{number}:{part}".encode()).digest()
        return int.from_bytes(digest[:6], "big")

    def draw(self, sandbox: Sandbox, number: int, at: datetime) -> list[SandboxRecord]:
        """The changes of growth `number` made at `at`: the recent ones, then the late ones."""
        every = timedelta(seconds=self.every)
        recent = sandbox.make_records(
            self.changes - self.late, at - every, at, seed=self._seed(number, "recent")
        )
        late = sandbox.make_records(
            self.late, at - timedelta(minutes=self.late_minutes), at - every,
            seed=self._seed(number, "late"),
        )  # fmt: skip
        return recent + late

    def grow(self, sandbox: Sandbox, number: int) -> str:
        """Add growth `number` to the sandbox now; the line that says what it added."""
        at = sandbox.now()
        records = self.draw(sandbox, number, at)
        sandbox.append(records)
        late = sorted(r.instant for r in records[len(records) - self.late :])
        shown_late = (
            f", {len(late)} dated {late[0]:%Y-%m-%dT%H:%M:%SZ} to {late[-1]:%Y-%m-%dT%H:%M:%SZ} "
            "(shown late)"
            if late
            else ""
        )
        return (
            f"growth {number} at {at.isoformat()}: {len(records)} changes, "
            f"{len(records) - len(late)} dated in the {self.every:g} s before it{shown_late}; "
            f"{sandbox.store.n} records in all"
        )

    def plan(self) -> str:
        """The line that says, at start, what every growth will add."""
        late = (
            f", {self.late} of them dated up to {self.late_minutes:g} min back as changes "
            "shown late"
            if self.late
            else ""
        )
        return f"growing by {self.changes} changes every {self.every:g} s{late} (seed {self.seed})"

    def run(self, sandbox: Sandbox, stop: threading.Event, say: Callable[[str], None]) -> None:
        """Grow every `every` seconds until `stop` is set, saying each growth."""
        number = 0
        due = time.monotonic() + self.every
        while not stop.wait(max(0.0, due - time.monotonic())):
            number += 1
            say(self.grow(sandbox, number))
            due = max(due + self.every, time.monotonic())


def growth_line(line: str) -> tuple[int, datetime] | None:
    """The number and time of a growth from the line it printed (None: another line)."""
    head, sep, _ = line.partition(": ")
    words = head.split()
    if not sep or len(words) != 4 or words[0] != "growth" or words[2] != "at":
        return None
    return int(words[1]), datetime.fromisoformat(words[3])
