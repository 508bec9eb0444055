"""What a user installs and what a release is built from: the distributions the tap imports
from, the sandbox command without its extra, the version from git tags, and the release
workflow's pinning and permissions."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import signal
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HINT = "pip install 'tap-lp-audittrail[sandbox]'"

#: Run at interpreter start (as sitecustomize): werkzeug cannot be imported, as in a plain
#: `pip install tap-lp-audittrail`.
BLOCK_WERKZEUG = """
import sys

class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name == "werkzeug" or name.startswith("werkzeug."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Blocker())
"""


def imported_modules(path: Path) -> set[str]:
    """The top-level modules a file imports at run time (not those for type checkers only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
        for statement in branch.body
        for node in ast.walk(statement)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def declared_distributions() -> set[str]:
    """The distributions pyproject.toml's `dependencies` declare, by their normalised names."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    project = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M)
    assert project, "pyproject.toml declares no dependencies"
    names = (re.match(r'\s*"([A-Za-z0-9_.-]+)', line) for line in project.group(1).splitlines())
    return {re.sub(r"[-_.]+", "-", name.group(1)).lower() for name in names if name}


def test_every_module_the_tap_imports_comes_from_a_distribution_it_declares():
    package = ROOT / "tap_lp_audittrail"
    files = [path for path in package.rglob("*.py") if "sandbox" not in path.parts]
    modules = set().union(*(imported_modules(path) for path in files))
    declared = declared_distributions()
    providers = importlib.metadata.packages_distributions()
    third_party = sorted(modules - set(sys.stdlib_module_names) - {"tap_lp_audittrail"})
    assert third_party, "no module found: the parse is broken"
    for module in third_party:
        names = {re.sub(r"[-_.]+", "-", n).lower() for n in providers.get(module, [])}
        assert names & declared, f"{module} comes from {sorted(names)}, not declared in pyproject"
    # The module `backoff` is python-backoff's: the distribution named `backoff` is another.
    assert "backoff" in modules
    assert "backoff" not in declared


def sandbox_command() -> str:
    command = shutil.which("tap-lp-audittrail-sandbox", path=str(BIN))
    assert command, "tap-lp-audittrail-sandbox is not installed next to this Python"
    return command


def test_the_sandbox_command_without_werkzeug_says_what_to_install(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCK_WERKZEUG)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run(
        [sandbox_command(), "--records", "10"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()], "more than one line"
    assert HINT in proc.stderr
    assert "werkzeug" in proc.stderr


def test_the_sandbox_command_with_its_extra_serves(tmp_path):
    proc = subprocess.Popen(
        [sandbox_command(), "--port", "0", "--records", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert re.match(r"^http://127\.0\.0\.1:\d+$", url), url
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert HINT not in err


def test_the_package_takes_its_version_from_git():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert re.search(r'^\[tool\.hatch\.version\]\nsource = "vcs"', pyproject, re.M)
    assert not re.search(r"^version\s*=", pyproject, re.M)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture(scope="module")
def build_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv holding exactly pyproject.toml's build requirements (made once).

    One build below is isolated, as pip builds by default, which proves those requirements
    complete; the others build with this environment (the same backend, without installing
    it again for each).
    """
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r"^\[build-system\]\nrequires = \[(.*?)\]", text, re.M)
    assert match, "pyproject.toml: no [build-system] requires"
    # hatchling asks for `editables` too when it builds an editable install
    requires = [*re.findall(r'"([^"]+)"', match.group(1)), "editables"]
    env_dir = tmp_path_factory.mktemp("build-env") / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requires],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return python


def _built_version(source: Path, out: Path, build_env: Path | None = None) -> str:
    """Build a wheel of `source` as pip does (isolated, or in `build_env`); its version."""
    python = str(build_env) if build_env is not None else sys.executable
    isolation = ["--no-build-isolation"] if build_env is not None else []
    subprocess.run(
        [python, "-m", "pip", "wheel", "--quiet", "--no-deps", *isolation, "-w", str(out),
         str(source)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )  # fmt: skip
    (wheel,) = out.glob("tap_lp_audittrail-*.whl")
    return wheel.name.split("-")[1]


@pytest.mark.slow
def test_versions_from_a_tag_between_tags_and_without_git(tmp_path, build_env):
    """A tag gives its version, a clone without tags a dev version, an export the fallback."""
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "--quiet", "--no-tags", str(ROOT), str(clone))
    assert _git(clone, "tag") == ""
    untagged = _built_version(clone, tmp_path / "untagged")
    assert re.match(r"^\d+\.\d+\.\d+\.dev\d+\+g[0-9a-f]+$", untagged), untagged

    _git(clone, "tag", "v9.8.7")
    assert _built_version(clone, tmp_path / "tagged", build_env) == "9.8.7"

    export = tmp_path / "export"
    export.mkdir()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", "HEAD"], cwd=clone, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(export)], input=archive, check=True)
    assert _built_version(export, tmp_path / "exported", build_env) == "0.0.0"


@pytest.mark.slow
def test_an_editable_install_works_in_a_clone_without_tags(tmp_path, build_env):
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "--quiet", "--no-tags", str(ROOT), str(clone))
    python = str(build_env)
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-e",
            str(clone),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    version = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('tap-lp-audittrail'))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert re.match(r"^\d+\.\d+\.\d+\.dev\d+\+g[0-9a-f]+$", version), version


@pytest.mark.slow
def test_the_wheel_names_the_projects_urls(tmp_path, build_env):
    """The installed wheel's metadata names the project's pages (`[project.urls]`).

    Homepage and Documentation: the PyPI page (which shows README.md; metadata.yaml names it
    too). Once the Hub file names the public repository (`repo`), Repository, Issues and
    Changelog follow from it.
    """
    subprocess.run(
        [str(build_env), "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "wheel"), str(ROOT)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    (wheel,) = (tmp_path / "wheel").glob("tap_lp_audittrail-*.whl")
    site = tmp_path / "site"
    subprocess.run(
        [str(build_env), "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
         str(wheel)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    (dist,) = importlib.metadata.distributions(name="tap-lp-audittrail", path=[str(site)])
    urls = dict(entry.split(", ", 1) for entry in dist.metadata.get_all("Project-URL") or [])
    assert (
        urls["Homepage"] == urls["Documentation"] == "https://pypi.org/project/tap-lp-audittrail/"
    )
    hub = yaml.safe_load(
        (ROOT / "plugins" / "extractors" / "tap-lp-audittrail--liveperson.yml").read_text()
    )
    if "repo" in hub:
        repo = hub["repo"].rstrip("/")
        assert urls["Repository"] == repo
        assert urls["Issues"] == f"{repo}/issues"
        assert urls["Changelog"] == f"{repo}/blob/main/CHANGELOG.md"
    else:
        assert not {"Repository", "Issues", "Changelog"} & set(urls), "no public repository yet"
    assert all(url.startswith("https://") for url in urls.values()), urls


def test_the_release_workflow_pins_every_action_and_grants_the_least():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    triggers = workflow.get("on") or workflow.get(True)  # YAML 1.1 reads `on` as True
    assert list(triggers) == ["push"]
    assert triggers["push"] == {"tags": ["v[0-9]+.[0-9]+.[0-9]+*"]}
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    for name, job in jobs.items():
        for step in job["steps"]:
            if "uses" in step:
                assert re.match(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$", step["uses"]), (name, step)
        if name == "publish":
            assert job["permissions"] == {"id-token": "write"}
            assert step["uses"].startswith("pypa/gh-action-pypi-publish@")
        else:
            assert "permissions" not in job
    build = "\n".join(s.get("run", "") for s in jobs["build"]["steps"])
    assert "scripts/release-check" in build
    assert jobs["publish"]["needs"] == "build"


def test_the_changelog_keeps_a_changelog():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog\n")
    assert "https://keepachangelog.com/" in text
    headings = re.findall(r"^## \[([^\]]+)\](.*)$", text, re.M)
    assert headings[0][0] == "Unreleased"
    for version, rest in headings[1:]:
        assert re.match(r"^\d+\.\d+\.\d+$", version), version
        assert re.match(r"^ - \d{4}-\d{2}-\d{2}$", rest), rest
    sections = set(re.findall(r"^### (\w+)$", text, re.M))
    assert sections <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
