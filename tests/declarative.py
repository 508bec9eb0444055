"""Running airbyte-manifest/manifest.yaml as Airbyte runs a Connector Builder connector.

airbyte-cdk's `source-declarative-manifest` reads the manifest from the config, under
`__injected_declarative_manifest`, and is given `--state` from the read before: exactly what
Airbyte Cloud does with a connector made in (or imported into) the Connector Builder. It runs
from `.venv-airbyte` (made by scripts/test), as a subprocess: airbyte-cdk's `backoff` module
clashes with singer-sdk's `python-backoff`, so it never enters the tap's own virtualenv.

Every line it writes is checked against Airbyte's protocol models (`parse_airbyte`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tap_lp_audittrail.records import API_FIELDS, IdAssigner
from tap_lp_audittrail.sandbox import Sandbox

from .airbyte.helpers import parse_airbyte  # the protocol's own models check every line
from .helpers import key

REPO = Path(__file__).resolve().parent.parent
FOLDER = REPO / "airbyte-manifest"
MANIFEST = FOLDER / "manifest.yaml"
IN_CI = bool(os.environ.get("CI"))
UTC = dt.timezone.utc


def airbyte_venv_bin(name: str) -> str:
    """An executable of `.venv-airbyte` (airbyte-cdk, PyAirbyte and pytest)."""
    path = REPO / ".venv-airbyte" / "bin" / name
    if os.access(path, os.X_OK):
        return str(path)
    if IN_CI:
        pytest.fail(f".venv-airbyte/bin/{name} is missing; scripts/test installs it", pytrace=False)
    pytest.skip(f".venv-airbyte/bin/{name} is missing (run scripts/test to install it)")
    raise AssertionError  # unreachable


def cdk_env(home: Path) -> dict[str, str]:
    """The CDK without the network: no tracking, and a proxy that answers nothing for every
    host but this machine's loopback addresses."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRBYTE_", "PYTHON"))}
    env.update(
        DO_NOT_TRACK="1",
        HOME=str(home),
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        NO_PROXY="127.0.0.0/8,localhost",
    )
    return env


def load_manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text())


def manifest_config(
    sb: Sandbox, auth: str = "bearer", *, start: dt.datetime | None = None, **overrides: Any
) -> dict[str, Any]:
    """The manifest's settings reaching `sb` with one auth method (no manifest injected)."""
    c = sb.credentials
    credentials: dict[str, Any]
    if auth == "bearer":
        credentials = {"auth_type": "bearer", "bearer_token": sb.issue_bearer()}
    elif auth == "login":
        credentials = {
            "auth_type": "login",
            "login_domain": sb.url,
            "username": c.username,
            "password": c.password,
        }
    elif auth == "client_credentials":
        credentials = {
            "auth_type": "client_credentials",
            "sentinel_domain": sb.url,
            "client_id": c.client_id,
            "client_secret": c.client_secret,
        }
    else:
        raise ValueError(auth)
    config: dict[str, Any] = {
        "account_id": sb.account_id,
        "domain": sb.url,
        "credentials": credentials,
    }
    if start is not None:
        config["start_date"] = start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    config.update(overrides)
    return config


def configured_catalog(streams: Iterable[str], sync_mode: str = "incremental") -> dict:
    return {
        "streams": [
            {
                "stream": {
                    "name": name,
                    "json_schema": {},
                    "supported_sync_modes": ["full_refresh", "incremental"],
                },
                "sync_mode": sync_mode,
                "destination_sync_mode": "append_dedup",
                "cursor_field": ["changeDate"],
                "primary_key": [["id"]],
            }
            for name in streams
        ]
    }


@dataclass
class ManifestRun:
    """What one `source-declarative-manifest` command wrote."""

    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    records: dict[str, list[dict]] = field(default_factory=dict)
    #: Every STATE message's `state` object, in order (what Airbyte's platform keeps).
    states: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)  # TRACE error objects
    messages: list[Any] = field(default_factory=list)

    def stream(self, name: str = "audit_trail") -> list[dict]:
        return self.records.get(name, [])

    @property
    def final_state(self) -> list[dict]:
        """The last STATE of each stream, as Airbyte's platform keeps it for the next sync."""
        last: dict[str, dict] = {}
        for state in self.states:
            last[state["stream"]["stream_descriptor"]["name"]] = state
        return list(last.values())

    def cursor(self, stream: str = "audit_trail") -> str | None:
        for state in reversed(self.states):
            if state["stream"]["stream_descriptor"]["name"] == stream:
                return state["stream"]["stream_state"].get("changeDate")
        return None


def run_manifest(
    command: str,
    config: Mapping[str, Any],
    tmp_path: Path,
    *,
    streams: Iterable[str] = ("audit_trail",),
    sync_mode: str = "incremental",
    state: list[dict] | None = None,
    manifest: dict[str, Any] | None = None,
    debug: bool = False,
    timeout: float = 600,
) -> ManifestRun:
    """Run one command of `source-declarative-manifest` with the manifest injected."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    injected = {**config, "__injected_declarative_manifest": manifest or load_manifest()}
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(injected))
    args = [airbyte_venv_bin("source-declarative-manifest"), command]
    if command != "spec":
        args += ["--config", str(config_path)]
    if command == "read":
        catalog_path = tmp_path / "catalog.json"
        catalog_path.write_text(json.dumps(configured_catalog(streams, sync_mode)))
        args += ["--catalog", str(catalog_path)]
        if state is not None:
            state_path = tmp_path / "state.json"
            state_path.write_text(json.dumps(state))
            args += ["--state", str(state_path)]
    if debug:
        args.append("--debug")
    started = dt.datetime.now(UTC)
    proc = subprocess.run(
        args,
        capture_output=True,
        text=True,
        env=cdk_env(tmp_path),
        cwd=tmp_path,
        timeout=timeout,
        check=False,
    )
    run = ManifestRun(
        proc.returncode, proc.stdout, proc.stderr, (dt.datetime.now(UTC) - started).total_seconds()
    )
    for line in proc.stdout.split("\n"):  # the protocol's lines; a value may hold U+2028
        if not line.startswith("{") or (debug and line.startswith('{"type": "DEBUG"')):
            continue  # at --debug, the CDK also writes debug lines of its own
        message = parse_airbyte(line)
        run.messages.append(message)
        if message.record is not None:
            run.records.setdefault(message.record.stream, []).append(as_change(message.record.data))
        elif message.state is not None:
            run.states.append(json.loads(line)["state"])
        elif message.trace is not None and message.trace.error is not None:
            run.errors.append(json.loads(line)["trace"]["error"])
    return run


def as_change(data: Mapping[str, Any]) -> dict:
    """A record as the tap emits it: every API field present (the CDK leaves nulls out)."""
    return {"id": data["id"], **{f: data.get(f) for f in API_FIELDS}}


# ----------------------------------------------------------------------------- truth
def first_copy_ids(truth: list[dict]) -> dict[tuple, str]:
    """Each distinct change of `truth` and the id the tap gives its first copy."""
    ids: dict[tuple, str] = {}
    assigner = IdAssigner()
    for record in truth:
        ids.setdefault(key(record), assigner.assign(record))
    return ids


def assert_distinct_changes(records: list[dict], truth: list[dict], *, what: str = "") -> None:
    """After deduplication by `id`, `records` hold every distinct change of `truth` and nothing
    else, each under the id the tap gives its first copy."""
    expected = first_copy_ids(truth)
    by_id: dict[str, tuple] = {}
    for record in records:
        seen = by_id.setdefault(record["id"], key(record))
        assert seen == key(record), f"{what}: two different changes share the id {record['id']}"
    got = {k: i for i, k in by_id.items()}
    missing = set(expected) - set(got)
    extra = set(got) - set(expected)
    assert not missing, f"{what}: {len(missing)} of {len(expected)} changes missing: {min(missing)}"
    assert not extra, f"{what}: {len(extra)} changes the truth lacks: {min(extra)}"
    wrong = {k for k in expected if got[k] != expected[k]}
    assert not wrong, f"{what}: {len(wrong)} ids differ from the tap's, e.g. {min(wrong)}"
