"""The tap's errors, and how secrets are kept out of every message and log line."""

from __future__ import annotations

import logging
import re
import threading
import traceback

from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

REDACTED = "***"

# Shapes that carry a secret whatever its value: auth headers, OAuth parameters, cookies, csrf;
# each with words (case-folded) one of which every text it matches holds, so that a shape runs
# only over a text that holds one: a substring search is fast, where each pattern would scan
# the whole text (audit answers are large).
_SECRET_SHAPES: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    # A token has a digit or punctuation, or is long: "bearer and ..." in a sentence is no token.
    (
        ("bearer",),
        re.compile(
            r"(?i)(bearer\s+)(?=[A-Za-z0-9._~+/=-]*[0-9._~+/=-]|[A-Za-z]{16})[A-Za-z0-9._~+/=-]+"
        ),
    ),
    (("oauth_",), re.compile(r'(?i)(oauth_(?:signature|token|consumer_key|nonce)=")[^"]*')),
    (("oauth_",), re.compile(r"(?i)(oauth_(?:signature|token|consumer_key)=)[^&\s,\"]+")),
    (("session_id=",), re.compile(r"(?i)(session_id=)[^;\s,\"]+")),
    (("signature:",), re.compile(r"(?i)(\bsignature:\s*)[A-Za-z0-9+/=%]+")),  # oauthlib's debug
    (
        ("csrf", "bearer", "access_token", "accesstoken", "secret", "password"),
        re.compile(
            r'(?i)("?(?:csrf|bearer|access_token|accessToken|accessTokenSecret|secret|'
            r'password|client_secret|app_secret|access_token_secret)"?\s*[:=]\s*"?)[^",}\s&]+'
        ),
    ),
)


class Redactor:
    """Knows every secret value of this run and removes them, and secret shapes, from text."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *values: object) -> None:
        """Remember secret values (config credentials, tokens as they are issued)."""
        with self._lock:
            self._values.update(str(v) for v in values if v not in (None, "") and len(str(v)) >= 3)

    def __call__(self, text: str) -> str:
        """`text` with every known secret value and secret shape replaced."""
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, REDACTED)
        # What (?i) matches, folded: a long s holds an s, and a dotless i an i.
        folded = text.casefold().replace("\u0131", "i")
        for words, shape in _SECRET_SHAPES:
            if any(word in folded for word in words):
                text = shape.sub(lambda m: m.group(1) + REDACTED, text)
        return text


REDACT = Redactor()


class RedactingFilter(logging.Filter):
    """Passes every log record through REDACT, message and traceback alike."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = REDACT(message), ()
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = REDACT("".join(traceback.format_exception(*record.exc_info)))
        return True


def install_redaction() -> None:
    """Put the filter on every handler there is, so no path to a log skips it."""
    loggers = [
        logging.getLogger(),
        *(
            logger
            for logger in logging.Logger.manager.loggerDict.values()
            if isinstance(logger, logging.Logger)
        ),
    ]
    for logger in loggers:
        for handler in logger.handlers:
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
