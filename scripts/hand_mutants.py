"""The changes mutmut does not make to the pure core, made one at a time, by hand.

mutmut leaves alone the bodies of `@property` methods and module-level values. Each change
below is applied to a copy of the package, and the in-process tests of scripts/mutation run
against it; a change no test notices is printed as a survivor. Run by scripts/mutation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = [
    "tests/test_paging.py",
    "tests/test_windows.py",
    "tests/test_records.py",
    "tests/test_bookmarks.py",
    "tests/test_query.py",
]
LAST = "end = self.end + MAX_EAST if self.last else self.end"
INCLUSIVE = "day = ceil_day(end) - DAY if self.inclusive else ceil_day(end)"
STOP = "return self.end if self.last else self.end + MAX_WEST"
PER_PAGE = "return min(self.page_size, self.cap) if self.cap else self.page_size"
ID_FIELDS = 'ID_FIELDS: tuple[str, ...] = tuple(f for f in API_FIELDS if f != "actionType")'
UTC_ZONES = '_UTC_ZONES = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT"})'
FAST = r'_FAST_SHAPE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.(\d{1,9}))?")'
FRACTION = r'(\d{2})(?:\.(\d{1,9}))?"'
OFFSET = r'r"\s*(Z|[+-]\d{2}:?\d{2})?$"'

PYTEST = [
    sys.executable,
    "-m",
    "pytest",
    "-x",
    "-q",
    "-p",
    "no:cacheprovider",
    "--hypothesis-profile=mutation",
]

#: (module, text, replacement): each text occurs once in its module.
CHANGES = [
    ("windows.py", "return floor_day(self.start).date()", "return self.start.date()"),
    ("windows.py", LAST, "end = self.end"),
    ("windows.py", LAST, "end = self.end + MAX_EAST"),
    ("windows.py", INCLUSIVE, "day = ceil_day(end)"),
    ("windows.py", INCLUSIVE, "day = ceil_day(end) - DAY"),
    ("windows.py", "return max(day, floor_day(self.start)).date()", "return day.date()"),
    ("windows.py", STOP, "return self.end + MAX_WEST"),
    ("windows.py", STOP, "return self.end"),
    ("windows.py", "return self.end - MAX_EAST", "return self.end - MAX_WEST"),
    ("windows.py", "return self.end - MAX_EAST", "return self.end"),
    ("windows.py", "MAX_WEST = dt.timedelta(hours=12)", "MAX_WEST = dt.timedelta(hours=11)"),
    ("windows.py", "MAX_WEST = dt.timedelta(hours=12)", "MAX_WEST = dt.timedelta(hours=13)"),
    ("windows.py", "MAX_EAST = dt.timedelta(hours=14)", "MAX_EAST = dt.timedelta(hours=13)"),
    ("windows.py", "MAX_EAST = dt.timedelta(hours=14)", "MAX_EAST = dt.timedelta(hours=15)"),
    ("windows.py", "PAGES_PER_WINDOW = 32", "PAGES_PER_WINDOW = 33"),
    ("windows.py", "{self.end.isoformat()})", "{self.end.isoformat()}]"),
    ("paging.py", PER_PAGE, "return self.page_size"),
    ("paging.py", PER_PAGE, PER_PAGE.replace("min(", "max(")),
    ("paging.py", "MAX_BACKTRACKS = 20", "MAX_BACKTRACKS = 21"),
    ("paging.py", "MAX_JUMPS = 6", "MAX_JUMPS = 7"),
    ("records.py", ID_FIELDS, "ID_FIELDS: tuple[str, ...] = API_FIELDS"),
    ("records.py", ID_FIELDS, ID_FIELDS.replace('f != "actionType"', 'f != "originator"')),
    ("records.py", UTC_ZONES, UTC_ZONES.replace('"Etc/GMT"', '"Etc/GMT", "Europe/Paris"')),
    ("records.py", FAST, FAST.replace("1,9", "1,6")),
    ("records.py", FRACTION, FRACTION.replace("1,9", "1,6")),
    ("records.py", OFFSET, OFFSET.replace(":?", ":")),
    ("records.py", OFFSET, OFFSET.replace("Z|", "")),
    ("records.py", r"[ T](\d{2})", r" (\d{2})"),
    ("bookmarks.py", 'REPLICATION_KEY = "changeDate"', 'REPLICATION_KEY = "change_date"'),
]


def main() -> int:
    survivors = []
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "tree"
        ignore = shutil.ignore_patterns(".*", "mutants", "__pycache__", "output")
        shutil.copytree(ROOT, copy, ignore=ignore)
        env = {**os.environ, "PYTHONPATH": str(copy)}  # the copy comes before the checkout
        for module, text, replacement in CHANGES:
            path = copy / "tap_lp_audittrail" / module
            original = path.read_text()
            if original.count(text) != 1:
                print(f"{module}: {text!r} is not in it once: update scripts/hand_mutants.py")
                return 2
            path.write_text(original.replace(text, replacement))
            run = subprocess.run(
                [*PYTEST, *TESTS],
                cwd=copy,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            path.write_text(original)
            if run.returncode == 0:
                survivors.append(f"    {module}: {text} -> {replacement}")
    killed = len(CHANGES) - len(survivors)
    print(f"changes by hand: {killed} killed of {len(CHANGES)}")
    for line in survivors:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
