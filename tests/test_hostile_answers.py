"""A server that answers what no page can be, or the same page again: the run stops with one
line naming the window, and loses nothing.

A hostile server on loopback stands in front of the sandbox (the tap's `domain` names it): it
passes every request on, and breaks the answers it is told to. An answer that holds no page is
never read as "no changes", and a window whose pages stop bringing new records does not go on:
the run retries what may mend, then stops with one ERROR line, its STATEs hold no bookmark
past the records it wrote, and a run from its last STATE against the sandbox itself completes
the trail. Record fields of another type are kept as JSON text, with one WARNING each.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tap_lp_audittrail.sandbox import Readings, Sandbox

from ._reliability import AUDIT, Process, Union, catalog_for, note, run_process
from .helpers import assert_same_records, tap_config
from .hostile import Answer, HostileServer, Seen, forward

AUDIT_PATH = "/configuration/metadata/audit"
#: Windows from this date on get the broken answer; those before it are the sandbox's.
BROKEN_FROM = "2026-06-01"
_FROM_DATE = re.compile(r'fromDate: "(\d{4}-\d{2}-\d{2})"')


def from_date(seen: Seen) -> str:
    """The fromDate of an audit request's query."""
    match = _FROM_DATE.search(seen.json()["query"])
    assert match, seen.body[:300]
    return match.group(1)


class Front:
    """The hostile server in front of a sandbox; `broken` decides what an audit request gets."""

    def __init__(self, sb: Sandbox, hostile: Callable[..., HostileServer]) -> None:
        self.sb = sb
        self.broken: Callable[[Seen], Answer | None] = lambda seen: None
        self.server = hostile(self._answer)

    def _answer(self, seen: Seen) -> Answer:
        if seen.path.endswith(AUDIT_PATH):
            answer = self.broken(seen)
            if answer is not None:
                return answer
        return forward(seen, self.sb.url)

    def config(self, **settings: object) -> dict:
        """A config whose audit requests reach this server (a bearer: the host is no secret)."""
        return tap_config(
            self.sb, "bearer", domain=self.server.host_port, max_retry_seconds=1, **settings
        )


def last_error(process: Process) -> str:
    lines = process.stderr.strip().splitlines()
    assert lines, "the run said nothing"
    assert "Traceback" not in process.stderr, process.stderr[-3000:]
    assert "| ERROR" in lines[-1], process.stderr[-3000:]
    return lines[-1]


def assert_no_bookmark_past_what_was_written(process: Process) -> None:
    """Every STATE's bookmark is at or before the last record written before it."""
    newest = ""
    for line in process.lines:
        if '"type":"RECORD"' in line.replace(" ", "") and f'"{AUDIT}"' in line:
            newest = max(newest, re.search(r'"changeDate":\s*"([^"]+)"', line).group(1))
        elif '"type":"STATE"' in line.replace(" ", ""):
            mark = re.search(r'"replication_key_value":\s*"([^"]+)"', line)
            if mark is not None:
                assert mark.group(1) <= newest, f"bookmark {mark.group(1)} past {newest or 'none'}"


def assert_a_rerun_completes_the_trail(
    front: Front,
    failed: Process,
    folder: Path,
    config: dict,
    catalog: dict,
    *,
    case: str,
    asked: int,
) -> None:
    """With the server mended, a run from the failed run's last STATE brings the rest: the two
    runs hold the sandbox's ground truth exactly, nothing twice."""
    front.broken = lambda seen: None
    first = failed.parsed()
    rerun = run_process(folder, config, catalog=catalog, state=first.final_state)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    union = Union()
    union.add(first.stream(AUDIT))
    union.add(rerun.parsed().stream(AUDIT))
    assert_same_records(union.records, front.sb.ground_truth(), what=case)
    note(
        "hostile",
        case=case,
        seconds=round(failed.seconds, 1),
        audit_requests=asked,
        before=len(first.stream(AUDIT)),
        after=len(union.records) - len(first.stream(AUDIT)),
    )


Breaker = Callable[[Seen, str], Answer]


def _json(value: object, status: int = 200, **headers: str) -> Breaker:
    return lambda seen, sandbox_url: Answer.json(value, status, **headers)


def _counted(count: str) -> Breaker:
    """The sandbox's own page, with another X-Total-Count."""

    def answer(seen: Seen, sandbox_url: str) -> Answer:
        page = forward(seen, sandbox_url)
        return dataclasses.replace(page, headers={**page.headers, "X-Total-Count": count})

    return answer


#: What a broken window gets instead of its page, and words of the run's last line.
NOT_A_PAGE: dict[str, tuple[Breaker, str]] = {
    "auditData null": (_json({"data": {"auditData": None}}), "auditData is null"),
    "auditData an object": (_json({"data": {"auditData": {}}}), "auditData is a JSON object"),
    "no auditData": (_json({"data": {}}), "no data.auditData"),
    "a record that is not an object": (
        _json({"data": {"auditData": [1, 2]}}),
        "not an object",
    ),
    "an empty page whose count announces records": (
        _json({"data": {"auditData": []}}, **{"X-Total-Count": "480"}),
        "X-Total-Count 480 counts records",
    ),
    "an empty page answered 300": (_json({"data": {"auditData": []}}, 300), "HTTP 300"),
    "its page, counted -5": (_counted("-5"), "X-Total-Count -5 is negative"),
}


@pytest.mark.parametrize("case", list(NOT_A_PAGE))
def test_an_answer_holding_no_page_stops_the_run_and_a_rerun_loses_nothing(
    sandbox, hostile, tmp_path, case
):
    breaker, words = NOT_A_PAGE[case]
    front = Front(sandbox, hostile)
    front.broken = lambda seen: (
        breaker(seen, sandbox.url) if from_date(seen) >= BROKEN_FROM else None
    )
    config = front.config(max_concurrency=1)
    catalog = catalog_for(config)
    failed = run_process(tmp_path / "failed", config, catalog=catalog)
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert words in last_error(failed)
    assert_no_bookmark_past_what_was_written(failed)
    asked = sum(seen.path.endswith(AUDIT_PATH) for seen in front.server.seen)
    assert failed.parsed().stream(AUDIT), "no window before the broken ones was written"
    assert_a_rerun_completes_the_trail(
        front, failed, tmp_path / "rerun", config, catalog, case=case, asked=asked
    )


def first_page_of_its_window(front: Front) -> Callable[[Seen], Answer | None]:
    """Every audit request answered as if it asked for its window's first page."""

    def answer(seen: Seen) -> Answer:
        query = re.sub(r"offset: \d+", "offset: 0", seen.json()["query"])
        body = json.dumps({"query": query}).encode()
        return forward(dataclasses.replace(seen, body=body), front.sb.url)

    return answer


def one_page_for_all(front: Front) -> Callable[[Seen], Answer | None]:
    """Every audit request answered with the first page that held changes, once there is one."""
    kept: list[Answer] = []

    def answer(seen: Seen) -> Answer:
        if kept:
            return kept[0]
        got = forward(seen, front.sb.url)
        if b'"changeDate"' in got.body:
            kept.append(got)
        return got

    return answer


#: Servers that answer the same page again; the count they send; words of the last line.
SAME_PAGE = {
    # On dd2ab9d: about 5,000 requests in 30 s, 118 records, no end.
    "one page for every request": (one_page_for_all, "total", "another window's answer"),
    # On dd2ab9d: the run stops, blaming ties ("1 records share the instant ...").
    "each window's first page, counted as a total": (
        first_page_of_its_window,
        "total",
        "is neither the page's size",  # the count contradicts the page
    ),
    "each window's first page, counted as the page": (
        first_page_of_its_window,
        "page",
        "the page asked from",  # the pager: pages that bring nothing new
    ),
}


@pytest.mark.parametrize("case", list(SAME_PAGE))
def test_a_server_answering_the_same_page_again_stops_the_run_naming_the_window(
    sandbox_factory, hostile, tmp_path, case
):
    server, reading, words = SAME_PAGE[case]
    sandbox = sandbox_factory(readings=Readings(total_count=reading))
    front = Front(sandbox, hostile)
    front.broken = server(front)
    config = front.config(page_size=50)
    catalog = catalog_for(config)
    failed = run_process(tmp_path / "failed", config, catalog=catalog, timeout=60)
    assert failed.returncode == 1, failed.stderr[-3000:]
    line = last_error(failed)
    assert re.search(r"window (\[|\d{4}-\d\d-\d\d\.\.)", line), line
    assert words in line
    # Malformed answers are retried for `max_retry_seconds` (1 s): requests are few still.
    asked = sum(seen.path.endswith(AUDIT_PATH) for seen in front.server.seen)
    assert asked < 200
    assert_no_bookmark_past_what_was_written(failed)
    assert_a_rerun_completes_the_trail(
        front, failed, tmp_path / "rerun", config, catalog, case=case, asked=asked
    )


def test_record_fields_of_another_type_are_kept_as_json_text_with_one_warning_each(
    sandbox, hostile, tmp_path
):
    """Every record's oldValue a list and newValue an object: each record keeps them as JSON
    text, and each field is warned of once in the whole run, not once per record. On dd2ab9d:
    Python's text (`['On', True]`) and no word of it."""
    front = Front(sandbox, hostile)

    def odd_types(seen: Seen) -> Answer:
        answer = forward(seen, sandbox.url)
        body = json.loads(answer.body)
        for record in body["data"]["auditData"]:
            record["oldValue"] = ["On", True]
            record["newValue"] = {"x": [1, None]}
        return dataclasses.replace(answer, body=json.dumps(body).encode())

    front.broken = odd_types
    config = front.config()
    process = run_process(tmp_path, config, catalog=catalog_for(config))
    assert process.returncode == 0, process.stderr[-3000:]
    run = process.parsed()
    records = run.stream(AUDIT)
    assert len(records) == len(sandbox.ground_truth())
    assert {(r["oldValue"], r["newValue"]) for r in records} == {
        ('["On", true]', '{"x": [1, null]}')
    }
    warnings = [line for line in run.stderr.splitlines() if "| WARNING" in line]
    assert sum("Record field oldValue: the server sent a JSON list" in w for w in warnings) == 1
    assert sum("Record field newValue: the server sent a JSON object" in w for w in warnings) == 1
