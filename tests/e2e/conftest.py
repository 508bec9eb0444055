"""Real parts for end-to-end tests: the meltano CLI, installed plugins, a PostgreSQL server.

Nothing here is mocked. `meltano` comes from MELTANO_BIN, else `.venv-meltano/bin/meltano`
(what `scripts/test` installs), else PATH. The plugins of meltano.yml are installed once per
session into a cache project; every test project links its plugin virtualenvs from there and
keeps its own system database, so runs of different tests never share state by accident.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tap_lp_audittrail.sandbox import Sandbox
from tap_lp_audittrail.sandbox.cli import tap_config

REPO = Path(__file__).resolve().parents[2]
IN_CI = bool(os.environ.get("CI"))
UTC = dt.timezone.utc

#: Loaders the tests run; the others are only installed and asked for --about.
LOADERS = ("target-csv", "target-jsonl", "target-postgres", "target-snowflake", "target-bigquery")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is end-to-end. They all run in one worker (tests/conftest.py,
    `WORKER_GROUPS`), which installs the plugins and starts PostgreSQL once."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def _missing(what: str) -> None:
    """A missing real part fails in CI (where scripts/test installs it) and skips elsewhere."""
    if IN_CI:
        pytest.fail(f"{what} is missing; scripts/test installs it", pytrace=False)
    pytest.skip(f"{what} is missing (run scripts/test to install it)")


# --------------------------------------------------------------------------- meltano


def find_meltano() -> str | None:
    """The meltano executable the tests drive."""
    candidates = [
        os.environ.get("MELTANO_BIN"),
        str(REPO / ".venv-meltano" / "bin" / "meltano"),
        shutil.which("meltano"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def clean_env(**extra: str) -> dict[str, str]:
    """The parent's environment without any plugin setting or meltano override, plus `extra`."""
    prefixes = ("TAP_", "TARGET_", "MELTANO_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
        MELTANO_DISABLE_TRACKING="true",
        NO_COLOR="1",
        PYTHONWARNINGS="ignore",
    )
    env.update(extra)
    return env


def project_yaml() -> dict[str, Any]:
    """meltano.yml of the repository, with the tap installed from this checkout."""
    data = yaml.safe_load((REPO / "meltano.yml").read_text())
    for plugin in data["plugins"]["extractors"]:
        if plugin["name"] == "tap-lp-audittrail":
            plugin["pip_url"] = f"-e {REPO}"
    return data


@dataclass
class Result:
    """What one meltano command did."""

    args: list[str]
    returncode: int
    output: str
    seconds: float

    def check(self) -> Result:
        """Fail the test with the command's last output lines when it failed."""
        if self.returncode != 0:
            # Leave out the frames of rich tracebacks: the plugins' own log lines tell more.
            noise = ("METRIC:", ": window ")
            lines = [
                ln
                for ln in self.output.splitlines()
                if not ln.startswith(("│", "╭", "╰")) and not any(n in ln for n in noise)
            ]
            tail = "\n".join(lines[-80:])
            pytest.fail(f"`meltano {' '.join(self.args)}` exited {self.returncode}:\n{tail}")
        return self


@dataclass
class MeltanoProject:
    """A Meltano project folder built from the repository's meltano.yml."""

    root: Path
    meltano: str
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 900) -> Result:
        """Run `meltano ARGS` in the project; output (stdout and stderr) is kept."""
        started = time.monotonic()
        proc = subprocess.run(
            [self.meltano, *args],
            cwd=self.root,
            env=clean_env(**{**self.env, **(env or {})}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Result(list(args), proc.returncode, proc.stdout, time.monotonic() - started)

    def command(self, args: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """ARGS (any program) run in the project with its environment, stdout apart from stderr."""
        return subprocess.run(
            args,
            cwd=self.root,
            env=clean_env(**self.env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def elt(self, loader: str, *extra: str, env: Mapping[str, str] | None = None) -> Result:
        """`meltano --environment=sandbox run tap-lp-audittrail LOADER`, checked."""
        return self.run(
            "--environment=sandbox",
            "run",
            "--no-install",
            *extra,
            "tap-lp-audittrail",
            loader,
            env=env,
        ).check()

    def use_sandbox(self, sb: Sandbox, auth: str = "oauth1", **settings: Any) -> None:
        """Point the tap at `sb` (through the environment, as a deployment would)."""
        config = tap_config(sb, auth)
        config.setdefault("start_date", sb.start_time.isoformat())
        config.update(settings)
        for key, value in config.items():
            text = value if isinstance(value, str) else json.dumps(value)
            self.env[f"TAP_LP_AUDITTRAIL_{key.upper()}"] = text

    def set_loader(self, loader: str, **settings: Any) -> None:
        """Set loader settings through the environment (TARGET_X_SETTING)."""
        prefix = loader.upper().replace("-", "_")
        for key, value in settings.items():
            text = value if isinstance(value, str) else json.dumps(value)
            self.env[f"{prefix}_{key.upper()}"] = text

    @property
    def output(self) -> Path:
        """Where the file loaders write in the sandbox environment."""
        return self.root / "output" / "sandbox"


@pytest.fixture(scope="session")
def meltano_bin() -> str:
    """Path of the meltano executable."""
    found = find_meltano()
    if found is None:
        _missing("meltano")
    assert found is not None
    return found


@pytest.fixture(scope="session")
def plugin_cache(meltano_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project in which every plugin of meltano.yml is installed (once per session)."""
    root = tmp_path_factory.mktemp("meltano-plugins")
    (root / "meltano.yml").write_text(yaml.safe_dump(project_yaml(), sort_keys=False))
    project = MeltanoProject(root, meltano_bin)
    project.run("install").check()
    return root


@pytest.fixture
def make_project(
    meltano_bin: str, plugin_cache: Path, tmp_path: Path
) -> Callable[..., MeltanoProject]:
    """Build projects from meltano.yml whose plugins are the cache's installed ones."""
    count = 0

    def make(name: str | None = None) -> MeltanoProject:
        nonlocal count
        count += 1
        return project_from_cache(tmp_path / (name or f"project{count}"), meltano_bin, plugin_cache)

    return make


def project_from_cache(root: Path, meltano_bin: str, plugin_cache: Path) -> MeltanoProject:
    """A project at `root` from meltano.yml whose plugins are the cache's installed ones.

    The dbt project (transform/) is copied in, without what dbt wrote beside it, so that the
    transformers run the repository's models and write nothing into the repository.
    """
    (root / ".meltano").mkdir(parents=True)
    (root / "meltano.yml").write_text(yaml.safe_dump(project_yaml(), sort_keys=False))
    for kind in ("extractors", "loaders", "transformers"):
        (root / ".meltano" / kind).symlink_to(plugin_cache / ".meltano" / kind)
    shutil.copytree(
        REPO / "transform",
        root / "transform",
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml"),
    )
    return MeltanoProject(root, meltano_bin)


# --------------------------------------------------------------------------- PostgreSQL


def find_pg_bindir() -> Path | None:
    """Folder of the PostgreSQL server binaries (initdb, pg_ctl)."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        candidates.append(Path(out))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb") or "").parent)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL server on 127.0.0.1 (trust auth, superuser `postgres`)."""

    host: str
    port: int
    user: str = "postgres"

    def url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        """SQLAlchemy URL of a database of this server."""
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> Any:
        """An autocommit psycopg connection."""
        import psycopg

        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname=database, autocommit=True
        )

    def create_database(self, name: str) -> str:
        """Create an empty database and return its name."""
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return name


def _server_user() -> tuple[list[str], int | None, int | None]:
    """How to run the server: initdb refuses root, so root runs it as `postgres`."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             "postgres"],
            check=True,
        )  # fmt: skip
        entry = pwd.getpwnam("postgres")
    return ["runuser", "-u", "postgres", "--"], entry.pw_uid, entry.pw_gid


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session: initdb in a temp folder, a free port."""
    bindir = find_pg_bindir()
    if bindir is None:
        _missing("PostgreSQL server binaries (initdb)")
    assert bindir is not None
    prefix, uid, gid = _server_user()
    base = Path(tempfile.mkdtemp(prefix="e2e-postgres-"))
    base.chmod(0o755)
    if uid is not None and gid is not None:
        os.chown(base, uid, gid)
    data, log = base / "data", base / "server.log"

    def as_server(*cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, *cmd], capture_output=True, text=True, check=False, timeout=120
        )

    init = as_server(
        str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
        "-E", "UTF8", "--no-locale",
    )  # fmt: skip
    assert init.returncode == 0, init.stdout + init.stderr
    port = 0
    for _ in range(5):
        port = free_port()
        options = (
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        started = as_server(
            str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w",
            "-t", "60", "start",
        )  # fmt: skip
        if started.returncode == 0:
            break
    else:
        text = log.read_text() if log.exists() else ""
        pytest.fail(f"PostgreSQL did not start:\n{started.stdout}{started.stderr}\n{text}")
    try:
        yield PostgresServer("127.0.0.1", port)
    finally:
        as_server(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)
