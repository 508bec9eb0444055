"""Every default README.md, docs/*.md and meltano.yml's descriptions state is the one the code
uses: the settings table, prose such as "`lookback_minutes` (default 360)", "six hours",
"13 months ago", "two days past the host's date", "tap defaults (page_size 500, ...)".

The defaults come from the tap's settings schema (what `--about` prints); where a default is
worked out at run time (`start_date`, `end_date`), from the function that works it out. A guard
fails on a statement of a default that no check below reads, so a new one cannot go unchecked.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tap_lp_audittrail.run import configured_range
from tap_lp_audittrail.tap import settings_schema

from .markdown import FENCE, ROOT, name, pages, text

UTC = dt.timezone.utc
WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
NUMBERS = {word: index for index, word in enumerate((*WORDS, "eleven", "twelve", "thirteen"), 1)}
SETTINGS = settings_schema()["properties"]
#: Settings worked out at run time when left unset; their stated defaults say how.
COMPUTED = {"start_date", "end_date", "domain"}


@dataclass(frozen=True)
class Statement:
    """A default the docs state: where, which setting, the text that states its value, and
    where in the document's prose the statement stands."""

    where: str
    setting: str
    value: str
    span: tuple[int, int] = (0, 0)


def documents() -> Iterator[tuple[str, str]]:
    """Each page's prose (code blocks out, except the diagram), and meltano.yml's descriptions."""
    for page in pages():
        prose = FENCE.sub(lambda m: m.group(0) if m.group(1) == "mermaid" else "", text(page))
        yield name(page), " ".join(prose.split())
    data = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (tap,) = [p for p in data["plugins"]["extractors"] if p["name"] == "tap-lp-audittrail"]
    for setting in tap["settings"]:
        yield f"meltano.yml {setting['name']}", f"`{setting['name']}` {setting['description']}"


def number(word: str) -> float:
    """A number written in digits or as a word; NaN (equal to nothing) if neither."""
    if word.lower() in NUMBERS:
        return float(NUMBERS[word.lower()])
    try:
        return float(word)
    except ValueError:
        return float("nan")


# --------------------------------------------------------------------------- what the docs state

#: "`lookback_minutes` (default 360)", "`domain_api_url`, default `https://...`",
#: "`start_date` (default: 13 months ago", "`end_date`, exclusive (default: two days ...".
NEAR_NAME = re.compile(
    r"`(?P<setting>[a-z_]+)`[^`.;|]{0,20}?\bdefault(?:s to)?:?\s+\**`?(?P<value>[^`*);,|]+)"
)
#: "tap defaults (page_size 500, max_concurrency 4, window_days 7)".
TAP_DEFAULTS = re.compile(r"\btap defaults \((?P<pairs>[^)]*)\)")
#: Where the look-back's length is said in hours (the default's 360 minutes).
LOOKBACK_HOURS = (
    r"default \*\*\d+: (\w+) hours\*\*",
    r"starts (\w+) h back",
    r"up to (\w+) hours after its `changeDate`",
    r"the re-read (\w+) hours included",
    r"about (\w+) hours of changes",
    r"past the (\w+) h look-back",
    r"look-back defaults to (\w+) hours",
)
MONTHS_AGO = re.compile(r"\b(\w+) months ago\b")
DAYS_PAST = re.compile(r"\b(\w+) days past the host's date\b")


def statements() -> list[Statement]:
    found = []
    for where, prose in documents():
        for match in NEAR_NAME.finditer(prose):
            if match.group("setting") in SETTINGS:
                found.append(
                    Statement(where, match["setting"], match["value"], match.span("value"))
                )
        for match in TAP_DEFAULTS.finditer(prose):
            for pair in match.group("pairs").split(","):
                setting, value = pair.split()
                found.append(Statement(where, setting, value, match.span()))
        for pattern in LOOKBACK_HOURS:
            for match in re.finditer(pattern, prose):
                hours = f"{match.group(1)} hours"
                found.append(Statement(where, "lookback_minutes", hours, match.span()))
        for match in MONTHS_AGO.finditer(prose):
            found.append(Statement(where, "start_date", match.group(0), match.span()))
        for match in DAYS_PAST.finditer(prose):
            found.append(Statement(where, "end_date", match.group(0), match.span()))
    return found


def settings_table() -> dict[str, tuple[str, str]]:
    """docs/settings.md's table: setting -> (Default column, Description)."""
    rows = {}
    for line in text(ROOT / "docs" / "settings.md").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in SETTINGS:
            rows[cells[0]] = (cells[2], cells[3])
    return rows


# --------------------------------------------------------------------------- what the code does


def start_months_back() -> int:
    """How many calendar months before today the first run starts, without start_date."""
    today = dt.datetime.now(UTC)
    start, _ = configured_range({})
    return (today.year * 12 + today.month) - (start.year * 12 + start.month)


def end_days_past_the_hosts_date() -> float:
    """How far past the host's date (00:00 UTC today) reads end, without end_date."""
    today = dt.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    _, end = configured_range({})
    return (end - today) / dt.timedelta(days=1)


def problem(statement: Statement) -> str | None:
    """What is wrong with a stated default, or None."""
    value = statement.value.strip()
    if statement.setting == "start_date":
        stated = re.match(r"(\w+) months ago", value)
        if not stated:
            return f"states no months: {value!r}"
        months = start_months_back()
        return None if number(stated.group(1)) == months else f"the code starts {months} back"
    if statement.setting == "end_date":
        stated = re.match(r"(\w+) days past the host's date", value)
        if not stated:
            return f"states no days past the host's date: {value!r}"
        days = end_days_past_the_hosts_date()
        return None if number(stated.group(1)) == days else f"the code ends {days} days past"
    if statement.setting == "domain":
        return None if value.startswith("asked of the Domain API") else f"states {value!r}"
    default = SETTINGS[statement.setting].get("default")
    hours = re.fullmatch(r"(\w+) hours", value)
    if hours:
        stated = number(hours.group(1)) * 60
        return None if stated == default else f"{stated:g} minutes, the schema's {default}"
    first = value.split()[0].rstrip(":")
    return None if same(first, default) else f"states {first!r}, the schema's is {default!r}"


def same(stated: str, default: Any) -> bool:
    if default is None:
        return stated == "None"
    if isinstance(default, bool):
        return stated.lower() == str(default).lower()
    if isinstance(default, (int, float)):
        try:
            return float(stated) == default
        except ValueError:
            return False
    return stated == default


# --------------------------------------------------------------------------- the tests


def test_every_default_of_the_settings_table_is_the_schemas():
    table = settings_table()
    assert set(table) == set(SETTINGS)
    for setting, (default, _) in table.items():
        assert same(default, SETTINGS[setting].get("default")), setting


def test_every_default_the_docs_state_is_the_codes():
    found = statements()
    table = settings_table()
    for setting in COMPUTED:
        found += [
            Statement("docs/settings.md", setting, match.group(1))
            for match in re.finditer(r"default:? ([^;()]+)", table[setting][1])
        ]
    wrong = [f"{s.where}: {s.setting} {s.value!r}: {problem(s)}" for s in found if problem(s)]
    assert not wrong, "\n".join(wrong)
    stated = {s.setting for s in found}
    assert {"lookback_minutes", "start_date", "end_date", "domain_api_url", "page_size"} <= stated


def sentences(prose: str) -> Iterator[tuple[str, tuple[int, int]]]:
    """The prose's sentences (and table cells), each with its span."""
    for match in re.finditer(r"(?:[^.;|]|\.(?!\s))+", prose):
        if match.group(0).strip():
            yield match.group(0), match.span()


def test_no_default_is_stated_where_no_check_reads_it():
    """A sentence naming a setting and a default, or the look-back's length in hours, must
    hold a statement the test above checks."""
    found = statements()
    unchecked = []
    for where, prose in documents():
        spans = [s.span for s in found if s.where == where]
        for clause, (start, end) in sentences(prose):
            names = set(re.findall(r"`([a-z_]+)`", clause)) & (set(SETTINGS) - COMPUTED)
            states_default = names and re.search(r"\bdefaults?\b", clause)
            hours = re.search(r"\b\w+ (?:h|hours)\b", clause) and re.search(
                r"look-?back|\bback\b|re-read", clause
            )
            covered = any(a < end and start < b for a, b in spans)
            if (states_default or hours) and not covered:
                unchecked.append(f"{where}: {clause!r}")
    assert not unchecked, "\n".join(unchecked)


@pytest.mark.parametrize(
    ("statement", "wrong"),
    [
        (Statement("x", "lookback_minutes", "300"), True),
        (Statement("x", "lookback_minutes", "five hours"), True),
        (Statement("x", "lookback_minutes", "six hours"), False),
        (Statement("x", "start_date", "12 months ago"), True),
        (Statement("x", "end_date", "three days past the host's date"), True),
        (Statement("x", "domain_api_url", "https://api.liveperson.com"), True),
        (Statement("x", "include_lpa", "False"), True),
    ],
)
def test_a_wrong_default_is_caught(statement, wrong):
    assert bool(problem(statement)) is wrong


def test_the_files_read_are_the_docs():
    assert {where.split()[0] for where, _ in documents()} >= {"README.md", "meltano.yml"}
    assert all(Path(ROOT / w).exists() for w, _ in documents() if " " not in w)
