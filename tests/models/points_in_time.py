"""The question an auditor asks first, "what was this property set to at that instant?", as
checks: (objectType, objectName, element, instant) and the answer the raw changes give when
replayed in order, independently of the models."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from typing import Any, NamedTuple

from .audit_models import RANK, action_of, plain

#: The answer when the property holds no value at the instant (no period covers it).
NO_VALUE = ("no value",)


class Check(NamedTuple):
    object_type: str
    object_name: str | None
    element: str
    at: str  # naive UTC ISO text, as the models' timestamps are compared


def _is_field(element: str | None) -> bool:
    return element is not None and element.strip().upper() not in ("", "N/A")


def _when(change: dict[str, Any]) -> str:
    return plain(dt.datetime.fromisoformat(change["changeDate"]))


class Trail:
    """The raw changes by object, in the one order, replayable to any instant."""

    def __init__(self, raw: list[dict[str, Any]]) -> None:
        unique = {c["id"]: c for c in reversed(raw)}  # the first copy of each id
        self.by_object: dict[tuple, list[dict]] = defaultdict(list)
        for c in sorted(
            unique.values(), key=lambda c: (_when(c), RANK[action_of(c["actionType"])], c["id"])
        ):
            self.by_object[c["objectType"], c["objectName"]].append(c)

    def value_at(self, check: Check) -> Any:
        """Replay the object's changes up to the instant: a field set gives the property a
        value, a field delete or a delete of the object as a whole takes it away."""
        value: Any = NO_VALUE
        for c in self.by_object[check.object_type, check.object_name]:
            if _when(c) > check.at:
                break
            action = action_of(c["actionType"])
            if not _is_field(c["element"]):
                if action == "delete":
                    value = NO_VALUE
            elif c["element"] == check.element:
                value = NO_VALUE if action == "delete" else c["newValue"]
        return value

    def random_checks(self, n: int, seed: int) -> list[Check]:
        """n (property, instant) pairs: properties the trail changed, instants anywhere from a
        day before its first change to a day after its last."""
        rng = random.Random(seed)
        properties = sorted(
            {
                (c["objectType"], c["objectName"], c["element"])
                for changes in self.by_object.values()
                for c in changes
                if _is_field(c["element"])
            },
            key=str,
        )
        instants = [_when(c) for changes in self.by_object.values() for c in changes]
        first = dt.datetime.fromisoformat(min(instants)) - dt.timedelta(days=1)
        span = (dt.datetime.fromisoformat(max(instants)) - first).total_seconds() + 86400
        out = []
        for _ in range(n):
            prop = rng.choice(properties)
            instant = first + dt.timedelta(seconds=rng.uniform(0, span))
            out.append(Check(*prop, plain(instant)))
        return out

    def after_deletions(self, delay: dt.timedelta = dt.timedelta(seconds=1)) -> list[Check]:
        """Every property an object had before its deletion as a whole, just after it."""
        out = []
        for (object_type, object_name), changes in self.by_object.items():
            elements: set[str] = set()
            for c in changes:
                if _is_field(c["element"]):
                    elements.add(c["element"])
                elif action_of(c["actionType"]) == "delete":
                    after = plain(dt.datetime.fromisoformat(_when(c)) + delay)
                    out += [Check(object_type, object_name, e, after) for e in sorted(elements)]
        return out


def answer(periods: dict[tuple, list[dict[str, Any]]], check: Check) -> Any:
    """docs/models.md's point-in-time rule over lp_audittrail__property_history's rows: the
    period with valid_from <= T < valid_to (or valid_to null); none means no value."""
    found = [
        p["value"]
        for p in periods.get((check.object_type, check.object_name, check.element), [])
        if p["valid_from"] <= check.at and (p["valid_to"] is None or check.at < p["valid_to"])
    ]
    assert len(found) <= 1, f"two periods cover {check}"
    return found[0] if found else NO_VALUE


def by_property(rows: list[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    out: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        clean = {k: plain(v) for k, v in row.items()}
        out[clean["object_type"], clean["object_name"], clean["element"]].append(clean)
    return out
