"""What `spec` says: the tap's settings as the form Airbyte shows; the form's config as them.

The same names, types, defaults, descriptions and titles as the tap's settings (settings.py).
Authentication is one `credentials` object whose `oneOf` has a branch per way of logging in,
derived from the auth table (credentials.py): each branch holds its constant `auth_method` and
its own settings, the secret ones `airbyte_secret`. The other settings fall in groups of the
form: the account, what to read, and an "Advanced" group for tuning. Hidden (`airbyte_hidden`)
but still accepted: the flat credential settings and `auth_method`, so that a connection made
before `credentials` existed keeps working; and the settings a throw-away container cannot use
(`capture_dir` writes into the container's own disk) or that a tool sets (the replay's).

`flat_config` turns a config of the form into the tap's flat settings: `credentials` flattened,
a setting given both ways and differently refused, naming it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from tap_lp_audittrail.credentials import (
    AUTH_METHODS,
    AUTH_TABLE,
    CREDENTIAL_SETTINGS,
    SECRET_SETTINGS,
    AuthMethod,
    auth_method,
)
from tap_lp_audittrail.jsonfiles import unusable
from tap_lp_audittrail.settings import CONFIG_SCHEMA, OWN_SETTINGS

#: Where the form's "documentation" link goes (metadata.yaml's `documentationUrl` too).
DOCUMENTATION_URL = "https://pypi.org/project/tap-lp-audittrail/"
#: The object that holds the chosen way of logging in, and its constant discriminator.
CREDENTIALS = "credentials"
DISCRIMINATOR = "auth_method"
#: The form's groups, in order: (id, title, settings). A setting in none lands in the last.
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("account", "Account", ("account_id", CREDENTIALS)),
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
        ),
    ),
    (
        "advanced",
        "Advanced",
        (
            "lookback_minutes",
            "domain",
            "domain_api_url",
            "object_types",
            "component_types",
            "page_size",
            "window_days",
            "max_concurrency",
            "request_timeout",
            "max_answer_megabytes",
            "max_retry_seconds",
            "connection_retry_seconds",
            "retry_initial_wait",
            "log_request_metrics",
        ),
    ),
)
#: Settings accepted but not shown: a capture (`capture_dir`) writes into the container's own
#: disk, thrown away with it; the replay's are set by its --write-tap-config.
CONTAINER_HIDDEN = ("capture_dir", "capture_pseudonymise", "replay_windows", "replay_host_time")


def _setting(name: str) -> dict[str, Any]:
    """A setting as the form shows it: one type, its title, `airbyte_secret` if secret."""
    prop = copy.deepcopy(CONFIG_SCHEMA["properties"][name])
    types = prop.get("type")
    if isinstance(types, list):
        # A form renders one type; a setting left out is simply absent.
        concrete = [t for t in types if t != "null"]
        prop["type"] = concrete[0] if len(concrete) == 1 else concrete
    if name in SECRET_SETTINGS:
        prop["airbyte_secret"] = True
    return prop


def credentials_branch(method: AuthMethod) -> dict[str, Any]:
    """The `oneOf` branch of one way of logging in: its constant `auth_method`, its settings.

    Required: the settings every credential set of the method takes (the Login Service's
    username; its password or API key, one set or the other, the tap's check says which).
    """
    common = [key for key in method.settings if all(key in needs for needs in method.credentials)]
    properties: dict[str, Any] = {
        DISCRIMINATOR: {
            "type": "string",
            "const": method.name,
            "default": method.name,
            "title": CONFIG_SCHEMA["properties"][DISCRIMINATOR]["title"],
            "order": 0,
        }
    }
    for order, key in enumerate(method.settings, start=1):
        properties[key] = {**_setting(key), "order": order}
    return {
        "title": method.label,
        "description": f"Needs {method.needs_text()}.",
        "type": "object",
        "required": [DISCRIMINATOR, *common],
        "properties": properties,
    }


def connection_specification() -> dict[str, Any]:
    """The tap's settings as an Airbyte connection specification (see the module's docstring)."""
    group_of = {name: gid for gid, _, names in GROUPS for name in names}
    last_group = GROUPS[-1][0]
    properties: dict[str, Any] = {}
    shown = [name for _, _, names in GROUPS for name in names]
    hidden = [name for name in OWN_SETTINGS if name not in shown]
    for name in [*shown, *hidden]:
        if name == CREDENTIALS:
            properties[name] = {
                "title": "Authentication",
                "description": "How the source logs in to LivePerson: one of "
                f"{', '.join(AUTH_METHODS)}, each with its own settings.",
                "type": "object",
                "oneOf": [credentials_branch(method) for method in AUTH_TABLE],
            }
        else:
            properties[name] = _setting(name)
        if name in hidden:
            properties[name]["airbyte_hidden"] = True
    orders: dict[str, int] = {}
    for name, prop in properties.items():
        group = group_of.get(name, last_group)
        prop["group"] = group
        prop["order"] = orders[group] = orders.get(group, -1) + 1
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "LivePerson Audit Trail",
        "type": "object",
        "required": CONFIG_SCHEMA.get("required", []),
        "properties": properties,
        "groups": [{"id": gid, "title": title} for gid, title, _ in GROUPS],
    }


def spec_message() -> dict[str, Any]:
    """The SPEC message."""
    return {
        "type": "SPEC",
        "spec": {
            "documentationUrl": DOCUMENTATION_URL,
            "connectionSpecification": connection_specification(),
            "supportsIncremental": True,
            "supported_destination_sync_modes": ["overwrite", "append", "append_dedup"],
        },
    }


def flat_config(config: Mapping[str, Any], where: str = "config") -> dict[str, Any]:
    """The tap's settings of a config: `credentials`, if given, flattened into them.

    A config without it is the tap's settings as they are (a connection made before it). Each
    key of `credentials` must be a setting of its `auth_method` (any credential setting when it
    names none), and one also given flat must have the same value; every problem is one line
    naming the file and the field, never a value but `auth_method`'s (and the field's name never
    followed by a colon, which the redactor would read as a secret's value to hide).
    """
    flat = {key: value for key, value in config.items() if key != CREDENTIALS}
    if CREDENTIALS not in config:
        return flat
    given = config[CREDENTIALS]
    if not isinstance(given, dict):
        kind = type(given).__name__
        raise unusable("Config", [f"{where}: {CREDENTIALS}: expected an object, got {kind}"])
    name = given.get(DISCRIMINATOR)
    method = auth_method(name) if isinstance(name, str) else None
    if name is not None and method is None:
        raise unusable(
            "Config",
            [f"{where}: {CREDENTIALS}.{DISCRIMINATOR}: {name!r}; use {', '.join(AUTH_METHODS)}"],
        )
    allowed = method.settings if method is not None else CREDENTIAL_SETTINGS
    problems = []
    for key, value in given.items():
        field = f"{where}: {CREDENTIALS}.{key}"
        if key != DISCRIMINATOR and key not in allowed:
            whose = f"auth_method {method.name}" if method is not None else "any auth_method"
            settings = ", ".join(allowed)
            problems.append(f"{field} is not a setting of {whose}; its settings: {settings}")
        elif key in flat and flat[key] != value:
            problems.append(
                f"{field} differs from the flat setting `{key}` of the same config: give it "
                f"once, in {CREDENTIALS}"
            )
        else:
            flat[key] = value
    if problems:
        raise unusable("Config", problems)
    return flat
