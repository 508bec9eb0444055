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

Time and memory are linear in the text, with small constants: a capture may meet a value of
tens of megabytes. ASCII runs, the bulk of any text, are mapped a whole run at a time with
byte translations and integer masks; other characters one at a time.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterator

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

#: Values shorter than this are remembered: names recur on every page.
_MEMO_BELOW = 64


@functools.cache  # asked for every non-ASCII character of every value: few distinct ones
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


def _picks(alphabet: str) -> bytes:
    """A translation of random bytes to characters of `alphabet`, even to within one in 26."""
    return bytes(ord(alphabet[b * len(alphabet) // 256]) for b in range(256))


def _mask(chars: str) -> bytes:
    """A translation of each byte of `chars` to 0xFF, and of every other byte to 0."""
    return bytes(0xFF if chr(b) in chars else 0 for b in range(256))


#: Each ASCII class that changes: its picks, and where a text holds one of it.
_ASCII_CLASSES = tuple((_picks(a), _mask(a)) for a in (_LOWER, _UPPER, _DIGITS))
#: Where a text holds a character that stays as it is.
_KEPT = bytes(0xFF - b for b in _mask(_LOWER + _UPPER + _DIGITS))
#: ASCII runs long enough to be worth mapping whole.
_LONG_ASCII = re.compile(r"[\x00-\x7f]{64,}")
_ALNUM = re.compile(rb"[A-Za-z0-9]")
#: Characters are mapped this many at a time: bounds the memory a long value takes.
_CHUNK = 65_536


def _ascii(text: bytes, draws: bytes) -> bytes:
    """ASCII `text` mapped with a random byte per character, a whole run at a time.

    Each class of character takes its pick where the text holds one of that class: the picks
    and masks are byte translations, combined as integers (C loops over the whole run).
    """
    number = int.from_bytes
    out = number(text.translate(_KEPT), "big") & number(text, "big")
    for picks, mask in _ASCII_CLASSES:
        out |= number(draws.translate(picks), "big") & number(text.translate(mask), "big")
    return out.to_bytes(len(text), "big")


class _Draws:
    """The random bytes of one value, a chunk at a time.

    A byte per character for ASCII, two for any other (alphabets of up to 2,000 characters).
    Chunk k of each kind is SHAKE-256 of the value's keyed hash, the kind and k: a long value
    never holds all its draws at once. Ranges are asked in increasing order.
    """

    def __init__(self, seed: bytes, length: int) -> None:
        self._seed = seed
        self._length = length
        self._chunks: dict[bytes, tuple[int, bytes]] = {}

    def _chunk(self, kind: bytes, number: int, width: int) -> bytes:
        known = self._chunks.get(kind)
        if known is None or known[0] != number:
            stream = hashlib.shake_256(self._seed + kind + number.to_bytes(8, "big"))
            size = min(_CHUNK, self._length - number * _CHUNK)
            known = self._chunks[kind] = (number, stream.digest(width * size))
        return known[1]

    def narrow(self, start: int, end: int) -> bytes:
        """A byte for each character from `start` to `end`."""
        return self._range(b"n", start, end, 1)

    def wide(self, start: int, end: int) -> memoryview:
        """A 16-bit draw for each character from `start` to `end`."""
        return memoryview(self._range(b"w", start, end, 2)).cast("H")

    def _range(self, kind: bytes, start: int, end: int, width: int) -> bytes:
        parts = []
        for number in range(start // _CHUNK, (end - 1) // _CHUNK + 1 if end > start else 0):
            chunk = self._chunk(kind, number, width)
            low = max(start, number * _CHUNK) - number * _CHUNK
            high = min(end, (number + 1) * _CHUNK) - number * _CHUNK
            parts.append(chunk[low * width : high * width])
        return b"".join(parts)


def _mixed(value: str, draws: _Draws, out: list[str]) -> bool:
    """A value holding characters other than ASCII, mapped onto `out`.

    Long ASCII runs whole, the rest one character at a time, a chunk at a time. Says whether
    any character could change.
    """
    changeable, at = False, 0
    for run in _LONG_ASCII.finditer(value):
        start, end = run.span()
        changeable = _one_by_one(value, at, start, draws, out) or changeable
        changeable = _ascii_run(value, start, end, draws, out) or changeable
        at = end
    return _one_by_one(value, at, len(value), draws, out) or changeable


def _ascii_run(value: str, start: int, end: int, draws: _Draws, out: list[str]) -> bool:
    """ASCII `value[start:end]` mapped onto `out` a chunk at a time; whether any could change."""
    changeable = False
    for at in range(start, end, _CHUNK):
        data = value[at : min(end, at + _CHUNK)].encode("ascii")
        out.append(_ascii(data, draws.narrow(at, at + len(data))).decode("ascii"))
        changeable = changeable or _ALNUM.search(data) is not None
    return changeable


def _one_by_one(value: str, start: int, end: int, draws: _Draws, out: list[str]) -> bool:
    """`value[start:end]` mapped a character at a time onto `out`; whether any could change."""
    changeable = False
    for at in range(start, end, _CHUNK):
        chunk = value[at : min(end, at + _CHUNK)]
        wide = draws.wide(at, at + len(chunk))
        alphabets = {char: _alphabet(char) for char in set(chunk)}
        out.append(
            "".join(
                [
                    char if (a := alphabets[char]) is None else a[wide[i] % len(a)]
                    for i, char in enumerate(chunk)
                ]
            )
        )
        changeable = changeable or any(alphabets.values())
    return changeable


class Pseudonymiser:
    """Maps each personal value to its pseudonym, the same one every time in one capture."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        self._memo: dict[str, str] = {}

    def value(self, value: str) -> str:
        """The pseudonym of a plain string."""
        # The memo is read and written without a lock: a dict's get and set are atomic, and
        # two threads mapping one value at once compute the same pseudonym (a lock taken for
        # every value of every page made the window threads queue for it).
        if len(value) < _MEMO_BELOW:
            known = self._memo.get(value)
            if known is not None:
                return known
        seed = hmac.new(self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
        draws = _Draws(seed.digest(), len(value))
        out: list[str] = []
        if value.isascii():
            changeable = _ascii_run(value, 0, len(value), draws, out)
        else:
            changeable = _mixed(value, draws, out)
        result = "".join(out)
        if result == value and changeable:
            # A value that maps onto itself (a one-letter name, by chance): shift one character.
            result = self.value(value + "\0")[: len(value)]
        if len(value) < _MEMO_BELOW:
            self._memo[value] = result
        return result

    def literal(self, raw: str) -> str:
        """The contents of a JSON/GraphQL string literal (escapes as written), pseudonymised.

        The pseudonym follows the decoded value, so a name gets the same one in a JSON body,
        a query's `users` list and the settings; each escape keeps its form.
        """
        if "\\" not in raw:
            return self.value(raw)
        try:
            decoded = json.loads(f'"{raw}"')
        except ValueError:
            return self._escapes_kept(raw)
        for ascii_only in (False, True):
            # Written as JSON writes strings (Python's, with or without ensure_ascii): decoded
            # and written again by C code, escapes of the same form.
            written = json.dumps(decoded, ensure_ascii=ascii_only)
            if len(written) == len(raw) + 2 and written.startswith(raw, 1):
                del written
                return json.dumps(self.value(decoded), ensure_ascii=ascii_only)[1:-1]
        return self._escapes_kept(raw)

    def _escapes_kept(self, raw: str) -> str:
        """`literal`, an escape at a time: a `uXXXX` escape of a letter or digit stays one."""
        decoded = _ESCAPE.sub(lambda m: _decode(m.group()), raw)
        mapped = self.value(decoded)
        out = _Pieces()
        at = position = 0  # in `raw`, and in `decoded` and `mapped`
        for escape in _ESCAPE.finditer(raw):
            start, end = escape.span()
            plain = start - at
            out.add(mapped[position : position + plain])
            position += plain
            char, new = decoded[position], mapped[position]
            position += 1
            if new == char:
                out.add(escape.group())
            elif escape.group().startswith("\\u"):
                out.add(f"\\u{ord(new):04x}")
            else:
                out.add(new)
            at = end
        out.add(mapped[position:])
        return out.text()

    def json_text(self, text: str) -> str:
        """Every string value of JSON text pseudonymised; keys and all else as they were.

        A literal cut short by the end of the text (a truncated body) is mapped as it stands.
        """
        out, at = _Pieces(), 0
        for start, end, closed in _literals(text):
            out.add(text[at:start])
            raw = text[start:end]
            is_key = closed and _KEY.match(text, end + 1) is not None
            out.add(raw if is_key else self.literal(raw))
            at = end
        out.add(text[at:])
        return out.text()

    def text(self, value: str) -> str:
        """A free-text value: as JSON text if it looks like JSON, else as a plain string."""
        stripped = value.lstrip()
        if stripped[:1] in ("{", "[") or (stripped[:1] == '"' and len(stripped) > 1):
            return self.json_text(value)
        return self.value(value)


_KEY = re.compile(r"\s*:")


class _Pieces:
    """A text built of many pieces, joined as it goes.

    A list of millions of small strings takes tens of bytes for each character of the text.
    """

    def __init__(self) -> None:
        self._done: list[str] = []
        self._pieces: list[str] = []

    def add(self, piece: str) -> None:
        self._pieces.append(piece)
        if len(self._pieces) >= 4096:
            self._done.append("".join(self._pieces))
            self._pieces.clear()

    def text(self) -> str:
        return "".join(self._done) + "".join(self._pieces)


#: One escape of a JSON/GraphQL string literal, captured so that `split` keeps it.
_ESCAPE = re.compile(r"(\\u[0-9a-fA-F]{4}|\\.)", re.S)


def _literals(text: str) -> Iterator[tuple[int, int, bool]]:
    """Where the contents of each string literal of JSON text begin and end; whether closed.

    The last literal may run to the end of a truncated text. A scan with str.find from quote
    to quote: linear, whatever the length of a literal or the number of its escapes.
    """
    at = 0
    while True:
        opening = text.find('"', at)
        if opening == -1:
            return
        look = opening + 1
        while True:
            closing = text.find('"', look)
            if closing == -1:
                yield opening + 1, len(text), False
                return
            back = closing
            while text[back - 1] == "\\" and back - 1 > opening:
                back -= 1
            if (closing - back) % 2 == 0:  # an even run of backslashes escapes none of it
                break
            look = closing + 1
        yield opening + 1, closing, True
        at = closing + 1


def _decode(unit: str) -> str:
    """The character one escape stands for."""
    if unit.startswith("\\u"):
        return chr(int(unit[2:], 16))
    return _ESCAPES.get(unit[1:], "\0")  # \n, \", \\ ...: never a letter, kept


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "\\": "\\", "/": "/"}
