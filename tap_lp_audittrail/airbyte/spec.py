"""What `spec` says: the tap's settings as an Airbyte connection specification.

The same names, types, defaults and descriptions as the tap's settings (settings.py); the
secret ones (credentials.py) marked `airbyte_secret`; the replay's settings hidden; and every
setting in a group of the form: the account, one per way of logging in (from the auth table),
what to read, how to send requests.
"""

from __future__ import annotations

import copy
from typing import Any

from tap_lp_audittrail.credentials import AUTH_TABLE, SECRET_SETTINGS
from tap_lp_audittrail.settings import CONFIG_SCHEMA

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


def connection_specification() -> dict[str, Any]:
    """The tap's settings as an Airbyte connection specification.

    The same names, types, defaults and descriptions; secrets are marked `airbyte_secret`,
    and the settings fall in groups (one per way of logging in) for a form to render.
    """
    schema = copy.deepcopy(CONFIG_SCHEMA)
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
