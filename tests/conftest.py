from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from hypothesis import Phase, settings

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
