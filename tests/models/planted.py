"""Hand-planted audit trails: each case one rule of docs/models.md, in the tap's records."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tap_lp_audittrail.records import IdAssigner

UTC = dt.timezone.utc
PERSON = ("Dana Cohen", "dana.cohen@example.com", "2000000001", "LOGIN", False)
LPA = ("LivePerson Administrator", "LPA_noa0", "9000", "SSO", True)
SYSTEM = ("System", "system", "-1", None, False)


def at(text: str) -> str:
    """A changeDate as the tap writes it: RFC 3339 in UTC with microseconds."""
    return dt.datetime.fromisoformat(f"2026-{text}+00:00").isoformat(timespec="microseconds")


def change(
    when: str,
    object_type: str,
    name: str | None,
    action: str | None,
    element: str | None = "N/A",
    old: str | None = "",
    new: str | None = "",
    who: tuple = PERSON,
) -> dict[str, Any]:
    originator, login, user_id, auth, is_lpa = who
    return {
        "accountId": "12345678",
        "objectType": object_type,
        "objectName": name,
        "actionType": action,
        "element": element,
        "oldValue": old,
        "newValue": new,
        "changeDate": at(when),
        "originator": originator,
        "originatorLoginName": login,
        "originatorUserId": user_id,
        "originatorUserAgent": None,
        "originatorAuthType": auth,
        "originatorIsLpa": is_lpa,
    }


def with_ids(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records in the tap's order (by changeDate), each with the `id` the tap gives it."""
    assigner = IdAssigner()
    ordered = sorted(records, key=lambda r: r["changeDate"])
    return [{"id": assigner.assign(r), **r} for r in ordered]


#: 7 November: a profile granted "Access Audit Trail"; 8 November: the profile deleted.
GRANTED, DELETED, AFTER = "11-07T09:00:00", "11-08T10:00:00", "11-10T00:00:00"
#: One second holding an edit of a skill's property and the deletion of the skill.
TIED = "11-09T12:00:00"
UNKNOWN_SPELLING = "Frobnicate"

TRAIL = with_ids(
    [
        # deleted objects lose their values; set again later, they have one again
        change("11-01T08:00:00", "Profiles", "Auditors", "Add New"),
        change(
            "11-01T08:00:01", "Profiles", "Auditors", "ADD", "Access Audit Trail", None, "false"
        ),
        change(GRANTED, "Profiles", "Auditors", "Edit", "Access Audit Trail", "false", "true"),
        change(DELETED, "Profiles", "Auditors", "Delete"),
        change("11-20T08:00:00", "Profiles", "Auditors", "add_new"),
        change("11-20T08:00:01", "Profiles", "Auditors", "Add", "Manage users", None, "true"),
        # an edit and a deletion in one second; two edits of one property in one second
        change("11-02T12:00:00", "Skills", "Billing", "Add", "Max wait time", None, "10"),
        change(TIED, "Skills", "Billing", "Edit", "Max wait time", "10", "20"),
        change(TIED, "Skills", "Billing", "Delete"),
        change("11-09T13:00:00", "Skills", "Support", "Edit", "Description", "a", "b"),
        change("11-09T13:00:00", "Skills", "Support", "Edit", "Description", "b", "c"),
        # parts that a separator would run together
        change("11-03T10:00:00", "Campaigns", "a|b", "Edit", "c", "1", "2"),
        change("11-03T10:00:01", "Campaigns", "a", "Edit", "b|c", "3", "4"),
        # how the server may spell actions, and one spelling nobody listed
        change("11-04T10:00:00", "Users", "spelled", "ADD", "Email", None, "s@example.com"),
        change("11-04T10:00:01", "Users", "spelled", "EDIT", "Email", "s@example.com", "t@x.com"),
        change("11-04T10:00:02", "Users", "spelled", " edit ", "Nick name", "s", "t"),
        change("11-04T10:00:03", "Users", "spelled", "Deleted", "Nick name", "t", None),
        change("11-04T10:00:04", "Users", "spelled", UNKNOWN_SPELLING, "Enabled", "true", "false"),
        # who made the change: a person, a LivePerson administrator, an automatic update
        change("11-05T10:00:00", "Agent Groups", "Night Shift", "Edit", "Enabled", "false", "true"),
        change("11-05T10:00:01", "Agent Groups", "Night Shift", "Edit", "Members", "1", "2", LPA),
        change(
            "11-05T10:00:02", "Agent Groups", "Night Shift", "Edit", "Members", "2", "3", SYSTEM
        ),
        # grants and revocations
        change("11-06T10:00:00", "Users", "dana", "Add"),
        change(
            "11-06T10:00:01", "Users", "dana", "Edit", "Profiles", "Sales,EMEA", "Sales,Support"
        ),
        change("11-06T10:00:02", "Users", "dana", "Edit", "Skills", "VIP", "VIP"),
        change("11-06T10:00:03", "Users", "dana", "Add", "Agent group", None, "Night Shift"),
        change("11-06T10:00:04", "Users", "dana", "Delete"),
        change("11-06T11:00:00", "Profiles", "Agent Manager", "Add", "Manage users", None, "false"),
        change(
            "11-06T11:00:01", "Profiles", "Agent Manager", "Edit", "Edit skills", "true", "true"
        ),
        change(
            "11-06T11:00:02", "Profiles", "Agent Manager", "Edit", "Edit skills", "true", "FALSE"
        ),
        change(
            "11-06T11:00:03",
            "Profiles",
            "Agent Manager",
            "Edit",
            "Close conversations",
            "false",
            "True",
        ),
        # renames: filed under the old name, then under the new; a name used again later
        change("11-01T09:00:00", "Skills", "Old Skill", "Add"),
        change("11-01T09:00:01", "Skills", "Old Skill", "Edit", "Description", None, "desc"),
        change("11-02T09:00:00", "Skills", "Old Skill", "Edit", "Name", "Old Skill", "New Skill"),
        change("11-03T09:00:00", "Skills", "New Skill", "Edit", "Max wait time", "5", "30"),
        change("11-05T09:00:00", "Skills", "Old Skill", "Add"),
        change("11-05T09:00:01", "Skills", "Old Skill", "Edit", "Description", None, "other"),
        change("11-01T09:30:00", "Skills", "Alpha", "Edit", "Description", None, "first"),
        change("11-04T09:30:00", "Skills", "Beta", "Edit", "Name", "Alpha", "Beta"),
        # a Name edit that renames nothing: neither value is the objectName
        change("11-04T09:40:00", "Skills", "Gamma", "Edit", "Name", "Value 1", "Value 2"),
    ]
)
