"""A capture: every HTTP exchange of one run, written to `capture_dir` as the run goes.

What a capture holds, file by file (docs/capture.md):

- ``settings.json``: the run's settings without any secret, the range it resolved, the
  streams selected, the host time its windows were sized from, the state it started from;
- ``exchanges.jsonl``: one line per HTTP answer, written and flushed as it arrives, so a run
  that is killed leaves every exchange it finished;
- ``windows.jsonl``: one line per audit window read to its end: its bounds and the page size
  of each of its requests (what a replay pins: under concurrency they depend on timing);
- ``readings.json``: at the end, the readings report (readings.py).

The folder is its owner's alone (0700, files 0600: private.py). No secret is written: auth
headers and cookies are left out, and a JSON body is read as the tap reads it (msgspec) and
written again from its parsed value, so that no escape can hide a key or a secret: every
credential, token, csrf and session field becomes ``***``, and every key and string goes
through the redactor that knows the run's secret values. The account id becomes ``ACCOUNT``.
Unless `capture_pseudonymise` is false, every string that people wrote or that names a
person (see PERSONAL_KEYS, the login answer's user, the `users` setting and filter) is
replaced by its keyed format-preserving pseudonym (pseudonym.py), and so is each name the run
knows wherever it appears (an error message echoing the username); the key is random and
never written. A body that is not JSON is redacted as text, and every string literal in it
pseudonymised. Time and memory are linear in what an answer holds.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import errno
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import msgspec
from singer_sdk.exceptions import ConfigValidationError

from tap_lp_audittrail.capture_format import (
    ACCOUNT_PLACEHOLDER,
    EXCHANGES,
    FORMAT,
    READINGS,
    SETTINGS,
    WINDOWS,
    service_of,
)
from tap_lp_audittrail.credentials import SECRET_KEYS, SECRET_SETTINGS
from tap_lp_audittrail.errors import REDACT, REDACTED
from tap_lp_audittrail.private import open_private, private_folder, write_private
from tap_lp_audittrail.pseudonym import Pseudonymiser
from tap_lp_audittrail.records import API_FIELDS

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
#: Keys whose string values name a person (login bodies and answers).
PERSON_KEYS = frozenset({"username", "loginName", "userId", "email", "name", "nickname"})
#: Keys whose values are personal wherever they are, and everything below them.
PERSONAL_KEYS = PERSON_KEYS | frozenset(PERSONAL_FIELDS)
#: Record fields the tap sorts records by (objectType, element...): no known name is looked
#: for in them, so that a user named like an objectType cannot move a record to another
#: stream in a replay.
ROUTING_FIELDS = frozenset(API_FIELDS) - PERSONAL_KEYS
#: Names the run learns from login bodies and answers, at most (a hostile answer may hold
#: any number).
MAX_NAMES = 1_000
#: Headers worth keeping; every other one (Authorization, Cookie, Set-Cookie...) is left out.
REQUEST_HEADERS = ("Content-Type", "Accept")
RESPONSE_HEADERS = ("Content-Type", "Date", "X-Total-Count", "Retry-After")
#: Settings the capture itself needs no record of, or that may hold secrets of other kinds.
DROPPED_SETTINGS = ("capture_dir", "stream_map_config", "faker_config")

_USERS_ARG = re.compile(r"(\busers:\s*\[)([^\]]*)(\])")
_GRAPHQL_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
#: Texts shorter than this are remembered as shown, this many at most.
_REMEMBERED_BELOW = 64
_REMEMBERED_AT_MOST = 100_000
#: A body read as the tap reads it, and written again.
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


class Sanitiser:
    """Turns what the run sent and received into what a capture may hold."""

    def __init__(self, account_id: str, pseudonymise: bool) -> None:
        self.pseudonymiser = Pseudonymiser() if pseudonymise else None
        self._account_id = account_id
        self._account = re.compile(
            r"(?<![A-Za-z0-9_])" + re.escape(account_id) + r"(?![A-Za-z0-9_])"
        )
        self._lock = threading.Lock()
        #: Names known to this run, longest first, and the pattern finding any of them.
        self._names: tuple[str, ...] = ()
        self._named: re.Pattern[str] | None = None
        #: Short texts as shown, while the secrets and names known stay the same: keys and
        #: most values recur on every page.
        self._shown: dict[tuple[str, bool], str] = {}
        self._shown_for: tuple[int, int] = (-1, -1)

    def know_names(self, *names: object) -> None:
        """Names of people this run knows: pseudonymised wherever they appear in a text."""
        if self.pseudonymiser is None:
            return
        with self._lock:
            new = {n for n in names if isinstance(n, str) and len(n) >= 3} - set(self._names)
            if not new or len(self._names) >= MAX_NAMES:
                return
            known = tuple(sorted({*self._names, *new}, key=len, reverse=True))
            alternatives = "|".join(map(re.escape, known))
            self._named = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")
            self._names = known

    def text(self, text: str, *, names: bool = True) -> str:
        """Any text: the account id replaced, every secret the run knows redacted.

        Unless `names` is false, every name the run knows is pseudonymised in it too.
        """
        if len(text) >= _REMEMBERED_BELOW:
            return self._text(text, names)
        known, shown_before = (REDACT.generation, len(self._names)), self._shown
        if known != self._shown_for or len(shown_before) > _REMEMBERED_AT_MOST:
            shown_before = self._shown = {}
            self._shown_for = known
        shown = shown_before.get((text, names))
        if shown is None:
            # Kept in the dict of the secrets and names known when it was made: one learnt
            # meanwhile puts a new dict in its place.
            shown = shown_before[text, names] = self._text(text, names)
        return shown

    def _text(self, text: str, names: bool) -> str:
        if self._account_id in text:
            text = self._account.sub(ACCOUNT_PLACEHOLDER, text)
        text = REDACT(text)
        pseudonymiser, named = self.pseudonymiser, self._named
        if names and pseudonymiser and named and any(name in text for name in self._names):
            text = named.sub(lambda m: pseudonymiser.value(m.group()), text)
        return text

    def person(self, value: str) -> str:
        """A value that names a person."""
        return self.pseudonymiser.value(value) if self.pseudonymiser else value

    def json_value(self, value: Any, personal: bool = False, *, learn: bool = False) -> Any:
        """A parsed body as a capture may hold it, however deep.

        Keys are read as parsed (an escape spells no other key): a secret key's value becomes
        ***; below a personal key every string is pseudonymised (and, with `learn`, a person
        key's value becomes a known name); every key and every other string goes through
        `text`. A loop, not a recursion: an answer may nest as deep as the tap reads.
        """
        pseudonymiser = self.pseudonymiser
        holder: list[Any] = [None]
        stack: list[tuple[Any, bool, bool, Any, Any]] = [(value, personal, False, holder, 0)]
        while stack:
            item, personal, routing, into, at = stack.pop()
            if isinstance(item, dict):
                fields: dict[str, Any] = {}
                into[at] = fields
                for key, child in item.items():
                    name = self.text(key)
                    if key in SECRET_KEYS and child not in (None, ""):
                        fields[name] = REDACTED
                        continue
                    if learn and key in PERSON_KEYS and isinstance(child, str):
                        self.know_names(child)
                    below = personal or key in PERSONAL_KEYS
                    below = below or (key == "config" and isinstance(child, dict))  # the user
                    fields[name] = None
                    stack.append((child, below, key in ROUTING_FIELDS, fields, name))
            elif isinstance(item, list):
                listed: list[Any] = [None] * len(item)
                into[at] = listed
                stack.extend((child, personal, routing, listed, n) for n, child in enumerate(item))
            elif isinstance(item, str):
                shown = self.text(item, names=not (personal or routing))
                into[at] = pseudonymiser.text(shown) if personal and pseudonymiser else shown
            elif personal and pseudonymiser and type(item) is int:
                into[at] = int(pseudonymiser.value(str(item)))
            else:
                into[at] = item
        return holder[0]

    def body(self, content: bytes, *, learn: bool = False) -> dict[str, Any]:
        """An answer's body as the capture's entry holds it (`response_body` and kin)."""
        try:
            # Each stage dropped once the next is made: a body may hold tens of megabytes.
            value = _decode(content)
            shown = self.json_value(value, learn=learn)
            del value
            written = _encode(shown)
            del shown
            return {"response_body": written.decode("utf-8")}
        except (msgspec.DecodeError, msgspec.EncodeError, ValueError, RecursionError):
            pass  # not JSON the tap reads: a text
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            if self.pseudonymiser is not None:
                return {"response_body": None, "response_body_left_out": "not UTF-8 text"}
            # What is text in it is redacted as text; the other bytes are kept as they are.
            raw = self.text(content.decode("utf-8", "surrogateescape"))
            shown = raw.encode("utf-8", "surrogateescape")
            return {"response_body_base64": base64.b64encode(shown).decode()}
        shown_text = self.text(text)
        if self.pseudonymiser is not None:
            shown_text = self.pseudonymiser.json_text(shown_text)
        return {"response_body": shown_text}

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
        self.know_names(config.get("username"), *(config.get("users") or ()))
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
        """Make the folder private and open its files; a folder that cannot be is one line."""
        self.folder = Path(folder)
        self.sanitiser = Sanitiser(account_id, pseudonymise)
        self.pseudonymise = pseudonymise
        self._lock = threading.Lock()
        self._seq = 0
        self._failed = False
        try:
            private_folder(self.folder)
            self._file: IO[bytes] | None = open_private(self.folder / EXCHANGES, "wb")
            self._windows: IO[str] | None = open_private(self.folder / WINDOWS)
        except OSError as exc:
            raise _unusable(self.folder, exc) from None

    def write_json(self, name: str, value: Any) -> None:
        """A whole JSON file of the capture (settings.json, readings.json)."""
        text = json.dumps(value, indent=2, ensure_ascii=False, default=_plain)
        write_private(self.folder / name, text + "\n")

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
        value = {
            "format": FORMAT,
            "pseudonymised": self.pseudonymise,
            "settings": self.sanitiser.settings(config),
            "range": {"start": _utc(start), "end": _utc(end)},
            "host_time": _utc(host_time),
            "streams": streams,
            "state": self._state(state),
        }
        try:
            self.write_json(SETTINGS, value)
        except OSError as exc:
            raise _unusable(self.folder, exc) from None

    def write_readings(self, report: Mapping[str, Any]) -> None:
        """readings.json, at the end; a failure to write it is said, and the run ends well."""
        try:
            self.write_json(READINGS, report)
        except OSError as exc:
            logger.warning("capture: writing %s failed (%s)", self.folder / READINGS, exc)

    def _state(self, state: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The state the run started from, as a capture may hold it.

        The ids seen are left out when pseudonymised: each is a hash of a record's content,
        and the replay's records have other ids.
        """
        if not state:
            return None
        value: dict[str, Any] = self.sanitiser.json_value(
            json.loads(json.dumps(state, default=_plain))
        )
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
            line = _encode(self._entry(response, content, error))
        except Exception as exc:  # a capture must never stop the run
            logger.warning("capture: an exchange could not be written (%s)", type(exc).__name__)
            return
        with self._lock:
            if self._file is None:
                return
            self._seq += 1
            try:
                # The entry's own object, opened by its sequence number: no copy of the line.
                self._file.write(b'{"seq":%d,' % self._seq)
                self._file.write(memoryview(line)[1:])
                self._file.write(b"\n")
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
            "time": _utc(dt.datetime.now(tz=dt.timezone.utc)),
            "elapsed": round(response.elapsed.total_seconds(), 6),
            "service": service,
            "method": request.method,
            "path": s.text(parts.path),
            "query": [[s.text(k), s.text(v)] for k, v in parse_qsl(parts.query, True)],
            "request_headers": self._headers(request.headers, REQUEST_HEADERS),
            "request_body": self._request_body(service, request.body),
            "status": response.status_code,
            "response_headers": self._headers(response.headers, RESPONSE_HEADERS),
        }
        if error is not None:
            entry["error"] = error
        if content is None:
            entry["response_body"] = None
        else:
            # Login and Sentinel answers name the user: each name learnt is looked for after.
            entry.update(s.body(content, learn=service not in ("audit", "other")))
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
        shown = self.sanitiser.json_value(value, learn=True)
        if service == "audit" and isinstance(value, dict) and isinstance(value.get("query"), str):
            return {**shown, "query": self.sanitiser.audit_query(value["query"])}
        return shown

    def _headers(self, headers: Mapping[str, Any], keep: tuple[str, ...]) -> dict[str, str]:
        out = {}
        for name in keep:
            value = headers.get(name)
            if value is not None:
                text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                out[name] = self.sanitiser.text(text)
        return out

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


def _unusable(folder: Path, exc: OSError) -> ConfigValidationError:
    """The one line a capture folder that cannot be written (or made private) stops with."""
    why = "a symbolic link, not followed" if exc.errno == errno.ELOOP else exc.strerror or exc
    where = exc.filename or folder
    problem = f"capture_dir: cannot write a private capture into {folder} ({where}: {why})"
    return ConfigValidationError("The capture folder is not usable", errors=[problem])


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
