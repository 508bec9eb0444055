"""sdk_shim.py: what the tap relies on in the SDK beyond its documented API, pinned.

Each test names one thing the shim relies on (a private name and its signature, a behaviour,
a log line it matches) and fails when an SDK upgrade changes it, so that the upgrade fails here
first, where the one module that must change is named. In process: a tap with a bearer token
and no server (nothing here makes a request).
"""

from __future__ import annotations

import inspect
import io
import json
import logging
import sys
from contextlib import redirect_stdout

import click
import pytest
from singer_sdk import Stream, Tap, metrics
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.plugin_base import PluginBase, SingerCommand

from tap_lp_audittrail import sdk_shim
from tap_lp_audittrail.stopping import STOP
from tap_lp_audittrail.tap import TapLPAuditTrail

CONFIG = {"account_id": "12345678", "bearer_token": "t0ken-for-the-shim"}
RECORD = {
    "id": "0" * 32,
    "accountId": "12345678",
    "objectType": "User",
    "objectName": "alice",
    "changeDate": "2025-01-01T00:00:00.000000+00:00",
    "originator": "bob",
}


def tap(**config: object) -> TapLPAuditTrail:
    return TapLPAuditTrail(config={**CONFIG, **config}, parse_env_config=False)


def parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- names
def test_the_private_names_the_shim_calls_have_the_signatures_it_calls_them_with():
    assert parameters(Stream._write_schema_message) == ["self"]
    assert parameters(Stream._generate_record_messages) == ["self", "record"]
    assert parameters(PluginBase._setup_signal_handlers) == ["self"]
    validate = inspect.signature(PluginBase._validate_config).parameters
    assert validate["raise_errors"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters(SingerCommand.__init__)[-2:] == ["logger", "kwargs"]
    assert parameters(SingerCommand.excepthook) == [
        "self",
        "exc_type",
        "exc_value",
        "exc_traceback",
    ]
    assert Stream.ABORT_AT_RECORD_COUNT is None


def test_the_metrics_logger_is_the_one_the_shim_names():
    assert metrics.get_metrics_logger().name == sdk_shim.SDK_METRICS_LOGGER == "singer_sdk.metrics"


# ----------------------------------------------------------------------------- the tap
def test_the_sdk_checks_the_config_through_the_hook_the_tap_overrides(monkeypatch):
    seen: list[tuple[dict, list]] = []

    def check(self, config, sdk_errors):
        seen.append((config, sdk_errors))
        return ["account_id: made up by the test"]

    monkeypatch.setattr(TapLPAuditTrail, "check_config", check)
    with pytest.raises(ConfigValidationError) as refused:
        tap(page_size="a string")
    assert refused.value.errors == ["account_id: made up by the test"]
    ((config, sdk_errors),) = seen
    assert config["lookback_minutes"] == 360, "the schema's defaults are applied before"
    assert any("page_size" in error for error in sdk_errors)


def test_the_sdk_sets_its_signal_handlers_through_the_method_the_tap_overrides(monkeypatch):
    installed: list[bool] = []
    monkeypatch.setattr(STOP, "install", lambda: installed.append(True))
    tap()
    assert installed == [True]


# ----------------------------------------------------------------------------- streams
def test_a_streams_schema_and_records_are_made_by_the_sdk_with_its_maps():
    maps = {"users": {"originator": "md5(originator)", "__alias__": "people"}}
    one = tap(stream_maps=maps)
    users = one.streams["users"]
    out = io.StringIO()
    with redirect_stdout(out):
        sdk_shim.write_schema(users)
        for message in sdk_shim.record_messages(users, dict(RECORD)):
            one.write_message(message)
        one.message_writer.flush()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["type"], line["stream"]) for line in lines] == [
        ("SCHEMA", "people"),
        ("RECORD", "people"),
    ]
    assert lines[1]["record"]["originator"] != "bob"
    assert lines[1]["record"]["objectName"] == "alice"


@pytest.mark.parametrize(
    ("config", "as_they_are"),
    [
        ({}, True),
        ({"stream_maps": {"audit_trail": {"originator": None}}}, False),
        ({"stream_maps": {"audit_trail": {"__alias__": "changes"}}}, False),
        ({"flattening_enabled": True, "flattening_max_depth": 1}, False),
    ],
    ids=["plain", "a property removed", "an alias", "flattening"],
)
def test_records_go_out_as_they_are_only_without_maps_flattening_or_deselection(
    config, as_they_are
):
    stream = tap(**config).streams["audit_trail"]
    assert sdk_shim.writes_records_as_they_are(stream) is as_they_are


def test_a_deselected_property_is_no_record_as_it_is():
    catalog = tap().catalog_dict
    (entry,) = [s for s in catalog["streams"] if s["tap_stream_id"] == "audit_trail"]
    for item in entry["metadata"]:
        if item["breadcrumb"] == ["properties", "originator"]:
            item["metadata"]["selected"] = False
    stream = TapLPAuditTrail(config=CONFIG, catalog=catalog).streams["audit_trail"]
    assert sdk_shim.writes_records_as_they_are(stream) is False


def test_the_connection_test_is_known_by_its_record_limit_of_one(monkeypatch):
    one = tap()
    seen: dict[str, bool] = {}

    def sync(self, context=None):
        seen[self.name] = sdk_shim.is_dry_run(self)

    monkeypatch.setattr(Stream, "sync", sync)
    assert not sdk_shim.is_dry_run(one.streams["users"])
    one.run_connection_test()
    assert set(seen) == set(one.streams)
    assert all(seen.values())


def test_a_stream_whose_state_is_marked_unflushed_has_it_written_again():
    one = tap()
    stream = one.streams["audit_trail"]
    stream.state_manager.is_flushed = True
    sdk_shim.mark_state_unflushed(stream)
    out = io.StringIO()
    with redirect_stdout(out):
        stream._write_state_message()  # what the SDK calls at the end of a stream's sync
    assert [json.loads(line)["type"] for line in out.getvalue().splitlines()] == ["STATE"]


def test_the_sync_timer_keeps_the_reads_start_through_the_sdks_with():
    timer = sdk_shim.SyncTimer(metrics.Metric.SYNC_DURATION, {metrics.Tag.STREAM: "x"})
    timer.start()
    started = timer.start_time
    with timer:  # the SDK's `with` around a stream's sync: a plain Timer restarts here
        assert timer.start_time == started
    plain = metrics.Timer(metrics.Metric.SYNC_DURATION, {})
    plain.start_time = 0.0
    with plain:
        assert plain.start_time > 0.0, "the SDK's Timer no longer restarts in its `with`"


# ----------------------------------------------------------------------------- log lines
def test_the_sdk_logs_the_sync_error_line_the_shim_drops(monkeypatch, caplog):
    stream = tap().streams["audit_trail"]

    def fail(self, context=None):
        raise RuntimeError("made up by the test")

    monkeypatch.setattr(type(stream), "get_records", fail)
    with caplog.at_level(logging.INFO), pytest.raises(RuntimeError):
        stream.sync()
    (line,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert line.getMessage().startswith(sdk_shim.SDK_SYNC_ERROR)
    assert line.name == "tap-lp-audittrail.audit_trail", "a stream logs as its tap's child"
    drop = sdk_shim.DropSyncErrorLine()
    logging.getLogger(line.name).setLevel(logging.INFO)
    assert drop.filter(line) is False
    logging.getLogger(line.name).setLevel(logging.DEBUG)
    assert drop.filter(line) is True
    logging.getLogger(line.name).setLevel(logging.NOTSET)


def test_only_warnings_drops_the_streams_and_metrics_info_lines_and_no_other():
    quiet = sdk_shim.OnlyWarnings("tap-lp-audittrail")

    def record(name: str, level: int) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, "a line", (), None)

    assert not quiet.filter(record("tap-lp-audittrail.users", logging.INFO))
    assert not quiet.filter(record("singer_sdk.metrics", logging.INFO))
    assert quiet.filter(record("tap-lp-audittrail.users", logging.WARNING))
    assert quiet.filter(record("tap-lp-audittrail", logging.INFO))


# ----------------------------------------------------------------------------- command line
def test_the_sdks_invoke_logs_config_errors_itself_and_the_quiet_one_lets_them_through(caplog):
    def refuse() -> None:
        raise ConfigValidationError("Config validation failed", errors=["a: made up"])

    logger = logging.getLogger("tap-lp-audittrail")
    sdk = SingerCommand(name="x", callback=refuse, logger=logger)
    try:
        with caplog.at_level(logging.ERROR):
            assert sdk.main([], standalone_mode=False) == 1  # click's exit code, not raised
        messages = [r.getMessage() for r in caplog.records]
        assert messages == ["a: made up", "Config validation failed"]
        caplog.clear()
        quiet = sdk_shim.QuietCommand(name="x", callback=refuse, logger=logger)
        with pytest.raises(ConfigValidationError):
            quiet.main([], standalone_mode=False)
        assert not caplog.records
    finally:  # both invokes capture warnings and set the excepthook, as the command line does
        logging.captureWarnings(False)
        sys.excepthook = sys.__excepthook__


def test_the_command_made_anew_keeps_every_option_of_the_sdks():
    sdk = Tap.get_singer_command.__func__(TapLPAuditTrail)  # type: ignore[attr-defined]
    ours = TapLPAuditTrail.get_singer_command()
    assert isinstance(ours, sdk_shim.QuietCommand)
    assert isinstance(sdk, click.Command)
    assert [p.name for p in ours.params] == [p.name for p in sdk.params]
    assert {"config", "about", "discover", "test", "catalog", "state"} <= {
        p.name for p in ours.params
    }
    assert (ours.name, ours.help, ours.callback) == (sdk.name, sdk.help, sdk.callback)


def test_the_sdk_says_a_sync_begins_in_the_lines_the_shim_drops_for_a_stream_read_already(
    monkeypatch, caplog
):
    stream = tap().streams["users"]
    monkeypatch.setattr(type(stream), "get_records", lambda self, context=None: iter(()))
    with caplog.at_level(logging.INFO):
        stream.sync()
    said = [r.getMessage() for r in caplog.records if r.name == "tap-lp-audittrail.users"]
    assert "Beginning sync of 'users' in incremental mode" in said
    assert "Starting incremental sync of 'users' with bookmark value: None" in said
    assert all(sdk_shim.SDK_SYNC_BEGINS_SAID.fullmatch(line) for line in said)
    caplog.clear()
    sdk_shim.read_already(stream)
    with caplog.at_level(logging.INFO):
        stream.logger.info("another line of the stream")
        stream.sync()
    assert [r.getMessage() for r in caplog.records if r.name == stream.logger.name] == [
        "another line of the stream"
    ]
    sdk_shim.sync_begun(stream)
    with caplog.at_level(logging.INFO):
        stream.sync()
    assert len([r for r in caplog.records if r.name == stream.logger.name]) == len(said) + 1
