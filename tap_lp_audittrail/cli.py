"""The command line's last word: an expected failure ends the run with one line saying what to fix.

Every failure the tap expects (a setting or state it cannot use, credentials refused, a missing
permission, a host it cannot reach, a refused query, retries exhausted, answers it cannot page)
ends the process with exit code 1 and one ERROR line, the last line of stderr. No traceback at
the default log level; at DEBUG the traceback is logged with it. Anything else is a bug and
keeps the SDK's traceback.
"""

from __future__ import annotations

import atexit
import http.client
import json
import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click
import requests
from singer_sdk.exceptions import (
    ConfigValidationError,
    FatalAPIError,
    RetriableAPIError,
    StreamMapConfigError,
)
from singer_sdk.plugin_base import SingerCommand

from tap_lp_audittrail.errors import REDACT, AuthError, UnreachableError
from tap_lp_audittrail.paging import PagingError
from tap_lp_audittrail.stopping import (
    STOP,
    Interrupted,
    StdoutClosed,
    end_by_sigpipe,
    is_broken_pipe,
)
from tap_lp_audittrail.transport import causes, connect_failure, host_of, is_network_failure

EXPECTED: tuple[type[BaseException], ...] = (
    ConfigValidationError,
    FatalAPIError,  # AuthError, UnreachableError, refused queries, other 4xx
    RetriableAPIError,  # 429, 5xx, unreadable answers: after max_retry_seconds of retries
    requests.exceptions.RequestException,  # the network, after retries
    PagingError,
    StreamMapConfigError,  # `stream_maps` the SDK refuses
)

#: The SDK's own line when a stream's sync raises: it names a stream that is often not the
#: cause (the first one selected), and the tap's own line follows.
_SDK_SYNC_ERROR = "An unhandled error occurred while syncing"

_RETRIED = (
    "after retrying for up to `max_retry_seconds`: try again later (a new run resumes from "
    "the last bookmark), or raise `max_retry_seconds`"
)


def failure_line(exc: BaseException) -> str:
    """One line for an expected failure: what happened, and what to fix."""
    if isinstance(exc, ConfigValidationError):
        problems = [str(e) for e in exc.errors]
        line = f"{exc}: {'; '.join(problems)}" if problems else str(exc)
    elif isinstance(exc, AuthError | UnreachableError | PagingError):
        line = str(exc)
    elif isinstance(exc, StreamMapConfigError):
        line = (
            f"`stream_maps`: {str(exc).rstrip('.')}. A map naming a stream that is not "
            "selected fails so (an SDK trap): name in `stream_maps` only the streams you select "
            "(docs/troubleshooting.md, Known SDK traps)"
        )
    elif isinstance(exc, RetriableAPIError):
        line = f"{exc}; still failing {_RETRIED}"
    elif isinstance(exc, FatalAPIError):
        line = (
            f"{exc}. Not retried: the server refused the request; check `account_id`, "
            "`domain` and the settings that shape the query (`users`, `language`, "
            "`object_types`, `component_types`)"
        )
    elif isinstance(exc, requests.exceptions.RequestException):
        request = exc.request
        url = str(getattr(request, "url", "") or "")
        where = host_of(url) if url else "the server"
        retried = _RETRIED
        if isinstance(exc, requests.exceptions.Timeout):
            why = f"no answer within `request_timeout` ({type(exc).__name__})"
        else:
            why = connect_failure(exc) or _broken_connection(exc)
            if is_network_failure(exc):
                retried = _RETRIED.replace("max_retry_seconds", "connection_retry_seconds")
        line = f"The connection to {where} kept failing ({why}) {retried}"
    else:
        line = str(exc) or type(exc).__name__
    return " ".join(REDACT(line).split())


def _broken_connection(exc: BaseException) -> str:
    """How an established connection broke: reset, closed without an answer, or else."""
    for item in causes(exc):
        if isinstance(item, ConnectionResetError):
            return "the server reset the connection"
        if isinstance(item, http.client.RemoteDisconnected):
            return "the server closed the connection without an answer"
    return f"{type(exc).__name__}: the connection failed"


class _DropSdkSyncError(logging.Filter):
    """Drops the SDK's per-stream error line while an expected failure is on its way up."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the SDK's sync error line about an expected failure (below DEBUG)."""
        if not str(record.msg).startswith(_SDK_SYNC_ERROR):
            return True
        if logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return True
        # The SDK logs it inside its `except` block: the exception being handled is the cause.
        return not isinstance(sys.exc_info()[1], (*EXPECTED, Interrupted, StdoutClosed))


def _config_paths(args: list[str]) -> list[str]:
    """The files given to --config (not ENV), as click will read them."""
    paths = []
    for index, arg in enumerate(args):
        if arg == "--config" and index + 1 < len(args):
            paths.append(args[index + 1])
        elif arg.startswith("--config="):
            paths.append(arg.split("=", 1)[1])
    return [path for path in paths if path != "ENV"]


def _check_config_file(path: str) -> None:
    """A settings file that is not a JSON object stops the run with one line naming it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return  # said by parse_args, as before
    except (OSError, UnicodeDecodeError) as exc:
        problem = f"--config {path}: cannot be read ({exc.__class__.__name__}: {exc})"
        raise ConfigValidationError("A settings file is not usable", errors=[problem]) from None
    try:
        value = json.loads(text)
    except ValueError as exc:
        problem = f"--config {path}: not valid JSON ({exc}); fix the file"
        raise ConfigValidationError("A settings file is not usable", errors=[problem]) from None
    if not isinstance(value, dict):
        problem = f"--config {path}: expected a JSON object of settings, got {type(value).__name__}"
        raise ConfigValidationError("A settings file is not usable", errors=[problem])


class TapCommand(SingerCommand):
    """The SDK's command, with the tap's expected failures each ending in one line."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command; an expected failure logs its line and exits 1."""
        drop = _DropSdkSyncError()
        for handler in logging.getLogger().handlers:
            handler.addFilter(drop)
        try:
            result = super().main(*args, **kwargs)
        except Interrupted as exc:
            self.stop_with(exc)
        except StdoutClosed:
            self.quiet_end()
        except Exception as exc:
            if STOP.is_set():  # what the stop broke on its way
                self.stop_with(Interrupted(STOP.signum or 0))
            if isinstance(exc, EXPECTED):
                self.fail_with(exc)
            raise
        if STOP.is_set():  # the signal came when there was nothing left to stop
            self.stop_with(Interrupted(STOP.signum or 0))
        return result

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """The SDK reads `--config` files while parsing: a missing one is an expected failure."""
        for path in _config_paths(args):
            _check_config_file(path)
        try:
            return super().parse_args(ctx, args)
        except FileNotFoundError as exc:
            problem = f"{exc} Check the path given to --config"
            raise ConfigValidationError("A settings file is missing", errors=[problem]) from None

    def invoke(self, ctx: click.Context) -> Any:
        """SingerCommand.invoke without its config-error lines: `main` says it once."""
        logging.captureWarnings(capture=True)
        warnings.filterwarnings("once", category=DeprecationWarning)
        sys.excepthook = self.excepthook
        return click.Command.invoke(self, ctx)

    def stop_with(self, exc: Interrupted) -> NoReturn:
        """End a run that a signal stopped: exit 128 + the signal's number, quietly."""
        self._end_logging()
        sys.exit(exc.exit_code)

    def quiet_end(self) -> NoReturn:
        """The reader of stdout has gone: end as a shell's commands do there (SIGPIPE, 141)."""
        self._end_logging()
        end_by_sigpipe()

    @staticmethod
    def _end_logging() -> None:
        for handler in logging.getLogger().handlers:
            handler.flush()
        logging.disable(logging.CRITICAL)  # window threads winding down say nothing more

    def fail_with(self, exc: BaseException) -> NoReturn:
        """Log the one line (with the traceback at DEBUG) and end the process."""
        debug = self.logger.isEnabledFor(logging.DEBUG)
        self.logger.error("%s", failure_line(exc), exc_info=exc if debug else None)
        for handler in logging.getLogger().handlers:
            handler.flush()
        # The line above is the last: window threads still winding down say nothing more.
        logging.disable(logging.CRITICAL)
        sys.exit(1)


def run_and_exit(command: Callable[[], object]) -> NoReturn:
    """Run a console command, then end the process as soon as everything it wrote is out.

    Python's own exit frees every module and object one by one: some 0.15 s after the SDK's
    imports, on every run, for nothing a finished process needs. What does matter at exit
    happens first, as it would at a normal exit: other non-daemon threads are joined, the
    atexit functions run (logging's flush and close among them), stdout and stderr are flushed.
    A reader of stdout that has gone (a closed pipe) ends the process by SIGPIPE, as a
    shell's own commands end there (141); another failed flush ends with 120, as Python's
    own exit does. An uncaught exception leaves the normal way, with its traceback, and so
    does every exit while a profiler or a tracer (a debugger, coverage) is on, so that it
    can write what it recorded.
    """
    STOP.install()
    try:
        command()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:  # SIGINT before the handlers were installed
        code = 130
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)  # type: ignore[arg-type]
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    status = code or 0
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # what Python's own exit runs first
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError) as exc:
            if stream is sys.stdout and is_broken_pipe(exc):
                end_by_sigpipe()
            status = status or 120
    os._exit(status)
