"""scripts/demo.py ends with the README's way to a real account (tests/e2e/test_demo.py runs
the demo itself)."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from .markdown import ROOT, block_after, commands


def demo_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo", ROOT / "scripts" / "demo.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def readme_real_account_commands() -> list[str]:
    """The commands of README's "Configuring a real account" block, comments left out."""
    return [
        command.plain for command in commands(block_after("## Configuring a real account", "sh"))
    ]


def test_the_demo_ends_with_the_readme_commands_for_a_real_account():
    steps = demo_module().REAL_ACCOUNT
    assert len(steps) == 3
    printed = [command for _, commands in steps for command in commands]
    assert printed == readme_real_account_commands()


def test_the_real_account_steps_set_the_four_api_key_settings_then_test_then_run():
    (_, setting), (_, testing), (_, running) = demo_module().REAL_ACCOUNT
    named = [command.split()[4] for command in setting]
    assert named == ["account_id", "app_key", "app_secret", "access_token", "access_token_secret"]
    assert [c.split()[1:3] for c in testing + running] == [
        ["config", "test"],
        ["run", "tap-lp-audittrail"],
    ]
