"""A sandbox that grows while it runs (`--grow N --every SECONDS`): what each growth adds and
when, said on stderr, drawn again from the same seed, and read by incremental runs of the tap
each once, the changes dated hours back included."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tap_lp_audittrail.sandbox import DataSpec, Sandbox
from tap_lp_audittrail.sandbox.cli import main
from tap_lp_audittrail.sandbox.growth import Growth, growth_line
from tests.helpers import FAST, run_tap
from tests.sandbox.helpers import SandboxProcess, assert_read_once

UTC = dt.timezone.utc
AT = dt.datetime(2026, 5, 4, 10, 0, 5, 123456, tzinfo=UTC)
END = dt.datetime(2026, 5, 4, 10, tzinfo=UTC)


def made(sb: Sandbox, growth: Growth, number: int, at: dt.datetime = AT) -> list[tuple]:
    return [(r.instant, r.object_name, r.new_value) for r in growth.draw(sb, number, at)]


def test_a_growth_is_drawn_again_from_its_seed_number_and_time():
    one, other = (Sandbox(data=DataSpec(records=100, end=END)) for _ in range(2))
    growth = Growth(12, every=5, seed=3)
    assert made(one, growth, 2) == made(other, growth, 2)
    assert made(one, growth, 2) != made(one, growth, 3)
    assert made(one, growth, 2) != made(one, Growth(12, every=5, seed=4), 2)
    later = [(instant - dt.timedelta(hours=1), *rest)
             for instant, *rest in made(one, growth, 2, AT + dt.timedelta(hours=1))]  # fmt: skip
    assert later == made(one, growth, 2)  # the same offsets from the growth's time


@pytest.mark.parametrize(("changes", "late_share", "late"), [(12, 0.25, 3), (10, 0, 0), (3, 1, 3)])
def test_recent_changes_are_dated_since_the_last_growth_and_late_ones_up_to_hours_back(
    changes, late_share, late
):
    sb = Sandbox(data=DataSpec(records=0, end=END))
    growth = Growth(changes, every=5, late_share=late_share, late_minutes=120)
    drawn = growth.draw(sb, 1, AT)
    assert len(drawn) == changes
    for record in drawn[: changes - late]:
        assert AT - dt.timedelta(seconds=5) <= record.instant < AT
    for record in drawn[changes - late :]:
        assert AT - dt.timedelta(minutes=120) <= record.instant < AT - dt.timedelta(seconds=5)
    assert all(r.visible_after == dt.timedelta(0) for r in drawn)  # appended now: visible now


def test_each_growth_is_stored_at_once_and_said_in_one_line(sandbox_factory):
    sb = sandbox_factory(data=DataSpec(records=50))
    sb.set_clock(AT)
    line = Growth(8, every=5, late_minutes=60, seed=2).grow(sb, 4)
    assert growth_line(line) == (4, AT)
    assert line.startswith(f"growth 4 at {AT.isoformat()}: 8 changes, 6 dated in the 5 s ")
    assert "2 dated 2026-05-04T09:" in line
    assert line.endswith("(shown late); 58 records in all")
    assert len(sb.ground_truth(AT - dt.timedelta(hours=1), AT)) == 8


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--every", "3"], "--every, --grow-late and --grow-late-minutes need --grow N"),
        (["--grow", "0"], "--grow takes a number of changes of 1 or more, not 0"),
        (["--grow", "5", "--every", "0"], "--every takes a number of seconds above 0, not 0"),
        (["--grow", "5", "--grow-late", "1.5"], "--grow-late takes a share from 0 to 1, not 1.5"),
        (["--grow", "5", "--every", "600", "--grow-late-minutes", "5"],
         "--grow-late-minutes (5) must reach back further than --every (600 s)"),
        (["--grow", "5", "--replay", "capture"], "--grow adds generated changes; --replay "),
    ],
)  # fmt: skip
def test_a_growth_that_cannot_be_is_refused_in_one_line_before_serving(capsys, argv, says):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith(f"tap-lp-audittrail-sandbox: error: {says}")
    assert "http://" not in capsys.readouterr().out


def test_the_cli_grows_while_serving_and_incremental_runs_read_each_change_once(tmp_path):
    config_file = tmp_path / "tap.json"
    served = SandboxProcess(["--records", "300", "--span-days", "2", "--seed", "7",
                             "--grow", "12", "--every", "2", "--write-tap-config",
                             str(config_file)])  # fmt: skip
    try:
        served.wait_for(lambda: len(served.growths) >= 2)
        config = {**json.loads(config_file.read_text()), **FAST}
        first_started = dt.datetime.now(UTC)
        first = run_tap(config)
        first_ended = dt.datetime.now(UTC)
        served.wait_for(lambda: served.growths_after(first_ended) >= 2)
        said = len(served.growths)
        second = run_tap(config, state=first.final_state)
    finally:
        served.stop()
    assert served.lines[1] == (
        "growing by 12 changes every 2 s, 3 of them dated up to 300 min back as changes shown "
        "late (seed 7)"
    )
    late = assert_read_once(
        served, first.stream("audit_trail"), second.stream("audit_trail"),
        first_started=first_started, first_ended=first_ended, said_before_second=said,
    )  # fmt: skip
    assert late >= 2 * 3 - 1, "the late changes of two growths, but for a rare draw"
