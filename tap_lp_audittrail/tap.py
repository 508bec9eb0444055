"""tap-lp-audittrail: the settings, their checks before any request, and the stream list."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
from functools import cached_property
from typing import IO, Any
from urllib.parse import urlsplit

import click
from jsonschema import Draft7Validator
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError

from tap_lp_audittrail.auth import (
    AUTH_METHODS,
    OAUTH1_KEYS,
    SECRET_SETTINGS,
    infer_auth_method,
    is_loopback,
)
from tap_lp_audittrail.cli import TapCommand
from tap_lp_audittrail.client import AuditClient
from tap_lp_audittrail.errors import REDACT, install_redaction
from tap_lp_audittrail.output import SingerOutput
from tap_lp_audittrail.records import parse_utc
from tap_lp_audittrail.streams import (
    ALL_CHANGES_STREAM,
    ELEMENTS,
    AllChangesStream,
    ElementStream,
    ObjectTypeIndex,
    elements_from_config,
)

ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_]{1,20}$")
HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?::\d{1,5})?$|^\[[0-9a-fA-F:]+\](?::\d{1,5})?$"
)
STREAM_NAMES = (ALL_CHANGES_STREAM, *(e.stream for e in ELEMENTS))

#: Numeric settings: (lowest, highest) accepted; their defaults live in the schema below.
LIMITS: dict[str, tuple[float, float]] = {
    "page_size": (10, 10_000),
    "window_days": (1, 366),
    "max_concurrency": (1, 32),
    "request_timeout": (1, 3_600),
    "max_retry_seconds": (0, 86_400),
    "lookback_minutes": (0, 10_080),
    "retry_initial_wait": (0, 600),
}


def _secret(name: str, description: str) -> th.Property:
    return th.Property(name, th.StringType, secret=True, description=description)


CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "account_id",
        th.StringType,
        required=True,
        description="LivePerson account (site) id, e.g. 12345678",
    ),
    th.Property(
        "auth_method",
        th.StringType,
        allowed_values=list(AUTH_METHODS),
        description="oauth1, login, client_credentials or bearer; may be omitted when "
        "the credentials given make it unambiguous",
    ),
    _secret("app_key", "OAuth 1.0 API key: app key (consumer key)"),
    _secret("app_secret", "OAuth 1.0 API key: app secret (consumer secret)"),
    _secret("access_token", "OAuth 1.0 API key: access token"),
    _secret("access_token_secret", "OAuth 1.0 API key: access token secret"),
    th.Property(
        "username",
        th.StringType,
        description="Login Service user name (auth_method login), with `password` or "
        "with the four API key settings",
    ),
    _secret("password", "Login Service password"),
    _secret("client_id", "OAuth 2.0 client id (Sentinel client credentials)"),
    _secret("client_secret", "OAuth 2.0 client secret"),
    _secret("bearer_token", "A ready bearer token; it cannot be renewed by the tap"),
    th.Property(
        "domain",
        th.StringType,
        description="Host of the Account Config API (e.g. va.ac.liveperson.net); "
        "default: asked of the Domain API",
    ),
    th.Property(
        "domain_api_url",
        th.StringType,
        default="https://api.liveperson.net",
        description="Base URL of LivePerson's Domain API (CSDS)",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        description="Where the first run starts; default 13 months ago (LivePerson's retention)",
    ),
    th.Property(
        "end_date", th.DateTimeType, description="Optional upper bound, exclusive; default: now"
    ),
    th.Property(
        "include_lpa",
        th.BooleanType,
        default=True,
        description="Include changes made by LivePerson administrators (LPAs)",
    ),
    th.Property(
        "include_automatic_updates",
        th.BooleanType,
        default=True,
        description="Include automatic updates",
    ),
    th.Property(
        "users", th.ArrayType(th.StringType), description="Only changes made by these users"
    ),
    th.Property("language", th.StringType, default="en-US", description="Language of the results"),
    th.Property(
        "page_size",
        th.IntegerType,
        default=500,
        description="Records asked for per request (the server may serve fewer; the "
        "tap pages on correctly either way)",
    ),
    th.Property(
        "window_days",
        th.IntegerType,
        default=7,
        description="Longest date window in days; windows are sized to about one page "
        "of records each, from one day up to this",
    ),
    th.Property(
        "max_concurrency",
        th.IntegerType,
        default=4,
        description="Requests in flight at most; windows are read side by side",
    ),
    th.Property(
        "request_timeout", th.IntegerType, default=60, description="Seconds to wait for one answer"
    ),
    th.Property(
        "max_retry_seconds",
        th.IntegerType,
        default=900,
        description="Longest time one request is retried (429, 5xx, network) before the run stops",
    ),
    th.Property(
        "retry_initial_wait",
        th.NumberType,
        default=5,
        description="First wait in seconds after a 5xx; later waits follow "
        "LivePerson's 5, 10, 15 s, 2, 4, 8 min schedule in proportion",
    ),
    th.Property(
        "lookback_minutes",
        th.IntegerType,
        default=5,
        description="Incremental runs re-read this many minutes before the bookmark, "
        "to catch changes written late; duplicates share their `id`",
    ),
    th.Property(
        "object_types",
        th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
        description="Overrides: stream name -> objectType strings that belong to it",
    ),
    th.Property(
        "component_types",
        th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
        description="Overrides: stream name -> componentTypes codes for server-side "
        "filtering ([] to filter on the tap's side only)",
    ),
).to_dict()


class TapLPAuditTrail(Tap):
    """LivePerson Audit Trail: every configuration change of an account, with who and when."""

    name = "tap-lp-audittrail"
    config_jsonschema = CONFIG_SCHEMA
    message_writer_class = SingerOutput

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Check every setting before any request; messages name the setting, never a secret."""
        REDACT.add(*(self._config.get(key) for key in SECRET_SETTINGS))
        errors = config_errors(self._config)
        if errors:
            if raise_errors:
                raise ConfigValidationError("Config validation failed", errors=errors)
            for error in errors:
                self.logger.warning(error)
        return errors

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command line, each expected failure ending in one line (see cli.py)."""
        command = super().get_singer_command()
        return TapCommand(
            name=command.name,
            callback=command.callback,
            params=command.params,
            help=command.help,
            context_settings=command.context_settings,
            logger=cls.logger,
        )

    @classmethod
    def invoke(  # type: ignore[override]
        cls, *, state: IO[str] | None = None, catalog: IO[str] | None = None, **kwargs: Any
    ) -> None:
        """Check the state and catalog files before the SDK reads them.

        One that is not JSON, or not an object, stops the run with a message naming it,
        not with a traceback (or, for a list, a silent fresh start). A state in Meltano's
        wrapped form is unwrapped; one without a bookmark for any stream is said to be so.
        """
        state = _json_object_file("state", state)
        if state is not None:
            value = unwrap_state(json.loads(state.read()), cls.logger)
            if not value:
                note_missing_bookmarks(value, cls.logger)
            state = io.StringIO(json.dumps(value))
        super().invoke(state=state, catalog=_json_object_file("catalog", catalog), **kwargs)

    def load_state(self, state: dict[str, Any]) -> None:
        """Refuse state this tap cannot have written, before it steers a run wrong."""
        state = unwrap_state(state, self.logger)
        problems = state_errors(state)
        if problems:
            raise ConfigValidationError("State is not usable", errors=problems)
        super().load_state(state)
        if state:
            note_missing_bookmarks(state, self.logger)

    def discover_streams(self) -> list[AllChangesStream | ElementStream]:
        """`audit_trail`, then one stream per audited element, in the table's order."""
        return [
            AllChangesStream(self),
            *(ElementStream(self, e) for e in elements_from_config(self.config)),
        ]

    @cached_property
    def client(self) -> AuditClient:
        """The run's API client, made at the first request."""
        install_redaction()
        return AuditClient(self.config, ObjectTypeIndex(elements_from_config(self.config)))

    def end_of_run(self) -> None:
        """Said once, after the last selected stream: unknown objectTypes, and log out."""
        client = self.__dict__.get("client")
        if client is None or client.closed:
            return
        self._warn_unknown_object_types(client)
        client.close()

    def _warn_unknown_object_types(self, client: AuditClient) -> None:
        counts = client.unknown_object_types
        seen = counts.get(ALL_CHANGES_STREAM)
        if not seen:
            merged: dict[str, int] = {}
            for counter in counts.values():
                for key, value in counter.items():
                    merged[key] = max(merged.get(key, 0), value)
            seen = merged  # type: ignore[assignment]
        if seen:
            listing = ", ".join(f"{name!r}: {n}" for name, n in sorted(seen.items()))
            self.logger.warning(
                "%d record(s) have an objectType no element stream knows (%s); they are in "
                "`audit_trail` only. Map them with the `object_types` setting.",
                sum(seen.values()),
                listing,
            )


def config_errors(config: dict[str, Any]) -> list[str]:
    """Every problem of the config, each naming its setting and how to fix it."""
    errors = [_schema_error(error) for error in Draft7Validator(CONFIG_SCHEMA).iter_errors(config)]
    account = config.get("account_id")
    if isinstance(account, str) and not ACCOUNT_ID.match(account):
        errors.append(
            "account_id: a LivePerson site id holds only letters, digits and _ "
            "(at most 20), e.g. 12345678"
        )
    errors += _auth_errors(config)
    domain = config.get("domain")
    if isinstance(domain, str) and not HOST.match(domain):
        errors.append(
            "domain: give the host only, e.g. va.ac.liveperson.net (no scheme, path or spaces)"
        )
    url = config.get("domain_api_url")
    if isinstance(url, str):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors.append("domain_api_url: give a URL such as https://api.liveperson.net")
        elif parts.scheme == "http" and not is_loopback(parts.netloc):
            errors.append(
                "domain_api_url: plain http is only allowed for this machine (localhost); use https"
            )
        elif parts.path not in ("", "/") or parts.query:
            errors.append("domain_api_url: give the base URL only, without path or query")
    dates: dict[str, dt.datetime] = {}
    for key in ("start_date", "end_date"):
        value = config.get(key)
        if isinstance(value, str):
            try:
                dates[key] = parse_utc(value)
            except ValueError:
                errors.append(f"{key}: {value!r} is not a date-time; use e.g. 2025-01-31T00:00:00Z")
    if len(dates) == 2 and dates["end_date"] <= dates["start_date"]:
        errors.append("end_date: must be after start_date")
    for key, (low, high) in LIMITS.items():
        value = config.get(key)
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and not low <= value <= high
        ):
            errors.append(f"{key}: {value} is out of range; use {low:g} to {high:g}")
    for key in ("object_types", "component_types"):
        value = config.get(key)
        if isinstance(value, dict):
            errors += [
                f"{key}: {name!r} is not a stream; streams are {', '.join(STREAM_NAMES)}"
                for name in value
                if name not in STREAM_NAMES or name == ALL_CHANGES_STREAM
            ]
    return errors


def _schema_error(error: Any) -> str:
    """A JSON-schema error naming the setting, without echoing a secret's value."""
    path = ".".join(str(p) for p in error.absolute_path) or "config"
    setting = str(error.absolute_path[0]) if error.absolute_path else ""
    if error.validator == "required":
        return f"{error.message.split(' ')[0].strip(chr(39))}: is required"
    if setting in SECRET_SETTINGS:
        return f"{path}: wrong type or format ({error.validator} {error.validator_value!r})"
    return f"{path}: {REDACT(error.message)}"


def _auth_errors(config: dict[str, Any]) -> list[str]:
    method = config.get("auth_method")
    if method and method not in AUTH_METHODS:
        return []  # the schema error names the allowed values
    method = infer_auth_method(config)
    if method is None:
        return [
            "auth_method: the credentials given do not tell which way to log in; set "
            f"auth_method to one of {', '.join(AUTH_METHODS)} and give its credentials"
        ]

    def missing(*keys: str) -> list[str]:
        return [k for k in keys if not config.get(k)]

    if method == "oauth1":
        gaps = missing(*OAUTH1_KEYS)
        if gaps:
            return [
                f"{', '.join(gaps)}: required for auth_method oauth1 (an OAuth 1.0 API key "
                "has four parts: app_key, app_secret, access_token, access_token_secret)"
            ]
    elif method == "login":
        if not config.get("username"):
            return ["username: required for auth_method login"]
        if not config.get("password"):
            gaps = missing(*OAUTH1_KEYS)
            if gaps:
                return [
                    f"password: required for auth_method login, or else the API key "
                    f"({', '.join(gaps)} missing)"
                ]
    elif method == "client_credentials":
        gaps = missing("client_id", "client_secret")
        if gaps:
            return [f"{', '.join(gaps)}: required for auth_method client_credentials"]
    elif method == "bearer" and not config.get("bearer_token"):
        return ["bearer_token: required for auth_method bearer"]
    return []


def _json_object_file(name: str, file: IO[str] | None) -> IO[str] | None:
    """`file` again, after checking it holds a JSON object."""
    if file is None:
        return None
    text = file.read()
    try:
        value = json.loads(text)
    except ValueError as exc:
        problem = f"{name}: the file is not valid JSON ({exc}); fix it or start without {name}"
        raise ConfigValidationError(f"{name} is not usable", errors=[problem]) from None
    if not isinstance(value, dict):
        problem = f"{name}: expected a JSON object, got {type(value).__name__}"
        raise ConfigValidationError(f"{name} is not usable", errors=[problem])
    return io.StringIO(text)


#: The key Meltano wraps a Singer state in (`meltano state get` writes this form).
MELTANO_STATE_KEY = "singer_state"


def unwrap_state(state: dict[str, Any], logger: logging.Logger) -> dict[str, Any]:
    """The Singer state inside Meltano's `{"singer_state": {...}}`, or `state` as it is."""
    if not isinstance(state, dict) or MELTANO_STATE_KEY not in state:
        return state
    inner = state[MELTANO_STATE_KEY]
    problem = None
    if "bookmarks" in state:
        problem = (
            f"state: holds both `{MELTANO_STATE_KEY}` (Meltano's form) and `bookmarks` "
            "(the tap's); keep one of them"
        )
    elif not isinstance(inner, dict):
        problem = f"state.{MELTANO_STATE_KEY}: expected an object, got {type(inner).__name__}"
    if problem:
        raise ConfigValidationError("State is not usable", errors=[problem])
    logger.info(
        'State is in Meltano\'s form {"%s": ...}, as `meltano state get` writes it: '
        "reading the state inside it",
        MELTANO_STATE_KEY,
    )
    return inner  # type: ignore[no-any-return]


def note_missing_bookmarks(state: dict[str, Any], logger: logging.Logger) -> None:
    """Say so at INFO when `state` holds no bookmark for any of the tap's streams."""
    bookmarks = state.get("bookmarks")
    found = set(bookmarks) if isinstance(bookmarks, dict) else set()
    if found & set(STREAM_NAMES):
        return
    others = f" (it has bookmarks for: {', '.join(sorted(found))})" if found else ""
    logger.info(
        "State holds no bookmark for any of this tap's streams%s: every selected stream "
        "starts at `start_date` (default: 13 months ago)",
        others,
    )


def state_errors(state: object) -> list[str]:
    """What is wrong with a state, if it is not one this tap writes."""
    if not isinstance(state, dict):
        return [f"state: expected a JSON object, got {type(state).__name__}"]
    bookmarks = state.get("bookmarks", {})
    if not isinstance(bookmarks, dict):
        return ["state.bookmarks: expected an object of stream name -> bookmark"]
    problems = []
    for stream, entry in bookmarks.items():
        if not isinstance(entry, dict):
            problems.append(f"state.bookmarks.{stream}: expected an object")
            continue
        value = entry.get("replication_key_value")
        if value is None:
            continue
        if not _is_date_time(value):
            problems.append(
                f"state.bookmarks.{stream}.replication_key_value: {value!r} is not "
                "a date-time; fix it or start without state"
            )
    return problems


def _is_date_time(value: object) -> bool:
    """Whether `value` is a date-time text this tap could have written as a bookmark."""
    if not isinstance(value, str):
        return False
    try:
        parse_utc(value)
    except ValueError:
        return False
    return True
