"""The command line's last word: a failure ends the run with one line saying what to fix.

Every failure ends the process with its one ERROR line, the last line of stderr, and its exit
code, as failures.py classifies it (the same line the Airbyte entry point sends). No traceback
at the default log level, but for an unexpected error (a bug), whose line comes with it; at
DEBUG the traceback is logged with every line.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn

import click

from tap_lp_audittrail.failures import Kind, classify
from tap_lp_audittrail.jsonfiles import read_json_object
from tap_lp_audittrail.sdk_shim import DropSyncErrorLine, QuietCommand
from tap_lp_audittrail.stopping import (
    STOP,
    Interrupted,
    StdoutClosed,
    end_by_sigpipe,
    is_broken_pipe,
)


def _config_paths(args: list[str]) -> list[str]:
    """The files given to --config (not ENV), as click will read them."""
    paths = []
    for index, arg in enumerate(args):
        if arg == "--config" and index + 1 < len(args):
            paths.append(args[index + 1])
        elif arg.startswith("--config="):
            paths.append(arg.split("=", 1)[1])
    return [path for path in paths if path != "ENV"]


class TapCommand(QuietCommand):
    """The SDK's command, with the tap's expected failures each ending in one line."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command; a failure logs its line and exits with its code."""
        drop = DropSyncErrorLine()
        handlers = logging.getLogger().handlers[:]
        for handler in handlers:
            handler.addFilter(drop)
        try:
            try:
                result = super().main(*args, **kwargs)
            except Interrupted as exc:
                self.stop_with(exc)
            except StdoutClosed:
                self.quiet_end()
            except Exception as exc:
                if STOP.is_set():  # what the stop broke on its way
                    self.stop_with(Interrupted(STOP.signum or 0))
                self.fail_with(exc)
            if STOP.is_set():  # the signal came when there was nothing left to stop
                self.stop_with(Interrupted(STOP.signum or 0))
            return result
        finally:
            # A command run in process (tests, an orchestrator's) leaves the handlers as it
            # found them.
            for handler in handlers:
                handler.removeFilter(drop)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Each `--config` file read by the tap's loader before the SDK reads it.

        A file missing, unreadable, not JSON or not an object is then one line naming it.
        """
        for path in _config_paths(args):
            read_json_object(path, "config")
        return super().parse_args(ctx, args)

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
        """Log the one line (with the traceback at DEBUG, or for a bug) and end the process."""
        failure = classify(exc)
        traced = failure.kind is Kind.SYSTEM or self.logger.isEnabledFor(logging.DEBUG)
        self.logger.error("%s", failure.line, exc_info=exc if traced else None)
        for handler in logging.getLogger().handlers:
            handler.flush()
        # The line above is the last: window threads still winding down say nothing more.
        logging.disable(logging.CRITICAL)
        sys.exit(failure.exit_code)


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
