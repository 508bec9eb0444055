"""The auditData GraphQL query, built as a syntax tree with graphql-core.

User values (dates, user names, codes) become typed literal nodes, so no value can change the
query's shape, whatever characters it holds. A run sends thousands of queries that differ only
in their dates and offsets: the document is printed once per shape, with stand-ins for those
four arguments, and each query fills them in (they come first, before any user value).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from graphql import print_ast
from graphql.language import (
    ArgumentNode,
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    IntValueNode,
    ListValueNode,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
)


@dataclass(frozen=True)
class AuditQuery:
    """One request's arguments to auditData."""

    from_date: str
    to_date: str
    first: int
    offset: int
    timezone: str
    fields: Sequence[str]
    language: str = "en-US"
    lpa: bool = True
    automatic_updates: bool = True
    users: Sequence[str] = field(default_factory=tuple)
    component_types: Sequence[str] = field(default_factory=tuple)

    def arguments(self) -> dict[str, object]:
        """Arguments in the order LivePerson's docs show them; empty filters are left out."""
        args: dict[str, object] = {
            "fromDate": self.from_date,
            "toDate": self.to_date,
            "first": self.first,
            "offset": self.offset,
            "orderBy": ["changeTimestamp"],
            "orderDirection": ["ASC"],
            "language": self.language,
            "timezone": self.timezone,
            "lpa": self.lpa,
            "automaticUpdates": self.automatic_updates,
        }
        if self.users:
            args["users"] = list(self.users)
        if self.component_types:
            args["componentTypes"] = list(self.component_types)
        return args

    def document(self, literals: dict[str, ValueNode] | None = None) -> DocumentNode:
        """The query as a graphql-core document (`literals` replace some arguments' values)."""
        given = literals or {}
        audit_field = FieldNode(
            name=NameNode(value="auditData"),
            arguments=tuple(
                ArgumentNode(name=NameNode(value=name), value=given.get(name) or _literal(value))
                for name, value in self.arguments().items()
            ),
            directives=(),
            selection_set=SelectionSetNode(
                selections=tuple(
                    FieldNode(name=NameNode(value=f), arguments=(), directives=())
                    for f in self.fields
                ),
            ),
        )
        operation = OperationDefinitionNode(
            operation=OperationType.QUERY,
            variable_definitions=(),
            directives=(),
            selection_set=SelectionSetNode(selections=(audit_field,)),
        )
        return DocumentNode(definitions=(operation,))

    def text(self) -> str:
        """The query text sent in the request body."""
        shape = replace(self, from_date=_FROM, to_date=_TO, first=0, offset=0)
        text = _template(shape)
        for stand_in, value in (
            (f'"{_FROM}"', print_ast(StringValueNode(value=self.from_date))),
            (f'"{_TO}"', print_ast(StringValueNode(value=self.to_date))),
            (_FIRST, str(int(self.first))),
            (_OFFSET, str(int(self.offset))),
        ):
            text = text.replace(stand_in, value, 1)
        return text


_FROM, _TO, _FIRST, _OFFSET = "from~date", "to~date", "first~count", "offset~count"


@functools.lru_cache(maxsize=64)
def _template(shape: AuditQuery) -> str:
    """The printed document of one query shape, with stand-ins for dates, first and offset."""
    stand_ins: dict[str, ValueNode] = {
        "first": IntValueNode(value=_FIRST),
        "offset": IntValueNode(value=_OFFSET),
    }
    return print_ast(shape.document(stand_ins))


def _literal(value: object) -> ValueNode:
    if isinstance(value, bool):
        return BooleanValueNode(value=value)
    if isinstance(value, int):
        return IntValueNode(value=str(value))
    if isinstance(value, str):
        return StringValueNode(value=value)
    if isinstance(value, list | tuple):
        return ListValueNode(values=tuple(_literal(v) for v in value))
    msg = f"no GraphQL literal for {type(value).__name__}"
    raise TypeError(msg)
