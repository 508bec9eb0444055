"""The models over the demo account's trail (the sandbox's 5,000 changes of scripts/demo), its
actions spelled as the server might ("Add New", "ADD", "EDIT", ...): the build stays green
with no warning, every model equals the Python oracle, and "what was this set to at that
instant?" gets the raw trail's answer at 4,000 random (property, instant) pairs and just after
every deletion of an object as a whole."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from tap_lp_audittrail.sandbox import DataSpec, Sandbox

from .audit_models import assert_models_match, changes
from .conftest import assert_build_passed
from .points_in_time import Trail, answer, by_property

#: The demo account (scripts/demo.py): seed 1, 5,000 changes over 90 days, here at a fixed end.
DEMO = DataSpec(
    seed=1, records=5000, end=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc), span_days=90
)
SPELLINGS = {
    "Add": itertools.cycle(["Add New", "ADD", "add new", "Add"]),
    "Edit": itertools.cycle(["EDIT", "Edit", "edit"]),
    "Delete": itertools.cycle(["DELETE", "Delete"]),
}


def respelled(rows: list[dict]) -> list[dict]:
    """The rows with each actionType spelled one of the ways the server might spell it."""
    return [{**r, "actionType": next(SPELLINGS[r["actionType"]])} for r in rows]


@pytest.fixture(scope="module")
def demo_rows() -> list[dict]:
    return respelled(changes(Sandbox(data=DEMO)))


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def built(request, load_and_build, demo_rows):
    return load_and_build(request.param, demo_rows)


@pytest.fixture(scope="module")
def models(built):
    return built.models()


@pytest.fixture(scope="module")
def periods(models):
    return by_property(models["lp_audittrail__property_history"])


@pytest.fixture(scope="module")
def trail(demo_rows):
    return Trail(demo_rows)


def test_actions_spelled_add_new_or_add_keep_the_build_green_without_a_warning(built, demo_rows):
    assert {r["actionType"] for r in demo_rows} >= {"Add New", "ADD", "EDIT", "DELETE"}
    assert_build_passed(built.result, warn=0)


def test_every_model_equals_what_the_trail_implies(models, demo_rows):
    counts = assert_models_match(models, demo_rows)
    assert counts["lp_audittrail__object_renames"] == 0  # random Name edits rename nothing
    assert counts["lp_audittrail__property_history"] > 4000


def test_what_a_property_held_at_any_instant_is_the_raw_trails_answer(models, periods, trail):
    assert not models["lp_audittrail__object_renames"], "the checks name objects by objectName"
    checks = trail.random_checks(4000, seed=31)
    wrong = [c for c in checks if answer(periods, c) != trail.value_at(c)]
    assert not wrong, f"{len(wrong)} of {len(checks)} wrong, e.g. {wrong[:3]}"


def test_no_property_keeps_a_value_just_after_its_object_was_deleted(periods, trail):
    checks = trail.after_deletions()
    assert len(checks) > 1000
    wrong = [c for c in checks if answer(periods, c) != trail.value_at(c)]
    assert not wrong, f"{len(wrong)} of {len(checks)} wrong, e.g. {wrong[:3]}"
