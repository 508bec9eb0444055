"""The rules of docs/models.md on a hand-planted trail (tests/models/planted.py), built with dbt on
DuckDB and on PostgreSQL: each test reads the built models for one rule, and the last compares
every model with the Python oracle (tests/models/audit_models.py)."""

from __future__ import annotations

from typing import Any

import pytest

from .audit_models import assert_models_match, plain
from .conftest import Built, assert_build_passed
from .planted import AFTER, DELETED, GRANTED, TIED, TRAIL, UNKNOWN_SPELLING, at


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def built(request, load_and_build) -> Built:
    return load_and_build(request.param, TRAIL)


@pytest.fixture(scope="module")
def models(built) -> dict[str, list[dict[str, Any]]]:
    return {
        m: [{k: plain(v) for k, v in r.items()} for r in rows] for m, rows in built.models().items()
    }


def rows(models, model: str, **where: Any) -> list[dict[str, Any]]:
    return [r for r in models[model] if all(r[k] == v for k, v in where.items())]


def value_at(models, object_name: str, element: str, when: str) -> list[Any]:
    """docs/models.md's rule: the period with valid_from <= T < valid_to (or valid_to null)."""
    t = plain(at(when))
    return [
        r["value"]
        for r in rows(
            models, "lp_audittrail__property_history", object_name=object_name, element=element
        )
        if r["valid_from"] <= t and (r["valid_to"] is None or t < r["valid_to"])
    ]


def test_the_build_passes_and_only_the_unknown_spelling_warns(built):
    assert_build_passed(built.result, warn=1)
    (warned,) = built.result["not_passed"]
    assert "action_spelling_is_known" in warned["node"]


def test_a_deleted_objects_properties_have_no_value_after_its_deletion(models):
    assert value_at(models, "Auditors", "Access Audit Trail", GRANTED) == ["true"]
    assert value_at(models, "Auditors", "Access Audit Trail", AFTER) == []
    (granted,) = rows(
        models,
        "lp_audittrail__property_history",
        object_name="Auditors",
        valid_from=plain(at(GRANTED)),
    )
    assert granted["valid_to"] == plain(at(DELETED))
    assert granted["ended_by"] == "object_deletion"
    (now,) = rows(
        models,
        "lp_audittrail__current_values",
        object_name="Auditors",
        element="Access Audit Trail",
    )
    assert now["is_deleted"]
    assert now["current_value"] is None
    assert now["deleted_at"] == plain(at(DELETED))
    # set again after the deletion: a value again
    (again,) = rows(
        models, "lp_audittrail__current_values", object_name="Auditors", element="Manage users"
    )
    assert (again["is_deleted"], again["current_value"]) == (False, "true")


def test_an_edit_and_a_delete_in_one_second_are_ordered_alike_in_every_model(models):
    history = rows(
        models, "lp_audittrail__object_history", object_name="Billing", valid_from=plain(at(TIED))
    )
    order = {r["action"]: r["change_order"] for r in history}
    assert order["edit"] < order["delete"], "the rule: within an instant, deletes come last"
    (period,) = rows(models, "lp_audittrail__property_history", object_name="Billing", value="20")
    assert period["valid_from"] == period["valid_to"] == plain(at(TIED))
    assert period["ended_by"] == "object_deletion"
    assert period["is_tied"]
    assert not period["is_current"]
    (now,) = rows(models, "lp_audittrail__current_values", object_name="Billing")
    assert now["is_deleted"]
    assert now["is_tied"]
    assert now["last_action"] == "edit"


def test_two_changes_of_a_property_in_one_second_are_tied_and_current_values_agree(models):
    periods = rows(
        models, "lp_audittrail__property_history", object_name="Support", element="Description"
    )
    assert len(periods) == 2
    assert all(p["is_tied"] for p in periods)
    (current,) = [p for p in periods if p["is_current"]]
    (now,) = rows(models, "lp_audittrail__current_values", object_name="Support")
    assert (now["current_value"], now["last_change_id"]) == (current["value"], current["change_id"])


def test_keys_of_parts_that_a_separator_would_run_together_differ(models):
    first = rows(models, "lp_audittrail__current_values", object_name="a|b", element="c")
    second = rows(models, "lp_audittrail__current_values", object_name="a", element="b|c")
    assert len(first) == len(second) == 1
    assert first[0]["current_value_id"] != second[0]["current_value_id"]
    assert first[0]["object_id"] != second[0]["object_id"]


def test_actions_are_normalised_from_any_spelling_and_an_unknown_one_lands_as_other(models):
    spelled = {r["action_type"]: r["action"] for r in rows(models, "stg_lp_audittrail__changes")}
    assert spelled["Add New"] == spelled["ADD"] == spelled["add_new"] == spelled["Add"] == "add"
    assert spelled["EDIT"] == spelled[" edit "] == "edit"
    assert spelled["Deleted"] == spelled["Delete"] == "delete"
    assert spelled[UNKNOWN_SPELLING] == "other"


def test_who_made_each_change_is_a_person_an_lpa_or_automatic_and_counted_by_day(models):
    kinds = {
        r["originator"]: (r["originator_kind"], r["is_automatic"])
        for r in rows(models, "stg_lp_audittrail__changes", object_name="Night Shift")
    }
    assert kinds == {
        "Dana Cohen": ("person", False),
        "LivePerson Administrator": ("lpa", False),
        "System": ("automatic", True),
    }
    day = rows(
        models,
        "lp_audittrail__daily_activity",
        activity_date="2026-11-05",
        object_type="Agent Groups",
    )
    counts = {
        r["originator"]: (
            r["person_change_count"],
            r["lpa_change_count"],
            r["automatic_change_count"],
        )
        for r in day
    }
    assert counts == {
        "Dana Cohen": (1, 0, 0),
        "LivePerson Administrator": (0, 1, 0),
        "System": (0, 0, 1),
    }


def test_grants_and_revocations_item_by_item_and_whole_subjects(models):
    effects = {
        (r["subject_name"], r["permission"], r["item"], r["permission_effect"])
        for r in rows(models, "lp_audittrail__permission_changes")
        if r["subject_name"] in ("dana", "Agent Manager")
    }
    assert effects == {
        ("dana", "N/A", None, "created"),
        ("dana", "Profiles", "Support", "granted"),
        ("dana", "Profiles", "EMEA", "revoked"),
        ("dana", "Skills", None, "unchanged"),
        ("dana", "Agent group", "Night Shift", "granted"),
        ("dana", "N/A", None, "deleted"),
        ("Agent Manager", "Manage users", None, "set"),
        ("Agent Manager", "Edit skills", None, "unchanged"),
        ("Agent Manager", "Edit skills", None, "revoked"),
        ("Agent Manager", "Close conversations", None, "granted"),
    }


def test_a_rename_links_the_old_and_new_names_into_one_live_object(models):
    current = rows(models, "lp_audittrail__current_values", object_type="Skills")
    renamed = {
        (r["object_name"], r["element"]): r for r in current if r["object_name"] == "New Skill"
    }
    assert {k: r["current_value"] for k, r in renamed.items()} == {
        ("New Skill", "Description"): "desc",
        ("New Skill", "Name"): "New Skill",
        ("New Skill", "Max wait time"): "30",
    }
    assert len({r["object_id"] for r in renamed.values()}) == 1
    # the old name, used again later, is another object
    (reused,) = [r for r in current if r["object_name"] == "Old Skill"]
    assert (reused["element"], reused["current_value"]) == ("Description", "other")
    assert reused["object_id"] not in {r["object_id"] for r in renamed.values()}
    # filed under the new name, the rename links the same way
    beta = {r["element"]: r["current_value"] for r in current if r["object_name"] == "Beta"}
    assert beta == {"Description": "first", "Name": "Beta"}
    assert not [r for r in current if r["object_name"] == "Alpha"]
    renames = {
        (r["old_name"], r["new_name"], r["current_object_name"])
        for r in models["lp_audittrail__object_renames"]
    }
    assert renames == {("Old Skill", "New Skill", "New Skill"), ("Alpha", "Beta", "Beta")}


def test_every_model_equals_what_the_changes_imply(built, models):
    assert_models_match(built.models(), TRAIL)
