"""The audited elements, in one table, and the index that sorts a change into its stream.

For each element: its stream's name, the objectType strings it goes by, its componentTypes
codes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Element:
    """An audited element: its stream, the objectType strings it goes by, its filter codes.

    LivePerson documents the objectType strings of only some elements and the componentTypes
    codes of four, so the others carry the plausible spellings and no code: their streams
    filter on the tap's side. Both are overridable from config (`object_types`,
    `component_types`).
    """

    stream: str
    label: str
    object_types: tuple[str, ...]
    component_types: tuple[str, ...] = ()


#: Element → stream → objectType strings (the first is the one LivePerson's docs show or the
#: likeliest) → componentTypes codes (only the four LivePerson documents).
ELEMENTS: tuple[Element, ...] = (
    Element("users", "Users", ("Users", "User"), ("ACUserObject",)),
    Element("skills", "Skills", ("Skills", "Skill"), ("ACSkillObject",)),
    Element(
        "agent_groups", "Agent Groups", ("Agent Groups", "Agent Group"), ("ACAgentGroupObject",)
    ),
    Element("profiles", "Profiles (permissions)", ("Profiles", "Profile"), ("ACProfileObject",)),
    Element(
        "lines_of_business",
        "LOBs (lines of business)",
        ("LOBs", "LOB", "Lines of Business", "Line of Business"),
    ),
    Element("campaigns", "Campaigns", ("Campaigns", "Campaign")),
    Element("predefined_content", "Predefined content", ("Predefined Content",)),
    Element(
        "post_conversation_surveys",
        "Post conversation survey",
        ("Post Conversation Survey", "Post Conversation Surveys", "PCS"),
    ),
    Element(
        "agent_conversation_surveys",
        "Agent conversation survey",
        ("Agent Conversation Survey", "Agent Conversation Surveys", "Agent Survey"),
    ),
    Element("content_categories", "Content categories", ("Content Categories", "Content Category")),
    Element(
        "working_hours",
        "Shift scheduler (working hours)",
        ("Working Hours", "Shift Scheduler", "Workdays"),
    ),
    Element("campaign_schedules", "Campaign schedule", ("Campaign Schedule", "Campaign Schedules")),
    Element("special_occasions", "Special occasions", ("Special Occasions", "Special Occasion")),
    Element(
        "mtls_account_mappings",
        "MTLS account mapping",
        ("MTLS Account Mapping", "MTLS Account Mappings", "mTLS Account Mapping"),
    ),
    Element(
        "mtls_certifications",
        "MTLS certification",
        ("MTLS Certification", "MTLS Certifications", "mTLS Certification"),
    ),
)

ALL_CHANGES_STREAM = "audit_trail"
#: Every stream of the tap, in discovery's order.
STREAM_NAMES: tuple[str, ...] = (ALL_CHANGES_STREAM, *(e.stream for e in ELEMENTS))


def stream_description(element: Element | None) -> str:
    """What a stream holds, for its schema in the catalog: `audit_trail`'s, or an element's."""
    if element is None:
        return (
            "Every change made to the account's configuration, of every objectType, known to "
            "the tap or not: who made it, when, the old and the new value"
        )
    spellings = ", ".join(element.object_types)
    one_of = "one of " if len(element.object_types) > 1 else ""
    return f"The changes of {element.label}: the records whose objectType is {one_of}{spellings}"


def _norm(object_type: str) -> str:
    return " ".join(object_type.split()).casefold()


def elements_from_config(config: Mapping[str, Any]) -> tuple[Element, ...]:
    """The element table with the config's `object_types` and `component_types` applied."""
    object_types = config.get("object_types") or {}
    component_types = config.get("component_types") or {}
    return tuple(
        Element(
            e.stream,
            e.label,
            tuple(object_types.get(e.stream, e.object_types)),
            tuple(component_types.get(e.stream, e.component_types)),
        )
        for e in ELEMENTS
    )


class ObjectTypeIndex:
    """objectType string → element stream; unknown strings map to None."""

    def __init__(self, elements: Sequence[Element]) -> None:
        self._index = {_norm(t): e.stream for e in elements for t in e.object_types}
        self._seen: dict[str, str | None] = {}  # exact strings as served, looked up once

    def stream_of(self, object_type: object) -> str | None:
        """The element stream a record of `object_type` belongs to."""
        if not isinstance(object_type, str):
            return None
        try:
            return self._seen[object_type]
        except KeyError:
            stream = self._seen[object_type] = self._index.get(_norm(object_type))
            return stream
