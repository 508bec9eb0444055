"""`source-lp-audittrail`'s command line: `spec`, `check`, `discover` and `read`.

Each command writes Airbyte messages only (messages.py) and runs the Singer tap's own engine
with the Airbyte writer. A failure ends the command with a TRACE message of type ERROR, the
last line it writes, from the classification the Singer command line uses (failures.py): the
same line, its `failure_type` from the failure's kind, the same exit code.

The command line is airbyte-cdk's (`AirbyteEntrypoint.parse_args`): `--debug` after the command,
and before it too; `LOG_LEVEL=debug` in the environment turns DEBUG on as the CDK's
`is_platform_debug_log_enabled` does. A command line that is not one ends with a TRACE of its
own (`config_error`, exit code 2) instead of argparse's text on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import IO, Any, NoReturn

from singer_sdk.exceptions import ConfigValidationError

from tap_lp_audittrail.airbyte.catalog import airbyte_catalog, selected_streams
from tap_lp_audittrail.airbyte.messages import AirbyteLogHandler, AirbyteMessages, Discard, Stdout
from tap_lp_audittrail.airbyte.spec import CREDENTIALS, flat_config, spec_message
from tap_lp_audittrail.airbyte.state import starting_state
from tap_lp_audittrail.cli import run_and_exit
from tap_lp_audittrail.elements import STREAM_NAMES
from tap_lp_audittrail.failures import Kind, UsageError, classify, stack_trace
from tap_lp_audittrail.jsonfiles import read_json, read_json_object
from tap_lp_audittrail.sdk_shim import OnlyWarnings, RecordLimitIsNoError
from tap_lp_audittrail.settings import learn_secrets
from tap_lp_audittrail.stopping import STOP, Interrupted, StdoutClosed, end_by_sigpipe
from tap_lp_audittrail.tap import TapLPAuditTrail


class TapLPAuditTrailAirbyte(TapLPAuditTrail):
    """The same tap, writing Airbyte messages."""

    message_writer_class = AirbyteMessages  # type: ignore[assignment]


def load_config(path: str) -> dict[str, Any]:
    """The config file as the tap's settings, its secrets learnt by the redactor first.

    The form's `credentials` are flattened into the settings (spec.py).
    """
    config, where = read_json_object(path, "config")
    credentials = config.get(CREDENTIALS)
    learn_secrets(credentials if isinstance(credentials, dict) else {})
    learn_secrets(config)
    return flat_config(config, where)  # its values are those learnt above


def check(config: dict[str, Any], out: Stdout) -> None:
    """The tap's config checks, then its connection test: one page of the Audit Trail."""
    try:
        tap = TapLPAuditTrailAirbyte(config=config, message_writer=Discard())
    except ConfigValidationError as exc:
        out.connection_status(False, classify(exc).line)
        return
    quiet = (RecordLimitIsNoError(), OnlyWarnings(tap.name))
    handlers = logging.getLogger().handlers
    for handler in handlers:
        for one in quiet:
            handler.addFilter(one)
    try:
        tap.run_connection_test()
    except Exception as exc:
        failure = classify(exc)
        if failure.kind is Kind.SYSTEM:
            logging.getLogger(tap.name).exception("%s", failure.line)
        out.connection_status(False, failure.line)
        return
    finally:
        for handler in handlers:
            for one in quiet:
                handler.removeFilter(one)
    names = tap.run.credential_names
    out.connection_status(
        True,
        f"LivePerson accepted {names or 'the credentials'} for account {config['account_id']} "
        "and the Audit Trail answered.",
    )


def discover(config: dict[str, Any], out: Stdout) -> None:
    """The CATALOG message."""
    tap = TapLPAuditTrailAirbyte(config=config, message_writer=Discard(), setup_mapper=False)
    out.write({"type": "CATALOG", "catalog": airbyte_catalog(tap)})


def read(config: dict[str, Any], modes: dict[str, str], start: dict[str, Any], out: Stdout) -> None:
    """Read the streams of `modes` from the Singer state `start`.

    RECORD, STATE, stream statuses and LOG messages.
    """
    writer = AirbyteMessages(out, streams=list(modes))
    tap = TapLPAuditTrailAirbyte(config=config, state=start, message_writer=writer)
    for name, stream in tap.streams.items():
        stream.selected = name in modes
    writer.known_state(tap.state)
    writer.started()
    try:
        tap.sync_all()
    except BaseException:
        writer.finished(complete=False)
        raise
    writer.finished(complete=True)


def set_aside(unknown: Sequence[tuple[str, str]], out: Stdout) -> None:
    """Streams the catalog names and the source does not have: INCOMPLETE, with the reason.

    As airbyte-cdk's `AbstractSource.read` does: the other streams are read all the same.
    """
    for where, name in unknown:
        logging.getLogger("source-lp-audittrail").warning(
            "%s: %r is not a stream of this source (its streams are %s): it is not read and "
            "ends INCOMPLETE; the other streams are read. Refresh the connection's schema to "
            "drop it",
            where,
            name,
            ", ".join(STREAM_NAMES),
        )
        out.stream_status(name, "INCOMPLETE")


def report_error(exc: BaseException, out: Stdout) -> int:
    """The TRACE message of an error that ends a command (failures.py); its exit code."""
    failure = classify(exc)
    out.error(
        failure.line,
        failure.failure_type,
        type(exc).__name__,
        stack_trace(exc) if failure.kind is Kind.SYSTEM else None,
    )
    return failure.exit_code


class _Parser(argparse.ArgumentParser):
    """argparse, whose errors end the command with a TRACE (UsageError), not on stderr."""

    def error(self, message: str) -> NoReturn:
        """The error and the usage of the command that has it, as one line."""
        usage = " ".join(self.format_usage().split())
        raise UsageError(f"{self.prog}: {message}. {usage[0].upper()}{usage[1:]}")


#: The commands, each with its help and options (airbyte-cdk's `AirbyteEntrypoint.parse_args`).
COMMANDS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    # (command, help, required options, optional options)
    ("spec", "the connection specification", (), ()),
    ("check", "test the connection", ("--config",), ()),
    ("discover", "the streams", ("--config",), ()),
    ("read", "read the configured streams", ("--config", "--catalog"), ("--state",)),
)


def build_parser() -> argparse.ArgumentParser:
    """The Airbyte protocol's commands; `--debug` before or after the command."""
    parser = _Parser(
        prog="source-lp-audittrail",
        description="LivePerson's Audit Trail as an Airbyte source (the tap-lp-audittrail engine).",
    )
    parser.add_argument("--debug", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, text, required, optional in COMMANDS:
        command = commands.add_parser(name, help=text)
        # SUPPRESS: a `--debug` given before the command is not undone by this one's default.
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="log at DEBUG level"
        )
        for option in required:
            command.add_argument(option, required=True)
        for option in optional:
            command.add_argument(option)
    return parser


def debug_wanted(args: argparse.Namespace) -> bool:
    """`--debug`, or `LOG_LEVEL=debug` as Airbyte's platform sets it."""
    return bool(args.debug) or os.environ.get("LOG_LEVEL", "").strip().lower() == "debug"


def run(argv: Sequence[str] | None = None, stream: IO[str] | None = None) -> int:
    """Run one command; every line on `stream` (default stdout) is an Airbyte message."""
    out = Stdout(stream)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        with contextlib.suppress(StdoutClosed):
            return report_error(exc, out)
        return PIPE_CLOSED
    level = logging.DEBUG if debug_wanted(args) else logging.INFO
    handler = AirbyteLogHandler(out, level)
    root = logging.getLogger()
    saved = (root.level, root.handlers[:])
    root.handlers = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)
    try:
        if args.command == "spec":
            out.write(spec_message())
            return 0
        if args.command == "check":
            try:
                config = load_config(args.config)
            except ConfigValidationError as exc:  # a config that is not usable fails the check
                out.connection_status(False, classify(exc).line)
            else:
                check(config, out)
        elif args.command == "discover":
            discover(load_config(args.config), out)
        else:
            config = load_config(args.config)
            catalog, where = read_json(args.catalog, "catalog")
            modes, unknown = selected_streams(catalog, STREAM_NAMES, where)
            state, where = (
                read_json(args.state, "state", empty_is_none=True) if args.state else (None, "")
            )
            start = starting_state(state, modes, where)
            set_aside(unknown, out)
            if modes:
                read(config, modes, start, out)
    except StdoutClosed:
        return PIPE_CLOSED
    except Exception as exc:
        # A stop asked for explains whatever it broke on its way.
        return report_error(Interrupted(STOP.signum) if STOP.signum is not None else exc, out)
    finally:
        with contextlib.suppress(StdoutClosed):
            out.flush()
        logging.captureWarnings(False)
        root.handlers = saved[1]
        root.setLevel(saved[0])
    return 128 + STOP.signum if STOP.signum is not None else 0


#: run()'s status when stdout's reader has gone: main() then ends by SIGPIPE, quietly.
PIPE_CLOSED = 141


def main() -> NoReturn:
    """Console script `source-lp-audittrail`."""

    def command() -> None:
        code = run()
        if code == PIPE_CLOSED:
            end_by_sigpipe()
        sys.exit(code)

    run_and_exit(command)
