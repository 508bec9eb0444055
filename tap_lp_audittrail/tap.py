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

from tap_lp_audittrail.api import AuditClient
from tap_lp_audittrail.capture import Capture, session_hook
from tap_lp_audittrail.cli import TapCommand, run_and_exit
from tap_lp_audittrail.errors import install_redaction, show_error_answer
from tap_lp_audittrail.inputs import (
    catalog_file,
    checked_catalog,
    checked_state,
    note_missing_bookmarks,
    state_file,
)
from tap_lp_audittrail.output import SingerOutput
from tap_lp_audittrail.read import configured_range, connection_test, run_read
from tap_lp_audittrail.readings import log_report
from tap_lp_audittrail.sdk_shim import ConfigCheckedTap, command_as
from tap_lp_audittrail.settings import (
    CONFIG_SCHEMA,
    config_errors,
    config_warnings,
    learn_secrets,
)
from tap_lp_audittrail.stopping import STOP
from tap_lp_audittrail.streams import (
    AllChangesStream,
    ElementStream,
    ObjectTypeIndex,
    elements_from_config,
)

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
        return [
            AllChangesStream(self),
            *(ElementStream(self, e) for e in elements_from_config(self.config)),
        ]

    @cached_property
    def client(self) -> AuditClient:
        """The run's API client, made at the first request."""
        install_redaction()
        client = AuditClient(self.config, ObjectTypeIndex(elements_from_config(self.config)))
        hooks = [client.readings.observe, show_error_answer]
        capture = self._start_capture(client)
        if capture is not None:
            hooks.insert(0, capture.hook)
        client.transport.session.hooks["response"].append(session_hook(*hooks))
        return client

    def _start_capture(self, client: AuditClient) -> Capture | None:
        """The run's capture, when `capture_dir` is set; settings.json is written at once."""
        config = self.config
        folder = config.get("capture_dir")
        if not folder:
            return None
        pseudonymise = bool(config.get("capture_pseudonymise", True))
        if not pseudonymise:
            self.logger.warning(
                "capture_pseudonymise is false: the capture in %s holds the names, login "
                "names, user agents and values of the account's changes in clear",
                folder,
            )
        capture = Capture(folder, str(config["account_id"]), pseudonymise=pseudonymise)
        start, end = configured_range(config)
        capture.write_settings(
            config,
            start=start,
            end=end,
            host_time=client.host_time,
            streams=[name for name, stream in self.streams.items() if stream.selected],
            state=self.state,
        )
        self.__dict__["_capture"] = capture
        client.note_window = capture.note_window
        self.logger.info("Capturing every HTTP exchange of this run into %s", folder)
        return capture

    def read_trail(self, *, dry_run: bool = False) -> None:
        """The run's one read, for every selected stream; the first stream synced runs it."""
        if self.__dict__.get("_read_done"):
            return
        self.__dict__["_read_done"] = True
        STOP.check()  # a signal during start-up: no request at all
        selected = [stream for stream in self.streams.values() if stream.selected]
        try:
            if dry_run:
                connection_test(self, self.client, selected)
            else:
                run_read(self, self.client, selected)
        finally:
            self.end_of_run()

    def end_of_run(self) -> None:
        """Said once, after the read: unknown objectTypes, log out, and the readings seen."""
        client = self.__dict__.get("client")
        if client is None or client.closed:
            return
        self._warn_unknown_object_types(client)
        client.close()
        report = client.readings.report()
        log_report(report)
        capture = self.__dict__.pop("_capture", None)
        if capture is not None:
            capture.write_readings(report)
            capture.close()

    def _warn_unknown_object_types(self, client: AuditClient) -> None:
        seen = client.unknown_object_types
        if seen:
            listing = ", ".join(f"{name!r}: {n}" for name, n in sorted(seen.items()))
            self.logger.warning(
                "%d record(s) have an objectType no element stream knows (%s); they are in "
                "`audit_trail` only. Map them with the `object_types` setting.",
                sum(seen.values()),
                listing,
            )


def settings_schema() -> dict[str, Any]:
    """The whole config schema: the tap's settings and the SDK's built-in ones."""
    schema = copy.deepcopy(CONFIG_SCHEMA)
    TapLPAuditTrail.append_builtin_config(schema)
    return schema


def main() -> NoReturn:
    """Console script `tap-lp-audittrail` (and `python -m tap_lp_audittrail`)."""
    run_and_exit(TapLPAuditTrail.cli)
