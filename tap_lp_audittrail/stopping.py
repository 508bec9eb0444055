"""How a run ends when it is told to (SIGINT, SIGTERM) or when its reader goes away (`| head`).

A signal handler runs in the main thread between two bytecodes, possibly in the middle of a
write to stdout: whatever it writes or raises there can cut a line. So the first SIGINT or
SIGTERM only sets a flag. The read looks at it between batches (and while it waits for pages
or retries): it stops reading, writes a STATE that covers every RECORD it wrote, and the
command exits with 128 + the signal's number (130, 143), as a shell reports a process that a
signal ended. A second signal ends the process at once, without another line: the last STATE
that was written whole stays valid.

A reader that closes stdout (`tap-lp-audittrail | head`) gets no more lines and no error: the
process ends as a shell's own commands do there, by SIGPIPE (status 141), quietly.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType
from typing import NoReturn

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))


def signal_name(signum: int) -> str:
    """SIGTERM, SIGINT, ..."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Interrupted(Exception):  # noqa: N818 - a stop asked for, not an error
    """The run was told to stop; raised where the read noticed, to end the command."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal_name(signum)}")

    @property
    def exit_code(self) -> int:
        """128 + the signal's number: what a shell shows for a process a signal ended."""
        return 128 + self.signum


class StdoutClosed(Exception):  # noqa: N818 - the reader left; not the tap's error
    """stdout's reader has gone (a closed pipe): nothing more can be handed over."""


class StopRequest:
    """The process's stop flag, set by the first SIGINT or SIGTERM (one per process)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._installed = False

    def install(self) -> None:
        """Take over SIGINT and SIGTERM (from the main thread only; later calls do nothing)."""
        if self._installed or threading.current_thread() is not threading.main_thread():
            return
        for signum in SIGNALS:
            signal.signal(signum, self._handle)
        self._installed = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            os._exit(128 + signum)  # the second signal: at once
        self.signum = signum  # a plain attribute: no lock is taken inside a handler

    def is_set(self) -> bool:
        """Whether a stop has been asked for."""
        return self.signum is not None

    def check(self) -> None:
        """Raise Interrupted if a stop has been asked for."""
        if self.signum is not None:
            raise Interrupted(self.signum)

    def reset(self) -> None:
        """Forget a stop (tests that run the tap in their own process)."""
        self.signum = None


#: The one stop flag of this process.
STOP = StopRequest()


def is_broken_pipe(exc: BaseException) -> bool:
    """Whether `exc` is the closed-pipe failure of a write to stdout."""
    return isinstance(exc, BrokenPipeError) or (
        isinstance(exc, OSError) and exc.errno == 32  # EPIPE
    )


def end_by_sigpipe() -> NoReturn:
    """End the process as SIGPIPE ends `yes | head`'s writer: status 141, no message.

    stdout is pointed at /dev/null first, so that nothing still buffered fails again at exit.
    """
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGPIPE)
    os._exit(141)
