r"""A format-preserving keyed pseudonym for the personal strings of a capture.

Every letter becomes a letter of the same case class, every digit a digit; punctuation,
spaces, control characters and symbols stay where they were. The choice of each character is
drawn from HMAC-SHA256 of the whole value under a random key that lives only in memory: the
same value gets the same pseudonym everywhere in one capture, and nobody holding the capture
can map a pseudonym back or test a guess. Length (in characters), case, digits and punctuation
are kept, so a value that broke the tap's parsing still breaks it the same way.

Inside JSON text (a body, or an `oldValue` that holds JSON) only the characters of string
literals change, and their escapes keep their form (`\\n` stays `\\n`, `\\u00e9` stays a
`\\uXXXX` escape), so the text stays valid JSON exactly when it was.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import secrets

_LOWER = "abcdefghijklmnopqrstuvwxyz"
_UPPER = _LOWER.upper()
_DIGITS = "0123456789"
_LATIN_LOWER = "".join(chr(c) for c in range(0xE0, 0xFF) if chr(c).islower() and c != 0xF7)
_LATIN_UPPER = "".join(chr(c) for c in range(0xC0, 0xDF) if chr(c).isupper() and c != 0xD7)
_HEBREW = "".join(chr(c) for c in range(0x05D0, 0x05EB))
_ARABIC = "".join(chr(c) for c in range(0x0627, 0x064B))
_CYRILLIC_LOWER = "".join(chr(c) for c in range(0x0430, 0x0450))
_CYRILLIC_UPPER = "".join(chr(c) for c in range(0x0410, 0x0430))
_GREEK_LOWER = "".join(chr(c) for c in range(0x03B1, 0x03CA) if c != 0x03C2)
_GREEK_UPPER = "".join(chr(c) for c in range(0x0391, 0x03AA) if c != 0x03A2)
_KANA = "".join(chr(c) for c in range(0x30A2, 0x30F3))
_HANGUL = "".join(chr(c) for c in range(0xAC00, 0xAC00 + 400))
_CJK = "".join(chr(c) for c in range(0x4E00, 0x4E00 + 2000))

#: A JSON (or GraphQL) string literal's contents: plain characters and escapes.
_UNIT = re.compile(r'\\u[0-9a-fA-F]{4}|\\.|[^\\"]', re.S)


@functools.cache  # asked for every character of every value: a few hundred distinct ones
def _alphabet(char: str) -> str | None:
    """The characters `char` may become, or None when it stays as it is."""
    if char.isascii():
        if char.islower():
            return _LOWER
        if char.isupper():
            return _UPPER
        return _DIGITS if char.isdigit() else None
    if char.isdigit():
        return _DIGITS
    if not char.isalpha():
        return None
    code = ord(char)
    for low, high, alphabet in (
        (0x0590, 0x05FF, _HEBREW),
        (0x0600, 0x06FF, _ARABIC),
        (0x3040, 0x30FF, _KANA),
        (0xAC00, 0xD7AF, _HANGUL),
        (0x3400, 0x9FFF, _CJK),
    ):
        if low <= code <= high:
            return alphabet
    if 0x0370 <= code <= 0x03FF:
        return _GREEK_UPPER if char.isupper() else _GREEK_LOWER
    if 0x0400 <= code <= 0x04FF:
        return _CYRILLIC_UPPER if char.isupper() else _CYRILLIC_LOWER
    if char.isupper():
        return _LATIN_UPPER
    return _LATIN_LOWER


class Pseudonymiser:
    """Maps each personal value to its pseudonym, the same one every time in one capture."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        self._memo: dict[str, str] = {}

    def _stream(self, value: str, length: int) -> bytes:
        seed = hmac.new(self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return hashlib.shake_256(seed.digest()).digest(2 * max(1, length))

    def value(self, value: str) -> str:
        """The pseudonym of a plain string."""
        # The memo is read and written without a lock: a dict's get and set are atomic, and
        # two threads mapping one value at once compute the same pseudonym (a lock taken for
        # every value of every page made the window threads queue for it).
        if len(value) < 64:
            known = self._memo.get(value)
            if known is not None:
                return known
        draws = self._stream(value, len(value))
        out = []
        for i, char in enumerate(value):
            alphabet = _alphabet(char)
            if alphabet is None:
                out.append(char)
                continue
            pick = int.from_bytes(draws[2 * i : 2 * i + 2], "big") % len(alphabet)
            out.append(alphabet[pick])
        result = "".join(out)
        if result == value and any(_alphabet(c) for c in value):
            # A value that maps onto itself (a one-letter name, by chance): shift one character.
            result = self.value(value + "\0")[: len(value)]
        if len(value) < 64:
            self._memo[value] = result
        return result

    def literal(self, raw: str) -> str:
        """The contents of a JSON/GraphQL string literal (escapes as written), pseudonymised.

        The pseudonym follows the decoded value, so a name gets the same one in a JSON body,
        a query's `users` list and the settings; each escape keeps its form.
        """
        units = _UNIT.findall(raw)
        decoded = [_decode(unit) for unit in units]
        mapped = self.value("".join(decoded))
        out, at = [], 0
        for unit, char in zip(units, decoded, strict=True):
            new = mapped[at : at + len(char)]
            at += len(char)
            if new == char:
                out.append(unit)
            elif unit.startswith("\\u"):
                out.append("".join(f"\\u{ord(c):04x}" for c in new))
            else:
                out.append(new)
        return "".join(out)

    def json_text(self, text: str) -> str:
        """Every string value of JSON text pseudonymised; keys and all else as they were."""

        def one(match: re.Match[str]) -> str:
            if _KEY.match(text, match.end()):
                return match.group(0)
            return f'"{self.literal(match.group(1))}{match.group(2)}'

        return _STRING.sub(one, text)

    def field(self, raw: str) -> str:
        """A JSON string literal's contents holding a free-text field, pseudonymised.

        Decoded, mapped (as JSON text when it holds JSON) and encoded again; a literal cut
        short (a truncated body) is mapped character by character as it stands.
        """
        try:
            value = json.loads(f'"{raw}"')
        except ValueError:
            return self.literal(raw)
        return json.dumps(self.text(value), ensure_ascii="\\u" in raw)[1:-1]

    def text(self, value: str) -> str:
        """A free-text value: as JSON text if it looks like JSON, else as a plain string."""
        stripped = value.lstrip()
        if stripped[:1] in ("{", "[") or (stripped[:1] == '"' and len(stripped) > 1):
            return self.json_text(value)
        return self.value(value)


_STRING = re.compile(r'"((?:[^"\\]|\\.)*)("|$)', re.S)
_KEY = re.compile(r"\s*:")


def _decode(unit: str) -> str:
    """The character(s) one unit of a literal stands for."""
    if unit.startswith("\\u"):
        return chr(int(unit[2:], 16))
    if unit.startswith("\\"):
        return _ESCAPES.get(unit[1:], "\0")  # \n, \", \\ ...: never a letter, kept
    return unit


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "\\": "\\", "/": "/"}
