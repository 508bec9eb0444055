"""What one run saw of the API's open questions: the readings report.

LivePerson's docs leave open whether `toDate` is inclusive, in which zone `fromDate`/`toDate`
are read, the largest page served, what `X-Total-Count` counts and how late changes show up
(docs/api-readings.md). The tap is built to be right under every reading; this module says,
at the end of every run, which reading the server's answers showed, from the answers alone
(never from a setting). A value the answers cannot settle is null.

Every HTTP answer of the run is handed to `RunReadings.observe` (a session hook, see
capture.py); audit answers are kept as a few numbers each: the dates asked, the page asked
and served, the `X-Total-Count`, and the first and last instant of its records; the instants of
all of them are kept as the first and last of each quarter hour (`Seen`), so that the report's
memory does not grow with the number of records. The dates' zone and toDate's
inclusiveness are inferred together: a candidate (zone, inclusive) is kept only if every
answer fits it — its records inside the dates read in that zone, no record seen elsewhere
missing before an answer's first record, nor after its last one when the answer is known to
end there. The late changes come from the bookmarks (bookmarks.py counts them).
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import itertools
import json
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

import msgspec

from tap_lp_audittrail.records import MalformedRecordError, parse_change_date

if TYPE_CHECKING:
    import requests

    from tap_lp_audittrail.bookmarks import Bookmark

logger = logging.getLogger("tap-lp-audittrail")

UTC = dt.timezone.utc
_ARG = re.compile(
    r'\b(fromDate|toDate|timezone):\s*"((?:[^"\\]|\\.)*)"|\b(first|offset):\s*(-?\d+)'
)
_PAGE_WORDS = ("first", "page size", "limit")


class _Change(msgspec.Struct, rename="camel"):
    change_date: Any = None


class _Data(msgspec.Struct, rename="camel"):
    audit_data: list[_Change] | None = None


class _Answer(msgspec.Struct):
    data: _Data | None = None


_decode = msgspec.json.Decoder(_Answer).decode


@dataclass(slots=True)
class Page:
    """One audit answer as the report needs it: a few numbers, whatever its records."""

    window: tuple[str, ...]  # the query without first and offset
    from_date: str
    to_date: str
    first: int
    offset: int
    served: int
    total: int | None
    #: POSIX seconds of its first record, and of its earliest and latest (None: empty).
    head: float | None
    low: float | None
    high: float | None


#: Seconds of the grid the instants seen are kept on (a quarter hour). Every zone's midnight
#: falls on it, the UTC offsets in use being whole quarter hours: so the first and last
#: instant seen in each quarter hour tell exactly whether a record lies between a midnight and
#: an instant, or between two midnights.
QUARTER = 900


class Seen:
    """The instants of every record the run saw, as the first and last of each quarter hour."""

    def __init__(self) -> None:
        self._spans: dict[int, list[float]] = {}
        self._keys: list[int] = []

    def add(self, instants: Iterable[float]) -> None:
        """The instants of one answer's records."""
        for t in instants:
            key = int(t // QUARTER)
            span = self._spans.get(key)
            if span is None:
                self._spans[key] = [t, t]
            elif t < span[0]:
                span[0] = t
            elif t > span[1]:
                span[1] = t

    def __bool__(self) -> bool:
        return bool(self._spans)

    def freeze(self) -> Seen:
        """Ready for `between` (after the last `add`)."""
        self._keys = sorted(self._spans)
        return self

    def between(self, lo: float, hi: float, *, after_lo: bool = False) -> bool:
        """Whether a record was seen at or after `lo` (after it: `after_lo`) and before `hi`.

        Exact unless both lie in one quarter hour, `lo` after its start or excluded: the
        report asks from a midnight to an instant, or from an instant (excluded) to a midnight.
        """
        keys = self._keys
        index = bisect.bisect_left(keys, int(lo // QUARTER))
        while index < len(keys) and keys[index] * QUARTER < hi:
            first, last = self._spans[keys[index]]
            if (last > lo if after_lo else last >= lo) and first < hi:
                return True
            index += 1
        return False


@dataclass
class RunReadings:
    """Collects what the run's answers show; `report()` says it."""

    pages: list[Page] = field(default_factory=list)
    refused_first: list[int] = field(default_factory=list)  # page sizes refused with a 400
    late_count: int = 0
    late_lag: dt.timedelta | None = None
    had_bookmark: bool = False
    seen: Seen = field(default_factory=Seen)
    #: Each window's key once, shared by its answers (a tuple of the query's words each).
    _windows: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ----------------------------------------------------------------- what the run hands in

    def observe(self, response: requests.Response) -> None:
        """One HTTP answer of the run (any service; only the audit endpoint's are kept)."""
        request = response.request
        if request is None or not urlsplit(request.url or "").path.endswith("/metadata/audit"):
            return
        body = request.body
        try:
            query = json.loads(body)["query"] if body else ""
        except (ValueError, TypeError, KeyError):
            return
        if not isinstance(query, str):
            return
        args: dict[str, str] = {}
        for match in _ARG.finditer(query):
            if match.group(1):
                args.setdefault(match.group(1), match.group(2))
            else:
                args.setdefault(match.group(3), match.group(4))
        if not {"fromDate", "toDate", "first", "offset"} <= set(args):
            return
        first = int(args["first"])
        if response.status_code == 400 or (
            response.status_code == 200 and b'"errors"' in response.content[:200]
        ):
            text = response.text.casefold()
            if any(word in text for word in _PAGE_WORDS):
                with self._lock:
                    self.refused_first.append(first)
            return
        if response.status_code != 200:
            return
        try:
            answer = _decode(response.content)
        except (msgspec.DecodeError, RecursionError):
            return
        changes = answer.data.audit_data if answer.data is not None else None
        if changes is None:
            return
        zone = _zone(args.get("timezone", "UTC"))
        if zone is None:
            return
        try:
            instants = [parse_change_date(c.change_date, zone).timestamp() for c in changes]
        except MalformedRecordError:
            return
        header = response.headers.get("X-Total-Count")
        try:
            total = int(header) if header is not None else None
        except ValueError:
            total = None
        window = tuple(re.sub(r"\b(first|offset):\s*-?\d+", "", query).split())
        with self._lock:
            page = Page(
                self._windows.setdefault(window, window), args["fromDate"], args["toDate"],
                first, int(args["offset"]), len(instants), total,
                instants[0] if instants else None,
                min(instants, default=None), max(instants, default=None),
            )  # fmt: skip
            self.pages.append(page)
            self.seen.add(instants)

    def note_bookmarks(self, bookmarks: Iterable[Bookmark]) -> None:
        """The run's bookmarks, after the read: the late changes they met."""
        for bookmark in bookmarks:
            if bookmark.previous_read_to is not None:
                self.had_bookmark = True
            self.late_count = max(self.late_count, bookmark.late_count)
            if bookmark.late_lag is not None and (
                self.late_lag is None or bookmark.late_lag > self.late_lag
            ):
                self.late_lag = bookmark.late_lag

    # ----------------------------------------------------------------- what they show

    def report(self) -> dict[str, Any]:
        """The readings report (docs/capture.md describes each value)."""
        with self._lock:
            pages = list(self.pages)
            seen = self.seen.freeze()
        groups: dict[tuple[str, ...], list[Page]] = {}
        for page in pages:
            groups.setdefault(page.window, []).append(page)
        for group in groups.values():
            group.sort(key=lambda p: p.offset)
        cap, above = self._page_cap(groups)
        inclusive, zone, offset = _dates(groups, self._ends(groups), seen)
        return {
            "to_date_inclusive": inclusive,
            "dates_zone": zone,
            "dates_utc_offset": offset,
            "page_cap": cap,
            "above_page_cap": above,
            "total_count": _total_count(groups),
            "late_changes": {
                "count": self.late_count if self.had_bookmark else None,
                "largest_lag_seconds": (
                    None if self.late_lag is None else round(self.late_lag.total_seconds(), 6)
                ),
            },
            "audit_answers": len(pages),
        }

    def _page_cap(self, groups: dict[tuple[str, ...], list[Page]]) -> tuple[int | None, str | None]:
        """The largest page served when more was asked: silently capped, or refused."""
        capped = [
            page.served
            for group in groups.values()
            for page, later in itertools.pairwise(group)
            # A later page of the window reached past this one's end: the server had more
            # than it served (the tap's next page may start inside this one, to check the
            # seam).
            if 0 < page.served < page.first and later.served > 0
            and later.offset + later.served > page.offset + page.served
        ]  # fmt: skip
        if capped:
            return max(capped), "cap"
        refused = self.refused_first
        if refused:
            below = [p.first for g in groups.values() for p in g if p.first < min(refused)]
            return (max(below) if below else None), "error"
        return None, None

    @staticmethod
    def _ends(groups: dict[tuple[str, ...], list[Page]]) -> set[tuple[str, ...]]:
        """The windows whose answer is known to end with the last record read of it."""
        largest = max((p.served for g in groups.values() for p in g), default=0)
        is_total = _total_count(groups) == "total"
        ends = set()
        for key, group in groups.items():
            last = group[-1]
            if (
                (last.served == 0 and (last.offset > 0 or len(group) == 1))
                or 0 < last.served < min(last.first, largest)
                or (is_total and last.total == last.offset + last.served)
            ):
                ends.add(key)
        return ends


def _total_count(groups: dict[tuple[str, ...], list[Page]]) -> str | None:
    """What X-Total-Count counts, as far as the answers show.

    "total" once a count differs from its page's size; "page" once a page's count equals its
    size while more records lie past it; else None.
    """
    pages = [p for g in groups.values() for p in g if p.total is not None]
    if any(p.total != p.served for p in pages):
        return "total"
    for group in groups.values():
        for page in group:
            beyond = page.offset > 0 or any(
                later.offset >= page.offset + page.served and later.served
                for later in group
                if later is not page
            )
            if page.total is not None and page.served and page.total == page.served and beyond:
                return "page"
    return None


@functools.cache  # every candidate zone is asked for at each date: a small cache thrashes
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return None


def warm() -> None:
    """Load the candidate zones in a thread of their own while the first answers are awaited.

    The report at the run's end needs them; loaded there, they made up most of its time, after
    the last answer (40 of 76 ms in a run of 20,000 changes).
    """
    threading.Thread(target=_candidate_zones, daemon=True, name="readings-zones").start()


@functools.cache
def _candidate_zones() -> tuple[str, ...]:
    """Every zone the server could read dates in, the preferred names of a class first."""
    names = [n for n in available_timezones() if _zone(n) is not None]

    def rank(name: str) -> tuple[int, str]:
        if name == "UTC":
            return 0, name
        if name.startswith("Etc/GMT") and name != "Etc/GMT":
            return 1, name
        return (2 if "/" in name and not name.startswith(("US/", "Etc/")) else 3), name

    return tuple(sorted(names, key=rank))


@functools.lru_cache(maxsize=200_000)
def _midnight(zone: str, date: str) -> float:
    """POSIX seconds of local midnight at the start of `date` in `zone`."""
    day = dt.date.fromisoformat(date)
    tz = _zone(zone)
    return dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def _next_day(date: str) -> str:
    return (dt.date.fromisoformat(date) + dt.timedelta(days=1)).isoformat()


def _dates(
    groups: dict[tuple[str, ...], list[Page]], ends: set[tuple[str, ...]], seen: Seen
) -> tuple[bool | None, str | None, str | None]:
    """(toDate inclusive, the zone dates are read in, its UTC offset), None where unsettled.

    The offset is said when every zone the answers leave has one and the same UTC offset at
    the start of every date asked for (a zone with summer time and a fixed one that agree over
    the range, say); the zone only when those zones also agree on every date next to them.
    """
    if not seen:
        return None, None, None
    facts = []
    for key, group in groups.items():
        lows = [p.low for p in group if p.low is not None]
        highs = [p.high for p in group if p.high is not None]
        head = group[0]
        first = head.head if head.offset == 0 else None
        empty = head.offset == 0 and head.head is None and len(group) == 1
        low = min(lows) if lows else None
        high = max(highs) if highs else None
        facts.append((head.from_date, head.to_date, low, high, first, empty, key in ends))
    kept: list[tuple[str, bool]] = []
    for zone in _candidate_zones():
        for reading in (False, True):
            if all(_fits(zone, reading, fact, seen) for fact in facts):
                kept.append((zone, reading))
    if not kept:
        return None, None, None
    readings = {reading for _, reading in kept}
    inclusive = readings.pop() if len(readings) == 1 else None
    offset = _offset({zone for zone, _ in kept}, sorted({fact[0] for fact in facts}))
    dates = sorted({d for fact in facts for d in fact[:2]} | {_next_day(f[1]) for f in facts})
    signatures = {zone: tuple(_midnight(zone, d) for d in dates) for zone, _ in kept}
    if len(set(signatures.values())) != 1:
        return inclusive, None, offset
    return inclusive, kept[0][0], offset


def _offset(zones: set[str], dates: list[str]) -> str | None:
    """The one UTC offset (+HH:MM) every zone in `zones` has at the start of every date."""
    offsets = set()
    for zone in zones:
        for date in dates:
            day = dt.date.fromisoformat(date)
            local = dt.datetime(day.year, day.month, day.day, tzinfo=_zone(zone))
            offsets.add(local.utcoffset())
    if len(offsets) != 1:
        return None
    minutes = int(offsets.pop().total_seconds() // 60)  # type: ignore[union-attr]
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _fits(
    zone: str,
    inclusive: bool,
    fact: tuple[str, str, float | None, float | None, float | None, bool, bool],
    seen: Seen,
) -> bool:
    from_date, to_date, low, high, first, empty, ends = fact
    lo = _midnight(zone, from_date)
    hi = _midnight(zone, _next_day(to_date) if inclusive else to_date)
    if low is not None and (low < lo or (high is not None and high >= hi)):
        return False
    if empty:
        return not seen.between(lo, hi)
    if first is not None and seen.between(lo, first):
        return False
    if ends and high is not None:
        return not seen.between(high, hi, after_lo=True)
    return True


def log_report(report: dict[str, Any]) -> None:
    """The one INFO line every run ends with."""
    late = report["late_changes"]
    logger.info(
        "API readings seen in this run (null: not shown by the answers): toDate inclusive %s; "
        "dates read in %s; page cap %s%s; X-Total-Count counts %s; late changes %s (largest "
        "lag %s s); %d audit answers",
        _shown(report["to_date_inclusive"]),
        _shown(report["dates_zone"])
        + (f" (UTC{report['dates_utc_offset']})" if report.get("dates_utc_offset") else ""),
        _shown(report["page_cap"]),
        f" ({report['above_page_cap']})" if report["above_page_cap"] else "",
        _shown(report["total_count"]),
        _shown(late["count"]),
        _shown(late["largest_lag_seconds"]),
        report["audit_answers"],
    )


def _shown(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
