from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from hypothesis import Phase, settings
from xdist.scheduler import LoadScopeScheduling

pytest_plugins = ["tap_lp_audittrail.sandbox.pytest_plugin", "tests.hostile"]

# scripts/mutation runs the in-process tests with `--hypothesis-profile=mutation`: every run
# draws the same examples (so a mutant's verdict does not depend on luck), keeps no example
# database between mutants, and does not shrink a failing example (it only has to fail).
settings.register_profile(
    "mutation",
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    deadline=None,
)
# No property of this suite is about time: Hypothesis's 200 ms deadline per example would only
# measure how loaded the machine is (a test of text failed on it under a load of 9).
settings.register_profile("default-no-deadline", deadline=None)
settings.load_profile("default-no-deadline")


#: Folders whose tests run together, in one worker each (scripts/test runs `--dist loadgroup`):
#: their session fixtures (the Meltano plugins, PostgreSQL, the Airbyte image, the dbt
#: projects) are made once, and two of their tests never build the same image at once.
WORKER_GROUPS = ("e2e", "models")


def group_of(nodeid: str) -> str | None:
    """The worker group of a test, by its folder under tests/ (None: any worker)."""
    parts = nodeid.split("::", 1)[0].split("/")
    in_group = len(parts) > 2 and parts[0] == "tests" and parts[1] in WORKER_GROUPS
    return parts[1] if in_group else None


class FolderGroups(LoadScopeScheduling):
    """`--dist loadgroup`, grouped by folder. pytest-xdist's own groups (the `xdist_group`
    mark) rename the test's node id, which pytest 9.2 no longer lets a plugin do: every group
    was spread over every worker."""

    def _split_scope(self, nodeid: str) -> str:
        return group_of(nodeid) or nodeid


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Under `--dist loadgroup`, the folder groups; otherwise pytest-xdist's own scheduler."""
    return FolderGroups(config, log) if config.getvalue("dist") == "loadgroup" else None


@pytest.fixture(autouse=True)
def _one_worker_per_group(
    request: pytest.FixtureRequest, worker_id: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A group's tests all run in the worker that ran its first: else the run fails, at once."""
    group = group_of(request.node.nodeid)
    if group is None or worker_id == "master" or not request.config.getvalue("loadgroup"):
        return
    marker = tmp_path_factory.getbasetemp().parent / f"worker-of-{group}"
    try:
        with marker.open("x") as claimed:
            claimed.write(worker_id)
    except FileExistsError:
        owner = marker.read_text()
        if owner and owner != worker_id:
            pytest.fail(f"tests/{group} runs in {owner} and {worker_id}: one worker each")


@pytest.fixture
def host_zone_east_of_utc() -> Iterator[str]:
    """The host's local zone is Asia/Kathmandu (+05:45) for one test: the tap must not read it."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kathmandu"
    time.tzset()
    try:
        yield os.environ["TZ"]
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()
