"""Pytest fixtures: a started default sandbox, and a factory for tailored ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from tap_lp_audittrail.sandbox.readings import DataSpec
from tap_lp_audittrail.sandbox.server import Sandbox

FIXED_END = datetime(2026, 11, 1, tzinfo=timezone.utc)
"""The end of the fixtures' data: fixed, so tests do not depend on the clock."""


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A started default Sandbox (2000 records ending at FIXED_END), stopped after the test."""
    with Sandbox(data=DataSpec(records=2000, end=FIXED_END)) as sb:
        yield sb


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes with any Sandbox kwargs (data end defaults to FIXED_END); all stopped."""
    started: list[Sandbox] = []

    def make(**kwargs: Any) -> Sandbox:
        data = kwargs.get("data")
        if data is None:
            kwargs["data"] = DataSpec(end=FIXED_END)
        elif data.end is None:
            kwargs["data"] = dataclasses.replace(data, end=FIXED_END)
        sb = Sandbox(**kwargs).start()
        started.append(sb)
        return sb

    yield make
    for sb in started:
        sb.stop()
