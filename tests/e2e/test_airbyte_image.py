"""Airbyte's platform runs the source as a Docker image: the image built by scripts/airbyte-image
on the local base (scripts/airbyte-base), run by a real Docker engine.

- metadata.yaml is what Airbyte's own connectors carry, valid for airbyte-cdk's `MetadataFile`
  model, and names what the image is;
- the image holds the runtime alone, under the limit of its own layers' size;
- airbyte-cdk's standard image tests (integration_tests/) pass against it, with a valid config
  and an invalid one that `check` must fail;
- PyAirbyte with `docker_image=` reads every stream exactly, then only the new changes;
- `docker kill` mid-read, then a read from the last emitted state, loses nothing and repeats
  nothing; a refused credential ends with a TRACE `config_error` and a non-zero exit; nothing
  secret is in what the container writes at DEBUG.

airbyte-cdk and PyAirbyte run in `.venv-airbyte` (airbyte-cdk's `backoff` clashes with
singer-sdk's). scripts/test starts the engine and makes the base; where it cannot, it says why
in AIRBYTE_IMAGE_UNAVAILABLE, and these tests fail in CI and skip elsewhere with that reason.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tap_lp_audittrail.elements import STREAM_NAMES
from tap_lp_audittrail.sandbox import DataSpec, Sandbox

from .._reliability import SecretSpy, Union, now_sandbox, run_killable
from ..airbyte.helpers import (
    AUDIT,
    SourceProcess,
    command_files,
    configured_catalog,
    run_standard_tests,
    truth_of,
    validated_metadata,
)
from ..helpers import END, assert_in_order_with_unique_ids, assert_same_records, tap_config
from .conftest import IN_CI, REPO
from .test_pyairbyte import as_tap_records, pyairbyte_python, pyairbyte_read

PYPROJECT = REPO / "pyproject.toml"
#: The values Airbyte's metadata schema allows for these fields.
RELEASE_STAGES = {"alpha", "beta", "generally_available", "custom"}
SUPPORT_LEVELS = {"community", "certified", "archived"}
BASE = os.environ.get("AIRBYTE_IMAGE_BASE", "lp-audittrail-base:bookworm")
TAG = "source-lp-audittrail:suite"
#: The most the image's own layers (above the base) may weigh.
OWN_LAYERS_LIMIT = 80_000_000
#: The docker of the standard tests: every `docker run` on the host's network (the sandbox).
HOST_NETWORK = Path(__file__).with_name("host_network")


def test_metadata_yaml_is_valid_for_airbyte_cdk_and_names_what_the_image_is():
    validated = validated_metadata(pyairbyte_python(), REPO / "metadata.yaml")
    data = validated["model"]["data"]
    assert validated["language"] == "python"
    assert data["dockerRepository"] == "source-lp-audittrail"
    assert data["connectorType"] == "source"
    assert uuid.UUID(data["definitionId"]).version == 4
    assert re.fullmatch(r"\d+\.\d+\.\d+", data["dockerImageTag"]), data["dockerImageTag"]
    assert data["documentationUrl"].startswith("https://")
    assert re.search(rf'^license = .*"{data["license"]}"', PYPROJECT.read_text(), re.M)
    assert data["releaseStage"] in RELEASE_STAGES
    assert data["supportLevel"] in SUPPORT_LEVELS
    # What the platform knows the source by is what the image says it is.
    dockerfile = (REPO / "Dockerfile").read_text()
    assert f"io.airbyte.name={data['dockerRepository']}" in dockerfile
    assert f'ENTRYPOINT ["{data["dockerRepository"]}"]' in dockerfile
    assert f"{data['dockerRepository']}:" in (REPO / "scripts" / "airbyte-image").read_text()


# ----------------------------------------------------------------------------- the image
def _unavailable(why: str) -> None:
    if IN_CI:
        pytest.fail(f"the Airbyte image tests cannot run in CI: {why}", pytrace=False)
    pytest.skip(f"the Airbyte image tests cannot run: {why}")


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def image_bytes(name: str) -> int:
    return int(docker("image", "inspect", "--format", "{{.Size}}", name).stdout.strip())


#: pip's word on an index or find-links location of the machine's pip configuration that does
#: not exist: one line per package, which would bury the error that stopped the build.
_PIP_LOCATION_IGNORED = re.compile(r"^WARNING: Location '[^']*' is ignored: .*\n?", re.M)


def _build_error(stderr: str) -> str:
    """What scripts/airbyte-image said, its last 60 lines, pip's ignored locations left out."""
    return "\n".join(_PIP_LOCATION_IGNORED.sub("", stderr).splitlines()[-60:])


@pytest.fixture(scope="session")
def image() -> str:
    """The image, built from this checkout on the local base, once per session.

    Not once per module: pytest-xdist may run other modules' tests between this module's, and
    a module fixture would then build it again.
    """
    why = os.environ.get("AIRBYTE_IMAGE_UNAVAILABLE")
    if why:
        _unavailable(why)
    if shutil.which("docker") is None or docker("info").returncode != 0:
        _unavailable("no Docker engine answers (scripts/test starts one)")
    if docker("image", "inspect", BASE).returncode != 0:
        _unavailable(f"the base image {BASE} is missing (scripts/airbyte-base makes it)")
    before = docker("image", "inspect", "--format", "{{.Id}}", TAG).stdout.strip()
    started = time.monotonic()
    proc = subprocess.run(
        [str(REPO / "scripts" / "airbyte-image"), "--base", BASE, "--tag", TAG],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert proc.returncode == 0, _build_error(proc.stderr)
    assert proc.stdout.strip().splitlines()[-1] == TAG, "the script's last line is the tag"
    print(json.dumps({"image_build_seconds": round(time.monotonic() - started, 1)}))
    if before and docker("image", "inspect", "--format", "{{.Id}}", TAG).stdout.strip() != before:
        docker("image", "rm", before)  # the last session's image, untagged now
    return TAG


def in_image(image: str, *command: str) -> str:
    proc = docker("run", "--rm", "--entrypoint", command[0], image, *command[1:])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_image_is_the_runtime_alone_and_says_what_it_is(image):
    (info,) = json.loads(docker("image", "inspect", image).stdout)
    config = info["Config"]
    metadata = "import importlib.metadata as m; print(m.version('tap-lp-audittrail'))"
    version = in_image(image, "python3", "-c", metadata).strip()
    assert config["Entrypoint"] == ["source-lp-audittrail"]
    assert "AIRBYTE_ENTRYPOINT=source-lp-audittrail" in config["Env"]
    assert config["Labels"]["io.airbyte.name"] == "source-lp-audittrail"
    assert config["Labels"]["io.airbyte.version"] == version
    assert config["User"] == "airbyte"
    assert in_image(image, "id", "-u").strip() != "0"
    # Nothing but the runtime: no compiler, no pip, no wheelhouse left in its own layers, not
    # the repository nor its tests (the base's and the dependencies' own files are theirs).
    found = in_image(
        image,
        "sh",
        "-c",
        "for c in gcc cc make git pip pip3; do command -v $c; done;"
        " find /opt /airbyte /tmp \\( -name .git -o -name '*.whl' -o -name pyproject.toml \\)"
        " -print; find /opt -path '*tap_lp_audittrail*' -name 'test_*.py' -print;"
        " ls /opt/source-lp-audittrail/lib/python3*/site-packages /airbyte",
    )
    packages = found.split()
    assert not [p for p in packages if p.startswith("/") and not p.endswith(":")], packages
    assert "tap_lp_audittrail" in packages
    assert not {"pip", "pytest", "tests", "airbyte_cdk"} & set(packages), packages
    own = image_bytes(image) - image_bytes(BASE)
    print(json.dumps({"base_mb": round(image_bytes(BASE) / 1e6, 1), "own_mb": round(own / 1e6, 1)}))
    assert own <= OWN_LAYERS_LIMIT, f"the image's own layers weigh {own / 1e6:.1f} MB"


def _layers(name: str) -> list[str]:
    inspected = docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", name)
    return json.loads(inspected.stdout)


def _build(source: Path, tag: str) -> None:
    proc = subprocess.run(
        [str(source / "scripts" / "airbyte-image"), "--base", BASE, "--tag", tag],
        capture_output=True, text=True, timeout=1200, check=False,
        env={**os.environ, "PYTHON": sys.executable},
    )  # fmt: skip
    assert proc.returncode == 0, _build_error(proc.stderr)


def _same_image(built: str, layers: list[str], image: str) -> None:
    now = docker("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()
    changed = [i for i, (a, b) in enumerate(zip(layers, _layers(image), strict=False)) if a != b]
    assert now == built, f"another image: layers {changed} of {len(layers)} differ"


def test_a_warm_build_reuses_every_layer_that_has_not_changed(image, tmp_path):
    """Built again with no change: the same image, even once the tap's install stage has
    left Docker's build cache (its files are the same: .pyc files hold no build time). After
    a change to one tap module: every layer but the tap's own, the last, is the one built
    before (the dependencies' install is in Docker's build cache)."""
    built = docker("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()
    layers = _layers(image)
    _build(REPO, image)
    _same_image(built, layers, image)
    assert docker("image", "rm", "lp-audittrail-stage:install").returncode == 0
    _build(REPO, image)
    _same_image(built, layers, image)
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-tags", str(REPO), str(clone)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    for tracked in ("Dockerfile", "scripts/airbyte-image"):  # as this checkout has them
        shutil.copy(REPO / tracked, clone / tracked)
    module = clone / "tap_lp_audittrail" / "records.py"
    module.write_text(module.read_text() + "\n# a change to one module\n")
    changed = f"{TAG}-changed"
    try:
        _build(clone, changed)
        before, after = _layers(image), _layers(changed)
        assert len(after) == len(before) >= 3
        assert after[:-1] == before[:-1], "a layer below the tap's own was built again"
        assert after[-1] != before[-1]
    finally:
        docker("image", "rm", changed)


def test_airbytes_standard_image_tests_pass(image, sandbox_factory, tmp_path):
    """airbyte-cdk's DockerConnectorTestSuite: spec, check (valid and invalid), discover, read."""
    sb = sandbox_factory(data=DataSpec(seed=61, records=300, end=END), seed=61)
    folder = tmp_path / "source-lp-audittrail"  # the suite takes the connector's name from it
    folder.mkdir()
    for name in ("metadata.yaml", "acceptance-test-config.yml"):
        shutil.copy(REPO / name, folder / name)
    shutil.copytree(REPO / "integration_tests", folder / "integration_tests")
    secrets = folder / "secrets"
    secrets.mkdir()
    config = tap_config(sb, page_size=100)
    (secrets / "config.json").write_text(json.dumps(config))
    (secrets / "invalid_config.json").write_text(
        json.dumps({**config, "app_secret": "not-the-app-secret"})
    )
    env = {
        **os.environ,
        "REAL_DOCKER": shutil.which("docker") or "docker",
        "PATH": f"{HOST_NETWORK}{os.pathsep}{os.environ['PATH']}",
        "DO_NOT_TRACK": "1",
    }
    args = ["--connector-image", image]
    proc, outcomes = run_standard_tests(pyairbyte_python(), folder, args, env)
    failed = {name: o for name, o in outcomes.items() if o in ("failure", "error")}
    assert not failed, proc.stdout[-6000:]
    assert proc.returncode == 0, proc.stdout[-3000:]
    passed = {name for name, o in outcomes.items() if o == "passed"}
    # Each command ran and passed with the valid config; the invalid one's check ran and
    # failed, as that scenario expects (`status: failed`).
    for kind in ("spec", "check", "config_matches_spec", "discover", "read"):
        scenario = "" if kind == "spec" else "['config' Test Scenario]"
        assert f"test_docker_image_build_and_{kind}{scenario}" in passed, json.dumps(outcomes)
    assert "test_docker_image_build_and_check['invalid_config' Test Scenario]" in passed
    print(json.dumps({"standard_tests": dict(sorted(outcomes.items()))}))


def test_pyairbyte_reads_every_stream_through_the_image_then_only_the_new_changes(
    image, sandbox_factory, tmp_path
):
    python = pyairbyte_python()
    sb, config = now_sandbox(sandbox_factory, 62, 1500, page_size=200, window_days=30)
    first = pyairbyte_read(python, config, tmp_path, "first", docker_image=image)
    assert set(first["rows"]) == set(STREAM_NAMES)
    for stream in STREAM_NAMES:
        rows = as_tap_records(first["rows"][stream])
        assert_same_records(rows, truth_of(sb, stream), what=f"first read: {stream}")
    before = {stream: len(truth_of(sb, stream)) for stream in STREAM_NAMES}
    now = dt.datetime.now(dt.timezone.utc)
    sb.append(sb.make_records(30, now, now + dt.timedelta(seconds=3), seed=63))
    new = {stream: len(truth_of(sb, stream)) - before[stream] for stream in STREAM_NAMES}
    second = pyairbyte_read(python, config, tmp_path, "second", docker_image=image)
    assert new[AUDIT] == 30
    assert second["processed"] == sum(new.values()), "the second read reads the new ones only"
    for stream in STREAM_NAMES:
        rows = as_tap_records(second["rows"][stream])
        assert_same_records(rows, truth_of(sb, stream), what=f"second read: {stream}")
    print(
        json.dumps(
            {
                "rows_per_stream": {s: len(first["rows"][s]) for s in STREAM_NAMES},
                "first_read_seconds": round(first["seconds"], 2),
                "second_read_new_per_stream": {s: n for s, n in new.items() if n},
            }
        )
    )


# ----------------------------------------------------------------------------- docker run
class Container:
    """`docker run` of the image with its files at the same paths inside, on the host's network."""

    def __init__(self, image: str, where: Path) -> None:
        self.image = image
        self.where = where
        self.name = f"lp-audittrail-test-{uuid.uuid4().hex[:12]}"

    def command(self, *args: str) -> list[str]:
        self.where.mkdir(parents=True, exist_ok=True)
        self.where.chmod(0o755)  # the image's user is not this one
        return [
            "docker", "run", "--rm", "-i", "--name", self.name, "--network", "host",
            "--volume", f"{self.where}:{self.where}:ro", self.image, *args,
        ]  # fmt: skip

    def kill(self, proc: subprocess.Popen) -> None:
        docker("kill", self.name)

    def run(self, *args: str, kill_after_lines: int | None = None) -> SourceProcess:
        try:
            return run_killable(
                self.command(*args),
                self.where,
                SourceProcess(),
                kill_after_lines=kill_after_lines,
                kill=self.kill,
                timeout=300,
            )
        finally:
            docker("rm", "--force", self.name)


def test_docker_kill_mid_read_then_a_read_from_the_last_state_loses_nothing(
    image, sandbox_factory, tmp_path
):
    sb = sandbox_factory(
        data=DataSpec(seed=64, records=1200, end=END), latency=0.02, jitter=0.02, seed=64
    )
    config = tap_config(sb, page_size=25, window_days=20, max_concurrency=2)
    streams = (AUDIT, "users", "skills")
    catalog = configured_catalog(streams)
    unions = {stream: Union() for stream in streams}
    kept: dict[str, dict] = {}  # what a platform keeps: the last STATE of each stream
    kills = resumed = 0
    for attempt, kill_after in enumerate((60, 150, 250, None)):
        resumed += bool(kept)
        where = tmp_path / f"attempt{attempt}"
        args = command_files(where, config, catalog, list(kept.values()))
        proc = Container(image, where).run("read", *args, kill_after_lines=kill_after)
        out = proc.output()
        for stream in streams:
            records = out.records(stream)
            assert_in_order_with_unique_ids(records)
            unions[stream].add(records)
        for state in out.states():
            kept[state["stream"]["stream_descriptor"]["name"]] = state
        if proc.killed:
            assert proc.returncode != 0
            kills += 1
        else:
            assert proc.returncode == 0, proc.stderr[-2000:]
            break
    assert kills >= 2, f"only {kills} reads were still running when their container was killed"
    assert resumed >= 2, "too few reads resumed from a state"
    for stream in streams:
        assert_same_records(unions[stream].records, truth_of(sb, stream), what=stream)


def test_a_refused_credential_ends_with_a_config_error_trace_and_a_failing_exit(image, tmp_path):
    sb = Sandbox(data=DataSpec(seed=65, records=100, end=END), seed=65)
    with sb:
        config = {**tap_config(sb, page_size=50), "app_secret": "not-the-app-secret"}
        where = tmp_path / "read"
        args = command_files(where, config, configured_catalog([AUDIT]), None)
        proc = Container(image, where).run("read", *args)
    out = proc.output()
    assert proc.returncode != 0
    (error,) = out.errors
    assert error.failure_type.value == "config_error"
    assert "HTTP 401" in error.message, error.message
    assert "app_secret" in error.message, error.message
    assert out.messages[-1].trace is not None, "the error is the last word"


def test_no_secret_in_what_the_container_writes_at_debug(image, tmp_path):
    sb = Sandbox(data=DataSpec(seed=66, records=200, end=END), seed=66)
    spy = SecretSpy(sb)
    with sb:
        config = tap_config(sb, page_size=50)
        outputs = []
        for command in ("check", "read"):
            where = tmp_path / command
            catalog = configured_catalog() if command == "read" else None
            args = command_files(where, config, catalog, None)
            outputs.append(Container(image, where).run("--debug", command, *args))
    for proc in outputs:
        assert proc.returncode == 0, proc.stderr[-2000:]
    read = outputs[1].output()
    assert any(m.log.level.value == "DEBUG" for m in read.of("LOG")), "debug was not on"
    assert read.records(AUDIT), "the read read"
    text = "".join("\n".join(p.lines) + p.stderr for p in outputs)
    leaks = spy.leaks(text)
    assert not leaks, f"{len(leaks)} secret(s) in the output, e.g. {leaks[0][:6]}..."
