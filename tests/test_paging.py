"""The pager's specification: for any data and any reading of the API, a window's records come
out exactly once, whole groups at a time, in time order."""

from __future__ import annotations

import datetime as dt
import logging
import math
import random
import re
from collections import Counter
from contextlib import suppress
from unittest import mock

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tap_lp_audittrail import paging
from tap_lp_audittrail.paging import (
    MAX_BACKTRACKS,
    MAX_JUMPS,
    PagingError,
    ServerTraits,
    WindowPager,
    read_window,
)
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
        self.asked = []  # the offset of every request, in order
        self.last_order = {}

    def fetch(self, offset, first):
        self.requests += 1
        self.asked.append(offset)
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


def test_records_expiring_one_at_a_time_lose_no_record_of_a_group_cut_by_a_page():
    """Three changes at every instant, so every page boundary cuts a group, and one of the
    oldest leaves the retention period between two pages: fewer than the group's size. A page
    begun at the group's head would begin at its second record; the pager's pages begin
    with the record before the group, and one that does not is read again further back."""
    rows = distinct_rows([s for s in range(0, 3000, 10) for _ in range(3)])
    server = FakeServer(list(rows))

    def one_expires(_):
        del server.rows[:1]

    _, out = extract_while(server, 50, one_expires)
    assert multiset(out) == multiset(rows)


@settings(max_examples=200, deadline=None)
@given(
    seconds=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=150),
    page_size=st.integers(min_value=3, max_value=25),
    expiring=st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=60),
    total=st.sampled_from(["total", "page"]),
    shuffle=st.booleans(),
)
def test_records_leaving_before_any_page_lose_no_later_record(
    seconds, page_size, expiring, total, shuffle
):
    """Retention: the oldest records go between any two requests, some at a time; every record
    that stays until the end is handed on, once, whether ties keep their order or not."""
    rows = distinct_rows(seconds)
    server = FakeServer(list(rows), total=total, shuffle=shuffle)
    expire = iter(expiring)

    def retention(offset, first):
        if server.requests:
            gone = min(next(expire, 0), len(server.rows))
            del server.rows[:gone]
        return server.fetch(offset, first)

    pager = WindowPager(WINDOW, ServerTraits(page_size=page_size))
    try:
        out = [row for batch in read_window(pager, retention) for row in batch]
    except PagingError as error:
        # More step-backs than allowed, or a group filling a page read twice, differently:
        # the run stops and says so rather than risk a gap.
        stopped = str(error)
        assert "kept vanishing" in stopped or "came or went" in stopped
        return
    stayed = multiset(server.rows)
    assert not multiset(out) - multiset(rows), "a record handed on twice"
    assert not stayed - multiset(out), "a record that stayed was lost"


def test_a_server_answering_one_record_at_a_time_stops_the_run():
    server = FakeServer(make_rows(list(range(20))), cap=1, total="page")
    with pytest.raises(PagingError) as raised:
        read(server, 10)
    assert str(raised.value) == (
        f"window {WINDOW}: the server answered one record where 10 were asked for; paging "
        "needs two or more in an answer, to see that no record before a page boundary came or "
        "went, so the run stops rather than risk a gap"
    )


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


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


#: A window of 1,000 seconds: one record a second fills it evenly.
W1000 = Window(T0, at(1000))


def distinct_rows(seconds):
    """Rows at T0 + s, no two with the same content (ties stay ties, not duplicates)."""
    rows = make_rows(seconds)
    for i, row in enumerate(rows):
        row.record["objectName"] = f"distinct{i}"
    return rows


def read(server, page_size, window=WINDOW, *, stop_at=None, seek_to=None, fetch=None):
    """Page one window; return (pager, the records handed on, the batches handed on)."""
    pager = WindowPager(window, ServerTraits(page_size=page_size), stop_at, seek_to)
    batches = list(read_window(pager, fetch or server.fetch))
    return pager, [row for batch in batches for row in batch], batches


def paging_log(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "tap-lp-audittrail.paging"]


def test_a_tie_at_the_page_edge_is_read_whole():
    rows = distinct_rows([*range(8), 20, 20, 20, 20, *range(30, 40)])
    server = FakeServer(rows)
    pager, out, batches = read(server, 10)
    # the group at 20 s straddles the first page's edge: the next page starts with the record
    # before its head (7 s), which proves no record of the group is before that page
    assert server.asked == [0, 7, 15]
    assert [len(b) for b in batches] == [8, 8, 6]
    assert out == rows
    assert pager.pages == server.requests == 3


@pytest.mark.parametrize(("total", "asked"), [("total", [0, 8, 16]), ("page", [0, 8, 16, 24])])
def test_a_known_total_ends_the_window_without_asking_for_an_empty_page(total, asked):
    """26 records, pages of 10 (each but the last holds back its last record, and the next
    begins with the record before it): the third page reaches the total; a count that is only
    the page's size takes one more request."""
    server = FakeServer(make_rows(list(range(26))), total=total)
    pager, out, _ = read(server, 10)
    assert server.asked == asked
    assert multiset(out) == multiset(server.rows)
    assert pager.pages == len(asked)


def test_the_first_count_unequal_to_its_page_is_taken_for_the_total_and_said_once(caplog):
    caplog.set_level(logging.INFO, logger="tap-lp-audittrail.paging")
    server = FakeServer(make_rows(list(range(28))))
    pager, _, _ = read(server, 10)
    assert pager.traits.total_is_total is True
    assert paging_log(caplog) == [
        "X-Total-Count is the total of matching records (28 on a page of 10)"
    ]


def test_a_count_equal_to_every_page_says_nothing_of_the_total():
    pager, _, _ = read(FakeServer(make_rows(list(range(28))), total="page"), 10)
    assert pager.traits.total_is_total is None


@pytest.mark.parametrize(("cap", "page_size"), [(4, 10), (2, 3)])
def test_a_short_page_that_has_a_sequel_teaches_the_servers_cap(cap, page_size):
    rows = make_rows(list(range(20)))
    pager, out, _ = read(FakeServer(rows, cap=cap, total="page"), page_size)
    assert multiset(out) == multiset(rows)
    assert pager.traits.cap == cap
    assert pager.traits.records_per_page == cap


def test_full_pages_teach_no_cap():
    pager, _, _ = read(FakeServer(make_rows(list(range(20))), total="page"), 10)
    assert pager.traits.cap is None
    assert pager.traits.records_per_page == 10


def test_a_page_size_lowered_by_the_client_is_not_taken_for_a_cap():
    """From the third request on the client asks for 5 records (the server refused 10): full
    pages of 5 go on; the window ends on the first page shorter than what was asked."""
    server = FakeServer(make_rows(list(range(40))), total="page")

    def lowered(offset, first):
        asked = first if server.requests < 2 else 5
        rows, total, _ = server.fetch(offset, asked)
        return rows, total, asked

    pager, out, _ = read(server, 10, fetch=lowered)
    assert multiset(out) == multiset(server.rows)
    assert server.asked == [0, 8, 16, 19, 22, 25, 28, 31, 34, 37]
    assert pager.traits.cap is None


def test_a_page_ending_at_the_stop_ends_the_window():
    server = FakeServer(make_rows(list(range(100))))
    _, out, _ = read(server, 10, stop_at=lambda: at(54))
    assert server.asked == [0, 8, 16, 24, 32, 40, 48]
    assert out[-1].instant == at(57)  # the page's records are handed on, the read cuts them


def test_a_group_larger_than_a_page_is_read_twice_and_handed_on_once(caplog):
    caplog.set_level(logging.WARNING, logger="tap-lp-audittrail.paging")
    rows = distinct_rows([0, 1, 2, *[5] * 15, *range(10, 15)])
    server = FakeServer(rows)
    pager, out, batches = read(server, 10)
    # 0: three records; 2: the group after the record before it, 11: from the last of them
    # read on; 3 and 13: its second read; 17: its last record, then the rest
    assert server.asked == [0, 2, 11, 3, 13, 17]
    assert [len(b) for b in batches] == [3, 15, 5]
    assert out == rows
    assert pager.pages == 6
    assert paging_log(caplog) == [
        f"window {WINDOW}: 15 records share the instant {at(5)}, too many for one page; "
        "reading them again to make sure the server orders ties the same way every time and "
        "none came or went meanwhile"
    ]


def test_a_group_filling_the_page_after_the_record_before_it_is_read_again():
    """2: the record before the group and its nine records, a full page; 11, asked from the
    group's last record read, shows the rest, but a record gone before the group meanwhile
    would have moved another record there; 3: the group read again, in one answer; 11: its
    last record, then the rest."""
    rows = distinct_rows([0, 1, 2, *[5] * 9, *range(10, 15)])
    server = FakeServer(rows)
    _, out, _ = read(server, 10)
    assert server.asked == [0, 2, 11, 3, 11]
    assert out == rows


@pytest.mark.parametrize(
    ("group", "total", "asked"),
    [
        (20, "total", [0, 2, 11, 20, 3, 13]),
        (20, "page", [0, 2, 11, 20, 3, 13, 23]),  # the group's last page is full: one more
        (17, "total", [0, 2, 11, 3, 13]),
        (17, "page", [0, 2, 11, 3, 13]),
    ],
)
def test_a_group_larger_than_a_page_at_the_end_ends_the_window(group, total, asked):
    rows = distinct_rows([0, 1, 2, *[5] * group])
    server = FakeServer(rows, total=total)
    _, out, _ = read(server, 10)
    assert server.asked == asked
    assert out == rows


def test_a_group_larger_than_a_page_reaching_the_stop_ends_the_window():
    """The stop moves (the next window's first record became known) while the group is read."""
    rows = distinct_rows([0, 1, 2, *[5] * 15, *range(10, 15)])
    server = FakeServer(rows)
    _, out, _ = read(server, 10, stop_at=lambda: at(100) if server.requests < 3 else at(5))
    assert server.asked == [0, 2, 11, 3, 13]
    assert out == rows[:18]


def test_a_group_of_two_answers_under_shuffled_ties_stops_the_run():
    """The page asked from the last record of the group read (offset 11) begins with another
    of its records: the ties came in another order."""
    rows = distinct_rows([0, 1, 2, *[5] * 15, *range(10, 15)])
    server = FakeServer(rows, shuffle=True, seed=1)
    with pytest.raises(PagingError) as raised:
        read(server, 10)
    assert server.asked == [0, 2, 11]
    assert str(raised.value) == (
        f"window {WINDOW}: the page asked from the last record read (offset 11, a change at "
        f"{at(5)}) begins with another change of that instant: the server orders ties "
        "differently on every request, does not page by offset, or records came or went "
        "meanwhile, so offset paging could lose records. If more changes than a page (10) "
        "share that instant, raise `page_size` above their number."
    )


def test_two_reads_of_a_group_that_differ_stop_the_run():
    """A group that filled its one answer is read again; one of its records goes before."""
    rows = distinct_rows([0, 1, 2, *[5] * 9, *range(10, 15)])
    server = FakeServer(list(rows))

    def one_goes(offset, first):
        if server.requests == 3:
            del server.rows[4]  # a record of the group, before its second read
        return server.fetch(offset, first)

    with pytest.raises(PagingError) as raised:
        read(server, 10, fetch=one_goes)
    assert server.asked == [0, 2, 11, 3]
    assert str(raised.value) == (
        f"window {WINDOW}: 8 records share the instant {at(5)}, too many for one page of 10, "
        "and two reads of them differ: the server orders ties differently on every request, or "
        "records came or went while they were read, so offset paging through them could lose "
        "records. Raise `page_size` above the size of that group."
    )


def test_records_out_of_order_are_named_with_their_window():
    rows = make_rows([1, 2])
    with pytest.raises(PagingError) as raised:
        read(FakeServer(list(reversed(rows))), 10)
    assert str(raised.value) == (
        f"window {WINDOW}: the server answered records out of ascending changeDate order "
        f"({at(2).isoformat()} then {at(1).isoformat()})"
    )


def test_when_the_held_group_and_all_before_it_are_gone_the_window_starts_again(caplog):
    caplog.set_level(logging.WARNING, logger="tap-lp-audittrail.paging")
    server = FakeServer(make_rows(list(range(100))))

    def retention(offset, first):
        if server.requests == 1:
            del server.rows[:12]  # records 0 to 11 leave, the held record at 9 s with them
        return server.fetch(offset, first)

    _, out, _ = read(server, 10, fetch=retention)
    assert server.asked[:4] == [0, 8, 0, 8]
    assert [(r.instant - T0).seconds for r in out] == [*range(9), *range(12, 100)]
    assert paging_log(caplog) == [
        f"window {WINDOW}: records vanished before offset 8; stepping back"
    ]


def test_after_a_step_back_the_records_read_again_are_not_told_as_delayed_writes(caplog):
    """Three of the oldest records leave before the fourth page: it begins past the held
    group, the pager steps back a page, and the seven records it reads again before the group
    were read before; none appeared."""
    caplog.set_level(logging.WARNING, logger="tap-lp-audittrail.paging")
    server = FakeServer(make_rows(list(range(100))))

    def retention(offset, first):
        if server.requests == 3:
            del server.rows[:3]
        return server.fetch(offset, first)

    pager, out, _ = read(server, 10, fetch=retention)
    assert server.asked[:5] == [0, 8, 16, 24, 14]
    assert [(r.instant - T0).seconds for r in out] == list(range(100))
    assert pager.skipped_shifted == 0
    assert paging_log(caplog) == [
        f"window {WINDOW}: records vanished before offset 24; stepping back"
    ]


@pytest.mark.parametrize("caught_up_before", [False, True])
def test_records_that_keep_vanishing_stop_the_run_after_twenty_step_backs(caught_up_before):
    """Fifteen records leave before every answer from the 31st on, more than a page: the pager
    steps back a page at a time and gives up after MAX_BACKTRACKS steps. A loss caught up with
    before (at the 11th answer) does not count."""
    server = FakeServer(make_rows(list(range(3000))))

    def vanishing(offset, first):
        if (caught_up_before and server.requests == 10) or server.requests >= 30:
            del server.rows[:15]
        return server.fetch(offset, first)

    with pytest.raises(PagingError) as raised:
        read(server, 10, fetch=vanishing)
    assert str(raised.value) == (
        f"window {WINDOW}: records kept vanishing while paging (stepped back 20 times); "
        "rerun to resume"
    )
    assert MAX_BACKTRACKS == 20
    steps = server.asked[server.asked.index(max(server.asked)) :]
    assert steps == list(range(steps[0], steps[0] - 10 * 21, -10))


def test_records_vanishing_before_every_answer_from_the_first_stop_the_run_too():
    """Each time the held record and all before it are gone the window starts again from
    offset 0; those restarts count as step-backs, so the run stops after twenty of them."""
    server = FakeServer(make_rows(list(range(3000))))

    def vanishing(offset, first):
        if server.requests >= 1:
            del server.rows[:15]
        return server.fetch(offset, first)

    with pytest.raises(PagingError, match="stepped back 20 times"):
        read(server, 10, fetch=vanishing)
    assert server.asked == [0, 8] * 21


def test_a_delayed_write_of_more_than_a_page_before_the_boundary_is_skipped_and_told(caplog):
    caplog.set_level(logging.WARNING, logger="tap-lp-audittrail.paging")
    server = FakeServer(make_rows(list(range(100))))

    def late_writes(offset, first):
        if server.requests == 1:  # 15 records appear between 8 s and 9 s, behind the first page
            server.rows[9:9] = [
                Row(at(8 + k / 100), {"objectName": f"late{k}"}) for k in range(1, 16)
            ]
        return server.fetch(offset, first)

    pager, out, _ = read(server, 10, fetch=late_writes)
    assert server.asked[:4] == [0, 8, 17, 25]
    assert [(r.instant - T0).seconds for r in out] == list(range(100))
    assert all(not r.record["objectName"].startswith("late") for r in out)
    assert pager.skipped_shifted == 15
    told = [
        f"window {WINDOW}: {n} record(s) appeared before offset {offset} while paging (delayed "
        "writes); the look-back of the next run re-reads them"
        for n, offset in ((9, 9), (6, 18))
    ]
    assert paging_log(caplog) == told


@pytest.mark.parametrize(("seek", "asked"), [(32, [0, 8, 16, 24, 32]), (39, [0, 35, 43, 51])])
def test_a_jump_is_made_only_when_it_saves_more_than_two_pages(seek, asked, caplog):
    """After the first page (the next would begin at offset 8) the guess is 90% of the way in
    time: 20 records ahead for a start at 32 s (two pages: not worth it), 27 for one at 39 s."""
    caplog.set_level(logging.DEBUG, logger="tap-lp-audittrail.paging")
    server = FakeServer(make_rows(list(range(1000))))
    _, out, _ = read(server, 10, W1000, seek_to=at(seek))
    assert server.asked[: len(asked)] == asked
    assert [r for r in out if r.instant >= at(seek)] == server.rows[seek:]
    jumps = [m for m in paging_log(caplog) if "jumping" in m]
    assert jumps == ([f"window {W1000}: jumping from offset 8 to 35"] if seek == 39 else [])


def test_the_jumps_towards_the_start_stop_after_six():
    """Records crowd towards the start (500 s): each guess from the time falls short, and the
    pager pages on after MAX_JUMPS jumps."""
    seconds = [500 * math.sqrt(i / 3000) for i in range(3000)] + [600 + i for i in range(10)]
    rows = [Row(at(s), {"objectName": f"r{i}"}) for i, s in enumerate(seconds)]
    server = FakeServer(rows)
    _, out, _ = read(server, 10, W1000, seek_to=at(500))
    assert MAX_JUMPS == 6
    jumped = [1320, 1707, 1943, 2105, 2224, 2316]
    assert server.asked[:7] == [0, *jumped]
    assert server.asked[7:] == list(range(2324, 3010, 8))
    assert [r for r in out if r.instant >= at(500)] == [r for r in rows if r.instant >= at(500)]


@pytest.mark.parametrize("present", [None, 1000])
def test_a_window_reaching_past_the_present_guesses_its_jump_from_the_present(present):
    """The last window runs to the end of the range, days past the present: guessed from its
    end, the start looks close and the pager pages through everything before it."""
    window = Window(T0, at(10_000), last=True)
    server = FakeServer(make_rows(list(range(1000))))  # the records end at the present
    pager = WindowPager(
        window,
        ServerTraits(page_size=10),
        seek_to=at(500),
        present=lambda: None if present is None else at(present),
    )
    out = [row for batch in read_window(pager, server.fetch) for row in batch]
    assert [r for r in out if r.instant >= at(500)] == server.rows[500:]
    if present is None:
        assert server.requests > 80  # nearly every page before the start too
    else:
        assert server.requests <= 500 // 8 + 8  # the pages from the start, and a few jumps


def test_the_day_before_jumps_towards_its_end_in_an_answer_reaching_past_it():
    """The day before the first window, read for the records between the start (its end) and
    the first window's head; toDate read as inclusive makes its answer run on to the present."""
    server = FakeServer(make_rows(list(range(1500))))
    pager = WindowPager(
        W1000, ServerTraits(page_size=10), seek_to=at(1000), present=lambda: at(1500)
    )
    out = [row for batch in read_window(pager, server.fetch) for row in batch]
    assert [r for r in out if r.instant >= at(1000)] == server.rows[1000:]
    assert server.requests <= 500 // 8 + 12


def test_a_page_without_a_count_makes_no_jump():
    """The count came with the first answer only: the pager jumps once, then pages on."""
    server = FakeServer(make_rows(list(range(1000))))

    def count_once(offset, first):
        rows, total, asked = server.fetch(offset, first)
        return rows, (total if server.requests == 1 else None), asked

    _, out, _ = read(server, 10, W1000, seek_to=at(109), fetch=count_once)
    assert server.asked[:4] == [0, 98, 106, 114]
    assert out[-1].instant == at(999)


def test_a_jump_that_lands_past_the_start_halves_the_way_back_until_it_lands_before_it():
    before = list(range(0, 100))
    after = [40 * 3600 + i // 3 for i in range(1000)]
    server = FakeServer(make_rows(before + after))
    read(server, 20, seek_to=T0 + dt.timedelta(hours=40))
    # jump from 18 to 829 (past), back half way to 423, 220, 119, 68 (before: lands); from 86
    # to 846 (past), 466, 276, 181, 133, 109 (past); 97 is within a page of 86: page on from 86
    assert server.asked[:14] == [0, 829, 423, 220, 119, 68, 846, 466, 276, 181, 133, 109, 86, 102]


def test_a_jump_landing_inside_the_group_at_the_start_steps_back_for_its_head():
    """Five records at the start (500 s) sit at offsets 492 to 496; the second jump lands at
    494, on one of them: those before it may have been jumped over, so the pager steps back."""
    rows = make_rows([*range(492), *[500] * 5, *range(501, 1000)])
    server = FakeServer(rows)
    _, out, _ = read(server, 10, W1000, seek_to=at(500))
    assert server.asked[:6] == [0, 448, 494, 475, 483, 491]
    assert multiset([r for r in out if r.instant >= at(500)]) == multiset(rows[492:])


def test_a_jump_landing_just_before_the_start_pages_on_from_there():
    rows = make_rows([*range(496), *[500] * 5, *range(501, 1000)])
    server = FakeServer(rows)
    read(server, 10, W1000, seek_to=at(500))
    assert server.asked[:6] == [0, 450, 494, 502, 510, 518]  # 494 holds 494 s, 496 the start


def test_the_day_before_the_first_window_jumps_towards_the_start_after_its_end():
    """The day before: its answer reaches past its end (the server's zone), and the run's start
    lies after that end. A page ending at the window's end makes no further jump."""
    server = FakeServer(make_rows(list(range(1000))))
    before = Window(T0, at(463))
    read(server, 10, before, stop_at=lambda: at(2000), seek_to=at(500))
    # 900 is past the start: back to 454, which lands; its page ends at 463 s, the window's end
    assert server.asked[:6] == [0, 900, 454, 462, 470, 478]


# ----------------------------------------------------------------------- windows that end
class IgnoresOffset(FakeServer):
    """Answers the window's first page to every request, whatever offset it asks for."""

    def fetch(self, offset, first):
        self.requests += 1
        assert self.requests <= 100, "the window does not end"
        self.asked.append(offset)
        size = first if self.cap is None else min(first, self.cap)
        page = self.rows[:size]
        return page, (len(self.rows) if self.total == "total" else len(page)), first


#: Records of a window, each kind of page a server that ignores `offset` could repeat.
REPEATED_PAGES = {
    "changes a second apart": list(range(100)),
    "ties of three": [s // 3 for s in range(100)],
    "one group at the window's start": [5] * 100,
    "a group at the page's end": [0, 1, 2, *[5] * 100],
    "a short window": [0, 1, 2],
}


@pytest.mark.parametrize("total", ["total", "page"])
@pytest.mark.parametrize("data", list(REPEATED_PAGES))
def test_a_server_answering_the_same_page_for_every_offset_stops_the_window(data, total):
    """The first page again, wherever the next was asked from: the window stops, naming itself,
    within a few requests (a first page shorter than asked included: it may be the server's
    cap, and the same page answered further on can only be read so)."""
    server = IgnoresOffset(distinct_rows(REPEATED_PAGES[data]), total=total)
    with pytest.raises(PagingError, match=re.escape(f"window {WINDOW}: ")):
        read(server, 10)
    assert server.requests <= 4


def test_a_server_repeating_a_page_of_identical_records_stops_at_the_group_bound(monkeypatch):
    """Identical records of one instant: the same page again cannot be told from the next one,
    and the pager holds the group whole until it passes MAX_GROUP_RECORDS."""
    monkeypatch.setattr(paging, "MAX_GROUP_RECORDS", 200, raising=False)
    rows = make_rows([5] * 20)
    for row in rows:
        row.record["objectName"] = "same"
    server = IgnoresOffset(rows, total="page")
    with pytest.raises(PagingError, match="more than 200 records share the instant"):
        read(server, 10)
    assert server.requests <= 200 // 9 + 2


def test_a_count_that_the_pages_outrun_stops_the_window():
    """X-Total-Count says 30 (a total: unequal to the pages), and every answer holds the same
    ten changes of one instant: read by plain offsets, ten copies of them would make the 30."""
    rows = distinct_rows([5] * 10)
    server = IgnoresOffset(rows, total="page")

    def count_of_30(offset, first):
        page, _, asked = server.fetch(offset, first)
        return page, 30, asked

    with pytest.raises(PagingError, match="the page asked from the last record read"):
        read(server, 10, fetch=count_of_30)
    assert server.requests == 2


def test_pages_bringing_only_records_already_read_stop_the_window():
    """From the fourth request on, every answer is one the pager had already read (three pages
    back): the records before the group it asked for, again and again."""
    rows = distinct_rows(list(range(1000)))
    server = FakeServer(rows, total="page")
    answers = []

    def back_again(offset, first):
        assert len(answers) <= 100, "the window does not end"
        answer = server.fetch(offset, first) if len(answers) < 3 else answers[-3]
        answers.append(answer)
        return answer

    with pytest.raises(PagingError, match=re.escape(f"window {WINDOW}: ")):
        read(server, 10, fetch=back_again)
    assert len(answers) <= 3 + MAX_BACKTRACKS + 2


@st.composite
def hostile_answers(draw: st.DrawFn):
    """Every answer a slice of the window's records from anywhere, of any size up to the
    page, with any count: what a server that does not page by offset may send."""
    seconds = draw(st.lists(st.integers(0, 30), min_size=1, max_size=40))
    identical = draw(st.booleans())
    rows = make_rows(seconds) if identical else distinct_rows(seconds)
    script = draw(
        st.lists(
            st.tuples(
                st.integers(0, len(rows)),
                st.integers(0, 12),
                st.sampled_from(["total", "page", "none", "other"]),
            ),
            min_size=1,
            max_size=50,
        )
    )
    return rows, script


@settings(max_examples=400, deadline=None)
@given(case=hostile_answers(), page_size=st.integers(2, 12))
def test_every_window_ends_whatever_the_server_answers(case, page_size):
    """Answers drawn from the window's records but at any place, of any size, with any
    count: the pager ends the window or stops the run, within a bounded number of requests
    (the drawn answers are used in turn, again and again; a group bound of 300 records, so
    that identical records repeated reach it soon)."""
    rows, script = case
    asked = []

    def fetch(offset, first):
        asked.append(offset)
        assert len(asked) <= 2_000, "the window does not end"
        start, size, count = script[len(asked) % len(script)]
        page = rows[start : start + min(size, first)]
        total = {"total": len(rows), "page": len(page), "none": None, "other": size * 7}[count]
        return page, total, first

    pager = WindowPager(WINDOW, ServerTraits(page_size=page_size))
    with mock.patch.object(paging, "MAX_GROUP_RECORDS", 300, create=True), suppress(PagingError):
        for _ in read_window(pager, fetch):
            pass
