"""jsonfiles.py: the one loader of the JSON files a command is given (--config, --state,
--catalog, of both command lines). Each problem is one line naming the option and the path;
what the file holds is checked elsewhere (settings.py, inputs.py, the Airbyte adapter)."""

from __future__ import annotations

import io

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_lp_audittrail.failures import Kind, classify
from tap_lp_audittrail.jsonfiles import read_json, read_json_object, unusable


def problem_of(call) -> tuple[str, str]:
    """The error's title and its one problem."""
    with pytest.raises(ConfigValidationError) as raised:
        call()
    (problem,) = raised.value.errors
    return str(raised.value), problem


@pytest.mark.parametrize("what", ["config", "state", "catalog"])
def test_a_file_is_read_as_json_and_named_by_its_option_and_path(tmp_path, what):
    path = tmp_path / f"{what}.json"
    path.write_text('{"a": [1, 2]}', encoding="utf-8")
    assert read_json(str(path), what) == ({"a": [1, 2]}, f"--{what} {path}")
    assert read_json_object(path, what) == ({"a": [1, 2]}, f"--{what} {path}")


def test_a_file_click_opened_is_named_by_its_path_and_one_without_a_name_by_its_option(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{}", encoding="utf-8")
    with path.open(encoding="utf-8") as opened:
        assert read_json(opened, "state") == ({}, f"--state {path}")
    assert read_json(io.StringIO("{}"), "state") == ({}, "state")


#: what a file holds -> what its one problem says, after `--state PATH: `
BROKEN = {
    "{account_id: 1": "not valid JSON (Expecting property name enclosed in double quotes: "
    "line 1 column 2 (char 1)); fix the file or start without state",
    "": "not valid JSON (Expecting value: line 1 column 1 (char 0)); fix the file or start "
    "without state",
    "[" * 100_000: "not valid JSON (nested too deep); fix the file or start without state",
}


@pytest.mark.parametrize("text", list(BROKEN), ids=["broken", "empty", "too deep"])
def test_a_file_that_is_not_json_is_one_line_saying_what_to_do(tmp_path, text):
    path = tmp_path / "state.json"
    path.write_text(text, encoding="utf-8")
    title, problem = problem_of(lambda: read_json(path, "state"))
    assert title == "State is not usable"
    assert problem == f"--state {path}: {BROKEN[text]}"


def test_what_to_do_about_a_broken_file_depends_on_what_it_was_given_as(tmp_path):
    path = tmp_path / "file.json"
    path.write_text("{", encoding="utf-8")
    for what, fix in (
        ("config", "; fix the file"),
        ("catalog", "; fix the file or start without catalog"),
    ):
        title, problem = problem_of(lambda what=what: read_json(path, what))
        assert title == f"{what.capitalize()} is not usable"
        assert problem.startswith(f"--{what} {path}: not valid JSON (")
        assert problem.endswith(fix)


def test_an_empty_file_is_nothing_where_that_means_none(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(" \n", encoding="utf-8")
    assert read_json(path, "state", empty_is_none=True) == (None, f"--state {path}")


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda p: None, "No such file or directory"),
        (lambda p: p.mkdir(), "Is a directory"),
        (lambda p: p.write_bytes(b'{"a": "\xff"}'), "'utf-8' codec can't decode byte 0xff"),
    ],
    ids=["missing", "a folder", "not UTF-8"],
)
def test_a_file_that_cannot_be_read_is_one_line_saying_why(tmp_path, make, why):
    path = tmp_path / "config.json"
    make(path)
    title, problem = problem_of(lambda: read_json(path, "config"))
    assert title == "Config is not usable"
    assert problem.startswith(f"--config {path}: cannot be read (")
    assert why in problem


@pytest.mark.parametrize(
    ("text", "kind"), [("[1, 2]", "list"), ('"x"', "str"), ("null", "NoneType")]
)
def test_where_an_object_is_expected_another_value_is_one_line_naming_it(tmp_path, text, kind):
    path = tmp_path / "catalog.json"
    path.write_text(text, encoding="utf-8")
    title, problem = problem_of(lambda: read_json_object(path, "catalog"))
    assert title == "Catalog is not usable"
    assert problem == f"--catalog {path}: expected a JSON object, got {kind}"


def test_an_unusable_input_is_a_config_failure_whose_line_lists_every_problem():
    failure = classify(unusable("State", ["--state s.json: a: x", "--state s.json: b: y"]))
    assert failure.kind is Kind.CONFIG
    assert failure.line == "State is not usable: --state s.json: a: x; --state s.json: b: y"
    assert failure.exit_code == 1
