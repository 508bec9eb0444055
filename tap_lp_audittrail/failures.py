"""How a run ends: every exception mapped to its kind, its one line and its exit code.

The Singer command line (cli.py) and the Airbyte one (airbyte/commands.py) both end through
`classify`, so a failure reads the same in both, and Airbyte's `failure_type` follows the kind:

- config: a setting, a file, a credential or a permission must change; running again as it
  is changes nothing. Exit code 1; `config_error`. A command line that is not one (an unknown
  command or option, a missing `--config`): exit code 2, as argparse and click exit.
- transient: the server or the network still failed after the retries; a later run goes on
  from the last STATE. Exit code 1; `transient_error`.
- system: anything else, a bug of the tap; its line comes with the traceback. Exit code 1;
  `system_error`.
- interrupted: a signal asked the run to stop; the last STATE covers what was written. Exit
  code 128 + the signal's number; `transient_error`.

The rules, first match wins (`RULES`): an error that names the setting to change (its
`setting` attribute: a host never reached, a redirect, an answer past the size limit, a group
of ties larger than a page) is a config failure, whatever its class. A host that never answered
is a wrong setting or a network in the way: the user must act (config); one that answered and
then stopped answering is transient. `stream_maps` the SDK refuses is config: the user's maps
name a stream the selection leaves out, and only they can change that. A PagingError is
transient: the server's answers changed while a window was paged (records came, went or were
reordered), the tap stopped before it could lose or repeat one, and a later run reads them
again; unless it names `page_size` (ties past a page, reordered on every request), which only
a setting gets past. The reading of network errors (`connect_failure`,
`is_network_failure`, `describe`) lives here too, for the transport's retry lines and for these.
"""

from __future__ import annotations

import enum
import errno
import http.client
import ssl
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import urllib3
from singer_sdk.exceptions import (
    ConfigValidationError,
    FatalAPIError,
    RetriableAPIError,
    StreamMapConfigError,
)

from tap_lp_audittrail.errors import REDACT, AuthError, UnreachableError
from tap_lp_audittrail.exchange import ExchangeTimeout
from tap_lp_audittrail.hosts import HostRefusedError, RedirectError
from tap_lp_audittrail.paging import PagingError
from tap_lp_audittrail.stopping import Interrupted, signal_name


class UsageError(Exception):
    """A command line that is not one: an unknown command or option, a missing argument."""

    exit_code = 2


class Kind(enum.Enum):
    """What a failure asks of the user."""

    CONFIG = "config"
    TRANSIENT = "transient"
    SYSTEM = "system"
    INTERRUPTED = "interrupted"


#: Airbyte's TRACE `failure_type` of each kind (a stop asked for: transient, as a retry of the
#: sync goes on from its last STATE).
AIRBYTE_FAILURE_TYPES = {
    Kind.CONFIG: "config_error",
    Kind.TRANSIENT: "transient_error",
    Kind.SYSTEM: "system_error",
    Kind.INTERRUPTED: "transient_error",
}


@dataclass(frozen=True)
class Failure:
    """How a run that raised `exc` ends."""

    kind: Kind
    line: str
    exit_code: int

    @property
    def failure_type(self) -> str:
        """Airbyte's name for the kind."""
        return AIRBYTE_FAILURE_TYPES[self.kind]


_RETRIED = (
    "after retrying for up to `max_retry_seconds`: try again later (a new run resumes from "
    "the last bookmark), or raise `max_retry_seconds`"
)


def _config_line(exc: BaseException) -> str:
    assert isinstance(exc, ConfigValidationError)
    problems = [str(e) for e in exc.errors]
    return f"{exc}: {'; '.join(problems)}" if problems else str(exc)


def _stream_maps_line(exc: BaseException) -> str:
    return (
        f"`stream_maps`: {str(exc).rstrip('.')}. A map naming a stream that is not "
        "selected fails so (an SDK trap): name in `stream_maps` only the streams you select "
        "(docs/troubleshooting.md, Known SDK traps)"
    )


def _refused_line(exc: BaseException) -> str:
    return (
        f"{exc}. Not retried: the server refused the request; check `account_id`, "
        "`domain` and the settings that shape the query (`users`, `language`, "
        "`object_types`, `component_types`)"
    )


def _connection_line(exc: BaseException) -> str:
    assert isinstance(exc, requests.exceptions.RequestException)
    url = str(getattr(exc.request, "url", "") or "")
    where = (urlsplit(url).netloc or "the server") if url else "the server"
    retried = _RETRIED
    if isinstance(exc, ExchangeTimeout):
        why = str(exc)
    elif isinstance(exc, requests.exceptions.Timeout):
        why = f"no answer within `request_timeout` ({type(exc).__name__})"
    else:
        why = connect_failure(exc) or broken_connection(exc)
        if is_network_failure(exc):
            retried = _RETRIED.replace("max_retry_seconds", "connection_retry_seconds")
    return f"The connection to {where} kept failing ({why}) {retried}"


def _interrupted_line(exc: BaseException) -> str:
    assert isinstance(exc, Interrupted)
    return (
        f"The run was stopped by {signal_name(exc.signum)}: the last STATE covers every record "
        "written; the next run goes on from there"
    )


def _system_line(exc: BaseException) -> str:
    return (
        f"The run stopped on an unexpected error ({type(exc).__name__}: {exc}). This is a bug "
        "of the tap: please report it with the traceback"
    )


#: A refusal that holds for the whole run: a credential refused or lacking a permission, a host
#: that never answered (a setting is wrong, or the network is in the way), one the Domain API
#: named that the tap refuses, a redirect. Each message names the setting or permission; one
#: told once is told to every thread that asks again (auth.py, domains.py).
REFUSALS = (AuthError, UnreachableError, HostRefusedError, RedirectError)


def _names_a_setting(exc: BaseException) -> bool:
    return bool(getattr(exc, "setting", ""))


#: (matches, kind, its line), first match wins.
RULES: tuple[tuple[Callable[[BaseException], bool], Kind, Callable[[BaseException], str]], ...] = (
    (lambda e: isinstance(e, Interrupted), Kind.INTERRUPTED, _interrupted_line),
    (lambda e: isinstance(e, ConfigValidationError), Kind.CONFIG, _config_line),
    (lambda e: isinstance(e, UsageError), Kind.CONFIG, str),
    (lambda e: isinstance(e, REFUSALS), Kind.CONFIG, str),
    # An answer past the size limit, ties past a page: the error names the setting that gets
    # past it.
    (_names_a_setting, Kind.CONFIG, str),
    # The SDK refuses the user's `stream_maps` before the first record.
    (lambda e: isinstance(e, StreamMapConfigError), Kind.CONFIG, _stream_maps_line),
    # The answers changed while they were read; a later run reads them again (paging.py).
    (lambda e: isinstance(e, PagingError), Kind.TRANSIENT, str),
    (
        lambda e: isinstance(e, RetriableAPIError),
        Kind.TRANSIENT,
        lambda e: f"{e}; still failing {_RETRIED}",
    ),
    (
        lambda e: isinstance(e, requests.exceptions.RequestException),
        Kind.TRANSIENT,
        _connection_line,
    ),
    # Any other refusal (400, 404, ...): the request the settings made is refused.
    (lambda e: isinstance(e, FatalAPIError), Kind.CONFIG, _refused_line),
)


def classify(exc: BaseException) -> Failure:
    """The kind, the one line (redacted, on one line) and the exit code of `exc`."""
    kind: Kind = Kind.SYSTEM
    line: Callable[[BaseException], str] = _system_line
    for matches, rule_kind, rule_line in RULES:
        if matches(exc):
            kind, line = rule_kind, rule_line
            break
    exit_code = exc.exit_code if isinstance(exc, Interrupted | UsageError) else 1
    text = line(exc) or type(exc).__name__
    return Failure(kind, " ".join(REDACT(text).split()), exit_code)


def stack_trace(exc: BaseException) -> str:
    """The traceback of `exc`, redacted."""
    return REDACT("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


# --------------------------------------------------------------------------- network errors
def describe(exc: BaseException | None) -> str:
    """A one-line reason without any request detail that could hold a secret."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, ExchangeTimeout):
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, requests.exceptions.RequestException):
        return f"{type(exc).__name__}: connection to the server failed or timed out"
    return REDACT(str(exc)) or type(exc).__name__


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception it wraps (args, `reason`, cause, context), each once.

    requests and urllib3 bury the OS's error several wrappers deep, in any of these places.
    """
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo += [*item.args, getattr(item, "reason", None), item.__cause__, item.__context__]


def is_network_failure(exc: BaseException) -> bool:
    """Whether `exc` is a connection refused, reset or unresolvable: no answer at all.

    A host that stopped answering so rarely comes back within minutes: these are retried for
    `connection_retry_seconds`, not for the longer budget of 429 and 5xx answers.
    """
    if isinstance(exc, ConnectionResetError):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError) or isinstance(
        exc, requests.exceptions.Timeout
    ):
        return False
    return connect_failure(exc) is not None or _was_reset(exc)


def _was_reset(exc: BaseException) -> bool:
    return any(
        isinstance(item, ConnectionResetError | http.client.RemoteDisconnected)
        for item in causes(exc)
    )


def connect_failure(exc: BaseException) -> str | None:
    """Why no connection came about, when retrying cannot help; None when it may.

    Refused, a name that does not resolve, a failed TLS handshake, an unreachable proxy: these
    say so. Timeouts, resets and answers of any status are None.
    """
    if isinstance(exc, requests.exceptions.SSLError):
        return f"the TLS handshake failed ({_tls_reason(exc)})"
    if not isinstance(exc, requests.exceptions.ConnectionError) or isinstance(
        exc, requests.exceptions.ConnectTimeout
    ):
        return None
    cause = exc.args[0] if exc.args else None
    cause = getattr(cause, "reason", cause)  # urllib3's MaxRetryError holds the cause
    request = exc.request
    parts = urlsplit(request.url or "") if request is not None else urlsplit("")
    if isinstance(exc, requests.exceptions.ProxyError):
        return "the proxy this machine is set to use (HTTPS_PROXY, HTTP_PROXY) cannot be reached"
    if isinstance(cause, urllib3.exceptions.NameResolutionError):
        return f"the name {parts.hostname} does not resolve (DNS)"
    if isinstance(cause, urllib3.exceptions.NewConnectionError):
        error = cause.__cause__
        if isinstance(error, OSError) and error.errno == errno.ECONNREFUSED:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            return f"connection refused (nothing listens on port {port})"
        if isinstance(error, OSError) and error.strerror:
            return f"no connection ({error.strerror})"
        return "no connection"
    return None


def _tls_reason(exc: BaseException) -> str:
    """The TLS library's reason (e.g. certificate verify failed: self-signed certificate)."""
    for item in causes(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {item.verify_message}"
        if isinstance(item, ssl.SSLError) and item.reason:
            return str(item.reason).replace("_", " ").lower()
    return "see the server's certificate and this machine's CA bundle"


def broken_connection(exc: BaseException) -> str:
    """How an established connection broke: reset, closed without an answer, or else."""
    for item in causes(exc):
        if isinstance(item, ConnectionResetError):
            return "the server reset the connection"
        if isinstance(item, http.client.RemoteDisconnected):
            return "the server closed the connection without an answer"
    return f"{type(exc).__name__}: the connection failed"
