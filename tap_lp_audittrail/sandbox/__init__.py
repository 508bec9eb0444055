"""A local stand-in for LivePerson's Audit Trail API and the services around it."""

from tap_lp_audittrail.sandbox.auth import Credentials
from tap_lp_audittrail.sandbox.data import API_FIELDS, SandboxRecord
from tap_lp_audittrail.sandbox.readings import ELEMENTS, DataSpec, FaultRule, Readings
from tap_lp_audittrail.sandbox.server import LogEntry, Sandbox, Stats

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
    "Stats",
]
