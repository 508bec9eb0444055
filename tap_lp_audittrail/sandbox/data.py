"""Seeded generator of realistic audit records, and the compact columnar store that serves them.

Records live as parallel typed arrays (instant in microseconds, indices into one string pool) so
two million of them fit in well under a gigabyte; dicts and JSON are built only when serving.
"""

from __future__ import annotations

import bisect
import json
import random
import threading
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone

from tap_lp_audittrail.sandbox.readings import ELEMENTS, DataSpec

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = 1_000_000
AUTOMATIC = 1
LPA = 2

API_FIELDS = (
    "accountId",
    "objectType",
    "objectName",
    "actionType",
    "element",
    "oldValue",
    "newValue",
    "changeDate",
    "originator",
    "originatorLoginName",
    "originatorUserId",
    "originatorUserAgent",
    "originatorAuthType",
    "originatorIsLpa",
)


@dataclass(frozen=True)
class SandboxRecord:
    """One audit record as the sandbox stores it (the API's 14 fields come from it)."""

    instant: datetime
    """Aware time of the change."""
    object_type: str
    """An ELEMENTS key (served through Readings.object_types) or a literal objectType string."""
    object_name: str | None
    action_type: str | None
    element: str | None
    old_value: str | None
    new_value: str | None
    originator: str | None
    originator_login_name: str | None
    originator_user_id: str | None
    originator_user_agent: str | None
    originator_auth_type: str | None
    originator_is_lpa: bool = False
    automatic: bool = False
    """An automatic update: hidden unless the query says automaticUpdates: true."""
    visible_after: timedelta = timedelta(0)
    """How long after `instant` the record becomes visible (on the sandbox's clock)."""

    def at(self, instant: datetime) -> SandboxRecord:
        """Return a copy at another instant (e.g. to play a delayed write)."""
        return replace(self, instant=instant)


def to_us(dt: datetime) -> int:
    """Microseconds since the epoch of an aware datetime, exactly (no float rounding)."""
    if dt.tzinfo is None:
        raise ValueError("datetimes given to the sandbox must be timezone-aware")
    delta = dt - EPOCH
    return (delta.days * 86400 + delta.seconds) * US + delta.microseconds


def from_us(us: int) -> datetime:
    """The aware UTC datetime of an instant in microseconds."""
    return EPOCH + timedelta(microseconds=us)


class Pool:
    """Interned strings (and None) with their JSON encodings, shared by every record column."""

    def __init__(self) -> None:
        self.values: list[str | None] = []
        self.enc: list[str] = []
        self._index: dict[str | None, int] = {}

    def intern(self, value: str | None) -> int:
        """Index of a value, adding it once."""
        idx = self._index.get(value)
        if idx is None:
            idx = len(self.values)
            self._index[value] = idx
            self.values.append(value)
            self.enc.append(json.dumps(value, ensure_ascii=False))
        return idx


# ---------------------------------------------------------------------------- vocabulary

FIRST = [
    "Dana", "Noa", "Avi", "John", "Maria", "Li", "Wei", "Sofia", "Liam", "Olivia", "Yossi",
    "Zoë", "Chloé", "Mateo", "Aisha", "Kenji", "Priya", "Omar", "Anna", "Lucas",
]  # fmt: skip
LAST = [
    "Cohen", "Levi", "Smith", "García", "Wang", "Müller", "O'Brien", "Nguyen", "Rossi",
    "Kowalski", "Tanaka", "Patel", "Haddad", "Johnson", "Silva", "D'Angelo",
]  # fmt: skip
EXOTIC_NAMES = ["דנה כהן", "王伟", "佐藤 花子", "Zoë 🚀 Star", 'Bob "The Builder", Jr.']
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "python-requests/2.31.0",
    "LivePerson-Integration/1.0",
]
AUTH_TYPES = ["LOGIN", "SSO", "API_KEY"]
WEIRD = [
    "",
    'He said "hi", then left',
    "line one\nline two\r\nline three",
    "🎉 Happy hour 🍻",
    "שלום עולם",
    "你好，世界",  # noqa: RUF001 - a full-width comma on purpose
    "tab\tseparated,comma",
    "C:\\path\\to\\file",
    '{"json": [1, 2, "three"]}',
    "<b>bold</b> &amp; <i>italic</i>",
    "trailing space ",
    "a,b,c",
    "'single quotes'",
    "\u200bzero width",
]
PERMISSIONS = [
    "Generate secure form token", "View agents' chats", "Transfer chats to agents",
    "Access Audit Trail", "Edit skills", "Manage campaigns", "Join other agents' chats",
    "View connection panel", "Edit predefined content", "Access Report Builder",
    "Send files to consumers", "Close conversations", "Manage users",
]  # fmt: skip
PROPS: dict[str, list[str]] = {
    "users": ["Nick name", "Email", "Skills", "Max no. of chats", "Login name", "Enabled",
              "Profiles", "Agent group", "Password", "Employee ID", "Name", "Picture URL"],
    "skills": ["Name", "Description", "Max wait time", "Working hours", "Special occasions",
               "Transfer to skill", "Lobs", "Can transfer"],
    "agent_groups": ["Name", "Description", "Parent group", "Enabled", "Members"],
    "profiles": PERMISSIONS,
    "lines_of_business": ["Name", "Description"],
    "campaigns": ["Name", "Status", "Goal", "Description", "Start date", "Priority", "Lob"],
    "predefined_content": ["Text", "Title", "Categories", "Hot key", "Enabled", "Skills"],
    "post_conversation_surveys": ["Question", "Answer options", "Enabled", "Skills", "Name"],
    "agent_conversation_surveys": ["Question", "Answer options", "Enabled", "Skills", "Name"],
    "content_categories": ["Name", "Parent"],
    "working_hours": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                      "Sunday", "Time zone", "Name"],
    "campaign_schedules": ["Name", "Start time", "End time", "Time zone", "Days"],
    "special_occasions": ["Name", "Date", "Description", "Working hours"],
    "mtls_account_mappings": ["Name", "Certificate", "Services"],
    "mtls_certifications": ["Name", "Expiration date", "Thumbprint", "Status"],
    "*": ["Name", "Enabled", "Configuration"],
}  # fmt: skip
NAMES: dict[str, list[str]] = {
    "users": ["agent", "supervisor", "admin"],
    "skills": ["Sales", "Billing – Tier 2",  # noqa: RUF001
               "Support, EMEA", "תמיכה", "サポート", "VIP 💎"],
    "agent_groups": ["Main Group", "Night Shift", "Team \"Alpha\"", "צוות ב"],
    "profiles": ["Agent", "Agent Manager", "Campaign Manager", "Administrator", "Custom, QA"],
    "lines_of_business": ["Retail", "Mortgages", "Insurance & Pensions", "小売"],
    "campaigns": ["Spring Sale", "Retention 2025", "Abandoned cart, web", "Black Friday 🛍️"],
    "predefined_content": ["Greeting", "Closing", "Refund policy", "Hold, please"],
    "post_conversation_surveys": ["CSAT", "NPS survey", "Post chat, short"],
    "agent_conversation_surveys": ["Wrap-up", "Disposition", "Agent survey"],
    "content_categories": ["General", "Billing", "Technical, advanced"],
    "working_hours": ["Default Shift", "US Hours", "EMEA hours", "שעות פעילות"],
    "campaign_schedules": ["Weekdays", "Weekend", "Holiday schedule"],
    "special_occasions": ["Christmas", "ראש השנה", "春节", "Thanksgiving"],
    "mtls_account_mappings": ["mapping-prod", "mapping-staging"],
    "mtls_certifications": ["cert-prod.pem", "cert-2025"],
    "*": ["Default", "Main widget", "Bot 1"],
}  # fmt: skip
FOREIGN_OBJECT_TYPES = ["Bot Configuration", "Widgets", "Engagement Window"]
ELEMENT_WEIGHTS = [18, 14, 8, 10, 3, 10, 10, 3, 3, 4, 4, 3, 3, 1, 1]
ACTIONS = ["Add", "Edit", "Delete"]
ACTION_WEIGHTS = [15, 75, 10]


def _value(rng: random.Random, prop: str) -> str | None:
    """A plausible value of one property, sometimes awkward (quotes, newlines, unicode, null)."""
    r = rng.random()
    if r < 0.12:
        return rng.choice(WEIRD)
    if r < 0.15:
        return None
    if prop in PERMISSIONS or prop in ("Enabled", "Can transfer", "Status"):
        return rng.choice(["true", "false"])
    if prop.endswith("day") or prop in ("Start time", "End time"):
        return f"{rng.randint(6, 11):02d}:00-{rng.randint(15, 22):02d}:30"
    if "zone" in prop:
        return rng.choice(["America/New_York", "Asia/Jerusalem", "Europe/London", "Asia/Tokyo"])
    if prop in ("Max no. of chats", "Max wait time", "Priority", "Members"):
        return str(rng.randint(0, 30))
    if prop in ("Skills", "Lobs", "Profiles", "Services", "Categories", "Answer options"):
        return ",".join(rng.sample(["Sales", "Support", "VIP", "Billing", "EMEA"], 2))
    if prop == "Thumbprint":
        return "".join(rng.choice("0123456789ABCDEF") for _ in range(40))
    if "date" in prop.lower() or prop == "Date":
        return f"{rng.randint(2024, 2027)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if prop == "Email":
        return f"{rng.choice(FIRST).lower()}.{rng.randint(1, 999)}@example.com"
    if prop == "Text":
        return rng.choice(
            [
                "Hello, how can I help you today?",
                'Our "30-day" refund policy applies.\nThanks!',
                "Thank you for contacting us 🙏",
                "תודה שפנית אלינו",
                "ご連絡ありがとうございます",
            ]
        )
    return f"{rng.choice(NAMES.get(prop.lower(), ['Value']))} {rng.randint(1, 500)}"


def _dst_windows(start: datetime, end: datetime) -> list[tuple[int, int]]:
    """UTC second ranges of US/Eastern's autumn repeated hour (01:00-01:59 EDT and EST)."""
    out = []
    for year in range(start.year, end.year + 1):
        nov1 = date(year, 11, 1)
        sunday = nov1 + timedelta(days=(6 - nov1.weekday()) % 7)
        lo = datetime(sunday.year, sunday.month, sunday.day, 5, tzinfo=UTC)
        hi = lo + timedelta(hours=2)
        lo, hi = max(lo, start), min(hi, end)
        if lo < hi:
            out.append((to_us(lo) // US, to_us(hi) // US))
    return out


class Generator:
    """Deterministic record factory: the same seed always gives the same records."""

    def __init__(self, seed: int, scale: int) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        self.users: list[tuple[str | None, ...]] = []
        self.user_flags: list[int] = []
        n_people = max(8, min(300, 20 + scale // 5000))
        for i in range(n_people):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            display = EXOTIC_NAMES[i] if i < len(EXOTIC_NAMES) else f"{first} {last}"
            login = f"{first.lower()}.{last.lower().replace(' ', '')}{i}@example.com"
            uid = str(2_000_000_000 + rng.randint(0, 99_999_999))
            for _ in range(rng.randint(1, 2)):
                ua = rng.choice([*USER_AGENTS, None])
                auth = rng.choice(AUTH_TYPES)
                self.users.append((display, login, uid, ua, auth))
                self.user_flags.append(0)
        self.n_people = len(self.users)
        for i in range(4):
            login = f"LPA_{rng.choice(FIRST).lower()}{i}"
            self.users.append(
                ("LivePerson Administrator", login, str(9000 + i), USER_AGENTS[0], "SSO")
            )
            self.user_flags.append(LPA)
        self.lpa_range = (self.n_people, len(self.users))
        for origin in ("System", "Automatic update", "Scheduler"):
            self.users.append((origin, "system", "-1", None, None))
            self.user_flags.append(AUTOMATIC)
        self.auto_range = (self.lpa_range[1], len(self.users))
        self.kinds = [*ELEMENTS, *FOREIGN_OBJECT_TYPES]
        n_names = max(5, min(3000, scale // 400))
        self.names: dict[str, list[str]] = {}
        self.templates: dict[str, list[tuple[str | None, str | None, str | None, str | None]]] = {}
        for kind in self.kinds:
            key = kind if kind in ELEMENTS else "*"
            base = NAMES[key]
            names = list(base)
            while len(names) < n_names:
                names.append(f"{rng.choice(base)} {len(names)}")
            self.names[kind] = names
            temps: list[tuple[str | None, str | None, str | None, str | None]] = []
            for _ in range(300):
                action = rng.choices(ACTIONS, ACTION_WEIGHTS)[0]
                prop = rng.choice(PROPS[key])
                if action == "Edit":
                    temps.append((action, prop, _value(rng, prop), _value(rng, prop)))
                elif action == "Add":
                    if rng.random() < 0.5:
                        temps.append((action, "N/A", "", ""))
                    else:
                        temps.append((action, prop, None, _value(rng, prop)))
                elif rng.random() < 0.6:
                    temps.append((action, "N/A", "", ""))
                else:
                    temps.append((action, prop, _value(rng, prop), None))
            self.templates[kind] = temps

    def fields(self, n: int, spec: DataSpec) -> list[tuple[str, int, int]]:
        """(kind, template index, user index) for n records, vectorised where it pays."""
        rng = self.rng
        elems = list(ELEMENTS)
        kinds = rng.choices(elems, ELEMENT_WEIGHTS, k=n)
        out = []
        rnd = rng.random
        n_people = self.n_people
        lpa_lo, lpa_hi = self.lpa_range
        auto_lo, auto_hi = self.auto_range
        lpa_cut = spec.lpa_rate
        auto_cut = lpa_cut + spec.automatic_rate
        foreign_cut = spec.foreign_object_type_rate
        for kind in kinds:
            r = rnd()
            if r < lpa_cut:
                user = lpa_lo + int(rnd() * (lpa_hi - lpa_lo))
            elif r < auto_cut:
                user = auto_lo + int(rnd() * (auto_hi - auto_lo))
            else:
                user = int(rnd() * n_people)
            if rnd() < foreign_cut:
                kind = FOREIGN_OBJECT_TYPES[int(rnd() * 3)]  # noqa: PLW2901
            out.append((kind, int(rnd() * 300), user))
        return out

    def instants(self, n: int, start_us: int, end_us: int, spec: DataSpec) -> list[int]:
        """Sorted instants in [start, end): uniform, plus the DST hour, bursts and sub-seconds."""
        rng = self.rng
        lo_s = -(-start_us // US)
        hi_s = (end_us - 1) // US
        if hi_s < lo_s:
            raise ValueError("the time span must contain at least one whole second")
        dst = _dst_windows(from_us(lo_s * US), from_us((hi_s + 1) * US))
        n_dst = spec.dst_records if spec.dst_records is not None else min(60, n // 50)
        n_dst = min(n_dst, n) if dst else 0
        secs: list[int] = []
        for k in range(n_dst):
            w_lo, w_hi = dst[k % len(dst)]
            if k % 4 == 0 and w_hi - w_lo > 3600:
                # the same wall time in EDT and in EST: equal local strings, an hour apart
                s = w_lo + rng.randrange(3600)
                secs.extend((s, s + 3600))
            else:
                secs.append(rng.randrange(w_lo, w_hi))
        secs = secs[:n_dst]
        span = hi_s - lo_s + 1
        secs.extend(lo_s + int(rng.random() * span) for _ in range(n - len(secs)))
        rate = spec.subsecond_rate
        ms_choices = (500, 120, 7, 999, 250, 333, 1, 80)
        us = [s * US + (rng.choice(ms_choices) * 1000 if rng.random() < rate else 0) for s in secs]
        # an end inside a second: its last second keeps only the fractions before the end
        us = [u if u < end_us else u // US * US for u in us]
        us.sort()
        # bursts: several records in one second (and one huge one for big data)
        i = 0
        burst_rate, burst_max = spec.burst_rate, max(2, spec.burst_max)
        rnd = rng.random
        while i < n:
            if rnd() < burst_rate:
                k = min(int(2 + (burst_max - 1) * rnd() ** 3), n - i)
                for j in range(i + 1, i + k):
                    us[j] = us[i]
                i += k
            else:
                i += 1
        big = spec.big_burst if spec.big_burst is not None else (5000 if n >= 100_000 else 0)
        if big and n > 2 * big:
            at = n // 2
            for j in range(at + 1, at + big):
                us[j] = us[at]
        return us


def generate(spec: DataSpec, start_us: int, end_us: int) -> list[SandboxRecord]:
    """Records for an arbitrary window (used by make_records): slow path, small n."""
    store = Store()
    store.fill(spec, start_us, end_us)
    return [store.record(i) for i in range(store.n)]


class Store:
    """Columnar, append-only record store with two orderings (by microsecond, by second)."""

    def __init__(self) -> None:
        self.pool = Pool()
        self.lock = threading.RLock()
        self.inst = array("q")
        self.vis = array("q")
        """When each record becomes visible (microseconds, the sandbox's clock)."""
        self.late = 0
        """How many records become visible after their instant: 0 lets the index skip the test."""
        self.otype = array("H")
        self.name = array("I")
        self.action = array("I")
        self.elem = array("I")
        self.old = array("I")
        self.new = array("I")
        self.user = array("I")
        self.flags = array("B")
        self.users: list[tuple[int, int, int, int, int]] = []
        self._user_index: dict[tuple[str | None, ...], int] = {}
        self.otypes: list[str] = []
        self._otype_index: dict[str, int] = {}
        self.order_us = array("i")
        self.order_s = array("i")
        self.generation = 0

    @property
    def n(self) -> int:
        """Number of stored records."""
        return len(self.inst)

    def _user(self, ident: tuple[str | None, ...]) -> int:
        idx = self._user_index.get(ident)
        if idx is None:
            idx = len(self.users)
            self._user_index[ident] = idx
            p = self.pool.intern
            self.users.append((p(ident[0]), p(ident[1]), p(ident[2]), p(ident[3]), p(ident[4])))
        return idx

    def _otype(self, kind: str) -> int:
        idx = self._otype_index.get(kind)
        if idx is None:
            idx = len(self.otypes)
            self._otype_index[kind] = idx
            self.otypes.append(kind)
        return idx

    def fill(self, spec: DataSpec, start_us: int, end_us: int) -> None:
        """Generate spec.records records in [start, end) into an empty store."""
        n = spec.records
        if n <= 0:
            return
        gen = Generator(spec.seed, n)
        p = self.pool.intern
        user_ids = [self._user(u) for u in gen.users]
        user_flags = gen.user_flags
        kind_ids = {k: self._otype(k) for k in gen.kinds}
        name_ids = {k: [p(x) for x in v] for k, v in gen.names.items()}
        temp_ids = {
            k: [(p(a), p(e), p(o), p(w)) for a, e, o, w in v] for k, v in gen.templates.items()
        }
        us = gen.instants(n, start_us, end_us, spec)
        fields = gen.fields(n, spec)
        rng = gen.rng
        rnd = rng.random
        otype, name, action, elem, old, new, user, flags = (
            [0] * n, [0] * n, [0] * n, [0] * n, [0] * n, [0] * n, [0] * n, [0] * n
        )  # fmt: skip
        for i, (kind, t, u) in enumerate(fields):
            names = name_ids[kind]
            a, e, o, w = temp_ids[kind][t]
            otype[i] = kind_ids[kind]
            name[i] = names[int(rnd() * len(names))]
            action[i], elem[i], old[i], new[i] = a, e, o, w
            user[i] = user_ids[u]
            flags[i] = user_flags[u]
        n_long = spec.long_values if spec.long_values is not None else 3 + n // 200_000
        if n < 50 and spec.long_values is None:
            n_long = 0
        para = 'Dear customer, "thank you" — ありがとう, תודה 🙏.\n' * 40
        for k in range(n_long):
            i = rng.randrange(n)
            kind = "predefined_content"
            otype[i] = kind_ids[kind]
            action[i], elem[i] = p("Edit"), p("Text")
            old[i] = p(f"v{k} " + para * (10 + k % 5))
            new[i] = p(f"v{k + 1} " + para * (12 + k % 5))
        # exact duplicates: a record stored twice, identical in every field including time
        n_dup = int(n * spec.duplicate_rate)
        if n >= 20 and n_dup == 0 and spec.duplicate_rate > 0:
            n_dup = 1
        cols = (otype, name, action, elem, old, new, user, flags)
        for _ in range(n_dup):
            i = rng.randrange(n - 1)
            us[i + 1] = us[i]
            for col in cols:
                col[i + 1] = col[i]
        lag = to_us(EPOCH + spec.visibility_lag) if spec.visibility_lag else 0
        vis = [u + lag for u in us]
        if spec.late_share and spec.late_by:
            late_us = to_us(EPOCH + spec.late_by)
            late_rng = random.Random(spec.seed * 7919 + 1)
            for k in range(n):
                if late_rng.random() < spec.late_share:
                    vis[k] = us[k] + max(lag, late_rng.randint(1, late_us))
        with self.lock:
            self.late += sum(1 for a, b in zip(us, vis, strict=True) if b > a)
            self.vis.extend(vis)
            self.inst.extend(us)
            self.otype.extend(otype)
            self.name.extend(name)
            self.action.extend(action)
            self.elem.extend(elem)
            self.old.extend(old)
            self.new.extend(new)
            self.user.extend(user)
            self.flags.extend(flags)
            base = len(self.order_us)
            self.order_us.extend(range(base, base + n))
            self.order_s.extend(range(base, base + n))
            self.generation += 1

    def append(self, records: Iterable[SandboxRecord]) -> None:
        """Store records (any instants, even past ones), visible to the very next request."""
        recs = list(records)
        if not recs:
            return
        p = self.pool.intern
        with self.lock:
            start = self.n
            for r in recs:
                self.inst.append(to_us(r.instant))
                lag = to_us(EPOCH + r.visible_after)
                self.vis.append(to_us(r.instant) + lag)
                self.late += lag > 0
                self.otype.append(self._otype(r.object_type))
                self.name.append(p(r.object_name))
                self.action.append(p(r.action_type))
                self.elem.append(p(r.element))
                self.old.append(p(r.old_value))
                self.new.append(p(r.new_value))
                u = (
                    r.originator,
                    r.originator_login_name,
                    r.originator_user_id,
                    r.originator_user_agent,
                    r.originator_auth_type,
                )
                self.user.append(self._user(u))
                self.flags.append(
                    (LPA if r.originator_is_lpa else 0) | (AUTOMATIC if r.automatic else 0)
                )
            inst = self.inst
            new_idx = range(start, self.n)
            if len(recs) <= 64:
                for i in new_idx:
                    v = inst[i]
                    pos = bisect.bisect_right(self.order_us, v, key=inst.__getitem__)
                    self.order_us.insert(pos, i)
                    pos = bisect.bisect_right(self.order_s, v // US, key=lambda j: inst[j] // US)
                    self.order_s.insert(pos, i)
            else:
                self.order_us = array("i", sorted(range(self.n), key=lambda j: (inst[j], j)))
                self.order_s = array("i", sorted(range(self.n), key=lambda j: (inst[j] // US, j)))
            self.generation += 1

    def record(self, i: int) -> SandboxRecord:
        """The stored record number i (insertion order)."""
        v = self.pool.values
        u = self.users[self.user[i]]
        fl = self.flags[i]
        return SandboxRecord(
            instant=from_us(self.inst[i]),
            object_type=self.otypes[self.otype[i]],
            object_name=v[self.name[i]],
            action_type=v[self.action[i]],
            element=v[self.elem[i]],
            old_value=v[self.old[i]],
            new_value=v[self.new[i]],
            originator=v[u[0]],
            originator_login_name=v[u[1]],
            originator_user_id=v[u[2]],
            originator_user_agent=v[u[3]],
            originator_auth_type=v[u[4]],
            originator_is_lpa=bool(fl & LPA),
            automatic=bool(fl & AUTOMATIC),
            visible_after=timedelta(microseconds=self.vis[i] - self.inst[i]),
        )

    def window(self, lo_us: int | None, hi_us: int | None, subsecond: bool) -> tuple[int, int]:
        """Positions [a, b) of the ordering whose effective instant is in [lo, hi)."""
        inst = self.inst
        if subsecond:
            order: Sequence[int] = self.order_us
            a = 0 if lo_us is None else bisect.bisect_left(order, lo_us, key=inst.__getitem__)
            b = (
                len(order)
                if hi_us is None
                else bisect.bisect_left(order, hi_us, key=inst.__getitem__)
            )
        else:
            order = self.order_s
            # an effective (truncated) instant s is in [lo, hi) iff s >= ceil(lo) and s < ceil(hi)
            a = (
                0
                if lo_us is None
                else bisect.bisect_left(order, -(-lo_us // US), key=lambda j: inst[j] // US)
            )
            b = (
                len(order)
                if hi_us is None
                else bisect.bisect_left(order, -(-hi_us // US), key=lambda j: inst[j] // US)
            )
        return a, b
