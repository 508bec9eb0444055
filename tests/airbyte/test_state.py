"""state.py, in process: every form of Airbyte state becomes the Singer state the tap reads.

The forms docs/airbyte.md lists (STREAM states as messages or their `state` objects, GLOBAL,
LEGACY as a Singer state, as stream -> bookmark, or as a LEGACY message), each giving the same
bookmarks; nothing given is no state; a stream read in `full_refresh` mode starts without its
bookmark; a state of another shape is one line naming the file and the entry.
"""

from __future__ import annotations

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_lp_audittrail.airbyte.state import singer_state, starting_state
from tap_lp_audittrail.failures import Kind, classify

USERS = {"replication_key": "changeDate", "replication_key_value": "2025-01-01T00:00:00Z"}
SKILLS = {"replication_key": "changeDate", "replication_key_value": "2025-02-01T00:00:00Z"}
BOOKMARKS = {"bookmarks": {"users": USERS, "skills": SKILLS}}


def stream(name: str, value: object) -> dict:
    return {"stream_descriptor": {"name": name}, "stream_state": value}


#: form -> the same two bookmarks in that form
FORMS = {
    "STREAM states": [
        {"type": "STREAM", "stream": stream("users", USERS)},
        {"type": "STREAM", "stream": stream("skills", SKILLS)},
    ],
    "STATE messages": [
        {"type": "STATE", "state": {"type": "STREAM", "stream": stream("users", USERS)}},
        {"type": "STATE", "state": {"type": "STREAM", "stream": stream("skills", SKILLS)}},
    ],
    "STREAM states without their type": [
        {"stream": stream("users", USERS)},
        {"stream": stream("skills", SKILLS)},
    ],
    "one GLOBAL state": [
        {
            "type": "GLOBAL",
            "global": {"stream_states": [stream("users", USERS), stream("skills", SKILLS)]},
        }
    ],
    "a Singer state": BOOKMARKS,
    "stream -> bookmark": {"users": USERS, "skills": SKILLS},
    "a LEGACY message": [{"type": "LEGACY", "data": {"users": USERS, "skills": SKILLS}}],
    "a LEGACY message of a Singer state": [{"type": "LEGACY", "data": BOOKMARKS}],
    "a LEGACY state without its type": [{"data": BOOKMARKS}],
}


@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_gives_the_same_bookmarks(form):
    assert singer_state(FORMS[form]) == BOOKMARKS


def test_a_lone_state_message_is_read_as_a_list_of_one():
    assert singer_state({"type": "STREAM", "stream": stream("users", USERS)}) == {
        "bookmarks": {"users": USERS}
    }


@pytest.mark.parametrize("nothing", [None, [], {}])
def test_nothing_given_is_no_state(nothing):
    assert singer_state(nothing) == {}


def test_a_stream_state_of_null_is_an_empty_bookmark_and_the_later_state_wins():
    given = [
        {"type": "STREAM", "stream": stream("users", None)},
        {"type": "STREAM", "stream": stream("skills", SKILLS)},
        {"type": "STREAM", "stream": stream("skills", USERS)},
    ]
    assert singer_state(given) == {"bookmarks": {"users": {}, "skills": USERS}}


def test_a_full_refresh_stream_starts_without_its_bookmark_and_the_others_keep_theirs():
    modes = {"users": "full_refresh", "skills": "incremental", "profiles": "full_refresh"}
    assert starting_state(FORMS["STREAM states"], modes) == {"bookmarks": {"skills": SKILLS}}
    assert starting_state(None, modes) == {}


def test_the_bookmarks_are_left_for_the_tap_to_check():
    """What a bookmark holds is the tap's to check, as any state's (inputs.py)."""
    odd = [{"type": "STREAM", "stream": stream("users", {"replication_key_value": "yesterday"})}]
    assert singer_state(odd) == {"bookmarks": {"users": {"replication_key_value": "yesterday"}}}


#: a state that is not one -> its one problem, after the file's name
NOT_STATES = {
    "a number": (5, "expected a list of state messages, got int"),
    "a list of numbers": ([1], "[0]: expected a state message, got int"),
    "an unknown type": (
        [{"type": "PER_PLANET"}],
        "[0].type: 'PER_PLANET'; use STREAM, GLOBAL or LEGACY",
    ),
    "no stream name": (
        [{"type": "STREAM", "stream": stream("users", {})}, {"stream": {"stream_state": {}}}],
        "[1].stream: has no stream_descriptor.name",
    ),
    "an empty message": ([{}], "[0].stream: has no stream_descriptor.name"),
    "a message holding no state": (
        [{"type": "STATE", "state": 5}],
        "[0].state: expected a state message, got int",
    ),
    "GLOBAL without stream_states": (
        [{"type": "GLOBAL", "global": {}}],
        "[0].global: expected stream_states",
    ),
    "GLOBAL with a nameless stream": (
        [{"type": "GLOBAL", "global": {"stream_states": [stream("users", {}), {}]}}],
        "[0].global.stream_states[1]: has no stream_descriptor.name",
    ),
    "LEGACY holding a number": (
        [{"type": "LEGACY", "data": 5}],
        "[0].data: expected a list of state messages, got int",
    ),
}


@pytest.mark.parametrize("case", list(NOT_STATES))
def test_a_state_of_another_shape_is_one_line_naming_the_file_and_the_entry(case):
    given, problem = NOT_STATES[case]
    with pytest.raises(ConfigValidationError) as refused:
        singer_state(given, "--state /x/state.json")
    assert refused.value.errors == [f"--state /x/state.json: {problem}"]
    failure = classify(refused.value)
    assert failure.kind is Kind.CONFIG
    assert failure.line.startswith("State is not usable: --state /x/state.json: ")
