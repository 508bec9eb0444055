"""The settings: their schema, and their checks before any request.

`CONFIG_SCHEMA` declares every setting with its type, range, default and description (the SDK
validates a config against it and `--about` shows it); `config_errors` says, in one line per
problem naming its setting, what the schema cannot say or says in words no user reads: a
credential set incomplete for its method (credentials.py), a host that is not a plain
host[:port] (hosts.py), dates out of order, an unknown stream. No message holds a secret's
value. `config_warnings`: what is likely a mistake but does not stop the run.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from singer_sdk import typing as th
from singer_sdk.typing import DEFAULT_JSONSCHEMA_VALIDATOR

from tap_lp_audittrail import hosts
from tap_lp_audittrail.credentials import (
    AUTH_METHODS,
    SECRET_SETTINGS,
    auth_method,
    infer_auth_method,
    secret_values,
)
from tap_lp_audittrail.elements import ALL_CHANGES_STREAM, STREAM_NAMES
from tap_lp_audittrail.errors import REDACT
from tap_lp_audittrail.exchange import DEFAULT_MAX_ANSWER_MEGABYTES
from tap_lp_audittrail.records import parse_utc

if TYPE_CHECKING:
    from jsonschema import ValidationError


def _credential(name: str, description: str) -> th.Property:
    """A credential setting, secret when credentials.py says it holds a secret."""
    return th.Property(name, th.StringType, secret=name in SECRET_SETTINGS, description=description)


def _ranged(
    name: str,
    kind: type[th.IntegerType | th.NumberType],
    *,
    default: float,
    low: int,
    high: int,
    description: str,
) -> th.Property:
    """A numeric setting with its default and range; the description states the range."""
    return th.Property(
        name,
        kind(minimum=low, maximum=high),
        default=default,
        description=f"{description} ({range_text(low, high)})",
    )


def range_text(low: float, high: float) -> str:
    """How a range is written in every description of a setting (also meltano.yml's)."""
    return f"range {low:g} to {high:g}"


CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "account_id",
        # `$(?!\n)`: Python's `$` also matches before a final newline; ECMA-262 reads the
        # lookahead alike, so JSON Schema consumers (Airbyte's form) read the same rule.
        th.StringType(pattern=r"^[A-Za-z0-9_]{1,20}$(?!\n)"),
        required=True,
        description="LivePerson account (site) id, e.g. 12345678: letters, digits and _, "
        "at most 20",
    ),
    th.Property(
        "auth_method",
        th.StringType,
        allowed_values=list(AUTH_METHODS),
        description="oauth1, login, client_credentials or bearer; may be omitted when "
        "the credentials given make it unambiguous",
    ),
    _credential("app_key", "OAuth 1.0 API key: app key (consumer key)"),
    _credential("app_secret", "OAuth 1.0 API key: app secret (consumer secret)"),
    _credential("access_token", "OAuth 1.0 API key: access token"),
    _credential("access_token_secret", "OAuth 1.0 API key: access token secret"),
    _credential(
        "username",
        "Login Service user name (auth_method login), with `password` or with the four API key "
        "settings",
    ),
    _credential("password", "Login Service password"),
    _credential("client_id", "OAuth 2.0 client id (Sentinel client credentials)"),
    _credential("client_secret", "OAuth 2.0 client secret"),
    _credential("bearer_token", "A ready bearer token; it cannot be renewed by the tap"),
    th.Property(
        "domain",
        th.StringType,
        description="Host of the Account Config API (e.g. va.ac.liveperson.net); "
        "default: asked of the Domain API",
    ),
    th.Property(
        "domain_api_url",
        th.StringType,
        default=hosts.LIVEPERSON_DOMAIN_API,
        description="Base URL of LivePerson's Domain API (CSDS)",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        description="Where the first run starts; default 13 months ago (LivePerson's retention)",
    ),
    th.Property(
        "end_date",
        th.DateTimeType,
        description="Where reads end, exclusive; default: two days past the host's date "
        "(00:00 UTC), so a run reads up to the newest change",
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
    _ranged(
        "page_size",
        th.IntegerType,
        default=500,
        low=10,
        high=10_000,
        description="Records asked for per request (the server may serve fewer; the tap pages on "
        "correctly either way)",
    ),
    _ranged(
        "window_days",
        th.IntegerType,
        default=31,
        low=1,
        high=366,
        description="Longest date window in days; windows are sized to their share of the pages "
        "left (8 to 32 pages each), from one day up to this",
    ),
    _ranged(
        "max_concurrency",
        th.IntegerType,
        default=4,
        low=1,
        high=32,
        description="Requests in flight at most; windows are read side by side",
    ),
    _ranged(
        "request_timeout",
        th.IntegerType,
        default=60,
        low=1,
        high=3_600,
        description="Seconds one request may take, its whole answer included: an answer not in "
        "whole by then (a server sending it byte by byte) is retried as a timeout",
    ),
    _ranged(
        "max_answer_megabytes",
        th.IntegerType,
        default=DEFAULT_MAX_ANSWER_MEGABYTES,
        low=1,
        high=4_096,
        description="Largest answer the tap reads, in megabytes of 10^6 bytes (a page of 10,000 "
        "records of 25 kB each weighs 250 MB): a larger answer stops the run rather than fill the "
        "memory",
    ),
    _ranged(
        "max_retry_seconds",
        th.IntegerType,
        default=900,
        low=0,
        high=86_400,
        description="Longest time one request is retried (429, 5xx, network) before the run stops",
    ),
    _ranged(
        "connection_retry_seconds",
        th.IntegerType,
        default=120,
        low=0,
        high=86_400,
        description="Longest time refused, reset or unresolvable connections are retried once "
        "the host has answered (at most max_retry_seconds): a host that stopped answering "
        "stops the run soon, with its last STATE",
    ),
    _ranged(
        "retry_initial_wait",
        th.NumberType,
        default=5,
        low=0,
        high=600,
        description="First wait in seconds after a 5xx; later waits follow LivePerson's 5, 10, 15 "
        "s, 2, 4, 8 min schedule in proportion",
    ),
    _ranged(
        "lookback_minutes",
        th.IntegerType,
        default=360,
        low=0,
        high=10_080,
        description="Incremental runs re-read this many minutes before the bookmark, so that "
        "changes LivePerson shows late are still read; ids already emitted are skipped (kept in "
        "the state). Changes that show up later than this are read only by a full refresh",
    ),
    th.Property(
        "log_request_metrics",
        th.BooleanType,
        default=False,
        description="Log the SDK's METRIC line of every HTTP request (`http_request_duration`) "
        "at INFO; off, they are logged at DEBUG only (the other metrics are always logged)",
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
    th.Property(
        "capture_dir",
        th.StringType,
        description="Folder to write a capture of the run into: every HTTP exchange, the "
        "settings without secrets and the readings report (docs/capture.md); unset: none",
    ),
    th.Property(
        "capture_pseudonymise",
        th.BooleanType,
        default=True,
        description="Replace, in a capture, every string that names a person or that people "
        "wrote with a keyed pseudonym of the same shape; false keeps them in clear (with a "
        "warning)",
    ),
    th.Property(
        "replay_windows",
        th.ArrayType(
            th.ObjectType(
                th.Property("start", th.DateTimeType, required=True),
                th.Property("end", th.DateTimeType, required=True),
                th.Property("last", th.BooleanType),
                th.Property("inclusive", th.BooleanType),
                th.Property("firsts", th.ArrayType(th.IntegerType)),
                additional_properties=True,
            )
        ),
        description="Only for replaying a capture: the audit windows the captured run cut and "
        "the page size of each of its requests (the replay's --write-tap-config sets it from "
        "windows.jsonl); unset: the tap plans its own",
    ),
    th.Property(
        "replay_host_time",
        th.DateTimeType,
        description="Only for replaying a capture: the host time the captured run sized its "
        "windows from (the replay's --write-tap-config sets it); unset: the host's clock",
    ),
).to_dict()

#: Each setting's name in a form: Airbyte's spec shows it as the title, meltano.yml as the label.
SETTING_TITLES = {
    "account_id": "Account ID",
    "auth_method": "Authentication method",
    "app_key": "App key",
    "app_secret": "App secret",
    "access_token": "Access token",
    "access_token_secret": "Access token secret",
    "username": "Username",
    "password": "Password",
    "client_id": "Client ID",
    "client_secret": "Client secret",
    "bearer_token": "Bearer token",
    "domain": "Account Config API host",
    "domain_api_url": "Domain API URL",
    "start_date": "Start date",
    "end_date": "End date",
    "include_lpa": "Include LPA changes",
    "include_automatic_updates": "Include automatic updates",
    "users": "Users",
    "language": "Language",
    "page_size": "Page size",
    "window_days": "Window (days)",
    "max_concurrency": "Max concurrency",
    "request_timeout": "Request timeout (seconds)",
    "max_answer_megabytes": "Max answer size (MB)",
    "max_retry_seconds": "Max retry time (seconds)",
    "connection_retry_seconds": "Connection retry time (seconds)",
    "retry_initial_wait": "First retry wait (seconds)",
    "lookback_minutes": "Look-back (minutes)",
    "log_request_metrics": "Log a METRIC line per request",
    "object_types": "objectType overrides",
    "component_types": "componentTypes overrides",
    "capture_dir": "Capture folder",
    "capture_pseudonymise": "Pseudonymise the capture",
    "replay_windows": "Replay windows",
    "replay_host_time": "Replay host time",
}
for _name, _title in SETTING_TITLES.items():
    CONFIG_SCHEMA["properties"][_name]["title"] = _title
#: The tap's own settings, in order (the SDK adds its built-in ones to the schema it is given).
OWN_SETTINGS = tuple(CONFIG_SCHEMA["properties"])


def learn_secrets(config: Mapping[str, Any]) -> None:
    """The redactor learns the config's secret values, before anything is logged."""
    REDACT.add(*secret_values(config))


#: How alike an unknown key and a setting must be to suggest the setting (difflib's ratio, of
#: the names without case, `_` or `-`): a typo or another spelling (page_sise, startDate,
#: account-id) is, a name sharing a word with a setting (batch_config, faker_config: 0.64) is not.
SUGGESTION_CUTOFF = 0.82


def _folded_name(name: str) -> str:
    return name.casefold().replace("_", "").replace("-", "")


def close_settings(key: str, known: list[str]) -> list[str]:
    """The settings of `known` (at most two, the closest first) that `key` may be a typo of."""
    folded = {_folded_name(name): name for name in known}
    close = difflib.get_close_matches(
        _folded_name(key), list(folded), n=2, cutoff=SUGGESTION_CUTOFF
    )
    return [folded[name] for name in close]


def config_warnings(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """What is likely a mistake but does not stop the run: unknown settings, a future start.

    `schema` is the whole settings schema, the SDK's built-in settings included.
    """
    known = list(schema["properties"])
    warnings = []
    for key in config:
        if key in known:
            continue
        close = close_settings(key, known)
        hint = (
            f"did you mean {' or '.join(f'`{name}`' for name in close)}?"
            if close
            else ("see --about for the settings")
        )
        warnings.append(f"{key}: not a setting of this tap, ignored; {hint}")
    start = config.get("start_date")
    if isinstance(start, str):
        try:
            when = parse_utc(start)
        except ValueError:
            return warnings  # an error, said by config_errors
        now = dt.datetime.now(tz=dt.timezone.utc)
        if when > now:
            warnings.append(
                f"start_date: {start} is in the future (this machine's clock says "
                f"{now.isoformat(timespec='seconds')}); a run without state reads nothing "
                "before it"
            )
    return warnings


def config_errors(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Every problem of the config, each naming its setting and how to fix it.

    The rules of `schema`, the whole settings schema (types, ranges, patterns, allowed values)
    first, checked as the SDK checks them; then what a schema cannot say.
    """
    validator = DEFAULT_JSONSCHEMA_VALIDATOR(schema)
    errors = [_schema_error(error) for error in validator.iter_errors(dict(config))]
    errors += _auth_errors(config)
    errors += _host_errors(config)
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
    for key in ("object_types", "component_types"):
        value = config.get(key)
        if isinstance(value, dict):
            errors += [
                f"{key}: {name!r} is not a stream; streams are {', '.join(STREAM_NAMES)}"
                for name in value
                if name not in STREAM_NAMES or name == ALL_CHANGES_STREAM
            ]
    return errors


#: Settings that name a host: how hosts.py reads each, and what a good value looks like.
HOST_SETTINGS = (
    ("domain", hosts.plain_host, "give the host only, e.g. va.ac.liveperson.net"),
    (
        "domain_api_url",
        hosts.base_url,
        f"give the base URL only, e.g. {hosts.LIVEPERSON_DOMAIN_API} (plain http only to this "
        "machine)",
    ),
)


def _host_errors(config: Mapping[str, Any]) -> list[str]:
    """Each host setting read by the parser the requests are sent with (hosts.py)."""
    errors = []
    for key, parse, advice in HOST_SETTINGS:
        value = config.get(key)
        if not isinstance(value, str):
            continue  # unset, or a wrong type the schema names
        try:
            parse(value)
        except hosts.HostError as exc:
            errors.append(f"{key}: {REDACT(repr(value))} {exc}; {advice}")
    return errors


def _schema_error(error: ValidationError) -> str:
    """A JSON-schema error naming the setting, without echoing a secret's value."""
    path = ".".join(str(p) for p in error.absolute_path) or "config"
    setting = str(error.absolute_path[0]) if error.absolute_path else ""
    if error.validator == "required":
        return f"{error.message.split(' ')[0].strip(chr(39))}: is required"
    if setting in SECRET_SETTINGS:
        return f"{path}: wrong type or format ({error.validator} {error.validator_value!r})"
    rule = error.schema if isinstance(error.schema, dict) else {}
    if error.validator in ("minimum", "maximum") and {"minimum", "maximum"} <= set(rule):
        low, high = rule["minimum"], rule["maximum"]
        return f"{path}: {error.instance} is out of range; use {low:g} to {high:g}"
    if error.validator == "pattern":
        hint = f" ({rule['description']})" if rule.get("description") else ""
        return (
            f"{path}: {REDACT(repr(error.instance))} does not match {error.validator_value}{hint}"
        )
    return f"{path}: {REDACT(error.message)}"


def _auth_errors(config: Mapping[str, Any]) -> list[str]:
    name = config.get("auth_method")
    if name and name not in AUTH_METHODS:
        return []  # the schema error names the allowed values
    inferred = infer_auth_method(config)
    method = auth_method(inferred) if inferred else None
    if method is None:
        return [
            "auth_method: the credentials given do not tell which way to log in; set "
            f"auth_method to one of {', '.join(AUTH_METHODS)} and give its credentials"
        ]
    gaps = method.missing(config)
    if not gaps:
        return []
    return [
        f"{', '.join(gaps)}: required for auth_method {method.name} "
        f"(it needs {method.needs_text()})"
    ]
