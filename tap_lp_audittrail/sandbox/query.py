"""GraphQL handling without graphql-core's executor: parse and validate once, read the AST.

Executing 1000-record pages through graphql-core costs tens of milliseconds; reading the
arguments and the selected fields from the validated AST and writing the JSON directly is cheap.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    execute_sync,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import get_argument_values, get_variable_values

AUDIT_FIELDS = """
  accountId: String
  objectType: String
  objectName: String
  {action_type}
  element: String
  oldValue: String
  newValue: String
  changeDate: String
  originator: String
  originatorLoginName: String
  originatorUserId: String
  originatorUserAgent: String
  originatorAuthType: String
  originatorIsLpa: Boolean
"""
SDL = """
type Query {{
  auditData(
    fromDate: String, toDate: String, first: Int, offset: Int,
    orderBy: [String], orderDirection: [String], users: [String], componentTypes: [String],
    language: String, timezone: String, lpa: Boolean, automaticUpdates: Boolean
  ): [AuditRecord]
}}
type AuditRecord {{{fields}}}
"""

SCHEMAS: dict[str, GraphQLSchema] = {
    mode: build_schema(
        SDL.format(
            fields=AUDIT_FIELDS.format(action_type="actionType: String" if mode == "served" else "")
        )
    )
    for mode in ("served", "refused")
}


@dataclass
class RootField:
    """One selected root field: where it goes in the answer and what it asks for."""

    key: str
    node: FieldNode
    fields: list[tuple[str, str]] = field(default_factory=list)
    """(response key, field name) of each selected record field, in order."""


@dataclass
class Parsed:
    """A validated document, or the errors that refused it."""

    errors: list[dict[str, Any]] | None = None
    operation: OperationDefinitionNode | None = None
    roots: list[RootField] = field(default_factory=list)
    introspection: bool = False
    document: Any = None


def _collect(
    sel: SelectionSetNode | None,
    frags: dict[str, FragmentDefinitionNode],
    out: list[tuple[str, FieldNode]],
) -> None:
    """Flatten fields, inline fragments and fragment spreads (directives are ignored)."""
    if sel is None:
        return
    for node in sel.selections:
        if isinstance(node, FieldNode):
            out.append((node.alias.value if node.alias else node.name.value, node))
        elif isinstance(node, InlineFragmentNode):
            _collect(node.selection_set, frags, out)
        elif isinstance(node, FragmentSpreadNode) and node.name.value in frags:
            _collect(frags[node.name.value].selection_set, frags, out)


_LITERAL = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""'
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|(?<![_A-Za-z0-9.])-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![_A-Za-z0-9.])"
)


def _shape_token(m: re.Match[str]) -> str:
    text = m.group(0)
    if text.startswith('"'):
        return '"S"'
    if any(c in text for c in ".eE"):
        return "1.5"
    return "7" if -(2**31) <= int(text) < 2**31 else "99999999999"


def shape(query: str) -> str | None:
    """The query with every literal replaced by one of its kind: validation cannot tell them apart.

    None when the query holds a comment (a '#' could hide quotes from the regex).
    """
    if "#" in query:
        return None
    return _LITERAL.sub(_shape_token, query)


class QueryCache:
    """Parse + validation results per (query string, operation name, schema mode).

    Validation (the costly part) is also cached per query shape, so paging with literal
    offsets validates once and only parses each new page's query.
    """

    def __init__(self, size: int = 512) -> None:
        self._cache: OrderedDict[tuple[str, str | None, str], Parsed] = OrderedDict()
        self._valid_shapes: OrderedDict[tuple[str, str], bool] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, query: str, operation_name: str | None, mode: str) -> Parsed:
        """The cached Parsed for this query, parsing and validating on first sight."""
        key = (query, operation_name, mode)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        key_shape = shape(query)
        with self._lock:
            known_valid = key_shape is not None and (key_shape, mode) in self._valid_shapes
        parsed = self._parse(query, operation_name, SCHEMAS[mode], skip_validation=known_valid)
        if key_shape is not None and parsed.errors is None and not known_valid:
            with self._lock:
                self._valid_shapes[(key_shape, mode)] = True
                while len(self._valid_shapes) > self._size:
                    self._valid_shapes.popitem(last=False)
        with self._lock:
            self._cache[key] = parsed
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return parsed

    @staticmethod
    def _parse(
        query: str, operation_name: str | None, schema: GraphQLSchema, skip_validation: bool
    ) -> Parsed:
        try:
            doc = parse(query)
        except GraphQLError as exc:
            return Parsed(errors=[dict(exc.formatted)])
        errors = [] if skip_validation else validate(schema, doc)
        if errors:
            return Parsed(errors=[dict(e.formatted) for e in errors])
        op = get_operation_ast(doc, operation_name)
        if op is None:
            msg = (
                f"Unknown operation named '{operation_name}'."
                if operation_name
                else "Must provide operation name if query contains multiple operations."
            )
            return Parsed(errors=[{"message": msg}])
        frags = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
        top: list[tuple[str, FieldNode]] = []
        _collect(op.selection_set, frags, top)
        parsed = Parsed(operation=op, document=doc)
        for key, node in top:
            name = node.name.value
            if name == "auditData":
                root = RootField(key=key, node=node)
                sub: list[tuple[str, FieldNode]] = []
                _collect(node.selection_set, frags, sub)
                root.fields = [(k, n.name.value) for k, n in sub]
                parsed.roots.append(root)
            elif name != "__typename":
                parsed.introspection = True
        return parsed


def variables_of(parsed: Parsed, mode: str, inputs: dict[str, Any] | None) -> Any:
    """Coerced variable values, or a list of GraphQL errors (as dicts) when they do not fit."""
    assert parsed.operation is not None
    coerced = get_variable_values(
        SCHEMAS[mode], parsed.operation.variable_definitions or (), inputs or {}
    )
    if isinstance(coerced, list):
        return [e.formatted for e in coerced]
    return coerced


def arguments_of(root: RootField, mode: str, variables: Any) -> dict[str, Any]:
    """The auditData arguments as Python values (literals and variables alike)."""
    query_type = SCHEMAS[mode].query_type
    assert query_type is not None
    return get_argument_values(query_type.fields["auditData"], root.node, variables)


def introspect(parsed: Parsed, mode: str, variables: dict[str, Any] | None) -> dict[str, Any]:
    """Answer a query that asks for more than auditData (e.g. introspection) the slow way."""
    result = execute_sync(SCHEMAS[mode], parsed.document, variable_values=variables)
    out: dict[str, Any] = {"data": result.data}
    if result.errors:
        out["errors"] = [e.formatted for e in result.errors]
    return out
