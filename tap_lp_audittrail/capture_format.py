"""A capture's folder as docs/capture.md documents it.

The names the tap writes and the replay reads, in one place, with no dependency: the sandbox
takes them without taking the tap.
"""

from __future__ import annotations

FORMAT = "tap-lp-audittrail capture 1"
#: What the account id is replaced by, in every file of a capture.
ACCOUNT_PLACEHOLDER = "ACCOUNT"
EXCHANGES = "exchanges.jsonl"
WINDOWS = "windows.jsonl"
SETTINGS = "settings.json"
READINGS = "readings.json"


def service_of(path: str) -> str:
    """Which LivePerson service a path belongs to (an exchange's `service`)."""
    if path.endswith("/baseURI.json"):
        return "domain"
    if path.endswith("/metadata/audit"):
        return "audit"
    if "/sentinel/" in path:
        return "sentinel"
    for action in ("login", "refresh", "logout"):
        if path.endswith(f"/{action}"):
            return action
    return "other"
