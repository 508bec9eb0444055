"""The base stream every audit stream is built on.

Every stream has the same schema, key and replication key. A stream does not read the API on
its own: the first selected stream the SDK syncs runs the run's one read (run.py), which
writes the records of every selected stream and moves their bookmarks (bookmarks.py); the
others then have nothing left to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream, metrics
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_lp_audittrail import sdk_shim
from tap_lp_audittrail.bookmarks import REPLICATION_KEY
from tap_lp_audittrail.elements import stream_description
from tap_lp_audittrail.records import AUDIT_SCHEMA
from tap_lp_audittrail.sdk_shim import SyncTimer

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_lp_audittrail.elements import Element
    from tap_lp_audittrail.run import Run


class AuditStream(Stream):
    """Base of every audit stream: changes in changeDate order, keyed by their stable `id`."""

    primary_keys = ("id",)
    replication_key = REPLICATION_KEY
    #: Records leave in changeDate order, so a bookmark is valid mid-stream and a killed run
    #: resumes from its last STATE.
    is_sorted = True
    #: The read re-reads the look-back; it never moves a bookmark back (bookmarks.py).
    check_sorted = False
    #: Records already have their schema types (records.to_row).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap, run: Run, name: str, element: Element | None) -> None:
        self.run = run
        self.element = element
        schema = {**AUDIT_SCHEMA, "description": stream_description(element)}
        super().__init__(tap, name=name, schema=schema)

    @property
    def component_types(self) -> tuple[str, ...]:
        """The server-side filter of this stream, when its codes are known."""
        return self.element.component_types if self.element else ()

    @cached_property
    def emitted_counter(self) -> metrics.Counter:
        """`record_count`: counted by the read as it writes this stream's records."""
        return metrics.record_counter(self.name)

    @cached_property
    def read_timer(self) -> SyncTimer:
        """`sync_duration`: from when the read began writing this stream to its end."""
        return SyncTimer(metrics.Metric.SYNC_DURATION, {metrics.Tag.STREAM: self.name})

    def get_record_counter(self, **kwargs: Any) -> metrics.Counter:
        """The counter the read counts this stream's records on (the SDK's own sees none)."""
        return self.emitted_counter

    def get_sync_timer(self) -> metrics.Timer:
        """The timer started when the read began this stream (see SyncTimer)."""
        return self.read_timer

    def get_replication_key_signpost(self, context: Context | None = None) -> Any:
        """None: the bookmark follows what the server showed, never the host's clock."""
        return None

    def get_records(self, context: Context | None) -> Iterator[dict]:
        """Run the run's one read, if no stream has yet: it writes this stream's records."""
        sdk_shim.sync_begun(self)
        self.run.read(dry_run=sdk_shim.is_dry_run(self))
        return iter(())
