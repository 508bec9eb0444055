"""The sandbox's settings: one switch per unknown of the API, the data to serve, the faults.

Every unknown listed in docs/liveperson-audit-trail-api.md is a field of ``Readings`` so a test
can play each plausible reading of the real API against the tap.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

ELEMENTS: dict[str, str] = {
    "users": "Users",
    "skills": "Skills",
    "agent_groups": "Agent Groups",
    "profiles": "Profiles",
    "lines_of_business": "LOBs",
    "campaigns": "Campaigns",
    "predefined_content": "Predefined Content",
    "post_conversation_surveys": "Post Conversation Survey",
    "agent_conversation_surveys": "Agent Conversation Survey",
    "content_categories": "Content Categories",
    "working_hours": "Working Hours",
    "campaign_schedules": "Campaign Schedule",
    "special_occasions": "Special Occasions",
    "mtls_account_mappings": "MTLS Account Mapping",
    "mtls_certifications": "MTLS Certification",
}
"""Element key -> the objectType string served by default (Readings.object_types renames)."""

DEFAULT_COMPONENT_TYPES: dict[str, list[str]] = {
    "ACUserObject": ["Users"],
    "ACSkillObject": ["Skills"],
    "ACProfileObject": ["Profiles"],
    "ACAgentGroupObject": ["Agent Groups"],
}

TOTAL_COUNT_MODES = ("total", "page")
ABOVE_MAX_MODES = ("cap", "error")
TIE_ORDERS = ("stable", "shuffled")
DATES_TIMEZONES = ("requested", "utc", "server")
ACTION_TYPE_MODES = ("served", "refused")
UNKNOWN_COMPONENT_MODES = ("error", "empty", "ignore")


@dataclass
class Readings:
    """One reading of every unknown of the API; mutable while the server runs."""

    to_date_inclusive: bool = True
    dates_timezone: str = "requested"
    """How fromDate/toDate are read: in the requested `timezone`, in UTC, or in
    `server_timezone` whatever `timezone` asks for (the account's or the server's own zone)."""
    server_timezone: str = "US/Eastern"
    """The zone of the "server" reading of the dates: any IANA name (DST and half hours too)."""
    date_header: bool = True
    """Whether answers carry a `Date` header (the sandbox's clock)."""
    total_count: str = "total"
    max_page_size: int = 1000
    above_max_page_size: str = "cap"
    tie_order: str = "stable"
    default_timezone: str = "US/Eastern"
    utc_accepted: bool = True
    action_type: str = "served"
    component_types: dict[str, list[str]] = field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_COMPONENT_TYPES.items()}
    )
    unknown_component_type: str = "error"
    object_types: dict[str, str] = field(default_factory=lambda: dict(ELEMENTS))
    subsecond: bool = False
    validation_error_status: int = 400
    single_session_per_user: bool = True
    """A new login of a user ends that user's previous Login Service session."""

    def check(self) -> None:
        """Refuse a value no code path knows, so a typo in a test fails loudly."""
        choices = {
            "dates_timezone": DATES_TIMEZONES,
            "total_count": TOTAL_COUNT_MODES,
            "above_max_page_size": ABOVE_MAX_MODES,
            "tie_order": TIE_ORDERS,
            "action_type": ACTION_TYPE_MODES,
            "unknown_component_type": UNKNOWN_COMPONENT_MODES,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                msg = f"Readings.{name} must be one of {allowed}, not {getattr(self, name)!r}"
                raise ValueError(msg)
        if self.max_page_size < 1:
            raise ValueError("Readings.max_page_size must be positive")
        try:
            ZoneInfo(self.server_timezone)
        except (ValueError, KeyError, OSError):
            msg = f"Readings.server_timezone {self.server_timezone!r} is not a zone name"
            raise ValueError(msg) from None


@dataclass
class DataSpec:
    """What the generator produces: deterministic for one seed."""

    seed: int = 1
    records: int = 2000
    end: datetime | None = None
    """Aware UTC end (exclusive) of the data; None = now truncated to the hour."""
    span_days: int = 395
    burst_rate: float = 0.01
    """Share of records that start a burst of several records in one second."""
    burst_max: int = 40
    """Largest ordinary burst."""
    big_burst: int | None = None
    """Size of one huge burst in a single second; None = 5000 when records >= 100,000, else 0."""
    duplicate_rate: float = 0.003
    """Share of records stored twice, identical in every field including time."""
    lpa_rate: float = 0.03
    automatic_rate: float = 0.04
    foreign_object_type_rate: float = 0.003
    """Share of records whose objectType no element has (e.g. "Widgets")."""
    long_values: int | None = None
    """Records with values of tens of kB; None = 3 + records // 200,000 (0 below 50 records)."""
    subsecond_rate: float = 0.25
    """Share of records whose instant carries milliseconds (served only with Readings.subsecond)."""
    dst_records: int | None = None
    """Records placed in the repeated autumn hour of US/Eastern; None = min(60, records // 50)."""
    visibility_lag: timedelta = timedelta(0)
    """Every record becomes visible this long after its changeDate (on the sandbox's clock)."""
    late_share: float = 0.0
    """Share of records that become visible late, each by a seeded lag of up to `late_by`."""
    late_by: timedelta = timedelta(0)


FAULT_KINDS = (
    "latency",
    "429",
    "500",
    "502",
    "503",
    "reset",
    "truncate",
    "slow_body",
    "malformed_json",
    "graphql_errors",
    "expire_bearer",
)
ENDPOINTS = ("audit", "domain", "login", "refresh", "logout", "sentinel")


@dataclass
class FaultRule:
    """One injected fault: on chosen request numbers of an endpoint, or at a seeded rate."""

    kind: str
    endpoint: str = "audit"
    at: Collection[int] | None = None
    rate: float = 0.0
    limit: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        """Refuse unknown kinds and endpoints at once rather than never firing."""
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"FaultRule.kind must be one of {FAULT_KINDS}, not {self.kind!r}")
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"FaultRule.endpoint must be one of {ENDPOINTS}")
