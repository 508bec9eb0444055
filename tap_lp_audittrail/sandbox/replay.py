"""Serving a capture (docs/capture.md): the same requests get the captured answers, in order.

Windows are read side by side, so the order of requests differs from run to run: a request is
matched by its method, path, query and, for the audit endpoint, its JSON body; each such key
has its own queue of captured answers, served in the captured order. A request the capture
does not hold (or whose answers are all served) gets a 404 whose message names it. The
Domain API's answers name the replay's own host, so every service is asked here. Credentials
are not checked: a capture holds none.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from tap_lp_audittrail.capture_format import (
    ACCOUNT_PLACEHOLDER,
    EXCHANGES,
    SETTINGS,
    WINDOWS,
    service_of,
)

Key = tuple[str, str, str, str]

_PLACEHOLDER = re.compile(r"(?<![A-Za-z0-9_])" + ACCOUNT_PLACEHOLDER + r"(?![A-Za-z0-9_])")


#: Secret settings a replay config fills with a stand-in (the capture holds "***").
STAND_IN = "replay"


def _whole_lines(path: Path) -> list[dict[str, Any]]:
    """A capture file's JSON lines, up to the first one a killed run cut.

    Read as bytes: a kill can cut the last line inside a character, which a text read of the
    file would refuse as a whole.
    """
    out = []
    with path.open("rb") as lines:
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:  # UnicodeDecodeError included
                break
    return out


def read_exchanges(folder: Path) -> list[dict[str, Any]]:
    """The capture's exchanges; a last line cut by a killed run is left out."""
    return _whole_lines(folder / EXCHANGES)


def read_windows(folder: Path) -> list[dict[str, Any]]:
    """The capture's windows (windows.jsonl; a capture of an older tap has none)."""
    path = folder / WINDOWS
    return _whole_lines(path) if path.exists() else []


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
        self.settings = json.loads((self.folder / SETTINGS).read_text(encoding="utf-8"))
        self.queues: dict[Key, deque[dict[str, Any]]] = {}
        for entry in read_exchanges(self.folder):
            if entry.get("error"):
                continue  # an answer cut on the way: the run asked again
            key = request_key(
                entry["method"], entry["path"], entry["query"], entry["request_body"],
                entry["service"],
            )  # fmt: skip
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
            except (ValueError, TypeError):
                pass
        if self.account_id is not None and isinstance(data, str):
            data = _PLACEHOLDER.sub(self.account_id, data)
        response = Response(data, status=entry["status"], headers=headers)
        if content_type:
            response.headers["Content-Type"] = content_type
        return response

    def tap_config(self) -> dict[str, Any]:
        """A config making the tap ask what the captured run asked, here."""
        config: dict[str, Any] = dict(self.settings["settings"])
        for key, value in list(config.items()):
            if value == "***":
                config[key] = STAND_IN
        config["account_id"] = self.account_id or ACCOUNT_PLACEHOLDER
        config["domain_api_url"] = self.url
        if config.get("domain"):
            config["domain"] = self.host_port
        # The captured range; as the run's own setting spelt it when that is the same instant
        # (the state's starting_replication_value repeats the setting's text).
        for setting, edge in (("start_date", "start"), ("end_date", "end")):
            given, resolved = config.get(setting), self.settings["range"][edge]
            if not (isinstance(given, str) and _same_instant(given, resolved)):
                config[setting] = resolved
        config["replay_host_time"] = self.settings["host_time"]
        windows = read_windows(self.folder)
        if windows:
            config["replay_windows"] = [
                {key: window[key] for key in ("start", "end", "last", "inclusive", "firsts")}
                for window in windows
            ]
        else:
            config.pop("replay_windows", None)
        config.pop("capture_pseudonymise", None)
        return config


def _same_instant(one: str, other: str) -> bool:
    def instant(text: str) -> dt.datetime:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)

    try:
        return instant(one) == instant(other)
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
