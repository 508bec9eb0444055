"""`meltano run` into local file loaders: every change lands, exactly, and then only new ones.

The tap runs under the real meltano CLI against a real sandbox, configured only through
TAP_LP_AUDITTRAIL_* environment variables, as a deployment would configure it.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from tap_lp_audittrail.sandbox import DataSpec

from .landed import (
    STREAMS,
    as_csv_text,
    changes_from_now,
    content,
    csv_by_stream,
    diff,
    jsonl_by_stream,
    multiset,
    read_csv,
    truth_by_stream,
)


def assert_awkward_values_present(rows: list[dict[str, Any]]) -> None:
    """The data really holds what a loader may mangle, so exact equality means something."""
    values = [v for r in rows for v in (r["oldValue"], r["newValue"], r["objectName"]) if v]
    assert any("\n" in v for v in values), "no newline in any value"
    assert any("\r\n" in v for v in values), "no CRLF in any value"
    assert any("," in v for v in values), "no comma in any value"
    assert any('"' in v for v in values), "no double quote in any value"
    assert any(not v.isascii() for v in values), "no non-ASCII value"
    assert any(len(v) > 10_000 for v in values), "no very long value"


def assert_ids_unique(stream: str, rows: list[dict[str, Any]]) -> None:
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), f"{stream}: duplicate ids within one run"


def test_jsonl_lands_every_change_then_only_the_new_ones(sandbox_factory, make_project):
    sb = sandbox_factory(data=DataSpec(records=2000))
    project = make_project()
    project.use_sandbox(sb)

    project.elt("target-jsonl")
    first = jsonl_by_stream(project.output)
    truth = truth_by_stream(sb)
    for stream in STREAMS:
        got, want = multiset(first[stream]), multiset(truth[stream])
        assert got == want, f"{stream}: {diff(got, want)}"
        assert_ids_unique(stream, first[stream])
    assert_awkward_values_present(first["audit_trail"])

    # The account changes; the next run is incremental and brings exactly those changes
    # and nothing of the first run again, though it re-reads the last six hours.
    shutil.move(project.output, project.root / "output-run1")
    new, since = changes_from_now(sb, 80, seed=99)
    sb.append(new)
    project.elt("target-jsonl")
    second = jsonl_by_stream(project.output)
    new_truth = truth_by_stream(sb, start=since)
    for stream in STREAMS:
        before = {r["id"]: content(r) for r in first[stream]}
        fresh = [r for r in second[stream] if r["id"] not in before]
        again = [r for r in second[stream] if r["id"] in before]
        got, want = multiset(fresh), multiset(new_truth[stream])
        assert got == want, f"{stream}: {diff(got, want)}"
        assert not again, f"{stream}: {len(again)} rows of the first run came again"
    assert sum(len(v) for v in new_truth.values()) >= 80


def test_csv_lands_every_change_one_file_per_run(sandbox_factory, make_project):
    sb = sandbox_factory(data=DataSpec(records=2000))
    project = make_project()
    project.use_sandbox(sb)

    project.elt("target-csv")
    first = csv_by_stream(project.output)
    truth = truth_by_stream(sb)
    for stream in STREAMS:
        # CSV has no null and no boolean: None and "" both read back as "", True as "True".
        got, want = multiset(first[stream], as_csv_text), multiset(truth[stream], as_csv_text)
        assert got == want, f"{stream}: {diff(got, want)}"
        assert_ids_unique(stream, first[stream])
    assert_awkward_values_present(first["audit_trail"])

    sb.append(changes_from_now(sb, 40, seed=7)[0])
    project.elt("target-csv")
    both = csv_by_stream(project.output)
    assert len(list((project.output / "audit_trail").glob("*.csv"))) == 2
    all_truth = truth_by_stream(sb)
    for stream in STREAMS:
        latest = {r["id"]: r for r in both[stream]}
        got = multiset(latest.values(), as_csv_text)
        want = multiset(all_truth[stream], as_csv_text)
        assert got == want, f"{stream} (deduplicated on id): {diff(got, want)}"


def test_trap_csv_with_a_fixed_file_name_keeps_only_the_last_run(sandbox_factory, make_project):
    """Documents a trap: target-csv 0.5.0 truncates an existing file when a run starts.

    With `file_naming_scheme: {stream_name}.csv` an incremental second run leaves only its own
    rows: the history loaded before is gone. meltano.yml therefore names files per run.
    """
    sb = sandbox_factory(data=DataSpec(records=300))
    project = make_project()
    project.use_sandbox(sb)
    project.set_loader("target-csv", file_naming_scheme="{stream_name}.csv")
    project.elt("target-csv")
    assert len(csv_by_stream_flat(project.output, "audit_trail")) == len(sb.ground_truth())

    sb.append(changes_from_now(sb, 10, seed=3)[0])
    project.elt("target-csv")
    left = csv_by_stream_flat(project.output, "audit_trail")
    assert len(left) < 50 < len(sb.ground_truth()), "target-csv no longer truncates: re-check"


def csv_by_stream_flat(folder, stream):
    return read_csv([folder / f"{stream}.csv"])


def test_trap_jsonl_appending_file_duplicates_rows_on_every_rerun(sandbox_factory, make_project):
    """Documents a trap: target-jsonl 0.1.4 with `do_timestamp_file: false` appends.

    Every run adds every row it is sent to the same file, so a re-run (or a full refresh)
    duplicates the history. Readers of appended files must deduplicate on `id`.
    """
    sb = sandbox_factory(data=DataSpec(records=300))
    project = make_project()
    project.use_sandbox(sb)
    project.set_loader("target-jsonl", do_timestamp_file=False)
    project.elt("target-jsonl")
    project.elt("target-jsonl", "--full-refresh")
    rows = jsonl_by_stream(project.output)["audit_trail"]
    ids = [r["id"] for r in rows]
    assert len(ids) == 2 * len(sb.ground_truth())
    assert len(set(ids)) == len(sb.ground_truth())


@pytest.mark.parametrize("auth", ["login", "client_credentials", "bearer"])
def test_each_auth_method_through_meltano_settings(auth, sandbox_factory, make_project):
    sb = sandbox_factory(data=DataSpec(records=200))
    project = make_project()
    project.use_sandbox(sb, auth=auth)
    project.env["TAP_LP_AUDITTRAIL__SELECT"] = '["audit_trail.*"]'
    project.elt("target-jsonl")
    landed = jsonl_by_stream(project.output)
    assert multiset(landed["audit_trail"]) == multiset(sb.ground_truth())
    assert not any(landed[s] for s in STREAMS if s != "audit_trail")
