"""The JSON files a user hands a command: one loader, each problem one line naming the file.

`--config`, `--state` and `--catalog`, of the Singer command line and of
`source-lp-audittrail` alike, are read here before any request. A file that cannot be read, is
not JSON, or holds another JSON value where an object is expected stops the command with one
line naming the option and the path:

    Config is not usable: --config PATH: not valid JSON (Expecting ',' delimiter: ...); fix the file

What a file holds is checked where its meaning is known (settings.py, inputs.py, the Airbyte
adapter's state.py and catalog.py), each problem naming the file and then the field, with the
same `unusable` error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from singer_sdk.exceptions import ConfigValidationError

#: What to do about a file that is not JSON, by what it was given as.
_FIX = {
    "config": "fix the file",
    "state": "fix the file or start without state",
    "catalog": "fix the file or start without catalog",
}


def unusable(what: str, problems: Sequence[str]) -> ConfigValidationError:
    """The error that stops the run before any request: one line per problem.

    `what` names the input (Config, State, Catalog); each problem names the file and the field.
    """
    return ConfigValidationError(f"{what} is not usable", errors=list(problems))


def read_json(
    source: str | Path | IO[str], what: str, *, empty_is_none: bool = False
) -> tuple[Any, str]:
    """The JSON value of the file given as `--{what}`, and how messages name that file.

    `source` is a path, or a file click opened; it is named `--state PATH`, or `state` when it
    has no name. `empty_is_none`: a file holding only white space is None, not an error.
    """
    if isinstance(source, str | Path):
        shown = f"--{what} {source}"
    else:
        name = getattr(source, "name", None)
        shown = f"--{what} {name}" if isinstance(name, str) else what
    title = what.capitalize()
    try:
        text = (
            Path(source).read_text(encoding="utf-8")
            if isinstance(source, str | Path)
            else source.read()
        )
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise unusable(title, [f"{shown}: cannot be read ({why})"]) from None
    if empty_is_none and not text.strip():
        return None, shown
    try:
        return json.loads(text), shown
    except (ValueError, RecursionError) as exc:
        why = "nested too deep" if isinstance(exc, RecursionError) else str(exc)
        problem = f"{shown}: not valid JSON ({why}); {_FIX.get(what, 'fix the file')}"
        raise unusable(title, [problem]) from None


def read_json_object(source: str | Path | IO[str], what: str) -> tuple[dict[str, Any], str]:
    """The JSON object of the file given as `--{what}`, and how messages name it."""
    value, shown = read_json(source, what)
    if not isinstance(value, dict):
        problem = f"{shown}: expected a JSON object, got {type(value).__name__}"
        raise unusable(what.capitalize(), [problem])
    return value, shown
