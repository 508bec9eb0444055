"""tap-lp-audittrail: the tap as the SDK runs it, each of its hooks handed to its module.

The settings and their checks: settings.py; the state and catalog files: inputs.py; the
streams: streams.py; the run (its client, its capture, its one read, its end): run.py.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any, ClassVar, NoReturn

import click
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities

from tap_lp_audittrail.cli import TapCommand, run_and_exit
from tap_lp_audittrail.client import AuditStream
from tap_lp_audittrail.inputs import (
    catalog_file,
    checked_catalog,
    checked_state,
    note_missing_bookmarks,
    state_file,
)
from tap_lp_audittrail.output import SingerOutput
from tap_lp_audittrail.run import Run
from tap_lp_audittrail.sdk_shim import ConfigCheckedTap, command_as
from tap_lp_audittrail.settings import (
    CONFIG_SCHEMA,
    config_errors,
    config_warnings,
    learn_secrets,
)
from tap_lp_audittrail.streams import AllChangesStream, ElementStream, elements_from_config

if TYPE_CHECKING:
    from singer_sdk.helpers.capabilities import CapabilitiesEnum


class TapLPAuditTrail(ConfigCheckedTap):
    """LivePerson Audit Trail: every configuration change of an account, with who and when."""

    name = "tap-lp-audittrail"
    config_jsonschema = CONFIG_SCHEMA
    message_writer_class = SingerOutput

    #: What works and is tested; no BATCH or ACTIVATE_VERSION. Structured logging: Meltano then
    #: gives the SDK a JSON log format, and shows each line at its level.
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        TapCapabilities.TEST,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    def check_config(self, config: dict[str, Any], sdk_errors: list[str]) -> list[str]:
        """The tap's checks, after the SDK's validation has applied the schema's defaults.

        Every message names its setting and never holds a secret: the SDK's own messages may
        quote a value, so the tap's take their place.
        """
        learn_secrets(config)
        for warning in config_warnings(config, self.config_jsonschema):
            self.logger.warning("%s", warning)
        errors = config_errors(config, self.config_jsonschema)
        if sdk_errors and not errors:
            errors = ["config: does not match the settings schema (see --about)"]
        return errors

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command line, each expected failure ending in one line (see cli.py)."""
        return command_as(super().get_singer_command(), TapCommand, cls.logger)

    def __init__(self, *, catalog: Any = None, **kwargs: Any) -> None:
        """Refuse a catalog this tap cannot follow before the SDK applies it (inputs.py)."""
        if isinstance(catalog, Mapping):
            checked_catalog(catalog)
        super().__init__(catalog=catalog, **kwargs)

    @classmethod
    def invoke(  # type: ignore[override]
        cls, *, state: IO[str] | None = None, catalog: IO[str] | None = None, **kwargs: Any
    ) -> None:
        """Check the state and catalog files before the SDK reads them (inputs.py)."""
        if not kwargs.get("about"):
            state = state_file(state, cls.logger)
            catalog = catalog_file(catalog)
        super().invoke(state=state, catalog=catalog, **kwargs)

    def load_state(self, state: dict[str, Any]) -> None:
        """Refuse state this tap cannot have written, before it steers a run wrong."""
        state = checked_state(state, self.logger)
        super().load_state(state)
        if state:
            note_missing_bookmarks(state, self.logger)

    def discover_streams(self) -> list[AllChangesStream | ElementStream]:
        """`audit_trail`, then one stream per audited element, in the table's order."""
        run = self.run
        return [
            AllChangesStream(self, run),
            *(ElementStream(self, run, e) for e in elements_from_config(self.config)),
        ]

    @cached_property
    def run(self) -> Run:
        """The run, made once: every stream is handed it (run.py)."""
        return Run(
            self.config,
            writer=self.message_writer,
            write_state=lambda: self.state_writer.write_state(self.state),
            state=lambda: self.state,
            selected=lambda: [stream for stream in self.audit_streams if stream.selected],
            logger=self.logger,
        )

    @property
    def audit_streams(self) -> list[AuditStream]:
        """The streams, in the order the SDK syncs them."""
        return [stream for stream in self.streams.values() if isinstance(stream, AuditStream)]


def settings_schema() -> dict[str, Any]:
    """The whole config schema: the tap's settings and the SDK's built-in ones."""
    schema = copy.deepcopy(CONFIG_SCHEMA)
    TapLPAuditTrail.append_builtin_config(schema)
    return schema


def main() -> NoReturn:
    """Console script `tap-lp-audittrail` (and `python -m tap_lp_audittrail`)."""
    run_and_exit(TapLPAuditTrail.cli)
