"""What the dbt models of transform/ must hold, computed in Python from the raw changes (never
from the models), and the models' rows read back in one form to compare with.

The rules are docs/models.md's, written again here by replaying the changes in order: a change
is one row under the tap's `id`; an object is an objectType and an objectName until a rename
gives it another name; a property is an object's element (N/A, empty and null are the object
as a whole); changes are ordered by instant, then adds, edits, other actions, deletes, then
`id`. The SQL computes the same with window functions; nothing here is shared with it.
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
    "lp_audittrail__property_history": ("change_id",),
    "lp_audittrail__current_values": ("object_id", "element"),
    "lp_audittrail__object_history": ("change_id",),
    "lp_audittrail__object_renames": ("change_id",),
    "lp_audittrail__permission_changes": ("change_id", "item"),
    "lp_audittrail__daily_activity": (
        "activity_date",
        "originator",
        "originator_login_name",
        "object_type",
        "action",
    ),
}
#: dbt_project.yml's defaults of the vars, as sets of lower-cased spellings.
ACTIONS = {
    "add": {"add", "add new", "added", "new", "create", "created"},
    "edit": {"edit", "edited", "update", "updated", "modify", "modified", "change", "changed"},
    "delete": {"delete", "deleted", "remove", "removed"},
}
AUTOMATIC = {
    "originator": {"system", "automatic update", "scheduler"},
    "originator_login_name": {"system"},
    "originator_user_id": {"-1"},
}
USER_PERMISSION_ELEMENTS = {"profiles", "skills", "agent group", "agent groups"}
NAME_ELEMENTS = {"name"}
RANK = {"add": 1, "edit": 2, "other": 3, "delete": 4}

_STREAM_OF = {
    object_type.strip().lower(): element.stream
    for element in ELEMENTS
    for object_type in element.object_types
}


def key(*values: Any) -> str:
    """The models' surrogate key (macro lp_audittrail_key): md5 of the parts, each written as
    its length, a colon and its text, a null as `-`."""
    text = "".join("-" if v is None else f"{len(str(v))}:{v}" for v in values)
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
        clean = {k.lower(): plain(v) for k, v in row.items()}
        k = tuple(clean[c] for c in MODELS[model])
        assert k not in out, f"{model}: two rows for {k}"
        out[k] = clean
    return out


def changes(sb: Sandbox) -> list[dict[str, Any]]:
    """The sandbox's changes with the tap's `id` (its content and occurrence in its instant)."""
    assigner = IdAssigner()
    return [{"id": assigner.assign(record), **record} for record in sb.ground_truth()]


def action_of(action_type: str | None) -> str:
    spelling = (action_type or "").strip().lower().replace("_", " ").replace("-", " ")
    return next((a for a, spellings in ACTIONS.items() if spelling in spellings), "other")


def _is_field(element: str | None) -> bool:
    return element is not None and element.strip().upper() not in ("", "N/A")


def staging(raw: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict]:
    """One row per `id` (the first copy), the server's words turned into the models' values."""
    rows: dict[str, dict] = {}
    for c in raw:
        if c["id"] in rows:
            continue
        when = plain(dt.datetime.fromisoformat(c["changeDate"]))
        action = action_of(c["actionType"])
        is_field = _is_field(c["element"])
        row = {
            "change_id": c["id"],
            "account_id": c["accountId"],
            "object_type": c["objectType"],
            "audited_element": _STREAM_OF.get((c["objectType"] or "").strip().lower()),
            "object_name": c["objectName"],
            "action": action,
            "action_type": c["actionType"],
            "element": c["element"],
            "is_field_change": is_field,
            "is_object_deletion": action == "delete" and not is_field,
            "old_value": c["oldValue"],
            "new_value": c["newValue"],
            "changed_at": when,
            "changed_on": when[:10],
            "originator": c["originator"],
            "originator_login_name": c["originatorLoginName"],
            "originator_user_id": c["originatorUserId"],
            "originator_user_agent": c["originatorUserAgent"],
            "originator_auth_type": c["originatorAuthType"],
            "originator_is_lpa": bool(c["originatorIsLpa"]),
        }
        row["is_automatic"] = any(
            (row[column] or "").strip().lower() in values for column, values in AUTOMATIC.items()
        )
        row["originator_kind"] = (
            "automatic" if row["is_automatic"] else "lpa" if row["originator_is_lpa"] else "person"
        )
        rows[c["id"]] = row
    return rows_by_key("stg_lp_audittrail__changes", rows.values())


def in_order(stg: dict[tuple[Any, ...], dict]) -> list[dict]:
    """The changes in the one order: instant, then add < edit < other < delete, then id."""
    return sorted(stg.values(), key=lambda r: (r["changed_at"], RANK[r["action"]], r["change_id"]))


def is_rename(row: dict) -> bool:
    old, new = row["old_value"], row["new_value"]
    return (
        row["is_field_change"]
        and row["action"] == "edit"
        and row["element"].strip().lower() in NAME_ELEMENTS
        and bool(old)
        and bool(new)
        and old != new
        and row["object_name"] in (old, new)
    )


class _Object:
    """One object while the changes are replayed: its id, its names, its changes."""

    def __init__(self, object_type: str, name: str | None, segment: int) -> None:
        parts = (object_type, name) if segment == 0 else (object_type, name, segment)
        self.object_id = key(*parts)
        self.name = name
        self.changes: list[dict] = []


def objects(ordered: list[dict]) -> list[_Object]:
    """Replay the changes in order, following renames: each change's object, by identity.

    A name's segment counts the renames out of it and into it so far: a name renamed away and
    used again later names a new object."""
    segments: dict[tuple, int] = defaultdict(int)
    holder: dict[tuple, _Object] = {}
    found: list[_Object] = []

    def holder_of(object_type: str, name: str | None) -> _Object:
        at = (object_type, name)
        if at not in holder:
            holder[at] = _Object(object_type, name, segments[at])
            found.append(holder[at])
        return holder[at]

    for row in ordered:
        if not is_rename(row):
            holder_of(row["object_type"], row["object_name"]).changes.append(row)
            continue
        old = (row["object_type"], row["old_value"])
        new = (row["object_type"], row["new_value"])
        if row["object_name"] == row["old_value"]:
            holder_of(*old).changes.append(row)
        moving = holder_of(*old)
        del holder[old]
        segments[old] += 1
        segments[new] += 1
        holder[new] = moving
        moving.name = row["new_value"]
        if row["object_name"] == row["new_value"]:
            moving.changes.append(row)
    return found


def history(stg: dict[tuple[Any, ...], dict]) -> dict[str, dict]:
    """Every change with its object and its place: the rows of the history models by change."""
    ordered = in_order(stg)
    position = {row["change_id"]: i + 1 for i, row in enumerate(ordered)}
    placed: dict[str, dict] = {}
    for obj in objects(ordered):
        for i, row in enumerate(obj.changes):
            later = obj.changes[i + 1 :]
            placed[row["change_id"]] = {
                **row,
                "change_order": position[row["change_id"]],
                "object_id": obj.object_id,
                "current_object_name": obj.name,
                "object_change_number": i + 1,
                "next_object_change_at": later[0]["changed_at"] if later else None,
                "is_latest_object_change": not later,
                "is_rename": is_rename(row),
                "later": later,
            }
    return placed


def object_history(placed: dict[str, dict]) -> dict[tuple[Any, ...], dict]:
    columns = [
        "change_id",
        "change_order",
        "object_id",
        "object_type",
        "audited_element",
        "object_name",
        "current_object_name",
        "object_change_number",
        "element",
        "is_field_change",
        "is_object_deletion",
        "is_rename",
        "action",
        "action_type",
        "old_value",
        "new_value",
    ]
    rows = []
    for row in placed.values():
        out = {c: row[c] for c in columns}
        out |= {
            "valid_from": row["changed_at"],
            "valid_to": row["next_object_change_at"],
            "is_current": row["is_latest_object_change"],
            "originator": row["originator"],
            "originator_login_name": row["originator_login_name"],
            "originator_user_id": row["originator_user_id"],
            "originator_is_lpa": row["originator_is_lpa"],
            "originator_kind": row["originator_kind"],
        }
        rows.append(out)
    return rows_by_key("lp_audittrail__object_history", rows)


def _tied(row: dict, same_object: list[dict]) -> bool:
    """Whether another change of the property, or a deletion of the object, shares its second."""
    second = row["changed_at"][:19]
    return any(
        other is not row
        and other["changed_at"][:19] == second
        and (
            other["is_object_deletion"]
            or (other["is_field_change"] and other["element"] == row["element"])
        )
        for other in same_object
    )


def property_history(placed: dict[str, dict]) -> dict[tuple[Any, ...], dict]:
    by_object: dict[str, list[dict]] = defaultdict(list)
    for row in placed.values():
        by_object[row["object_id"]].append(row)
    rows = []
    for row in placed.values():
        if not row["is_field_change"] or row["action"] == "delete":
            continue
        ended_by, valid_to = None, None
        for later in row["later"]:
            if later["is_object_deletion"]:
                ended_by, valid_to = "object_deletion", later["changed_at"]
                break
            if later["is_field_change"] and later["element"] == row["element"]:
                ended_by = "property_deletion" if later["action"] == "delete" else "change"
                valid_to = later["changed_at"]
                break
        rows.append(
            {
                "change_id": row["change_id"],
                "object_id": row["object_id"],
                "object_type": row["object_type"],
                "audited_element": row["audited_element"],
                "object_name": row["object_name"],
                "current_object_name": row["current_object_name"],
                "element": row["element"],
                "value": row["new_value"],
                "valid_from": row["changed_at"],
                "valid_to": valid_to,
                "ended_by": ended_by,
                "is_current": ended_by is None,
                "is_tied": _tied(row, by_object[row["object_id"]]),
                "action": row["action"],
                "action_type": row["action_type"],
                "old_value": row["old_value"],
                "originator": row["originator"],
                "originator_login_name": row["originator_login_name"],
                "originator_user_id": row["originator_user_id"],
                "originator_kind": row["originator_kind"],
            }
        )
    return rows_by_key("lp_audittrail__property_history", rows)


def current_values(placed: dict[str, dict], as_of: str) -> dict[tuple[Any, ...], dict]:
    by_object: dict[str, list[dict]] = defaultdict(list)
    properties: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in sorted(placed.values(), key=lambda r: r["change_order"]):
        by_object[row["object_id"]].append(row)
        if row["is_field_change"]:
            properties[row["object_id"], row["element"]].append(row)
    rows = []
    for (object_id, element), found in properties.items():
        last = found[-1]
        deletion = next((r for r in last["later"] if r["is_object_deletion"]), None)
        is_deleted = last["action"] == "delete" or deletion is not None
        deleted_at = last["changed_at"] if last["action"] == "delete" else None
        rows.append(
            {
                "current_value_id": key(object_id, element),
                "object_id": object_id,
                "object_type": last["object_type"],
                "audited_element": last["audited_element"],
                "object_name": last["current_object_name"],
                "element": element,
                "current_value": None if is_deleted else last["new_value"],
                "is_deleted": is_deleted,
                "deleted_at": deleted_at or (deletion["changed_at"] if deletion else None),
                "object_deleted_at": deletion["changed_at"] if deletion else None,
                "previous_value": last["old_value"],
                "last_change_id": last["change_id"],
                "last_action": last["action"],
                "last_action_type": last["action_type"],
                "last_changed_at": last["changed_at"],
                "last_changed_by": last["originator"],
                "last_changed_by_login_name": last["originator_login_name"],
                "last_originator_kind": last["originator_kind"],
                "is_tied": _tied(last, by_object[object_id]),
                "first_changed_at": min(r["changed_at"] for r in found),
                "change_count": len(found),
                "as_of": as_of,
            }
        )
    return rows_by_key("lp_audittrail__current_values", rows)


def object_renames(placed: dict[str, dict]) -> dict[tuple[Any, ...], dict]:
    rows = [
        {
            "change_id": row["change_id"],
            "object_id": row["object_id"],
            "object_type": row["object_type"],
            "audited_element": row["audited_element"],
            "old_name": row["old_value"],
            "new_name": row["new_value"],
            "current_object_name": row["current_object_name"],
            "renamed_at": row["changed_at"],
            "originator": row["originator"],
            "originator_login_name": row["originator_login_name"],
            "originator_kind": row["originator_kind"],
        }
        for row in placed.values()
        if row["is_rename"]
    ]
    return rows_by_key("lp_audittrail__object_renames", rows)


def _items(value: str | None) -> set[str]:
    return {item.strip() for item in (value or "").split(",")} - {""}


def _value_effect(old: str | None, new: str | None) -> str:
    old_, new_ = (old or "").strip().lower(), (new or "").strip().lower()
    if new_ == "true" and old_ != "true":
        return "granted"
    if old_ == "true" and new_ != "true":
        return "revoked"
    return "unchanged" if old_ == new_ else "set"


def permission_changes(stg: dict[tuple[Any, ...], dict]) -> dict[tuple[Any, ...], dict]:
    rows = []
    for row in stg.values():
        field = row["is_field_change"]
        if row["audited_element"] == "profiles":
            kind = "profile_permission" if field else "profile_lifecycle"
        elif row["audited_element"] != "users":
            continue
        elif field and row["element"].strip().lower() in USER_PERMISSION_ELEMENTS:
            kind = "user_assignment"
        elif not field and row["action"] in ("add", "delete"):
            kind = "user_lifecycle"
        else:
            continue
        if kind == "user_assignment":
            old, new = _items(row["old_value"]), _items(row["new_value"])
            effects = [(item, "granted") for item in new - old]
            effects += [(item, "revoked") for item in old - new]
            effects = effects or [(None, "unchanged")]
        elif kind == "profile_permission":
            effects = [(None, _value_effect(row["old_value"], row["new_value"]))]
        else:
            lifecycle = {"add": "created", "delete": "deleted"}.get(row["action"], "set")
            effects = [(None, lifecycle)]
        for item, effect in effects:
            rows.append(
                {
                    "permission_change_id": key(row["change_id"], item),
                    "change_id": row["change_id"],
                    "changed_at": row["changed_at"],
                    "changed_on": row["changed_on"],
                    "permission_change_kind": kind,
                    "subject_type": "profile" if row["audited_element"] == "profiles" else "user",
                    "object_type": row["object_type"],
                    "subject_name": row["object_name"],
                    "permission": row["element"],
                    "item": item,
                    "action": row["action"],
                    "action_type": row["action_type"],
                    "old_value": row["old_value"],
                    "new_value": row["new_value"],
                    "permission_effect": effect,
                    "originator": row["originator"],
                    "originator_login_name": row["originator_login_name"],
                    "originator_user_id": row["originator_user_id"],
                    "originator_auth_type": row["originator_auth_type"],
                    "originator_is_lpa": row["originator_is_lpa"],
                    "originator_kind": row["originator_kind"],
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
            row["action"],
        ].append(row)
    rows = []
    for (day, originator, login, object_type, action), found in groups.items():
        kinds = [r["originator_kind"] for r in found]
        rows.append(
            {
                "daily_activity_id": key(day, originator, login, object_type, action),
                "activity_date": day,
                "originator": originator,
                "originator_login_name": login,
                "object_type": object_type,
                "action": action,
                "change_count": len(found),
                "objects_changed": len({r["object_name"] for r in found} - {None}),
                "person_change_count": kinds.count("person"),
                "lpa_change_count": kinds.count("lpa"),
                "automatic_change_count": kinds.count("automatic"),
                "first_change_at": min(r["changed_at"] for r in found),
                "last_change_at": max(r["changed_at"] for r in found),
            }
        )
    return rows_by_key("lp_audittrail__daily_activity", rows)


def expected(raw: list[dict[str, Any]]) -> dict[str, dict[tuple[Any, ...], dict]]:
    """Every model's rows by key, as the raw changes (the tap's records) imply them."""
    stg = staging(raw)
    placed = history(stg)
    as_of = max(row["changed_at"] for row in stg.values())
    return {
        "stg_lp_audittrail__changes": stg,
        "lp_audittrail__property_history": property_history(placed),
        "lp_audittrail__current_values": current_values(placed, as_of),
        "lp_audittrail__object_history": object_history(placed),
        "lp_audittrail__object_renames": object_renames(placed),
        "lp_audittrail__permission_changes": permission_changes(stg),
        "lp_audittrail__daily_activity": daily_activity(stg),
    }


def assert_models_match(
    got: dict[str, list[dict[str, Any]]], raw: list[dict[str, Any]] | Sandbox
) -> dict[str, int]:
    """Every model's rows equal what the raw changes imply; rows per model."""
    want = expected(changes(raw) if isinstance(raw, Sandbox) else raw)
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
                for c in set(wanted[k]) | set(found[k])
                if found[k].get(c) != wanted[k].get(c)
            }
            raise AssertionError(f"{model}: {len(wrong)} rows differ; {k}: (got, want) {differ}")
    return {model: len(rows) for model, rows in want.items()}
