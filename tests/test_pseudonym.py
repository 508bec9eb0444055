"""The capture's pseudonym (pseudonym.py): format kept, one pseudonym per value, escapes
kept, and time and memory linear in the text, with small constants."""

from __future__ import annotations

import json
import re
import time

from hypothesis import given
from hypothesis import strategies as st

from tap_lp_audittrail.pseudonym import Pseudonymiser

from .helpers import peak_memory

KEY = b"k" * 32


@given(st.text())
def test_a_pseudonym_keeps_length_case_digits_and_punctuation(value):
    pseudonym = Pseudonymiser(KEY).value(value)
    assert len(pseudonym) == len(value)
    for char, new in zip(value, pseudonym, strict=True):
        if char.isdigit():
            assert new.isdigit(), (char, new)
        elif char.isalpha():
            assert new.isalpha(), (char, new)
            assert new.isupper() == char.isupper() or not (char.isupper() or char.islower())
        else:
            assert new == char


@given(st.text(min_size=1).filter(lambda v: any(c.isalnum() for c in v)))
def test_a_value_with_a_letter_or_digit_never_maps_onto_itself(value):
    if all(c.isalnum() and not (c.isalpha() or c.isdigit()) for c in value if c.isalnum()):
        return  # only numerals such as ½, which stay as they are
    assert Pseudonymiser(KEY).value(value) != value


def test_one_value_gets_one_pseudonym_per_key_and_another_under_another_key():
    one, other = Pseudonymiser(KEY), Pseudonymiser(b"o" * 32)
    name = "Zelda Quartermain-Obvious"
    assert one.value(name) == one.value(name) == Pseudonymiser(KEY).value(name)
    assert other.value(name) != one.value(name)
    long_text = "Zelda wrote this; " * 10_000  # past the memo and the chunks
    assert one.value(long_text) == Pseudonymiser(KEY).value(long_text)


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
), st.booleans())  # fmt: skip
def test_json_text_stays_json_of_the_same_shape_with_keys_kept(value, ascii_only):
    text = json.dumps(value, ensure_ascii=ascii_only)
    shown = Pseudonymiser(KEY).json_text(text)
    assert _skeleton(json.loads(shown)) == _skeleton(value)


def _skeleton(value: object) -> object:
    """Keys, types and lengths: what pseudonymised JSON keeps of its value."""
    if isinstance(value, dict):
        return {k: _skeleton(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_skeleton(v) for v in value]
    if isinstance(value, str):
        return ("str", len(value))
    return value


def test_a_literal_keeps_each_escape_in_its_form_and_follows_the_decoded_value():
    """The pseudonym is the decoded value's; an escaped character changed is escaped again,
    one left as it is keeps its escape as written."""
    p = Pseudonymiser(KEY)
    for raw, decoded in (
        ("Zo\\u00eb Q", "Zoë Q"),
        ("Zo\\u00EB \\u0051", "Zoë Q"),
        ('Zelda \\"Q\\"\\n\\/x', 'Zelda "Q"\n/x'),
        ("cut\\", "cut\\"),  # a literal cut after a backslash
    ):
        mapped = iter(p.value(decoded))
        expected = "".join(
            unit
            if (new := next(mapped)) == _decoded(unit)
            else f"\\u{ord(new):04x}"
            if unit.startswith("\\u")
            else new
            for unit in re.findall(r"\\u[0-9a-fA-F]{4}|\\.|.", raw, re.S)
        )
        assert p.literal(raw) == expected, raw


def _decoded(unit: str) -> str:
    if unit.startswith("\\u"):
        return chr(int(unit[2:], 16))
    return json.loads(f'"{unit}"') if unit.startswith("\\") and len(unit) == 2 else unit


def _cpu(call, *args) -> float:
    """CPU seconds of this thread for one call: what other processes do takes none of it."""
    started = time.thread_time()
    call(*args)
    return time.thread_time() - started


#: Texts of n characters: plain ASCII, and mixed scripts.
KINDS = {
    "ascii": lambda n: ("Zelda wrote a line. " * (n // 20 + 1))[:n],
    "mixed": lambda n: ("Zoë, Иван и 山田 wrote " * (n // 20 + 1))[:n],
}


def test_time_is_linear_in_the_text():
    """Eight times the text costs about eight times the time, never the square of it.

    CPU time of this thread, the best of three: a loaded machine slows the wall clock, not
    this. A quadratic step would cost 64 times; the bound is 24.
    """
    p = Pseudonymiser(KEY)
    small, large = 50_000, 400_000
    for kind, make in KINDS.items():
        short = min(_cpu(p.value, make(small) + str(n)) for n in range(3))
        long = min(_cpu(p.value, make(large) + str(n)) for n in range(3))
        assert long < 24 * max(short, 1e-4), (kind, short, long)
    escaped = json.dumps({"k": "v é\n" * (small // 4)}), json.dumps({"k": "v é\n" * (large // 4)})
    escaped_slow = tuple(t.replace("\\n", "\\u000A") for t in escaped)  # not as json writes it
    for short_text, long_text in (escaped, escaped_slow):
        short = min(_cpu(p.json_text, short_text + " " * n) for n in range(3))
        long = min(_cpu(p.json_text, long_text + " " * n) for n in range(3))
        assert long < 24 * max(short, 1e-4), (short, long)


def test_memory_is_a_few_bytes_a_character():
    """What a pseudonym takes beyond its text: 16 bytes a character at most (ASCII text)."""
    p = Pseudonymiser(KEY)
    n = 2_000_000
    for text in (KINDS["ascii"](n), json.dumps({"k": "Zelda\n" * (n // 7)})):
        peak = peak_memory(p.text, text)
        assert peak < 16 * len(text), peak / len(text)
