"""Reading README.md and docs/*.md as the tests need them: pages, fenced blocks, headings and
their GitHub anchors, relative links, and the shell commands of the ```sh blocks.

A shell block's commands are run as written by a test against the sandbox, unless a comment
marks them as needing what no test has (`MARKERS`): on a line of its own, the comment marks
every command of its block; after a command, that command alone. docs/testing.md states the
convention for writers of the docs.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

#: The comments that mark a command as one the tests do not run (they check its syntax).
MARKERS = ("needs a real", "takes minutes")
SHELL = ("sh", "bash")
FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")


def pages() -> list[Path]:
    """README.md, then every page of docs/, by name."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@cache
def text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def name(page: Path) -> str:
    """The page's path from the repository's root, as the docs spell it."""
    return page.relative_to(ROOT).as_posix()


@dataclass(frozen=True)
class Block:
    """One fenced block of a page."""

    page: Path
    line: int  # of the opening fence
    language: str
    body: str
    claim: str | None  # the HTML comment right before the fence, if any

    @property
    def where(self) -> str:
        return f"{name(self.page)}:{self.line}"


def blocks(page: Path, *languages: str) -> list[Block]:
    """The page's fenced blocks (of these languages, when given), in order."""
    found = []
    source = text(page)
    for match in FENCE.finditer(source):
        language = match.group(1)
        if languages and language not in languages:
            continue
        before = source[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        claim = before if before.startswith("<!--") and before.endswith("-->") else None
        line = source.count("\n", 0, match.start()) + 1
        found.append(Block(page, line, language, match.group(2), claim))
    return found


def block_after(marker: str, language: str) -> Block:
    """The first block of `language` after the one line of the docs that begins with `marker`
    (a heading, or an HTML comment naming the test that reads the block)."""
    places = [
        (page, match.start())
        for page in pages()
        for match in re.finditer(rf"^{re.escape(marker)}", text(page), re.M)
    ]
    assert len(places) == 1, f"{marker!r} begins {len(places)} lines of the docs, not one"
    ((page, offset),) = places
    line = text(page).count("\n", 0, offset) + 1
    for block in blocks(page, language):
        if block.line > line:
            return block
    raise AssertionError(f"no {language} block after {marker!r} in {name(page)}")


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class Command:
    """One command of a shell block: a logical line (continuations and here-documents joined)."""

    block: Block
    line: int  # in the page
    source: str  # as written, comments included
    marker: str | None  # the marking comment, when the tests do not run it

    @property
    def where(self) -> str:
        return f"{name(self.block.page)}:{self.line}"

    @property
    def words(self) -> list[str]:
        """The command's words, as the shell splits them (comments and here-documents out)."""
        first = self.source.split("\n", 1)[0] if HEREDOC.search(self.source) else self.source
        return shlex.split(first.replace("\\\n", " "), comments=True)

    @property
    def plain(self) -> str:
        """The command as written, without the comment after it."""
        *lines, last = self.source.split("\n")
        comment = _trailing_comment(last)
        return "\n".join([*lines, last.removesuffix(comment).rstrip()])

    @property
    def run(self) -> bool:
        return self.marker is None


def _marker(comment: str) -> str | None:
    comment = comment.lstrip("#").strip()
    return comment if comment.startswith(MARKERS) else None


def _trailing_comment(line: str) -> str:
    """The comment at the end of a shell line ('' if none), ignoring # inside quotes."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[index:]
    return ""


def commands(block: Block) -> list[Command]:
    """The block's commands, each with the marker that applies to it."""
    lines = block.body.splitlines()
    standalone = [_marker(line.strip()) for line in lines if line.strip().startswith("#")]
    block_marker = next(filter(None, standalone), None)
    found: list[Command] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        start = index
        index += 1
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            continue
        parts = [line]
        while parts[-1].endswith("\\") and index < len(lines):
            parts.append(lines[index])
            index += 1
        heredoc = HEREDOC.search(parts[0])
        if heredoc:
            while index < len(lines):
                parts.append(lines[index])
                index += 1
                if parts[-1].strip() == heredoc.group(2):
                    break
        source = "\n".join(parts)
        marker = block_marker or _marker(_trailing_comment(parts[-1]))
        found.append(Command(block, block.line + 1 + start, source, marker))
    return found


def shell_commands() -> list[Command]:
    """Every command of every shell block of README.md and docs/*.md."""
    return [c for page in pages() for b in blocks(page, *SHELL) for c in commands(b)]


def program(command_words: list[str]) -> tuple[list[str], list[str]]:
    """The command's leading VAR=value assignments, and its words from the program on."""
    assignments = []
    words = list(command_words)
    while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
        assignments.append(words.pop(0))
    return assignments, words


def assigned_variables(command: Command) -> list[str]:
    assignments, words = program(command.words)
    if words and words[0] == "export":
        assignments += [w for w in words[1:] if "=" in w]
    return [a.split("=", 1)[0] for a in assignments]


def documented_plugins() -> dict[str, str]:
    """Every extractor the docs' YAML adds: name -> the plugin it inherits from."""
    found = {}
    for page in pages():
        for block in blocks(page, "yaml"):
            data = yaml.safe_load(block.body)
            extractors = (data or {}).get("plugins", {}).get("extractors", [])
            for plugin in extractors:
                found[plugin["name"]] = plugin.get("inherit_from", plugin["name"])
    return found


def inline_code(page: Path) -> list[str]:
    """The page's inline code spans (outside fenced blocks), each on one line."""
    prose = FENCE.sub("", text(page))
    return [" ".join(span.split()) for span in re.findall(r"(?<!`)`([^`]+)`(?!`)", prose)]


# --------------------------------------------------------------------------- links


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: markup out, lower case, punctuation out, spaces to -."""
    plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    plain = plain.replace("`", "").replace("*", "").strip().lower()
    kept = "".join(ch for ch in plain if ch in " -_" or unicodedata.category(ch)[0] in ("L", "N"))
    return kept.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of the page's headings (a repeated heading gets -1, -2, ... as on GitHub)."""
    prose = FENCE.sub("", text(page))
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", prose, re.M):
        base = anchor(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    """The targets of the page's Markdown links and images (outside code)."""
    prose = FENCE.sub("", text(page))
    prose = re.sub(r"(?<!`)`[^`]+`(?!`)", "", prose)
    return re.findall(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", prose)
