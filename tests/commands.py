"""Checking a documented command against the `--help` of the program it runs: the subcommands
exist, in that order, each option exists where it stands and gets a value when it takes one,
and the positional arguments are as many as the usage line allows (click's help, as Meltano
and the tap print it, and argparse's, as the sandbox and the scripts print it).

`Help` reads one help text; a `HelpTree` maps a command path ("meltano config test") to the
help of that command. `check(words, tree)` returns what is wrong with a command, as sentences.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

#: What ends a command's own words in a shell line: redirections, pipes, lists.
SHELL_OPERATORS = (">", ">>", "2>", "2>&1", "<", "|", "||", "&&", ";", "&")
PLACEHOLDER = "..."


@dataclass(frozen=True)
class Argument:
    """A positional argument of a usage line: PLUGIN_NAME, [VALUE], [BLOCKS]..."""

    name: str
    required: bool
    many: bool


@dataclass
class Help:
    """What one `--help` text says: its options (and whether each takes a value), its
    subcommands, and its positional arguments."""

    usage: str
    options: dict[str, bool] = field(default_factory=dict)  # option -> takes a value
    subcommands: set[str] = field(default_factory=set)
    arguments: list[Argument] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> Help:
        lines = text.splitlines()
        usage_at = next(i for i, line in enumerate(lines) if line.lower().startswith("usage:"))
        usage_lines = [lines[usage_at]]
        for line in lines[usage_at + 1 :]:
            if not line.startswith(" ") or not line.strip():
                break
            usage_lines.append(line)
        usage = " ".join(part.strip() for part in usage_lines)
        found = cls(usage)
        section = ""
        for line in lines[usage_at + len(usage_lines) :]:
            if line and not line.startswith(" "):
                section = line.strip().lower()
                continue
            if re.match(r"^ {2}-", line):
                found._add_options(line.strip())
            elif section.startswith(("commands", "positional arguments")):
                match = re.match(r"^ {2,4}([a-z][\w-]*)(?:\s|$)", line)
                if match:
                    found.subcommands.add(match.group(1))
                braces = re.match(r"^ {2}\{([\w,-]+)\}", line)
                if braces:
                    found.subcommands.update(braces.group(1).split(","))
        found.arguments = _arguments(usage, bool(found.subcommands))
        return found

    def _add_options(self, line: str) -> None:
        declared = re.split(r"\s{2,}", line, maxsplit=1)[0]
        forms = [form.strip() for part in declared.split(" / ") for form in part.split(", ")]
        takes_value = any(" " in form or "=" in form for form in forms)
        for form in forms:
            name = re.split(r"[ =]", form, maxsplit=1)[0]
            self.options[name] = takes_value


def _arguments(usage: str, group: bool) -> list[Argument]:
    """The positional arguments of a usage line, after the program and its options."""
    if group:
        return []
    # Optional options ([--state STATE]) and required ones with their value (--config CONFIG,
    # as argparse writes a required option) are not positional arguments.
    usage = re.sub(r"\[-[^\[\]]*\]", " ", usage)
    words = re.sub(r"(?<!\S)--?[\w-]+(?: [A-Z][A-Z0-9_]*)?", " ", usage).split()[1:]
    found = []
    for word in words:
        match = re.fullmatch(r"(\[)?([A-Z][A-Z0-9_]*)\]?(\.\.\.)?", word)
        if match and match.group(2) != "OPTIONS":
            found.append(Argument(match.group(2), not match.group(1), bool(match.group(3))))
    return found


HelpTree = Mapping[str, Help]
#: A check of a positional argument's value, by argument name: given the command's path
#: ("meltano config set"), the value and all positional arguments, None if fine, else the
#: problem.
ValueCheck = Callable[[str, str, list[str]], str | None]


def own_words(words: list[str]) -> list[str]:
    """The command's words before any redirection, pipe or list operator."""
    for index, word in enumerate(words):
        if word in SHELL_OPERATORS or re.match(r"^\d?>", word):
            return words[:index]
    return words


def check(
    words: list[str],
    tree: HelpTree,
    root: str,
    *,
    values: Mapping[str, ValueCheck] | None = None,
    optional_values: Collection[str] = (),
    complete: bool = True,
) -> list[str]:
    """What is wrong with `words` (the program, then its arguments) by the help texts of
    `tree`, whose command `root` the program is.

    `optional_values`: options whose value may be left out (click's `flag_value`, e.g. the
    SDK's `--test`). `complete`: the words are a whole command (a shell block's), so missing
    subcommands and required arguments count; inline mentions in prose name only a part.
    """
    path = [root]
    current = tree[path[0]]
    positionals: list[str] = []
    problems = []
    rest = own_words(words[1:])
    index = 0
    while index < len(rest):
        word = rest[index]
        index += 1
        label = f"`{' '.join(path)}`"
        if word.startswith("-") and word not in ("-", "--"):
            name, eq, _ = word.partition("=")
            if name not in current.options:
                problems.append(f"{label} has no option {name}")
                continue
            if current.options[name] and not eq:
                value_follows = index < len(rest) and not rest[index].startswith("-")
                if value_follows:
                    index += 1
                elif name not in optional_values:
                    problems.append(f"{label} {name} needs a value")
            elif eq and not current.options[name]:
                problems.append(f"{label} {name} takes no value")
            continue
        if current.subcommands and not positionals:
            if word not in current.subcommands:
                known = ", ".join(sorted(current.subcommands))
                problems.append(f"{label} has no subcommand {word!r} (it has: {known})")
                return problems
            path.append(word)
            current = tree[" ".join(path)]
            continue
        positionals.append(word)
    if complete and current.subcommands and "--help" not in rest:
        problems.append(f"`{' '.join(path)}` names no subcommand")
    problems += _check_arguments(path, current.arguments, positionals, complete, values or {})
    return problems


def _check_arguments(
    path: list[str],
    arguments: list[Argument],
    given: list[str],
    complete: bool,
    values: Mapping[str, ValueCheck],
) -> list[str]:
    label = f"`{' '.join(path)}`"
    problems = []
    required = sum(a.required for a in arguments)
    many = any(a.many for a in arguments)
    if complete and len(given) < required:
        names = " ".join(a.name for a in arguments)
        problems.append(f"{label} takes {names}; given {given}")
    if not many and len(given) > len(arguments):
        problems.append(f"{label} takes at most {len(arguments)} arguments; given {given}")
    # Fill the usage's arguments in order; a repeated one takes what the others leave.
    assigned: list[tuple[str, str]] = []
    fixed_after = 0
    for position, argument in enumerate(arguments):
        if argument.many:
            fixed_after = len(arguments) - position - 1
            take = max(len(given) - len(assigned) - fixed_after, 0)
            assigned += [(argument.name, value) for value in given[len(assigned) :][:take]]
        elif len(assigned) < len(given):
            assigned.append((argument.name, given[len(assigned)]))
    for argument_name, value in assigned:
        value_check = values.get(argument_name)
        problem = (
            value_check(" ".join(path), value, given)
            if value_check and value != PLACEHOLDER
            else None
        )
        if problem:
            problems.append(f"{label} {argument_name}: {problem}")
    return problems
