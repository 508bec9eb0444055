"""A local stand-in for LivePerson's Audit Trail API and the services around it.

Its names are imported on first use, so that `tap_lp_audittrail.sandbox.cli` can say what to
install when the sandbox's own dependency (werkzeug, the `sandbox` extra) is missing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tap_lp_audittrail.sandbox.auth import Credentials
    from tap_lp_audittrail.sandbox.data import API_FIELDS, SandboxRecord
    from tap_lp_audittrail.sandbox.readings import ELEMENTS, DataSpec, FaultRule, Readings
    from tap_lp_audittrail.sandbox.server import Sandbox
    from tap_lp_audittrail.sandbox.state import LogEntry, SandboxState, Stats

#: Each public name and the module that defines it.
_MODULES = {
    "Credentials": "auth",
    "API_FIELDS": "data",
    "SandboxRecord": "data",
    "ELEMENTS": "readings",
    "DataSpec": "readings",
    "FaultRule": "readings",
    "Readings": "readings",
    "LogEntry": "state",
    "Sandbox": "server",
    "SandboxState": "state",
    "Stats": "state",
}

__all__ = [
    "API_FIELDS",
    "ELEMENTS",
    "Credentials",
    "DataSpec",
    "FaultRule",
    "LogEntry",
    "Readings",
    "Sandbox",
    "SandboxRecord",
    "SandboxState",
    "Stats",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    module = importlib.import_module(f"{__name__}.{_MODULES[name]}")
    return getattr(module, name)
