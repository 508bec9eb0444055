"""Interruption: the real tap process is killed with SIGKILL at seeded random points (mid-page,
mid-window) and resumed from the last STATE line it wrote; the union of every run, deduplicated
by `id`, equals the ground truth every time. Incremental runs in a row, with records written
between them (late ones too, within `lookback_minutes`), miss nothing either.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tap_lp_audittrail.records import parse_utc
from tap_lp_audittrail.sandbox import DataSpec
from tap_lp_audittrail.streams import ELEMENTS

from ._reliability import (
    AUDIT,
    Process,
    Union,
    catalog_for,
    note,
    now_sandbox,
    one_record,
    run_inproc,
    run_process,
)
from .helpers import (
    END,
    Run,
    assert_in_order_with_unique_ids,
    assert_same_records,
    tap_config,
)

KILLS = 20
KILLS_PER_CHAIN = 4
MAX_CHAINS = 12
LOOKBACK = 5
STARTUP = 0.8  # seconds before a tap process sends its first request


def _bookmark(state: dict) -> str | None:
    entry = state.get("bookmarks", {}).get(AUDIT, {})
    return entry.get("replication_key_value")


def resumed_runs(
    folder: Path, config: dict, catalog: dict, attempts: int, kill: Callable[[bool], dict]
) -> Iterator[tuple[Process, Run, dict | None]]:
    """A chain of runs of the real tap, each from the last STATE the chain wrote so far (and
    yielded with that state), each killed as `kill(last)` says (run_process's kill_after_...
    arguments; the last attempt's `last` is True), until one ends by itself: it must succeed."""
    state: dict | None = None
    for attempt in range(attempts):
        how = kill(attempt == attempts - 1)
        proc = run_process(folder / str(attempt), config, catalog=catalog, state=state, **how)
        run = proc.parsed()
        yield proc, run, state
        if not proc.killed:
            assert proc.returncode == 0, proc.stderr[-2000:]
            return
        if run.states:
            state = run.final_state


def test_kill_9_at_random_points_then_resume(sandbox_factory, tmp_path):
    sb = sandbox_factory(
        data=DataSpec(seed=21, records=1500, end=END),
        latency=0.04,
        jitter=0.04,  # slow pages: a kill by time mostly lands while a page is on its way
        seed=21,
    )
    config = tap_config(
        sb, page_size=25, window_days=20, max_concurrency=3, lookback_minutes=LOOKBACK
    )
    catalog = catalog_for(config)
    truth = sb.ground_truth()
    # One whole run first: how long a run takes, how many lines it writes.
    whole = run_process(tmp_path / "whole", config, catalog=catalog)
    assert whole.returncode == 0, whole.stderr[-2000:]
    assert_same_records(whole.parsed().stream(AUDIT), truth, what="uninterrupted")
    rng = random.Random(2024)
    kills = chains = resumed = re_emitted = in_flight = with_state = 0
    while kills < KILLS and chains < MAX_CHAINS:
        chains += 1
        union = Union()

        def kill(last: bool, union: Union = union) -> dict:
            by_lines = rng.random() < 0.5
            # Kill somewhere in what is left to read: after N lines (they come with each
            # window's STATE, so the next window is being read) or after a delay.
            left = 1 - len(union.by_id) / len(truth)
            lines = rng.randint(1, max(1, int(len(whole.lines) * left) - 1))
            seconds = STARTUP + rng.uniform(0, (whole.seconds - STARTUP) * left)
            if last:
                return {}
            return {"kill_after_lines": lines} if by_lines else {"kill_after_seconds": seconds}

        chain = resumed_runs(tmp_path / f"c{chains}", config, catalog, KILLS_PER_CHAIN + 1, kill)
        for proc, run, state in chain:
            records = run.stream(AUDIT)
            if state is not None and records and _bookmark(state):
                # A resumed run starts at its bookmark minus the look-back, not from scratch.
                floor = parse_utc(str(_bookmark(state))) - dt.timedelta(minutes=LOOKBACK)
                assert parse_utc(records[0]["changeDate"]) >= floor
                resumed += 1
            assert_in_order_with_unique_ids(records)
            before = len(union.by_id)
            union.add(records)
            re_emitted += len(records) - (len(union.by_id) - before)
            if proc.killed:
                kills += 1
                with_state += bool(run.states)
                in_flight += any(
                    e.endpoint == "audit" and e.time > proc.killed_at for e in sb.stats.log
                )
        assert_same_records(union.records, truth, what=f"chain {chains}")
    assert kills >= KILLS, f"only {kills} runs were still running when killed"
    note(
        "kill-9",
        kills=kills,
        chains=chains,
        records=len(truth),
        killed_after_a_state=with_state,
        killed_with_a_page_in_flight=in_flight,
        resumed_from_a_bookmark=resumed,
        records_re_emitted_after_resume=re_emitted,
        audit_requests=sb.stats.requests["audit"],
    )


SELECTIONS = {
    "every stream": [AUDIT, *(e.stream for e in ELEMENTS)],
    "a subset": ["users", "campaigns", "mtls_certifications"],
}


def committed(lines: list[str]) -> dict[str, set[str]]:
    """Ids each stream emitted before the last STATE among `lines` (what a target keeps)."""
    last_state = max((i for i, line in enumerate(lines) if '"type":"STATE"' in line), default=-1)
    out: dict[str, set[str]] = {}
    for line in lines[:last_state]:
        if line.startswith('{"type":"RECORD"'):
            message = json.loads(line)
            out.setdefault(message["stream"], set()).add(message["record"]["id"])
    return out


@pytest.mark.parametrize("selection", list(SELECTIONS))
def test_kill_9_in_the_one_read_resumes_every_stream_and_repeats_nothing_committed(
    sandbox_factory, tmp_path, selection
):
    """Killed anywhere in the one read that serves every selected stream, and resumed from its
    last STATE: every stream ends exact, and no id a killed run emitted before its last STATE
    comes again."""
    streams = SELECTIONS[selection]
    sb = sandbox_factory(
        data=DataSpec(seed=23, records=1200, end=END), latency=0.02, jitter=0.02, seed=23
    )
    config = tap_config(sb, page_size=25, window_days=20, max_concurrency=3)
    catalog = catalog_for(config, streams)
    truth = {
        name: sb.ground_truth()
        if name == AUDIT
        else sb.ground_truth(object_types=[sb.readings.object_types[name]])
        for name in streams
    }
    rng = random.Random(23)
    kills = 0

    def kill(last: bool) -> dict:
        return {} if last else {"kill_after_lines": rng.randint(5, 400)}

    for chain in range(3):
        unions = {name: Union() for name in streams}
        forbidden: dict[str, set[str]] = {}
        for proc, run, _ in resumed_runs(tmp_path / str(chain), config, catalog, 4, kill):
            for name in streams:
                again = forbidden.get(name, set()) & {r["id"] for r in run.stream(name)}
                assert not again, f"{name}: {len(again)} ids emitted before a STATE came again"
                unions[name].add(run.stream(name))
            if proc.killed:
                kills += 1
                for name, ids in committed(proc.lines).items():
                    forbidden.setdefault(name, set()).update(ids)
        for name in streams:
            assert_same_records(unions[name].records, truth[name], what=f"{name}, chain {chain}")
    assert kills >= 3


@pytest.mark.parametrize("lookback", [LOOKBACK, 0])
def test_incremental_runs_with_records_written_between_them(sandbox_factory, lookback):
    sb, config = now_sandbox(
        sandbox_factory, 22, 800, auth="login", page_size=50, window_days=10,
        lookback_minutes=lookback,
    )  # fmt: skip
    rng = random.Random(7)
    union = Union()
    state: dict | None = None
    late_writes = same_second = new = 0
    runs = 10
    for number in range(runs):
        outcome = run_inproc(config, state=state)
        assert outcome.error is None, repr(outcome.error)
        records = outcome.run.stream(AUDIT)
        assert_in_order_with_unique_ids(records)
        union.add(records)
        state = outcome.run.final_state
        assert_same_records(union.records, sb.ground_truth(), what=f"after run {number}")
        bookmark = parse_utc(str(_bookmark(state)))
        # New changes, as LivePerson writes them: stamped now.
        now = dt.datetime.now(dt.timezone.utc)
        count = rng.randint(1, 25)
        sb.append(sb.make_records(count, now, now + dt.timedelta(seconds=1), seed=100 + number))
        new += count
        # A change made just after the bookmark, in the same second: the API renders it at
        # the whole second, which is before the bookmark.
        sb.append(one_record(sb, bookmark + dt.timedelta(milliseconds=1), seed=300 + number))
        same_second += 1
        if lookback:
            # A late write: stamped a little before the bookmark, inside the look-back.
            late = bookmark - dt.timedelta(minutes=rng.uniform(0.5, lookback - 0.5))
            sb.append(one_record(sb, late, seed=number))
            late_writes += 1
    final = run_inproc(config, state=state)
    assert final.error is None
    union.add(final.run.stream(AUDIT))
    truth = sb.ground_truth()
    assert_same_records(union.records, truth, what="after every run")
    note(
        "incremental",
        lookback_minutes=lookback,
        runs=runs + 1,
        records=len(truth),
        new_records_between_runs=new,
        late_writes=late_writes,
        writes_in_the_bookmark_second=same_second,
        emitted=union.emitted,
    )
