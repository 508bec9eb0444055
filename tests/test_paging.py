"""The pager's specification: for any data and any reading of the API, a window's records come
out exactly once, whole groups at a time, in time order."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tap_lp_audittrail.paging import PagingError, ServerTraits, WindowPager, read_window
from tap_lp_audittrail.records import Row, content_key
from tap_lp_audittrail.windows import Window

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 3, 1, tzinfo=UTC)
WINDOW = Window(T0, T0 + dt.timedelta(days=2))


def make_rows(seconds: list[int]) -> list[Row]:
    """Rows at T0 + s seconds, in time order; equal seconds make ties, some exact duplicates."""
    rows = []
    for i, s in enumerate(sorted(seconds)):
        instant = T0 + dt.timedelta(seconds=s)
        name = f"obj{i % 7 if s % 5 == 0 else i}"  # every fifth second repeats names: duplicates
        rows.append(Row(instant, {"changeDate": instant.isoformat(), "objectName": name}))
    return rows


class FakeServer:
    """The API's paging semantics, with every ambiguity as a switch."""

    def __init__(self, rows, *, cap=None, total="total", shuffle=False, seed=0):
        self.rows, self.cap, self.total, self.shuffle = rows, cap, total, shuffle
        self.rng = random.Random(seed)
        self.requests = 0
        self.last_order = {}

    def fetch(self, offset, first):
        self.requests += 1
        ordered = list(self.rows)
        if self.shuffle:
            groups = {}
            for row in ordered:
                groups.setdefault(row.instant, []).append(row)
            ordered = []
            for instant in sorted(groups):
                group = groups[instant]
                self.rng.shuffle(group)
                if len(group) > 1 and group == self.last_order.get(instant):
                    group = group[1:] + group[:1]  # "a different order on every request"
                self.last_order[instant] = list(group)
                ordered.extend(group)
        size = first if self.cap is None else min(first, self.cap)
        page = ordered[offset : offset + size]
        header = len(ordered) if self.total == "total" else len(page)
        return page, header, first


def extract(server, page_size):
    return extract_while(server, page_size, lambda _: None)[1]


def extract_while(server, page_size, between_pages):
    """Page one window, calling `between_pages(out)` after each batch: the server changes."""
    pager = WindowPager(WINDOW, ServerTraits(page_size=page_size))
    out = []
    for batch in read_window(pager, server.fetch):
        out.extend(batch)
        between_pages(out)
    return pager, out


def multiset(rows):
    return Counter((row.instant, content_key(row.record)) for row in rows)


@settings(max_examples=300, deadline=None)
@given(
    seconds=st.lists(st.integers(min_value=-100, max_value=200_000), max_size=120),
    page_size=st.integers(min_value=3, max_value=40),
    cap=st.one_of(st.none(), st.integers(min_value=3, max_value=40)),
    total=st.sampled_from(["total", "page"]),
    shuffle=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_every_record_once_under_every_reading(seconds, page_size, cap, total, shuffle, seed):
    rows = make_rows(seconds)
    server = FakeServer(rows, cap=cap, total=total, shuffle=shuffle, seed=seed)
    effective = page_size if cap is None else min(cap, page_size)
    biggest_group = max(Counter(r.instant for r in rows).values(), default=0)
    expected = [r for r in rows if WINDOW.start <= r.instant < WINDOW.end]
    if shuffle and biggest_group >= effective:
        # A tie group larger than a page under shuffled ties cannot be paged safely: the pager
        # must stop, or be right because two shuffles happened to agree record for record. The
        # chance of that agreement is below 1/g! for a group of g; for tiny groups it is real,
        # so they are left out here (real groups larger than a page hold hundreds).
        assume(biggest_group >= 8)
        try:
            out = extract(server, page_size)
        except PagingError:
            return
    else:
        out = extract(server, page_size)
    # The pager hands on what it reads, up to its stop; the read keeps the window's part.
    assert not multiset(out) - multiset(rows), "a record handed on twice"
    inside = [r for r in out if WINDOW.start <= r.instant < WINDOW.end]
    assert multiset(inside) == multiset(expected)
    assert [r.instant for r in out] == sorted(r.instant for r in out)


def test_requests_are_pages_plus_at_most_one_per_window():
    rows = make_rows(list(range(0, 100_000, 97)))  # 1031 records, no ties
    for total in ("total", "page"):
        server = FakeServer(rows, total=total)
        extract(server, 100)
        pages = -(-len(rows) // 100)
        assert server.requests <= pages + 1, (total, server.requests)


def test_a_silent_cap_is_paged_through():
    rows = make_rows(list(range(0, 5000, 10)))
    server = FakeServer(rows, cap=40, total="page")
    assert multiset(extract(server, 100)) == multiset(rows)


def test_records_appended_behind_the_window_do_not_disturb_paging():
    rows = make_rows(list(range(0, 3000, 3)))
    server = FakeServer(list(rows))

    def a_change_lands_now(_):
        later = server.rows[-1].instant + dt.timedelta(seconds=1)
        server.rows.append(Row(later, {"changeDate": later.isoformat(), "objectName": "new"}))

    _, out = extract_while(server, 50, a_change_lands_now)
    # every record is read once; all but the one that landed after the last page are read
    assert multiset(rows) <= multiset(out) <= multiset(server.rows)
    assert len(out) == len(server.rows) - 1


def test_records_that_expire_while_paging_do_not_hide_later_ones():
    rows = make_rows(list(range(0, 3000, 3)))
    server = FakeServer(list(rows))

    def the_oldest_expire(_):  # they leave the retention period
        del server.rows[:7]

    _, out = extract_while(server, 50, the_oldest_expire)
    assert multiset(out) == multiset(rows)


def test_a_delayed_write_before_the_page_boundary_is_reported_not_duplicated():
    rows = make_rows(list(range(0, 3000, 3)))
    server = FakeServer(list(rows))

    def a_late_write_lands_early_on(out):
        if len(out) < 200:
            early = T0 + dt.timedelta(seconds=1)
            server.rows.insert(
                1, Row(early, {"changeDate": early.isoformat(), "objectName": "late"})
            )

    pager, out = extract_while(server, 50, a_late_write_lands_early_on)
    assert multiset(out) == multiset(rows)
    assert pager.skipped_shifted > 0


def test_a_big_group_under_shuffled_ties_stops_the_run():
    rows = make_rows([5] * 30 + list(range(10, 100)))
    for i, row in enumerate(rows):
        row.record["objectName"] = f"distinct{i}"
    server = FakeServer(rows, shuffle=True, seed=3)
    with pytest.raises(PagingError, match="page_size"):
        extract(server, 10)


def test_a_big_group_in_a_stable_order_is_read_whole():
    rows = make_rows([5] * 30 + list(range(10, 100)))
    for i, row in enumerate(rows):
        row.record["objectName"] = f"distinct{i}"
    server = FakeServer(rows)
    assert multiset(extract(server, 10)) == multiset(rows)


def test_out_of_order_answers_stop_the_run():
    rows = make_rows(list(range(50)))
    server = FakeServer(list(reversed(rows)))
    with pytest.raises(PagingError, match="ascending"):
        extract(server, 100)


SHAPES = {
    "even": lambda s: s,
    "early": lambda s: s * s // 170_000,  # crowded at the window's start
    "late": lambda s: 170_000 - (170_000 - s) ** 2 // 170_000,  # crowded at its end
}


@settings(max_examples=400, deadline=None)
@given(
    seconds=st.lists(st.integers(min_value=0, max_value=170_000), min_size=1, max_size=400),
    at=st.integers(min_value=0, max_value=172_800),
    page_size=st.integers(min_value=3, max_value=30),
    shape=st.sampled_from(list(SHAPES)),
    shuffle=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_a_jump_to_the_start_loses_nothing_after_it(seconds, at, page_size, shape, shuffle, seed):
    """With `seek_to`, every record at or after it comes out once, however the records crowd
    (the jump is guessed from the time; a wrong guess must be noticed), and records before it
    are jumped over."""
    rows = make_rows([SHAPES[shape](s) for s in seconds])
    server = FakeServer(rows, shuffle=shuffle, seed=seed)
    seek_to = T0 + dt.timedelta(seconds=at)
    pager = WindowPager(WINDOW, ServerTraits(page_size=page_size), seek_to=seek_to)
    biggest_group = max(Counter(r.instant for r in rows).values())
    assume(not shuffle or biggest_group < page_size)
    out = [row for batch in read_window(pager, server.fetch) for row in batch]
    wanted = [r for r in rows if seek_to <= r.instant < WINDOW.end]
    got = [r for r in out if seek_to <= r.instant < WINDOW.end]
    assert multiset(got) == multiset(wanted)
    assert not multiset(out) - multiset(rows), "a record handed on twice"


def test_a_jump_saves_the_pages_before_the_start():
    rows = make_rows(list(range(0, 172_800, 20)))  # 8,640 records, evenly over two days
    seek_to = T0 + dt.timedelta(hours=40)
    server = FakeServer(rows)
    pager = WindowPager(WINDOW, ServerTraits(page_size=100), seek_to=seek_to)
    out = [row for batch in read_window(pager, server.fetch) for row in batch]
    wanted = [r for r in rows if r.instant >= seek_to]
    assert multiset([r for r in out if r.instant >= seek_to]) == multiset(wanted)
    # 1,440 records after the start: 15 pages, plus the first page and the jumps' landings
    # (of 8,640 records: 88 pages without jumping)
    assert server.requests <= len(wanted) // 99 + 4


def test_a_jump_that_lands_past_the_start_steps_back():
    """Few records before the start and many just after it: the guess from the time lands
    among the records after the start, and the pager must come back for those it passed."""
    before = list(range(0, 100))
    after = [40 * 3600 + i // 3 for i in range(1000)]
    rows = make_rows(before + after)
    seek_to = T0 + dt.timedelta(hours=40)
    server = FakeServer(rows)
    pager = WindowPager(WINDOW, ServerTraits(page_size=20), seek_to=seek_to)
    out = [row for batch in read_window(pager, server.fetch) for row in batch]
    wanted = [r for r in rows if r.instant >= seek_to]
    assert multiset([r for r in out if r.instant >= seek_to]) == multiset(wanted)
