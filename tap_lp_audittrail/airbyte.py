"""`source-lp-audittrail`: the tap as an Airbyte source, speaking the Airbyte protocol.

A thin adapter: `read` runs the Singer tap's own engine (TapLPAuditTrail, its config checks,
windows, retries and redaction); only the messages change on their way out.

- RECORD becomes an Airbyte RECORD (`emitted_at` in milliseconds).
- A Singer STATE `{"bookmarks": {stream: {...}}}` becomes one Airbyte STATE of type STREAM per
  stream whose bookmark changed, its `stream_state` the stream's bookmark as the tap wrote it;
  an incoming Airbyte state (STREAM states, GLOBAL or LEGACY) becomes that Singer state again.
  A stream read in `full_refresh` mode starts without its bookmark.
- SCHEMA says nothing here: `discover` gives the schemas.
- Python logging leaves as LOG messages; nothing else reaches stdout.
- Every selected stream is STARTED when the read begins (the engine reads them all in one
  pass), RUNNING at its first record, and COMPLETE or INCOMPLETE when the read ends.
- An error ends the command with a TRACE message of type ERROR: its message is the line the
  Singer command line ends with, its `failure_type` follows the failure's kind and the exit
  code is the same (failures.py: `config_error` for settings, files, refused credentials,
  missing permissions and hosts that never answered; `transient_error` for the server or the
  network still failing after the retries, and for a stop asked for; `system_error` for a bug).
  Its text names the setting or permission and holds no secret.

The messages are plain JSON: the adapter needs no Airbyte package at run time.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import logging
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any, NoReturn

import msgspec
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.singerlib.encoding.base import GenericSingerWriter
from singer_sdk.singerlib.encoding.simple import Message, RecordMessage, StateMessage

from tap_lp_audittrail.cli import run_and_exit
from tap_lp_audittrail.credentials import AUTH_TABLE, SECRET_SETTINGS, secret_values
from tap_lp_audittrail.elements import STREAM_NAMES
from tap_lp_audittrail.errors import REDACT, RedactingFilter
from tap_lp_audittrail.failures import Kind, classify, stack_trace
from tap_lp_audittrail.jsonfiles import read_json, read_json_object, unusable
from tap_lp_audittrail.output import Lines
from tap_lp_audittrail.sdk_shim import OnlyWarnings, RecordLimitIsNoError
from tap_lp_audittrail.stopping import (
    STOP,
    Interrupted,
    StdoutClosed,
    end_by_sigpipe,
)
from tap_lp_audittrail.tap import TapLPAuditTrail

SYNC_MODES = ("full_refresh", "incremental")
LOG_LEVELS = {
    logging.CRITICAL: "FATAL",
    logging.ERROR: "ERROR",
    logging.WARNING: "WARN",
    logging.INFO: "INFO",
    logging.DEBUG: "DEBUG",
}

#: The settings form's first group: the account and where its hosts are.
ACCOUNT_SETTINGS = ("account_id", "auth_method", "domain", "domain_api_url")
#: The groups after the credentials' (one per way of logging in, from the auth table). A setting
#: in no group lands in the last.
LATER_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "read",
        "What to read",
        (
            "start_date",
            "end_date",
            "include_lpa",
            "include_automatic_updates",
            "users",
            "language",
            "lookback_minutes",
            "object_types",
            "component_types",
        ),
    ),
    (
        "requests",
        "Requests and retries",
        (
            "page_size",
            "window_days",
            "max_concurrency",
            "request_timeout",
            "max_retry_seconds",
            "connection_retry_seconds",
            "retry_initial_wait",
        ),
    ),
)


def form_groups() -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """The form's groups (id, title, settings): the account, one per auth method, the rest.

    A method's group holds its credential settings that no group before holds; its title
    names every method that takes them (the API key's: oauth1 or login).
    """
    groups: list[tuple[str, str, tuple[str, ...]]] = [("account", "Account", ACCOUNT_SETTINGS)]
    placed = set(ACCOUNT_SETTINGS)
    for method in AUTH_TABLE:
        own = tuple(key for key in method.settings if key not in placed)
        placed.update(own)
        takers = " or ".join(m.name for m in AUTH_TABLE if set(own) & set(m.settings))
        groups.append((method.name, f"{method.label} - auth_method {takers}", own))
    return (*groups, *LATER_GROUPS)


def now_ms() -> int:
    """Milliseconds since the epoch, as Airbyte stamps its messages."""
    return time.time_ns() // 1_000_000


class Stdout:
    """Airbyte messages to stdout, one JSON line each, from any thread.

    RECORD lines are gathered and leave in chunks; every other message leaves at once with the
    lines before it, so a reader sees each STATE after the records it covers.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._lines = Lines(stream)
        self._lock = threading.Lock()
        self._encoder = msgspec.json.Encoder()
        #: Set by the ERROR trace that ends the command: nothing is logged after it (a window
        #: thread still finishing a request may log, and the error must be the last word).
        self._ended = False

    def write(
        self, message: Mapping[str, Any], *, chunked: bool = False, last: bool = False
    ) -> None:
        """Queue one message; write the queue out unless `chunked` and the queue is small.

        After a message written as the `last`, LOG messages are dropped.
        """
        with self._lock:
            if (self._ended or self._lines.closed) and message.get("type") == "LOG":
                return
            self._ended = self._ended or last
            self._encoder.encode_into(message, self._lines.pending, -1)
            self._lines.pending += b"\n"
            self._lines.flush_if(not chunked)

    def write_lines(self, lines: bytes) -> None:
        """Queue lines encoded already (the read's RECORD lines); out once the queue is big."""
        with self._lock:
            self._lines.pending += lines
            self._lines.flush_if(False)

    def flush(self) -> None:
        """Write every queued line."""
        with self._lock:
            self._lines.flush()

    @property
    def closed(self) -> bool:
        """The reader has gone (a closed pipe): nothing is written any more."""
        return self._lines.closed

    # ------------------------------------------------------------------ messages
    def log(self, level: str, message: str, stack_trace: str | None = None) -> None:
        """A LOG message (none once the command has ended with an error)."""
        log: dict[str, Any] = {"level": level, "message": message}
        if stack_trace:
            log["stack_trace"] = stack_trace
        self.write({"type": "LOG", "log": log})

    def stream_status(self, stream: str, status: str) -> None:
        """A TRACE message of type STREAM_STATUS."""
        self.write(
            {
                "type": "TRACE",
                "trace": {
                    "type": "STREAM_STATUS",
                    "emitted_at": now_ms(),
                    "stream_status": {
                        "stream_descriptor": {"name": stream},
                        "status": status,
                    },
                },
            }
        )

    def error(
        self,
        message: str,
        failure_type: str,
        internal_message: str | None = None,
        stack_trace: str | None = None,
    ) -> None:
        """A TRACE message of type ERROR; its texts pass the redactor."""
        error: dict[str, Any] = {"message": REDACT(message), "failure_type": failure_type}
        if internal_message:
            error["internal_message"] = REDACT(internal_message)
        if stack_trace:
            error["stack_trace"] = REDACT(stack_trace)
        self.write(
            {
                "type": "TRACE",
                "trace": {"type": "ERROR", "emitted_at": now_ms(), "error": error},
            },
            last=True,
        )

    def connection_status(self, succeeded: bool, message: str) -> None:
        """A CONNECTION_STATUS message."""
        self.write(
            {
                "type": "CONNECTION_STATUS",
                "connectionStatus": {
                    "status": "SUCCEEDED" if succeeded else "FAILED",
                    "message": REDACT(message),
                },
            }
        )


class AirbyteLogHandler(logging.Handler):
    """Python logging as Airbyte LOG messages (redacted like every log of the tap)."""

    def __init__(self, out: Stdout, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.out = out
        self.addFilter(RedactingFilter())
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Write one LOG message; a traceback goes in its stack_trace."""
        try:
            message = f"{record.name}: {record.getMessage()}"
            stack = record.exc_text
            if record.exc_info and not stack:
                stack = REDACT("".join(traceback.format_exception(*record.exc_info)))
            level = LOG_LEVELS.get(record.levelno, "INFO" if record.levelno < 40 else "ERROR")
            self.out.log(level, REDACT(message), stack)
        except Exception:  # a log line must never stop the read
            self.handleError(record)


class AirbyteMessages(GenericSingerWriter[bytes, Message]):
    """The tap's Singer messages, written out as Airbyte messages."""

    def __init__(self, out: Stdout | None = None, streams: Sequence[str] = ()) -> None:
        self.out = out or Stdout()
        #: The selected streams, in the tap's order.
        self.streams = list(streams)
        self._encode = msgspec.json.Encoder().encode
        self._said: dict[str, bytes] = {}  # stream -> its bookmark as last sent (or received)
        self._records: dict[str, int] = {}  # stream -> records since its last STATE
        self._running: set[str] = set()

    def known_state(self, state: Mapping[str, Any]) -> None:
        """Bookmarks the reader already has: they are not sent again until they change."""
        for stream, entry in (state.get("bookmarks") or {}).items():
            self._said[stream] = self._encode(entry)

    # The read's fast path (output.RecordWriter): RECORD lines it encodes itself.
    def record_prefix(self, stream: str) -> bytes:
        """The start of an Airbyte RECORD line of `stream`, up to its data."""
        return b'{"type":"RECORD","record":{"stream":' + self._encode(stream) + b',"data":'

    def record_suffix(self) -> bytes:
        """`emitted_at` (now) and the line's end."""
        return b',"emitted_at":' + str(now_ms()).encode() + b"}}\n"

    def write_records(self, lines: bytes) -> None:
        """Queue RECORD lines."""
        self.out.write_lines(lines)

    def first_record(self, stream: str) -> None:
        """The stream is RUNNING: said before its first record."""
        if stream not in self._running:
            self._running.add(stream)
            self.out.stream_status(stream, "RUNNING")

    def records_written(self, stream: str, count: int) -> None:
        """Records of `stream` since its last STATE (its sourceStats)."""
        self._records[stream] = self._records.get(stream, 0) + count

    @property
    def closed(self) -> bool:
        """Stdout's reader has gone (a closed pipe): nothing is written any more."""
        return self.out.closed

    def flush(self) -> None:
        """Write every queued line; StdoutClosed if stdout's reader has gone."""
        self.out.flush()

    def serialize_message(self, message: Message) -> bytes:
        """Singer JSON of a message (not used for output; required by the interface)."""
        return self._encode(message.to_dict())

    def write_message(self, message: Message) -> None:
        """RECORD and STATE pass on, translated; SCHEMA and the rest say nothing here."""
        if isinstance(message, RecordMessage):
            stream = message.stream
            if stream not in self._running:
                self._running.add(stream)
                self.out.stream_status(stream, "RUNNING")
            self._records[stream] = self._records.get(stream, 0) + 1
            self.out.write(
                {
                    "type": "RECORD",
                    "record": {"stream": stream, "data": message.record, "emitted_at": now_ms()},
                },
                chunked=True,
            )
        elif isinstance(message, StateMessage):
            for stream, entry in (message.value.get("bookmarks") or {}).items():
                encoded = self._encode(entry)
                if self._said.get(stream) == encoded:
                    continue
                self._said[stream] = encoded
                self.out.write(
                    {
                        "type": "STATE",
                        "state": {
                            "type": "STREAM",
                            "stream": {
                                "stream_descriptor": {"name": stream},
                                "stream_state": msgspec.json.decode(encoded),
                            },
                            "sourceStats": {"recordCount": float(self._records.pop(stream, 0))},
                        },
                    }
                )

    def started(self) -> None:
        """Every selected stream is STARTED: one pass reads them all."""
        for stream in self.streams:
            self.out.stream_status(stream, "STARTED")

    def finished(self, *, complete: bool) -> None:
        """Every selected stream is COMPLETE, or INCOMPLETE when the read failed."""
        self.out.flush()
        for stream in self.streams:
            self.out.stream_status(stream, "COMPLETE" if complete else "INCOMPLETE")


class Discard(GenericSingerWriter[bytes, Message]):
    """Messages nobody reads (the records of a connection test)."""

    def serialize_message(self, message: Message) -> bytes:
        """Nothing."""
        return b""

    def write_message(self, message: Message) -> None:
        """Nothing."""


class TapLPAuditTrailAirbyte(TapLPAuditTrail):
    """The same tap, writing Airbyte messages."""

    message_writer_class = AirbyteMessages  # type: ignore[assignment]


# --------------------------------------------------------------------------- spec
def connection_specification() -> dict[str, Any]:
    """The tap's settings as an Airbyte connection specification.

    The same names, types, defaults and descriptions; secrets are marked `airbyte_secret`,
    and the settings fall in groups (one per way of logging in) for a form to render.
    """
    schema = copy.deepcopy(TapLPAuditTrail.config_jsonschema)
    groups = form_groups()
    group_of = {name: gid for gid, _, names in groups for name in names}
    last_group = groups[-1][0]
    orders: dict[str, int] = {}
    for name, prop in schema["properties"].items():
        types = prop.get("type")
        if isinstance(types, list):
            # A form renders one type; a setting left out is simply absent.
            concrete = [t for t in types if t != "null"]
            prop["type"] = concrete[0] if len(concrete) == 1 else concrete
        if name in SECRET_SETTINGS:
            prop["airbyte_secret"] = True
        if name.startswith("replay_"):
            prop["airbyte_hidden"] = True  # set by the replay's --write-tap-config, not by hand
        group = group_of.get(name, last_group)
        prop["group"] = group
        prop["order"] = orders[group] = orders.get(group, -1) + 1
        prop.setdefault("title", name)
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "LivePerson Audit Trail",
        "type": "object",
        "required": schema.get("required", []),
        "properties": schema["properties"],
        "groups": [{"id": gid, "title": title} for gid, title, _ in groups],
    }


def spec_message() -> dict[str, Any]:
    """The SPEC message."""
    return {
        "type": "SPEC",
        "spec": {
            "connectionSpecification": connection_specification(),
            "supportsIncremental": True,
            "supported_destination_sync_modes": ["overwrite", "append", "append_dedup"],
        },
    }


# --------------------------------------------------------------------------- discover
def airbyte_catalog(tap: TapLPAuditTrail) -> dict[str, Any]:
    """Every stream of the tap, incremental on its own cursor `changeDate`, keyed by `id`."""
    streams = []
    for name, stream in tap.streams.items():
        streams.append(
            {
                "name": name,
                "json_schema": {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    **stream.schema,
                },
                "supported_sync_modes": list(SYNC_MODES),
                "source_defined_cursor": True,
                "default_cursor_field": [stream.replication_key],
                "source_defined_primary_key": [[key] for key in stream.primary_keys or ()],
            }
        )
    return {"streams": streams}


# --------------------------------------------------------------------------- state, catalog
def selected_streams(catalog: object, known: Iterable[str]) -> dict[str, str]:
    """Stream name -> sync mode, from a ConfiguredAirbyteCatalog."""
    names = list(known)
    entries = catalog.get("streams") if isinstance(catalog, dict) else None
    if not isinstance(entries, list):
        raise unusable("Catalog", ["catalog: expected an object with a list of streams"])
    selected: dict[str, str] = {}
    problems = []
    for number, entry in enumerate(entries):
        stream = entry.get("stream") if isinstance(entry, dict) else None
        name = stream.get("name") if isinstance(stream, dict) else None
        if not isinstance(name, str):
            problems.append(f"catalog.streams[{number}]: has no stream name")
            continue
        if name not in names:
            problems.append(
                f"catalog.streams[{number}]: {name!r} is not a stream of this source; "
                f"streams are {', '.join(names)}"
            )
            continue
        mode = entry.get("sync_mode", "incremental")
        if mode not in SYNC_MODES:
            problems.append(
                f"catalog.streams[{number}].sync_mode: {mode!r}; use {' or '.join(SYNC_MODES)}"
            )
            continue
        selected[name] = mode
    if problems:
        raise unusable("Catalog", problems)
    return {name: selected[name] for name in names if name in selected}


def singer_state(state: object) -> dict[str, Any]:
    """The Singer state of an Airbyte state: per-stream STATE messages, GLOBAL, or LEGACY."""
    if state is None or state in ([], {}):
        return {}
    if isinstance(state, dict):
        if "bookmarks" in state:  # legacy: a Singer state as is
            return state
        if "type" in state or "stream" in state:
            return singer_state([state])
        return {"bookmarks": state}  # legacy: stream -> its state
    if not isinstance(state, list):
        raise unusable("State", [f"state: expected a list of state messages, got {_kind(state)}"])
    bookmarks: dict[str, Any] = {}
    for number, given in enumerate(state):
        item = given
        if isinstance(item, dict) and item.get("type") == "STATE" and "state" in item:
            item = item["state"]  # a whole AirbyteMessage
        where = f"state[{number}]"
        if not isinstance(item, dict):
            raise unusable("State", [f"{where}: expected a state message, got {_kind(item)}"])
        kind = item.get("type") or ("LEGACY" if "data" in item else "STREAM")
        if kind == "STREAM":
            name, value = _stream_state(item.get("stream"), where)
            bookmarks[name] = value
        elif kind == "GLOBAL":
            shared = item.get("global")
            entries = shared.get("stream_states") if isinstance(shared, dict) else None
            if not isinstance(entries, list):
                raise unusable("State", [f"{where}.global: expected stream_states"])
            for index, entry in enumerate(entries):
                name, value = _stream_state(entry, f"{where}.global.stream_states[{index}]")
                bookmarks[name] = value
        elif kind == "LEGACY":
            bookmarks.update(singer_state(item.get("data")).get("bookmarks", {}))
        else:
            raise unusable("State", [f"{where}.type: {kind!r}; use STREAM, GLOBAL or LEGACY"])
    return {"bookmarks": bookmarks}


def _stream_state(entry: object, where: str) -> tuple[str, Any]:
    descriptor = entry.get("stream_descriptor") if isinstance(entry, dict) else None
    name = descriptor.get("name") if isinstance(descriptor, dict) else None
    if not isinstance(name, str):
        raise unusable("State", [f"{where}: has no stream_descriptor.name"])
    assert isinstance(entry, dict)
    value = entry.get("stream_state")
    return name, {} if value is None else value


def _kind(value: object) -> str:
    return type(value).__name__


# --------------------------------------------------------------------------- commands
def load_config(path: str) -> dict[str, Any]:
    """The config file, whose secrets the redactor learns before anything is logged."""
    config, _ = read_json_object(path, "config")
    REDACT.add(*secret_values(config))
    return config


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
    names = _credential_names(tap)
    out.connection_status(
        True,
        f"LivePerson accepted {names or 'the credentials'} for account {config['account_id']} "
        "and the Audit Trail answered.",
    )


def discover(config: dict[str, Any], out: Stdout) -> None:
    """The CATALOG message."""
    tap = TapLPAuditTrailAirbyte(config=config, message_writer=Discard(), setup_mapper=False)
    out.write({"type": "CATALOG", "catalog": airbyte_catalog(tap)})


def read(config: dict[str, Any], catalog: object, state: object, out: Stdout) -> None:
    """Read the configured streams: RECORD, STATE, stream statuses and LOG messages."""
    modes = selected_streams(catalog, STREAM_NAMES)
    start = singer_state(state)
    for name, mode in modes.items():
        if mode == "full_refresh":
            start.get("bookmarks", {}).pop(name, None)
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


def _credential_names(tap: TapLPAuditTrail) -> str | None:
    client = tap.__dict__.get("client")
    authenticator = getattr(client, "authenticator", None)
    names = getattr(authenticator, "credential_names", None)
    return str(names) if names else None


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


def build_parser() -> argparse.ArgumentParser:
    """The Airbyte protocol's commands."""
    parser = argparse.ArgumentParser(
        prog="source-lp-audittrail",
        description="LivePerson's Audit Trail as an Airbyte source (the tap-lp-audittrail engine).",
    )
    parser.add_argument("--debug", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("spec", help="the connection specification")
    for name, text in (("check", "test the connection"), ("discover", "the streams")):
        commands.add_parser(name, help=text).add_argument("--config", required=True)
    reader = commands.add_parser("read", help="read the configured streams")
    reader.add_argument("--config", required=True)
    reader.add_argument("--catalog", required=True)
    reader.add_argument("--state")
    return parser


def run(argv: Sequence[str] | None = None, stream: IO[str] | None = None) -> int:
    """Run one command; every line on `stream` (default stdout) is an Airbyte message."""
    args = build_parser().parse_args(argv)
    out = Stdout(stream)
    level = logging.DEBUG if args.debug else logging.INFO
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
        config = load_config(args.config)
        if args.command == "check":
            check(config, out)
        elif args.command == "discover":
            discover(config, out)
        else:
            catalog, _ = read_json(args.catalog, "catalog")
            state = read_json(args.state, "state", empty_is_none=True)[0] if args.state else None
            read(config, catalog, state, out)
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


if __name__ == "__main__":
    main()
