"""Serving a capture (docs/capture.md): the same requests get the captured answers, in order.

Windows are read side by side, so the order of requests differs from run to run: a request is
matched by its method, path, query and, for the audit endpoint, its JSON body; each such key
has its own queue of captured answers, served in the captured order. A request the capture
does not hold (or whose answers are all served) gets a 404 whose message names it. The
Domain API's answers name the replay's own host, so every service is asked here. Credentials
are not checked: a capture holds none.

A capture may come from anyone: its files are checked whole before anything is served (one
line naming the file, the line and the field), and the config written for the tap takes from
its settings only what shapes the requests (REPLAYED_SETTINGS): never a setting that writes,
filters or maps records, or names a host.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from tap_lp_audittrail.capture_format import (
    ACCOUNT_PLACEHOLDER,
    EXCHANGES,
    FORMAT,
    SETTINGS,
    WINDOWS,
    service_of,
)

Key = tuple[str, str, str, str]

_PLACEHOLDER = re.compile(r"(?<![A-Za-z0-9_])" + ACCOUNT_PLACEHOLDER + r"(?![A-Za-z0-9_])")


#: Secret settings a replay config fills with a stand-in (the capture holds "***").
STAND_IN = "replay"
#: The credential settings of the tap: present in a capture (as "***"), a stand-in replays
#: them, so that the replayed run takes the same way in.
CREDENTIALS = (
    "app_key", "app_secret", "access_token", "access_token_secret", "password", "client_id",
    "client_secret", "bearer_token",
)  # fmt: skip


def _string_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _lists_by_name(value: object) -> bool:
    return isinstance(value, dict) and all(_string_list(v) for v in value.values())


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: The captured settings a replay takes, each with what its value must be: those that shape
#: the requests the tap makes and how it reads their answers. Nothing else, whatever a
#: settings.json holds: no setting that writes (`capture_dir`), filters or maps records
#: (`stream_maps`...), or names a host (the replay names its own), and no timing of retries.
REPLAYED_SETTINGS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "auth_method": ("a string", lambda v: isinstance(v, str)),
    "username": ("a string", lambda v: isinstance(v, str)),
    "start_date": ("a string", lambda v: isinstance(v, str)),
    "end_date": ("a string", lambda v: isinstance(v, str)),
    "include_lpa": ("true or false", lambda v: isinstance(v, bool)),
    "include_automatic_updates": ("true or false", lambda v: isinstance(v, bool)),
    "users": ("a list of strings", _string_list),
    "language": ("a string", lambda v: isinstance(v, str)),
    "page_size": ("an integer", _integer),
    "window_days": ("an integer", _integer),
    "max_concurrency": ("an integer", _integer),
    "lookback_minutes": ("an integer", _integer),
    "object_types": ("an object of lists of strings", _lists_by_name),
    "component_types": ("an object of lists of strings", _lists_by_name),
    **{name: ("a string", lambda v: isinstance(v, str)) for name in CREDENTIALS},
}


class CaptureError(ValueError):
    """A capture that cannot be replayed; the message is one line naming the file and line."""


def _instant(text: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _is_instant(value: object) -> bool:
    try:
        _instant(value)  # type: ignore[arg-type]
    except (ValueError, AttributeError):
        return False
    return True


def _pairs(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, str) for v in pair)
        for pair in value
    )


def _base64(value: object) -> bool:
    try:
        base64.b64decode(str(value), validate=True)
    except ValueError:
        return False
    return isinstance(value, str)


#: What each line of exchanges.jsonl must hold (name: what it must be, and a check).
EXCHANGE_FIELDS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "method": ("a string", lambda v: isinstance(v, str) and v.isalpha()),
    "path": ("a path", lambda v: isinstance(v, str) and v.startswith("/")),
    "query": ("a list of [name, value] pairs", _pairs),
    "service": ("a string", lambda v: isinstance(v, str)),
    "status": ("an HTTP status", lambda v: _integer(v) and 100 <= v <= 599),  # type: ignore[operator]
}
#: Fields an exchange may hold; each must be so when it does.
EXCHANGE_OPTIONAL: dict[str, tuple[str, Callable[[object], bool]]] = {
    "response_headers": (
        "an object of strings",
        lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
    ),
    "response_body": ("a string or null", lambda v: v is None or isinstance(v, str)),
    "response_body_base64": ("base64 text", _base64),
    "error": ("a string or null", lambda v: v is None or isinstance(v, str)),
}
#: What each line of windows.jsonl must hold.
WINDOW_FIELDS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "start": ("a date-time", _is_instant),
    "end": ("a date-time", _is_instant),
    "last": ("true or false", lambda v: isinstance(v, bool)),
    "inclusive": ("true, false or null", lambda v: v is None or isinstance(v, bool)),
    "firsts": ("a list of integers", lambda v: isinstance(v, list) and all(map(_integer, v))),
}


def _check(where: str, value: object, required: dict, optional: dict | None = None) -> None:
    """`value` is an object holding each of `required` as it must be, and any of `optional`.

    Else one line naming `where` and the field.
    """
    if not isinstance(value, dict):
        raise CaptureError(f"{where}: expected a JSON object, got {type(value).__name__}")
    for name, (shape, ok) in required.items():
        if name not in value:
            raise CaptureError(f"{where}: `{name}` is missing")
        if not ok(value[name]):
            raise CaptureError(f"{where}: `{name}` is not {shape}")
    for name, (shape, ok) in (optional or {}).items():
        if name in value and not ok(value[name]):
            raise CaptureError(f"{where}: `{name}` is not {shape}")


def _whole_lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """A capture file's JSON lines, numbered; a last line cut by a killed run is left out.

    Read as bytes: a kill can cut the last line inside a character, which a text read of the
    file would refuse as a whole. Only the last line, with no end of line, can be cut: any
    other line that is not JSON is an error naming it.
    """
    out = []
    try:
        with path.open("rb") as lines:
            for number, line in enumerate(lines, 1):
                try:
                    value = json.loads(line)
                except RecursionError:
                    raise CaptureError(f"{path} line {number}: nested too deep") from None
                except ValueError as exc:  # UnicodeDecodeError included
                    if not line.endswith(b"\n"):
                        break  # the last line, cut by a kill
                    raise CaptureError(f"{path} line {number}: not JSON ({exc})") from None
                out.append((number, value))
    except OSError as exc:
        raise CaptureError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return out


def read_exchanges(folder: Path) -> list[dict[str, Any]]:
    """The capture's exchanges, each checked; a last line cut by a killed run is left out."""
    path = folder / EXCHANGES
    if not path.is_file():
        raise CaptureError(f"{path}: missing (is {folder} a capture_dir?)")
    out = []
    for number, entry in _whole_lines(path):
        _check(f"{path} line {number}", entry, EXCHANGE_FIELDS, EXCHANGE_OPTIONAL)
        out.append(entry)
    return out


def read_windows(folder: Path) -> list[dict[str, Any]]:
    """The capture's windows (windows.jsonl; a capture of an older tap has none), checked."""
    path = folder / WINDOWS
    if not path.exists():
        return []
    out = []
    for number, window in _whole_lines(path):
        _check(f"{path} line {number}", window, WINDOW_FIELDS)
        out.append(window)
    return out


def read_settings(folder: Path) -> dict[str, Any]:
    """settings.json, checked: what a replay takes of it is as it must be."""
    path = folder / SETTINGS
    try:
        value = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise CaptureError(f"{path}: missing (is {folder} a capture_dir?)") from None
    except RecursionError:
        raise CaptureError(f"{path}: nested too deep") from None
    except ValueError as exc:
        raise CaptureError(f"{path}: not JSON ({exc})") from None
    except OSError as exc:
        raise CaptureError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    _check(
        str(path),
        value,
        {
            "format": (f'"{FORMAT}"', lambda v: v == FORMAT),
            "settings": ("an object", lambda v: isinstance(v, dict)),
            "range": ("an object", lambda v: isinstance(v, dict)),
            "host_time": ("a date-time", _is_instant),
        },
    )
    edges = dict.fromkeys(("start", "end"), ("a date-time", _is_instant))
    _check(f"{path}: range", value["range"], edges)
    _check(f"{path}: settings", value["settings"], {}, REPLAYED_SETTINGS)
    return value


def request_key(method: str, path: str, query: list[list[str]] | list[tuple[str, str]],
                body: Any, service: str) -> Key:  # fmt: skip
    """What a request is matched by: method, path, query and (audit only) the JSON body."""
    shown_query = json.dumps(sorted([list(pair) for pair in query]))
    shown_body = json.dumps(body, sort_keys=True) if service == "audit" else ""
    return method.upper(), path, shown_query, shown_body


class Replay:
    """A threaded HTTP server on a loopback port that serves one capture."""

    def __init__(
        self,
        folder: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        account_id: str | None = None,
    ) -> None:
        """Serve the capture in `folder`.

        `account_id`: the captured account's real id, which only its owner knows. Given, the
        replay asks for it and answers with it where the capture has its placeholder, so a run
        captured in clear replays to exactly its own messages, the `id`s (which hash the
        account id) included.
        """
        self.folder = Path(folder)
        self.account_id = account_id
        self._real = (
            None
            if account_id is None
            else re.compile(r"(?<![A-Za-z0-9_])" + re.escape(account_id) + r"(?![A-Za-z0-9_])")
        )
        self.settings = read_settings(self.folder)
        self.windows = read_windows(self.folder)
        self.queues: dict[Key, deque[dict[str, Any]]] = {}
        for entry in read_exchanges(self.folder):
            if entry.get("error"):
                continue  # an answer cut on the way: the run asked again
            try:
                key = request_key(
                    entry["method"], entry["path"], entry["query"], entry.get("request_body"),
                    entry["service"],
                )  # fmt: skip
            except RecursionError:
                msg = f"{self.folder / EXCHANGES} (seq {entry.get('seq')}): nested too deep"
                raise CaptureError(msg) from None
            self.queues.setdefault(key, deque()).append(entry)
        self.served = 0
        self.missing: list[str] = []
        self._lock = threading.Lock()
        self._server: BaseWSGIServer = make_server(host, port, self, threaded=True)
        self._thread: threading.Thread | None = None

    @property
    def host_port(self) -> str:
        """`host:port` the replay listens on."""
        return f"{self._server.host}:{self._server.port}"

    @property
    def url(self) -> str:
        """Its base URL (the Domain API's and every service's)."""
        return f"http://{self.host_port}"

    def start(self) -> Replay:
        """Serve in a thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Replay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """The WSGI app: the next captured answer to this request, or a 404 naming it."""
        request = Request(environ)
        path, query = (
            self._placeholder(request.path),
            self._placeholder(request.query_string.decode()),
        )
        service = service_of(path)
        body: Any = None
        raw = request.get_data()
        if raw:
            text = self._placeholder(raw.decode("utf-8", "replace"))
            try:
                body = json.loads(text)
            except ValueError:
                body = text
        key = request_key(request.method, path, parse_qsl(query, True), body, service)
        with self._lock:
            queue = self.queues.get(key)
            entry = queue.popleft() if queue else None
            if entry is None:
                self.missing.append(f"{request.method} {request.full_path}")
            else:
                self.served += 1
        if entry is None:
            held = "all its answers were served" if queue is not None else "no answer to it"
            message = f"the capture holds {held}: {request.method} {request.full_path}" + (
                f" body {json.dumps(body)[:2000]}" if body is not None else ""
            )
            response = Response(
                json.dumps({"time": 0, "message": message, "internalCode": 404}),
                status=404,
                mimetype="application/json",
            )
            return response(environ, start_response)
        return self._answer(entry, service)(environ, start_response)

    def _placeholder(self, text: str) -> str:
        """A request's text as the capture holds it: the real account id as its placeholder."""
        return text if self._real is None else self._real.sub(ACCOUNT_PLACEHOLDER, text)

    def _answer(self, entry: dict[str, Any], service: str) -> Response:
        headers = dict(entry.get("response_headers") or {})
        content_type = headers.pop("Content-Type", None)
        if "response_body_base64" in entry:
            data: bytes | str = base64.b64decode(entry["response_body_base64"])
        else:
            data = entry.get("response_body") or ""
        if service == "domain" and entry["status"] == 200 and isinstance(data, str):
            try:
                answer = json.loads(data)
                answer["baseURI"] = self.host_port
                data = json.dumps(answer)
            except (ValueError, TypeError, RecursionError):
                pass  # served as captured
        if self.account_id is not None and isinstance(data, str):
            data = _PLACEHOLDER.sub(self.account_id, data)
        response = Response(data, status=entry["status"], headers=headers)
        if content_type:
            response.headers["Content-Type"] = content_type
        return response

    def tap_config(self) -> dict[str, Any]:
        """A config making the tap ask what the captured run asked, here.

        Of the captured settings, only REPLAYED_SETTINGS; credentials as a stand-in.
        """
        captured = self.settings["settings"]
        config: dict[str, Any] = {
            name: STAND_IN if name in CREDENTIALS else value
            for name, value in captured.items()
            if name in REPLAYED_SETTINGS and value not in (None, "")
        }
        config["account_id"] = self.account_id or ACCOUNT_PLACEHOLDER
        config["domain_api_url"] = self.url
        if captured.get("domain"):
            config["domain"] = self.host_port
        # The captured range; as the run's own setting spelt it when that is the same instant
        # (the state's starting_replication_value repeats the setting's text).
        for setting, edge in (("start_date", "start"), ("end_date", "end")):
            given, resolved = config.get(setting), self.settings["range"][edge]
            if not (isinstance(given, str) and _same_instant(given, resolved)):
                config[setting] = resolved
        config["replay_host_time"] = self.settings["host_time"]
        if self.windows:
            config["replay_windows"] = [
                {key: window[key] for key in ("start", "end", "last", "inclusive", "firsts")}
                for window in self.windows
            ]
        return config


def _same_instant(one: str, other: str) -> bool:
    try:
        return _instant(one) == _instant(other)
    except ValueError:
        return False


def readings_of(report: dict[str, Any]) -> dict[str, Any]:
    """Sandbox `Readings` fields playing what a readings report observed (null: the default)."""
    out: dict[str, Any] = {}
    if report.get("to_date_inclusive") is not None:
        out["to_date_inclusive"] = bool(report["to_date_inclusive"])
    zone = report.get("dates_zone")
    if zone == "UTC":
        out["dates_timezone"] = "utc"
    elif zone:
        out["dates_timezone"] = "server"
        out["server_timezone"] = zone
    elif report.get("dates_utc_offset"):
        offset = str(report["dates_utc_offset"])
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if offset in ("+00:00", "-00:00"):
            out["dates_timezone"] = "utc"
        elif minutes == 0:
            out["dates_timezone"] = "server"
            # Etc/GMT names count the other way: Etc/GMT+5 is five hours behind UTC.
            out["server_timezone"] = f"Etc/GMT{'-' if offset[0] == '+' else '+'}{hours}"
    if report.get("page_cap"):
        out["max_page_size"] = int(report["page_cap"])
        if report.get("above_page_cap") in ("cap", "error"):
            out["above_max_page_size"] = report["above_page_cap"]
    if report.get("total_count") in ("total", "page"):
        out["total_count"] = report["total_count"]
    return out


def late_of(report: dict[str, Any]) -> dict[str, Any]:
    """`DataSpec` fields playing the late changes a report observed."""
    late = report.get("late_changes") or {}
    lag = late.get("largest_lag_seconds")
    if not late.get("count") or not lag:
        return {}
    return {"late_share": 0.02, "late_by_seconds": float(lag)}
