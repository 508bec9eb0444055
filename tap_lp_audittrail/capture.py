"""A capture: every HTTP exchange of one run, written to `capture_dir` as the run goes.

What a capture holds, file by file (docs/capture.md):

- ``settings.json``: the run's settings without any secret, the range it resolved, the
  streams selected, the host time its windows were sized from, the state it started from;
- ``exchanges.jsonl``: one line per HTTP answer, written and flushed as it arrives, so a run
  that is killed leaves every exchange it finished;
- ``windows.jsonl``: one line per audit window read to its end: its bounds and the page size
  of each of its requests (what a replay pins: under concurrency they depend on timing);
- ``readings.json``: at the end, the readings report (readings.py).

No secret is written: auth headers and cookies are left out, every credential, token, csrf and
session field of a body becomes ``***``, and every text goes through the redactor that knows the
run's secret values. The account id becomes ``ACCOUNT``. Unless `capture_pseudonymise` is
false, every string that people wrote or that names a person (see PERSONAL_FIELDS, the login
answer's user, the `users` setting and filter) is replaced by its keyed format-preserving
pseudonym (pseudonym.py); the key is random and never written.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from tap_lp_audittrail.auth import SECRET_SETTINGS
from tap_lp_audittrail.capture_format import (
    ACCOUNT_PLACEHOLDER,
    EXCHANGES,
    FORMAT,
    SETTINGS,
    WINDOWS,
    service_of,
)
from tap_lp_audittrail.errors import REDACT, REDACTED
from tap_lp_audittrail.pseudonym import Pseudonymiser

if TYPE_CHECKING:
    import requests

    from tap_lp_audittrail.windows import Window

logger = logging.getLogger("tap-lp-audittrail")


#: Fields of an audit record that people wrote or that name a person.
PERSONAL_FIELDS = (
    "objectName",
    "oldValue",
    "newValue",
    "originator",
    "originatorLoginName",
    "originatorUserId",
    "originatorUserAgent",
)
#: Keys of a body (request or answer) whose value is a secret, whatever the service.
SECRET_KEYS = frozenset(
    {
        "bearer", "csrf", "access_token", "accessToken", "accessTokenSecret", "appKey",
        "secret", "password", "client_id", "client_secret", "refresh_token", "id_token",
        "token", "sessionId", "session_id", "Session_id", "app_key", "app_secret",
        "access_token_secret", "bearer_token",
    }
)  # fmt: skip
#: Keys whose string values name a person (login bodies and answers).
PERSON_KEYS = frozenset({"username", "loginName", "userId", "email", "name", "nickname"})
#: Headers worth keeping; every other one (Authorization, Cookie, Set-Cookie...) is left out.
REQUEST_HEADERS = ("Content-Type", "Accept")
RESPONSE_HEADERS = ("Content-Type", "Date", "X-Total-Count", "Retry-After")
#: Settings the capture itself needs no record of, or that may hold secrets of other kinds.
DROPPED_SETTINGS = ("capture_dir", "stream_map_config", "faker_config")

_PERSONAL = re.compile(
    r'("(?:' + "|".join(PERSONAL_FIELDS) + r')"\s*:\s*")((?:[^"\\]|\\.)*)("|$)', re.S
)
_USERS_ARG = re.compile(r"(\busers:\s*\[)([^\]]*)(\])")
_GRAPHQL_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


class Sanitiser:
    """Turns what the run sent and received into what a capture may hold."""

    def __init__(self, account_id: str, pseudonymise: bool) -> None:
        self.pseudonymiser = Pseudonymiser() if pseudonymise else None
        self._account = re.compile(
            r"(?<![A-Za-z0-9_])" + re.escape(account_id) + r"(?![A-Za-z0-9_])"
        )

    def text(self, text: str) -> str:
        """Any text: the account id replaced, then every secret the run knows redacted."""
        return REDACT(self._account.sub(ACCOUNT_PLACEHOLDER, text))

    def person(self, value: str) -> str:
        """A value that names a person."""
        return self.pseudonymiser.value(value) if self.pseudonymiser else value

    def json_value(self, value: Any, personal: bool = False) -> Any:
        """A parsed body as a capture may hold it.

        Secret keys become ***, person keys are pseudonymised (every string if `personal`),
        every other string goes through `text`.
        """
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if key in SECRET_KEYS and item not in (None, ""):
                    out[key] = REDACTED
                elif key == "config" and isinstance(item, dict):
                    out[key] = self.json_value(item, personal=True)  # the login answer's user
                else:
                    out[key] = self.json_value(item, personal or key in PERSON_KEYS)
            return out
        if isinstance(value, list):
            return [self.json_value(item, personal) for item in value]
        if isinstance(value, str):
            value = self.text(value)
            return self.person(value) if personal else value
        return value

    def audit_answer(self, text: str) -> str:
        """An audit answer's text: personal fields pseudonymised in place, bytes otherwise kept."""
        text = self._account.sub(ACCOUNT_PLACEHOLDER, text)
        pseudonymiser = self.pseudonymiser
        if pseudonymiser is not None:
            text = _PERSONAL.sub(
                lambda m: m.group(1) + pseudonymiser.field(m.group(2)) + m.group(3), text
            )
        return REDACT(text)

    def audit_query(self, query: str) -> str:
        """A query text: the `users` filter's names pseudonymised."""
        pseudonymiser = self.pseudonymiser
        if pseudonymiser is not None:
            query = _USERS_ARG.sub(
                lambda m: (
                    m.group(1)
                    + _GRAPHQL_STRING.sub(
                        lambda s: '"' + pseudonymiser.literal(s.group(1)) + '"', m.group(2)
                    )
                    + m.group(3)
                ),
                query,
            )
        return self.text(query)

    def settings(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The run's settings as a capture may hold them."""
        out: dict[str, Any] = {}
        for key, value in config.items():
            if key in DROPPED_SETTINGS:
                continue
            if key in SECRET_SETTINGS:
                out[key] = REDACTED if value not in (None, "") else value
            elif key == "account_id":
                out[key] = ACCOUNT_PLACEHOLDER
            elif key == "username" and isinstance(value, str):
                out[key] = self.person(value)
            elif key == "users" and isinstance(value, list):
                out[key] = [self.person(str(v)) for v in value]
            else:
                out[key] = self.json_value(value)
        return out


class Capture:
    """Writes one run's capture into a folder, one exchange at a time."""

    def __init__(self, folder: str | Path, account_id: str, *, pseudonymise: bool) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sanitiser = Sanitiser(account_id, pseudonymise)
        self.pseudonymise = pseudonymise
        self._lock = threading.Lock()
        self._seq = 0
        self._file: IO[str] | None = (self.folder / EXCHANGES).open("w", encoding="utf-8")
        self._windows: IO[str] | None = (self.folder / WINDOWS).open("w", encoding="utf-8")
        self._failed = False

    def write_json(self, name: str, value: Any) -> None:
        """A whole JSON file of the capture (settings.json, readings.json)."""
        path = self.folder / name
        text = json.dumps(value, indent=2, ensure_ascii=False, default=_plain)
        path.write_text(text + "\n", encoding="utf-8")

    def write_settings(
        self,
        config: Mapping[str, Any],
        *,
        start: dt.datetime,
        end: dt.datetime,
        host_time: dt.datetime,
        streams: list[str],
        state: Mapping[str, Any] | None,
    ) -> None:
        """settings.json: what the run was asked to do, as the capture may hold it."""
        self.write_json(
            SETTINGS,
            {
                "format": FORMAT,
                "pseudonymised": self.pseudonymise,
                "settings": self.sanitiser.settings(config),
                "range": {"start": _utc(start), "end": _utc(end)},
                "host_time": _utc(host_time),
                "streams": streams,
                "state": self._state(state),
            },
        )

    def _state(self, state: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The state the run started from, as a capture may hold it.

        The ids seen are left out when pseudonymised: each is a hash of a record's content,
        and the replay's records have other ids.
        """
        if not state:
            return None
        text = self.sanitiser.text(json.dumps(state, default=_plain))
        value: dict[str, Any] = json.loads(text)
        if self.pseudonymise:
            for entry in (value.get("bookmarks") or {}).values():
                if isinstance(entry, dict):
                    entry.pop("seen", None)
        return value

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """The session's response hook: write the exchange, then let the run go on."""
        try:
            content = response.content
        except Exception as exc:  # the body was cut: keep what is known, the run retries
            self._write(response, None, type(exc).__name__)
            raise
        self._write(response, content, None)

    def _write(self, response: requests.Response, content: bytes | None, error: str | None) -> None:
        if self._file is None:
            return
        try:
            entry = self._entry(response, content, error)
            line = json.dumps(entry, ensure_ascii=False) + "\n"
        except Exception as exc:  # a capture must never stop the run
            logger.warning("capture: an exchange could not be written (%s)", type(exc).__name__)
            return
        with self._lock:
            if self._file is None:
                return
            self._seq += 1
            try:
                self._file.write(line.replace('"seq": 0', f'"seq": {self._seq}', 1))
                self._file.flush()
            except OSError as exc:
                if not self._failed:
                    self._failed = True
                    logger.warning("capture: writing to %s failed (%s)", self.folder, exc)

    def _entry(
        self, response: requests.Response, content: bytes | None, error: str | None
    ) -> dict[str, Any]:
        request = response.request
        s = self.sanitiser
        parts = urlsplit(request.url or "")
        service = service_of(parts.path)
        entry: dict[str, Any] = {
            "seq": 0,
            "time": _utc(dt.datetime.now(tz=dt.timezone.utc)),
            "elapsed": round(response.elapsed.total_seconds(), 6),
            "service": service,
            "method": request.method,
            "path": s.text(parts.path),
            "query": [[s.text(k), s.text(v)] for k, v in parse_qsl(parts.query, True)],
            "request_headers": _headers(request.headers, REQUEST_HEADERS),
            "request_body": self._request_body(service, request.body),
            "status": response.status_code,
            "response_headers": _headers(response.headers, RESPONSE_HEADERS),
        }
        if error is not None:
            entry["error"] = error
        entry.update(self._response_body(service, content))
        return entry

    def _request_body(self, service: str, body: bytes | str | None) -> Any:
        if body is None or body in {b"", ""}:
            return None
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        try:
            value = json.loads(text)
        except ValueError:
            # A form (Sentinel's token request): every field but grant_type is a credential.
            pairs = parse_qsl(text, keep_blank_values=True)
            return {"form": [[k, v if k == "grant_type" else REDACTED] for k, v in pairs]}
        if service == "audit" and isinstance(value, dict) and isinstance(value.get("query"), str):
            return {**self.sanitiser.json_value(value), "query": s_query(self, value["query"])}
        return self.sanitiser.json_value(value)

    def _response_body(self, service: str, content: bytes | None) -> dict[str, Any]:
        if content is None:
            return {"response_body": None}
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            if self.pseudonymise:
                return {"response_body": None, "response_body_left_out": "not UTF-8 text"}
            return {"response_body_base64": base64.b64encode(content).decode()}
        if service == "audit":
            return {"response_body": self.sanitiser.audit_answer(text)}
        try:
            value = json.loads(text)
        except ValueError:
            pseudonymiser = self.sanitiser.pseudonymiser
            shown = self.sanitiser.text(text)
            return {"response_body": pseudonymiser.json_text(shown) if pseudonymiser else shown}
        return {"response_body": json.dumps(self.sanitiser.json_value(value), ensure_ascii=False)}

    def note_window(self, window: Window, firsts: list[int], records: int) -> None:
        """windows.jsonl: one audit window read to its end, as a replay pins it."""
        line = json.dumps(
            {
                "start": _utc(window.start),
                "end": _utc(window.end),
                "last": window.last,
                "inclusive": window.inclusive,
                "from_date": window.from_date,
                "to_date": window.to_date,
                "firsts": firsts,
                "records": records,
            }
        )
        with self._lock:
            if self._windows is None:
                return
            try:
                self._windows.write(line + "\n")
                self._windows.flush()
            except OSError as exc:
                if not self._failed:
                    self._failed = True
                    logger.warning("capture: writing to %s failed (%s)", self.folder, exc)

    def close(self) -> None:
        """No more exchanges."""
        with self._lock:
            for handle in (self._file, self._windows):
                if handle is not None:
                    handle.close()
            self._file = self._windows = None


def s_query(capture: Capture, query: str) -> str:
    """The audit query as the capture holds it."""
    return capture.sanitiser.audit_query(query)


def _headers(headers: Mapping[str, Any], keep: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for name in keep:
        value = headers.get(name)
        if value is not None:
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            out[name] = REDACT(text)
    return out


def _plain(value: object) -> object:
    """JSON for what the SDK's parsed config and state hold beyond JSON types (Decimal)."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


def _utc(instant: dt.datetime) -> str:
    return instant.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def session_hook(*hooks: Callable[[requests.Response], None]) -> Callable[..., None]:
    """One response hook calling each of `hooks` in turn."""

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        for one in hooks:
            one(response)

    return hook
