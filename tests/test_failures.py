"""How a run ends (failures.py): every failure has one kind, one line and one exit code, and the
Singer command line and the Airbyte entry point end each of them alike.

`CASES` holds one failure of every kind the tap meets, keyed by the rows of docs/airbyte.md's
table of failure types: the table, the classification and both front ends must agree.
"""

from __future__ import annotations

import io
import json
import logging
import re
import signal
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import requests
from singer_sdk.exceptions import (
    ConfigValidationError,
    FatalAPIError,
    RetriableAPIError,
    StreamMapConfigError,
)

from tap_lp_audittrail.airbyte import commands
from tap_lp_audittrail.api import QueryRefusedError
from tap_lp_audittrail.errors import AuthError, ServerAnswerError, ThrottledError, UnreachableError
from tap_lp_audittrail.exchange import AnswerTooLargeError, ExchangeTimeout
from tap_lp_audittrail.failures import AIRBYTE_FAILURE_TYPES, Kind, UsageError, classify
from tap_lp_audittrail.hosts import ForbiddenHostError, HostRefusedError, RedirectError
from tap_lp_audittrail.paging import PagingError
from tap_lp_audittrail.run import Run
from tap_lp_audittrail.sandbox import DataSpec, FaultRule
from tap_lp_audittrail.stopping import Interrupted
from tap_lp_audittrail.tap import TapLPAuditTrail

from .helpers import END, tap_config
from .markdown import ROOT

URL = "https://va.ac.liveperson.net/api/account/12345678/configuration/metadata/audit"


def _sent(exc: requests.exceptions.RequestException) -> requests.exceptions.RequestException:
    exc.request = requests.Request("POST", URL).prepare()
    return exc


def _reset() -> BaseException:
    return _sent(requests.exceptions.ConnectionError(ConnectionResetError(104, "reset by peer")))


#: docs/airbyte.md's row -> failures of that row (one per error class) and the kind they are.
CASES: dict[str, tuple[list[Callable[[], BaseException]], Kind]] = {
    "a setting, the state or the catalog is not usable": (
        [lambda: ConfigValidationError("Config is invalid", errors=["page_size: 5 is too small"])],
        Kind.CONFIG,
    ),
    "the command line is not one: an unknown command or option, a missing `--config` or "
    "`--catalog`": (
        [lambda: UsageError("source-lp-audittrail read: the following arguments are required")],
        Kind.CONFIG,
    ),
    "LivePerson refused the credentials (401), or they lack a permission (403)": (
        [lambda: AuthError("page: LivePerson refused the OAuth 1.0 API key (HTTP 401)")],
        Kind.CONFIG,
    ),
    "a host never answered: connection refused, a name that does not resolve, a failed TLS "
    "handshake": (
        [
            lambda: UnreachableError(
                "Cannot reach http://127.0.0.1:9/api: connection refused. Check `domain_api_url`.",
                setting="domain_api_url",
            )
        ],
        Kind.CONFIG,
    ),
    "the Domain API named a host that is not a plain host[:port]": (
        [lambda: HostRefusedError("Domain API lookup: a backslash", setting="domain_api_url")],
        Kind.CONFIG,
    ),
    "a redirect (3xx) from any of LivePerson's services": (
        [lambda: RedirectError("Login Service login: HTTP 307 to elsewhere", setting="domain")],
        Kind.CONFIG,
    ),
    "an answer larger than `max_answer_megabytes`": (
        [lambda: AnswerTooLargeError("page: the answer passed 1,000,000 bytes")],
        Kind.CONFIG,
    ),
    "more changes at one instant than a page holds, ordered differently on every request "
    "(`page_size`)": (
        [lambda: PagingError("window: 60 records share an instant", setting="page_size")],
        Kind.CONFIG,
    ),
    "`stream_maps` the SDK refuses": (
        [lambda: StreamMapConfigError("Invalid key properties for 'users': [id].")],
        Kind.CONFIG,
    ),
    "a request refused (400, 404 and the other 4xx)": (
        [
            lambda: QueryRefusedError("page", "HTTP 400: unknown component type"),
            lambda: FatalAPIError("page: HTTP 404: Not Found"),
        ],
        Kind.CONFIG,
    ),
    "429 or 5xx, still after `max_retry_seconds`": (
        [lambda: ThrottledError("page: HTTP 503: busy"), lambda: RetriableAPIError("page: 500")],
        Kind.TRANSIENT,
    ),
    "an answer that cannot be read, still after `max_retry_seconds`": (
        [lambda: ServerAnswerError("page: the server's answer is not valid JSON (12 bytes)")],
        Kind.TRANSIENT,
    ),
    "no whole answer within `request_timeout`, still after `max_retry_seconds`": (
        [
            lambda: _sent(ExchangeTimeout("no whole answer within `request_timeout` (5 s)")),
            lambda: _sent(requests.exceptions.ReadTimeout("read timed out")),
        ],
        Kind.TRANSIENT,
    ),
    "a host that had answered stopped answering, still after `connection_retry_seconds`": (
        [_reset],
        Kind.TRANSIENT,
    ),
    "records came, went or were reordered while a window was paged": (
        [lambda: PagingError("window: records kept vanishing while paging; rerun to resume")],
        Kind.TRANSIENT,
    ),
    "stopped by SIGTERM or SIGINT": (
        [lambda: Interrupted(signal.SIGTERM), lambda: Interrupted(signal.SIGINT)],
        Kind.INTERRUPTED,
    ),
    "an unexpected error (a bug)": (
        [lambda: KeyError("changeDate"), lambda: ForbiddenHostError("refused to send")],
        Kind.SYSTEM,
    ),
}

FAILURES = [
    pytest.param(make, kind, id=f"{make().__class__.__name__}-{row[:40]}")
    for row, (makers, kind) in CASES.items()
    for make in makers
]


# ----------------------------------------------------------------------------- the classifier
@pytest.mark.parametrize(("make", "kind"), FAILURES)
def test_every_failure_has_its_kind_one_line_and_an_exit_code(make, kind):
    exc = make()
    failure = classify(exc)
    assert failure.kind is kind
    assert failure.line
    assert "\n" not in failure.line
    expected_code = exc.exit_code if isinstance(exc, Interrupted | UsageError) else 1
    assert failure.exit_code == expected_code
    assert failure.failure_type == AIRBYTE_FAILURE_TYPES[kind]


def test_a_host_that_never_answered_names_its_setting_while_one_that_stopped_is_transient():
    unreachable = classify(CASES[next(r for r in CASES if "never answered" in r)][0][0]())
    assert "`domain_api_url`" in unreachable.line
    stopped = classify(_reset())
    assert stopped.kind is Kind.TRANSIENT
    assert "va.ac.liveperson.net" in stopped.line
    assert "`connection_retry_seconds`" in stopped.line


def test_a_line_holds_no_known_secret():
    from tap_lp_audittrail.errors import REDACT

    REDACT.add("s3cret-value-for-failures")
    line = classify(AuthError("refused: bearer s3cret-value-for-failures")).line
    assert "s3cret-value-for-failures" not in line


def _table() -> list[tuple[str, str, str]]:
    text = (ROOT / "docs" / "airbyte.md").read_text(encoding="utf-8")
    block = text.split("<!-- failure types:", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in block.splitlines() if line.startswith("| ") and "---" not in line]
    cells = [tuple(c.strip() for c in row.strip("|").split("|")) for row in rows[1:]]
    return [(row, kind.strip("`"), code) for row, kind, code in cells]


def test_docs_airbyte_table_of_failure_types_is_the_classification():
    table = _table()
    assert [row for row, _, _ in table] == list(CASES), "a row without a case, or the reverse"
    for row, failure_type, codes in table:
        makers, _ = CASES[row]
        allowed = {int(code) for code in re.findall(r"\d+", codes)}
        for make in makers:
            failure = classify(make())
            assert failure.failure_type == failure_type, row
            assert failure.exit_code in allowed, row


# ----------------------------------------------------------------------------- both front ends
CONFIG = {"account_id": "12345678", "bearer_token": "t0ken-for-failures"}


@pytest.fixture
def root_logging() -> Iterator[None]:
    """The Singer command line run in this process leaves logging, warnings and the
    excepthook as it found them."""
    root = logging.getLogger()
    saved = (root.level, root.handlers[:])
    with warnings.catch_warnings():
        yield
    logging.captureWarnings(False)
    sys.excepthook = sys.__excepthook__
    logging.disable(logging.NOTSET)
    root.handlers = saved[1]
    root.setLevel(saved[0])


def singer_ends(tmp_path: Path) -> tuple[int, str, str]:
    """`tap-lp-audittrail --config` through its command: exit code, last ERROR line, stderr."""
    tmp_path.mkdir()
    path = tmp_path / "config.json"
    path.write_text(json.dumps(CONFIG))
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as ended:
        TapLPAuditTrail.cli.main(["--config", str(path)], prog_name="tap-lp-audittrail")
    errors = [line for line in err.getvalue().splitlines() if "| ERROR" in line]
    last = errors[-1].split(" | ", 3)[-1].strip() if errors else ""
    return int(ended.value.code or 0), last, err.getvalue()


def airbyte_ends(tmp_path: Path) -> tuple[int, dict]:
    """`source-lp-audittrail read` through its entry function: exit code, its last message."""
    tmp_path.mkdir()
    config, catalog = tmp_path / "config.json", tmp_path / "catalog.json"
    config.write_text(json.dumps(CONFIG))
    entry = {"name": "audit_trail", "json_schema": {}, "supported_sync_modes": ["incremental"]}
    catalog.write_text(json.dumps({"streams": [{"stream": entry, "sync_mode": "incremental"}]}))
    out = io.StringIO()
    with redirect_stderr(io.StringIO()):
        code = commands.run(["read", "--config", str(config), "--catalog", str(catalog)], out)
    return code, json.loads(out.getvalue().splitlines()[-1])


@pytest.mark.parametrize(("make", "kind"), FAILURES)
def test_both_front_ends_end_a_failure_with_the_same_kind_line_and_exit_code(
    monkeypatch, tmp_path, root_logging, make, kind
):
    """The failure is raised where the run's read begins (`Run.read`), in both."""

    def fail(self, **kwargs):
        raise make()

    monkeypatch.setattr(Run, "read", fail)
    failure = classify(make())
    singer_code, singer_line, stderr = singer_ends(tmp_path / "singer")
    airbyte_code, message = airbyte_ends(tmp_path / "airbyte")
    assert singer_code == airbyte_code == failure.exit_code
    error = message["trace"]["error"]
    assert error["failure_type"] == failure.failure_type
    assert error["message"] == failure.line
    if kind is Kind.INTERRUPTED:
        assert singer_line == "", "a stop asked for is not an error: no ERROR line"
        return
    assert singer_line == failure.line
    assert ("Traceback" in stderr) == (kind is Kind.SYSTEM)
    assert ("stack_trace" in error) == (kind is Kind.SYSTEM)


# ----------------------------------------------------------------------------- for real
#: scenario -> (config changes, sandbox faults, the kind, words of the line)
REAL = {
    "a closed port as domain_api_url": (
        {"domain_api_url": "http://127.0.0.1:9"},
        [],
        Kind.CONFIG,
        ("Cannot reach http://127.0.0.1:9/api/account/", "connection refused", "`domain_api_url`"),
    ),
    "a name that does not resolve": (
        {"domain_api_url": "https://nonexistent.invalid"},
        [],
        Kind.CONFIG,
        ("nonexistent.invalid does not resolve", "`domain_api_url`"),
    ),
    "a host that answered, then reset every connection": (
        {"connection_retry_seconds": 1},
        [FaultRule("reset", at=range(2, 10_000))],
        Kind.TRANSIENT,
        ("kept failing", "reset the connection", "`connection_retry_seconds`"),
    ),
}


@pytest.mark.parametrize("scenario", list(REAL))
def test_the_console_scripts_end_a_real_failure_alike(sandbox_factory, tmp_path, scenario):
    changes, faults, kind, words = REAL[scenario]
    sb = sandbox_factory(data=DataSpec(seed=5, records=100, end=END), faults=faults)
    config = tap_config(sb, max_retry_seconds=2, **changes)
    (tmp_path / "config.json").write_text(json.dumps(config))
    entry = {"name": "audit_trail", "json_schema": {}, "supported_sync_modes": ["incremental"]}
    (tmp_path / "catalog.json").write_text(
        json.dumps({"streams": [{"stream": entry, "sync_mode": "incremental"}]})
    )
    files = ["--config", str(tmp_path / "config.json")]
    singer = subprocess.run(
        [sys.executable, "-m", "tap_lp_audittrail", *files],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    source = subprocess.run(
        [sys.executable, "-m", "tap_lp_audittrail.airbyte", "read", *files,
         "--catalog", str(tmp_path / "catalog.json")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert singer.returncode == source.returncode == 1, singer.stderr[-2000:]
    last = singer.stderr.strip().splitlines()[-1]
    assert "| ERROR" in last, singer.stderr[-2000:]
    assert "Traceback" not in singer.stderr, singer.stderr[-2000:]
    line = last.split(" | ", 3)[-1].strip()
    error = json.loads(source.stdout.strip().splitlines()[-1])["trace"]["error"]
    assert error["message"] == line
    assert error["failure_type"] == AIRBYTE_FAILURE_TYPES[kind]
    assert "stack_trace" not in error
    for word in words:
        assert word in line, line
