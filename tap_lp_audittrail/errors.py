"""The tap's errors, and how secrets are kept out of every message and log line."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import traceback
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

from singer_sdk import metrics
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_lp_audittrail.credentials import SECRET_WORDS

if TYPE_CHECKING:
    import requests

logger = logging.getLogger("tap-lp-audittrail")

REDACTED = "***"

#: How a quote around a secret may be written: as it is, JSON-escaped (at any depth: JSON
#: text inside a JSON string), or percent-encoded.
_QUOTE = r'(?:\\*"|%22)'
_EQUALS = r"(?:=|%3d)"
#: A bearer's characters (it may be URL-encoded), and a value up to its closing quote.
_BEARER = r"[a-z0-9._~+/=%-]"
_QUOTED = r'(?:(?!%22)[^"\\])*'
#: A value in a text that may be URL-encoded: up to a quote, comma, ampersand or brace.
_VALUE = r'(?:(?!%2[26c]|%7d)[^",}\s&\\])+'

# Shapes that carry a secret whatever its value: auth headers, OAuth parameters, cookies, csrf.
# Each begins with its word, and is matched against the text case-folded (what a
# case-insensitive match would take for the word: a long s for an s, a dotless i for an i), so
# that finding where one may begin is a substring search: audit answers and bodies are large.
# Each reads its text raw, JSON-escaped or URL-encoded: `oauth_signature=\"...\"` in a JSON
# body, `Bearer%20...` in a quoted URL. Group 1 is kept; what follows it is the secret.
_SHAPES: tuple[tuple[str, str], ...] = (
    # A token has a digit or punctuation, or is long: "bearer and ..." in a sentence is no token.
    ("bearer", rf"(bearer(?:\s+|%20|\+))(?={_BEARER}*[0-9._~+/=%-]|[a-z]{{16}}){_BEARER}+"),
    ("oauth_", rf'(oauth_(?:signature|token|consumer_key|nonce){_EQUALS}{_QUOTE}){_QUOTED}'),
    ("oauth_", rf'(oauth_(?:signature|token|consumer_key){_EQUALS})(?!{_QUOTE})[^&\s,"\\]+'),
    ("session_id", rf'(session_id{_EQUALS})[^;\s,"\\&]+'),
    ("signature:", r"(signature:(?<!\wsignature:)\s*)[a-z0-9+/=%]+"),  # oauthlib's debug lines
    # A secret-named field of JSON, a form or a header: "password": "...", csrf=... (the names
    # are credentials.py's, in its order).
    *((word, rf"({word}{_QUOTE}?\s*(?:[:=]|%3[ad])\s*{_QUOTE}?){_VALUE}") for word in SECRET_WORDS),
)  # fmt: skip
#: Each shape: its word, its pattern over folded text, and over any text (case-insensitive).
_SECRET_SHAPES = tuple(
    (word, re.compile(shape), re.compile(shape, re.IGNORECASE)) for word, shape in _SHAPES
)
_ANY_WORD = re.compile("|".join(sorted({re.escape(word) for word, _ in _SHAPES})))


#: A base64 text (either alphabet), around a secret found inside it: it is redacted whole.
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
_BASE64_TAIL = re.compile(r"[A-Za-z0-9+/_-]*=*")
#: How far back a base64 text is followed from a secret found inside it.
_BASE64_REACH = 4096
#: Secrets shorter than this are not looked for in base64: their encodings are too short to
#: tell from other text.
BASE64_MIN = 6


def encodings(value: str) -> set[str]:
    """`value` as it may be written in text: raw, JSON-escaped, URL-encoded (both ways)."""
    percent = quote(value, safe="")
    return {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        percent,
        re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), percent),
        quote(value),
        quote_plus(value),
    }


def base64_cores(value: str) -> set[str]:
    """What every base64 text holding `value` holds, whatever stands before and after it.

    Base64 writes 3 bytes as 4 characters: `value` starts at one of three offsets within a
    group, and for each the characters that depend on its bytes alone are the same in any
    text around it (HTTP Basic's `user:secret` included), in either alphabet.
    """
    data = value.encode("utf-8", "surrogatepass")
    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data + bytes(2)).decode()
        first = -(-8 * offset // 6)  # the first character that holds only `value`'s bits
        last = (8 * (offset + len(data))) // 6  # the first one past them
        core = encoded[first:last]
        cores.update((core, core.replace("+", "-").replace("/", "_")))
    return cores


class Redactor:
    """Knows every secret value of this run and removes them, and secret shapes, from text.

    A secret is found raw, JSON-escaped, URL-encoded or in base64 (alone, or within a base64
    text such as an HTTP Basic credential, which is then redacted whole).
    """

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        #: Read without the lock: each is replaced whole, never changed in place.
        self._forms: tuple[str, ...] = ()
        self._cores: tuple[str, ...] = ()
        #: Any form or core, for a short text: one search instead of one per form.
        self._any: re.Pattern[str] | None = None
        #: Moves on with each secret learnt: what was redacted before may differ now.
        self.generation = 0

    def add(self, *values: object) -> None:
        """Remember secret values (config credentials, tokens as they are issued)."""
        with self._lock:
            new = {str(v) for v in values if v not in (None, "") and len(str(v)) >= 3}
            new -= self._values
            if not new:
                return
            self._values |= new
            forms, cores = set(self._forms), set(self._cores)
            for value in new:
                forms |= encodings(value)
                if len(value) >= BASE64_MIN:
                    cores |= base64_cores(value)
            self._forms = tuple(sorted(forms, key=len, reverse=True))
            self._cores = tuple(sorted(cores, key=len, reverse=True))
            self._any = re.compile("|".join(map(re.escape, (*self._forms, *self._cores))))
            self.generation += 1

    def __call__(self, text: str) -> str:
        """`text` with every known secret value and secret shape replaced."""
        known = self._any
        # A short text (a log line, a field) is searched once for all forms; a long one once
        # per form, each search a fast substring search where a pattern would try every form
        # at every character.
        if known is not None and (len(text) > _SHORT or known.search(text)):
            for form in self._forms:
                if form in text:
                    text = text.replace(form, REDACTED)
            for core in self._cores:
                if core in text:
                    text = _redact_base64(text, core)
        return _redact_shapes(text)


#: Texts up to this many characters are searched with one pattern.
_SHORT = 512


def _redact_shapes(text: str) -> str:
    """`text` with the value of every secret shape replaced."""
    folded = _folded(text)
    if len(text) <= _SHORT and not _ANY_WORD.search(folded):
        return text
    for word, shape, anycase in _SECRET_SHAPES:
        if word not in folded:
            continue
        if len(folded) != len(text):  # a character folded into two: match the text itself
            text = anycase.sub(lambda m: m.group(1) + REDACTED, text)
            folded = _folded(text)
            continue
        out, at = [], 0
        for match in shape.finditer(folded):
            out += [text[at : match.end(1)], REDACTED]
            at = match.end()
        if out:
            text = "".join([*out, text[at:]])
            folded = _folded(text)
    return text


def _folded(text: str) -> str:
    """`text` as a case-insensitive match reads it: case-folded, a dotless i an i."""
    return text.casefold().replace("\u0131", "i")


def _redact_base64(text: str, core: str) -> str:
    """`text` with each base64 run holding `core` replaced whole."""
    out, at = [], 0
    found = text.find(core)
    while found != -1:
        start, limit = found, max(at, found - _BASE64_REACH)
        while start > limit and text[start - 1] in _BASE64_CHARS:
            start -= 1
        end = _BASE64_TAIL.match(text, found + len(core))
        out += [text[at:start], REDACTED]
        at = end.end() if end else found + len(core)
        found = text.find(core, at)
    out.append(text[at:])
    return "".join(out)


REDACT = Redactor()


#: Longest log message kept, in characters: what a server sends reaches a log whole only
#: this far. Cut after redaction, so that a cut never leaves a part of a secret.
LOG_MESSAGE_LIMIT = 10_000


class RedactingFilter(logging.Filter):
    """Passes every log record through REDACT, message and traceback alike.

    The one place log lines are redacted: a line may quote what a server sent as it came
    (`show_error_answer`), and this filter is what keeps secrets out of it. It leaves a record
    safe for any formatter: the console's reads the message and `exc_text`, the SDK's
    structured one (Meltano's `structured-logging`) the metric point of a METRIC line and the
    exception itself (its type, message, frames, cause and context).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        if record.msg == _METRIC_LINE and _clean_point(record.args):
            return True  # kept as the SDK wrote it: a structured formatter reads its point
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        message = REDACT(message)
        if len(message) > LOG_MESSAGE_LIMIT:
            left = len(message) - LOG_MESSAGE_LIMIT
            message = f"{message[:LOG_MESSAGE_LIMIT]}... ({left:,} more characters)"
        record.msg, record.args = message, ()
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = REDACT("".join(traceback.format_exception(*record.exc_info)))
            stand_in = _redacted_exception(record.exc_info[1], {})
            record.exc_info = (type(stand_in), stand_in, stand_in.__traceback__)
        return True


#: The SDK's METRIC line (`singer_sdk.metrics.log`): its one argument is the metric point.
_METRIC_LINE = "METRIC: %s"


def _clean_point(args: object) -> bool:
    """Whether `args` is a metric point whose text holds nothing to redact."""
    if not (isinstance(args, tuple) and len(args) == 1 and isinstance(args[0], metrics.Point)):
        return False
    text = str(args[0])
    return REDACT(text) == text


#: Each exception class's stand-in class, made once.
_STAND_INS: dict[type[BaseException], type[BaseException]] = {}


def _stand_in_class(kind: type[BaseException]) -> type[BaseException]:
    """A subclass of `kind` under its name and module, whose text is what it was made with.

    A subclass, so that a filter that asks what the exception is still gets its answer.
    """
    if kind not in _STAND_INS:
        _STAND_INS[kind] = type(
            kind.__name__,
            (kind,),
            {"__module__": kind.__module__, "__str__": lambda self: str(self.args[0])},
        )
    return _STAND_INS[kind]


def _redacted_exception(exc: BaseException, done: dict[int, BaseException]) -> BaseException:
    """A stand-in for `exc` that shows what it shows, its texts redacted.

    Of `exc`'s class, under its name and module; its message, traceback (frames show code,
    not values), notes, cause and context (each a stand-in too): what a formatter that reads
    the exception itself, not `exc_text`, writes. `done` ends a chain that loops.
    """
    if id(exc) in done:
        return done[id(exc)]
    try:
        message = REDACT(str(exc))
    except Exception:  # a broken __str__ must not break logging
        message = "(its message cannot be shown)"
    kind = _stand_in_class(type(exc))
    try:
        stand_in = kind.__new__(kind, message)  # no __init__: nothing of `exc` is needed
    except Exception:  # a class whose __new__ wants other arguments
        stand_in = _stand_in_class(Exception)(message)
    done[id(exc)] = stand_in
    stand_in.__traceback__ = exc.__traceback__
    stand_in.__suppress_context__ = exc.__suppress_context__
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        stand_in.__notes__ = [REDACT(str(note)) for note in notes]  # type: ignore[attr-defined]
    if exc.__cause__ is not None:
        stand_in.__cause__ = _redacted_exception(exc.__cause__, done)
    if exc.__context__ is not None:
        stand_in.__context__ = _redacted_exception(exc.__context__, done)
    return stand_in


def show_error_answer(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """A session hook: at DEBUG, an answer that is not a success, as the server wrote it.

    The one-line message of an error shows the server's `message` alone; this shows what it
    leaves out. Nothing is redacted here: the RedactingFilter does it for every log line,
    and cuts the line only after redacting.
    """
    if response.status_code < 400 or not logger.isEnabledFor(logging.DEBUG):
        return
    request = response.request
    logger.debug(
        "HTTP %d answer to %s %s: %s",
        response.status_code,
        request.method,
        (request.url or "").split("?", 1)[0],
        response.content.decode("utf-8", "replace"),
    )


def install_redaction() -> None:
    """Put the filter on every handler there is, so no path to a log skips it."""
    loggers = [
        logging.getLogger(),
        *(
            one
            for one in logging.Logger.manager.loggerDict.values()
            if isinstance(one, logging.Logger)
        ),
    ]
    for one in loggers:
        for handler in one.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
    # At DEBUG, oauthlib and requests-oauthlib log every signature, base string and signed
    # header: nothing in them helps a reader of the tap's logs.
    for name in ("oauthlib", "requests_oauthlib"):
        quiet = logging.getLogger(name)
        quiet.setLevel(max(quiet.getEffectiveLevel(), logging.INFO))


class AuthError(FatalAPIError):
    """A credential was refused or lacks a permission; the message names which."""


class ServerAnswerError(RetriableAPIError):
    """An answer that cannot be read (broken JSON, wrong shape); retried, then fatal."""


class ThrottledError(RetriableAPIError):
    """429 or 503, with the server's Retry-After in seconds when it sent one."""

    def __init__(
        self,
        message: str,
        response: object = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, response)  # type: ignore[arg-type]
        self.retry_after = retry_after
        self.status = getattr(response, "status_code", 0)


class UnreachableError(FatalAPIError):
    """A host this run has not heard from yet cannot be reached; retrying would not help.

    A setting is wrong, or the network is in the way. The message is one line: the URL, what
    failed, and the setting (or network) to check.
    """

    def __init__(self, message: str, url: str = "", setting: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.setting = setting
