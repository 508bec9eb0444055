"""The auditData query: printed by graphql-core, with any user value kept a literal."""

from __future__ import annotations

from graphql import parse, print_ast
from hypothesis import given
from hypothesis import strategies as st

from tap_lp_audittrail.query import AuditQuery
from tap_lp_audittrail.records import API_FIELDS

texts = st.text(max_size=12)


@given(
    users=st.lists(texts, max_size=3),
    codes=st.lists(texts, max_size=3),
    first=st.integers(0, 10_000),
    offset=st.integers(0, 10**9),
    language=st.sampled_from(["en-US", 'first~count "x"', "to~date"]),
)
def test_the_text_is_the_printed_document_whatever_the_values(
    users, codes, first, offset, language
):
    query = AuditQuery(
        from_date="2025-01-31",
        to_date="2025-02-07",
        first=first,
        offset=offset,
        timezone="UTC",
        fields=API_FIELDS,
        language=language,
        users=tuple(users),
        component_types=tuple(codes),
    )
    assert query.text() == print_ast(query.document())
    arguments = parse(query.text()).definitions[0].selection_set.selections[0].arguments
    values = {a.name.value: a.value for a in arguments}
    assert values["first"].value == str(first)
    assert values["offset"].value == str(offset)
    assert values["fromDate"].value == "2025-01-31"
    if users:
        assert [v.value for v in values["users"].values] == users
