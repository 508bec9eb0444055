"""What the dbt models of transform/ must hold, computed in Python from the sandbox's ground
truth (never from the models), and the models' rows read back in one form to compare with.

The rules are docs/models.md's, written again here: a change is one row under the tap's `id`;
an object is an objectType and an objectName; a property is an object's element (N/A and null
are the object as a whole); changes of one instant are ordered by `id`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from tap_lp_audittrail.records import IdAssigner
from tap_lp_audittrail.sandbox import Sandbox
from tap_lp_audittrail.streams import ELEMENTS

UTC = dt.timezone.utc
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d")

#: Every model the project builds, and the columns that make a row unique.
MODELS: dict[str, tuple[str, ...]] = {
    "stg_lp_audittrail__changes": ("change_id",),
    "lp_audittrail__current_values": ("object_type", "object_name", "element"),
    "lp_audittrail__object_history": ("change_id",),
    "lp_audittrail__permission_changes": ("change_id",),
    "lp_audittrail__daily_activity": (
        "activity_date",
        "originator",
        "originator_login_name",
        "object_type",
        "action_type",
    ),
}
#: A user's elements that assign what the user may do (var lp_audittrail_user_permission_elements).
USER_PERMISSION_ELEMENTS = {"profiles", "skills"}

_STREAM_OF = {
    object_type.strip().lower(): element.stream
    for element in ELEMENTS
    for object_type in element.object_types
}


def key(*values: Any) -> str:
    """The models' surrogate key (macro lp_audittrail_key): md5 of the values joined by |."""
    text = "|".join("<null>" if v is None else str(v) for v in values)
    return hashlib.md5(text.encode()).hexdigest()


def plain(value: Any) -> Any:
    """A value of a model's row in one comparable form (timestamps as naive UTC ISO text)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and _TIMESTAMP.match(value):
        try:
            return plain(dt.datetime.fromisoformat(value))
        except ValueError:
            return value
    if hasattr(value, "is_integer") and not isinstance(value, bool):  # numeric sums
        return int(value)
    return value


def rows_by_key(model: str, rows: Iterable[dict[str, Any]]) -> dict[tuple[Any, ...], dict]:
    """A model's rows by their unique columns; a repeated key fails the test."""
    out: dict[tuple[Any, ...], dict] = {}
    for row in rows:
        clean = {k: plain(v) for k, v in row.items()}
        k = tuple(clean[c] for c in MODELS[model])
        assert k not in out, f"{model}: two rows for {k}"
        out[k] = clean
    return out


def changes(sb: Sandbox) -> list[dict[str, Any]]:
    """The sandbox's changes with the tap's `id` (its content and occurrence in its instant)."""
    assigner = IdAssigner()
    out = []
    for record in sb.ground_truth():
        out.append({"id": assigner.assign(record), **record})
    return out


def _when(change: dict[str, Any]) -> str:
    return plain(dt.datetime.fromisoformat(change["changeDate"]))


def _is_field(change: dict[str, Any]) -> bool:
    return change["element"] is not None and change["element"] != "N/A"


def staging(truth: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict]:
    rows = []
    for c in truth:
        when = _when(c)
        rows.append(
            {
                "change_id": c["id"],
                "account_id": c["accountId"],
                "object_type": c["objectType"],
                "audited_element": _STREAM_OF.get((c["objectType"] or "").strip().lower()),
                "object_name": c["objectName"],
                "action_type": c["actionType"],
                "element": c["element"],
                "is_field_change": _is_field(c),
                "old_value": c["oldValue"],
                "new_value": c["newValue"],
                "changed_at": when,
                "changed_on": when[:10],
                "originator": c["originator"],
                "originator_login_name": c["originatorLoginName"],
                "originator_user_id": c["originatorUserId"],
                "originator_user_agent": c["originatorUserAgent"],
                "originator_auth_type": c["originatorAuthType"],
                "originator_is_lpa": c["originatorIsLpa"],
            }
        )
    return rows_by_key("stg_lp_audittrail__changes", rows)


def object_history(stg: dict[tuple[Any, ...], dict]) -> dict[tuple[Any, ...], dict]:
    by_object: dict[tuple[Any, ...], list[dict]] = defaultdict(list)
    for row in stg.values():
        by_object[row["object_type"], row["object_name"]].append(row)
    rows = []
    for (object_type, object_name), found in by_object.items():
        ordered = sorted(found, key=lambda r: (r["changed_at"], r["change_id"]))
        by_element: dict[Any, list[dict]] = defaultdict(list)
        for row in ordered:
            by_element[row["element"]].append(row)
        element_place = {}
        for same in by_element.values():
            for i, row in enumerate(same):
                after = same[i + 1]["changed_at"] if i + 1 < len(same) else None
                element_place[row["change_id"]] = (i + 1, after, i + 1 == len(same))
        for i, row in enumerate(ordered):
            number, value_valid_to, is_current_value = element_place[row["change_id"]]
            rows.append(
                {
                    "change_id": row["change_id"],
                    "object_id": key(object_type, object_name),
                    "object_type": object_type,
                    "audited_element": row["audited_element"],
                    "object_name": object_name,
                    "object_change_number": i + 1,
                    "element": row["element"],
                    "is_field_change": row["is_field_change"],
                    "action_type": row["action_type"],
                    "old_value": row["old_value"],
                    "new_value": row["new_value"],
                    "valid_from": row["changed_at"],
                    "valid_to": ordered[i + 1]["changed_at"] if i + 1 < len(ordered) else None,
                    "is_current": i + 1 == len(ordered),
                    "element_change_number": number,
                    "value_valid_to": value_valid_to,
                    "is_current_value": is_current_value,
                    "originator": row["originator"],
                    "originator_login_name": row["originator_login_name"],
                    "originator_user_id": row["originator_user_id"],
                    "originator_is_lpa": row["originator_is_lpa"],
                }
            )
    return rows_by_key("lp_audittrail__object_history", rows)


def current_values(stg: dict[tuple[Any, ...], dict]) -> dict[tuple[Any, ...], dict]:
    as_of = max(row["changed_at"] for row in stg.values())
    deleted: dict[tuple[Any, ...], str] = {}
    fields: dict[tuple[Any, ...], list[dict]] = defaultdict(list)
    for row in stg.values():
        obj = (row["object_type"], row["object_name"])
        if row["is_field_change"]:
            fields[row["object_type"], row["object_name"], row["element"]].append(row)
        elif row["action_type"] == "Delete":
            deleted[obj] = max(deleted.get(obj, ""), row["changed_at"])
    rows = []
    for (object_type, object_name, element), found in fields.items():
        last = max(found, key=lambda r: (r["changed_at"], r["change_id"]))
        object_deleted_at = deleted.get((object_type, object_name))
        if object_deleted_at is not None and object_deleted_at < last["changed_at"]:
            object_deleted_at = None
        is_deleted = last["action_type"] == "Delete" or object_deleted_at is not None
        rows.append(
            {
                "current_value_id": key(object_type, object_name, element),
                "object_id": key(object_type, object_name),
                "object_type": object_type,
                "audited_element": last["audited_element"],
                "object_name": object_name,
                "element": element,
                "current_value": None if is_deleted else last["new_value"],
                "is_deleted": is_deleted,
                "object_deleted_at": object_deleted_at,
                "previous_value": last["old_value"],
                "last_change_id": last["change_id"],
                "last_action_type": last["action_type"],
                "last_changed_at": last["changed_at"],
                "last_changed_by": last["originator"],
                "last_changed_by_login_name": last["originator_login_name"],
                "first_changed_at": min(r["changed_at"] for r in found),
                "change_count": len(found),
                "as_of": as_of,
            }
        )
    return rows_by_key("lp_audittrail__current_values", rows)


def _effect(kind: str, row: dict[str, Any]) -> str:
    action = row["action_type"]
    old = (row["old_value"] or "").lower()
    new = (row["new_value"] or "").lower()
    if kind == "profile_lifecycle" and action in ("Add", "Delete"):
        return "created" if action == "Add" else "deleted"
    if action == "Delete":
        return "revoked"
    if kind == "profile_permission" and new == "true" and old != "true":
        return "granted"
    if kind == "profile_permission" and old == "true" and new != "true":
        return "revoked"
    if kind == "user_assignment" and action == "Add":
        return "granted"
    return "changed"


def permission_changes(stg: dict[tuple[Any, ...], dict]) -> dict[tuple[Any, ...], dict]:
    rows = []
    for row in stg.values():
        if row["audited_element"] == "profiles":
            kind = "profile_permission" if row["is_field_change"] else "profile_lifecycle"
        elif (
            row["audited_element"] == "users"
            and (row["element"] or "").lower() in USER_PERMISSION_ELEMENTS
        ):
            kind = "user_assignment"
        else:
            continue
        rows.append(
            {
                "change_id": row["change_id"],
                "changed_at": row["changed_at"],
                "changed_on": row["changed_on"],
                "permission_change_kind": kind,
                "subject_type": "profile" if row["audited_element"] == "profiles" else "user",
                "object_type": row["object_type"],
                "subject_name": row["object_name"],
                "permission": row["element"],
                "action_type": row["action_type"],
                "old_value": row["old_value"],
                "new_value": row["new_value"],
                "permission_effect": _effect(kind, row),
                "originator": row["originator"],
                "originator_login_name": row["originator_login_name"],
                "originator_user_id": row["originator_user_id"],
                "originator_auth_type": row["originator_auth_type"],
                "originator_is_lpa": row["originator_is_lpa"],
            }
        )
    return rows_by_key("lp_audittrail__permission_changes", rows)


def daily_activity(stg: dict[tuple[Any, ...], dict]) -> dict[tuple[Any, ...], dict]:
    groups: dict[tuple[Any, ...], list[dict]] = defaultdict(list)
    for row in stg.values():
        groups[
            row["changed_on"],
            row["originator"],
            row["originator_login_name"],
            row["object_type"],
            row["action_type"],
        ].append(row)
    rows = []
    for (day, originator, login, object_type, action), found in groups.items():
        rows.append(
            {
                "daily_activity_id": key(day, originator, login, object_type, action),
                "activity_date": day,
                "originator": originator,
                "originator_login_name": login,
                "object_type": object_type,
                "action_type": action,
                "change_count": len(found),
                "objects_changed": len({r["object_name"] for r in found} - {None}),
                "lpa_change_count": sum(1 for r in found if r["originator_is_lpa"]),
                "first_change_at": min(r["changed_at"] for r in found),
                "last_change_at": max(r["changed_at"] for r in found),
            }
        )
    return rows_by_key("lp_audittrail__daily_activity", rows)


def expected(sb: Sandbox) -> dict[str, dict[tuple[Any, ...], dict]]:
    """Every model's rows by key, as the sandbox's ground truth implies them."""
    stg = staging(changes(sb))
    return {
        "stg_lp_audittrail__changes": stg,
        "lp_audittrail__current_values": current_values(stg),
        "lp_audittrail__object_history": object_history(stg),
        "lp_audittrail__permission_changes": permission_changes(stg),
        "lp_audittrail__daily_activity": daily_activity(stg),
    }


def assert_models_match(got: dict[str, list[dict[str, Any]]], sb: Sandbox) -> dict[str, int]:
    """Every model's rows equal what the ground truth implies; rows per model."""
    want = expected(sb)
    for model, wanted in want.items():
        found = rows_by_key(model, got[model])
        missing = sorted(set(wanted) - set(found), key=str)[:3]
        extra = sorted(set(found) - set(wanted), key=str)[:3]
        assert not missing, f"{model}: {len(set(wanted) - set(found))} rows missing: {missing}"
        assert not extra, f"{model}: {len(set(found) - set(wanted))} unexpected rows: {extra}"
        wrong = [k for k in wanted if found[k] != wanted[k]]
        if wrong:
            k = wrong[0]
            differ = {
                c: (found[k].get(c), wanted[k][c])
                for c in wanted[k]
                if found[k].get(c) != wanted[k][c]
            }
            raise AssertionError(f"{model}: {len(wrong)} rows differ; {k}: (got, want) {differ}")
        assert set(found[next(iter(found))]) == set(wanted[next(iter(wanted))]), model
    return {model: len(rows) for model, rows in want.items()}
