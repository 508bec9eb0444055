"""The streams: `audit_trail` with every change, and one per audited element, from one table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tap_lp_audittrail.client import AuditStream
from tap_lp_audittrail.elements import (
    ALL_CHANGES_STREAM,
    ELEMENTS,
    Element,
    ObjectTypeIndex,
    elements_from_config,
)

if TYPE_CHECKING:
    from singer_sdk import Tap

    from tap_lp_audittrail.run import Run


class AllChangesStream(AuditStream):
    """`audit_trail`: every change of every objectType, known or not, in one table."""

    def __init__(self, tap: Tap, run: Run) -> None:
        super().__init__(tap, run, name=ALL_CHANGES_STREAM, element=None)


class ElementStream(AuditStream):
    """The changes of one audited element."""

    def __init__(self, tap: Tap, run: Run, element: Element) -> None:
        super().__init__(tap, run, name=element.stream, element=element)


__all__ = [
    "ALL_CHANGES_STREAM",
    "ELEMENTS",
    "AllChangesStream",
    "Element",
    "ElementStream",
    "ObjectTypeIndex",
    "elements_from_config",
]
