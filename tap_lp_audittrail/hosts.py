r"""Where a request may go: one parser, one scheme rule, every URL, and no redirect.

The rules, each kept here and nowhere else:

- A host comes from the config (`domain`, `domain_api_url`) or from the Domain API's `baseURI`
  for this account, and is read by urllib3's `parse_url`, the parser requests connects with.
  It must be a plain `host[:port]`: no userinfo (`a@b`), backslash, path, query, fragment,
  space, empty host or empty port, and what the parser reads must be the text itself. A text
  that two parsers would read as two hosts (`127.0.0.2:80\@127.0.0.1`) is refused, never
  guessed at.
- https always; plain http only to this machine (127.0.0.0/8, ::1, localhost).
- Every URL the tap requests is built here (`url`), from an `Origin` and quoted path segments.
- `HostPolicy`: a request leaves only for an origin a setting or the Domain API named in this
  run (the transport checks every URL it sends as a last guard), and never follows a redirect:
  a 3xx is an error naming the request and where it pointed (`refuse_redirect`). None of
  LivePerson's APIs documents a redirect, and a credential must not reach a host nobody named.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from singer_sdk.exceptions import FatalAPIError
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from tap_lp_audittrail.errors import REDACT

#: LivePerson's own Domain API (the `domain_api_url` default).
LIVEPERSON_DOMAIN_API = "https://api.liveperson.net"

DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PORT = re.compile(r"(?<!:):(\d+)$")
#: What no plain host[:port] holds, and how a refusal names it; looked for in this order.
_NOT_IN_A_HOST = (
    ("\\", "a backslash"),
    ("@", "userinfo (an @)"),
    ("/", "a path (a /)"),
    ("?", "a query (a ?)"),
    ("#", "a fragment (a #)"),
)

#: Every endpoint the tap requests: its path and fixed query, `{name}` for a quoted segment.
ENDPOINTS = {
    "audit": "/api/account/{account}/configuration/metadata/audit",
    "login": "/api/account/{account}/login?v=1.3",
    "refresh": "/api/account/{account}/refresh",
    "logout": "/api/account/{account}/logout",
    "sentinel token": "/sentinel/api/v2/account/{account}/app/token",
    "domain api": "/api/account/{account}/service/{service}/baseURI.json?version=1.0",
}


class HostError(ValueError):
    """A host or URL text that is not what the tap may connect to; the message says why."""


class HostRefusedError(FatalAPIError):
    """An answer named a host the tap will not use; nothing is sent there.

    A Domain API `baseURI` that is not a plain host[:port]. `setting` is the one to check.
    """

    def __init__(self, message: str, setting: str = "") -> None:
        super().__init__(message)
        self.setting = setting


class RedirectError(FatalAPIError):
    """A 3xx answer: not followed, not retried. `setting` names where the host came from."""

    def __init__(self, message: str, setting: str = "") -> None:
        super().__init__(message)
        self.setting = setting


class ForbiddenHostError(RuntimeError):
    """A request built for a host nobody named in this run: a bug, stopped before it left."""


def is_loopback(host: str) -> bool:
    """Whether `host` (as `Origin.host` holds it) is this machine: where plain http may go."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Origin:
    """Scheme, host and port of a service, as the connecting parser read them."""

    scheme: str
    host: str  # lower case; an IPv6 address in brackets
    port: int | None = None  # None: the scheme's default

    @property
    def netloc(self) -> str:
        """`host[:port]`, as given."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def base(self) -> str:
        """`scheme://host[:port]`."""
        return f"{self.scheme}://{self.netloc}"

    @property
    def key(self) -> tuple[str, str, int]:
        """What two URLs share when they reach the same server the same way."""
        return self.scheme, self.host, self.port or DEFAULT_PORTS[self.scheme]


def url(origin: Origin, endpoint: str, **segments: str) -> str:
    """The URL of `endpoint` (a name of ENDPOINTS) on `origin`; each segment quoted whole."""
    path = ENDPOINTS[endpoint].format(**{k: quote(v, safe="") for k, v in segments.items()})
    return origin.base + path


def plain_host(text: object) -> Origin:
    """The origin of a plain `host[:port]`: https, or http when the host is loopback.

    Raises HostError saying what is wrong with `text`.
    """
    if not isinstance(text, str) or not text:
        raise HostError("is empty")
    if "://" in text:
        raise HostError("holds a scheme")
    return _origin(None, text)


def base_url(text: object) -> Origin:
    """The origin of a base URL `http(s)://host[:port]` (a `/` after it is allowed).

    Plain http only to a loopback host. Raises HostError saying what is wrong with `text`.
    """
    if not isinstance(text, str) or not text:
        raise HostError("is empty")
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in DEFAULT_PORTS:
        raise HostError("is not an https:// URL")
    origin = _origin(scheme, rest.removesuffix("/"))
    if scheme == "http" and not is_loopback(origin.host):
        raise HostError("uses plain http, which is only allowed to this machine (localhost)")
    return origin


def _origin(scheme: str | None, text: str) -> Origin:
    """`text` read as host[:port] by parse_url, refused unless it reads as itself."""
    if any(char.isspace() or not char.isprintable() for char in text):
        raise HostError("holds a space or a control character")
    for char, what in _NOT_IN_A_HOST:
        if char in text:
            raise HostError(f"holds {what}")
    if text.endswith(":"):
        raise HostError("has an empty port")
    port = _PORT.search(text)
    if port is not None and not 0 < int(port.group(1)) < 65536:
        raise HostError("has a port out of range (1 to 65535)")
    try:
        parts = parse_url(f"http://{text}")
    except LocationParseError:
        raise HostError("is not a host[:port]") from None
    host = parts.host or ""
    if not host or text.startswith(":"):
        raise HostError("has an empty host")
    if not _is_host_name(host):
        raise HostError("is not a host name or an IP address")
    if parts.netloc is None or parts.netloc.lower() != text.lower():
        raise HostError("is not a plain host[:port]")
    scheme = scheme or ("http" if is_loopback(host) else "https")
    return Origin(scheme, host, parts.port)


def _is_host_name(host: str) -> bool:
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return host.endswith("]")
    return all(_LABEL.match(label) for label in host.split("."))


def origin_of(request_url: str) -> Origin:
    """The origin a full URL connects to, as parse_url reads it (and urlsplit agrees).

    Raises HostError for userinfo, a scheme other than http(s), or a URL two parsers read
    differently.
    """
    try:
        parts = parse_url(request_url)
    except LocationParseError:
        raise HostError("is not a URL") from None
    scheme = (parts.scheme or "").lower()
    if scheme not in DEFAULT_PORTS or not parts.host:
        raise HostError("is not an http(s) URL")
    if parts.auth is not None or "\\" in request_url:
        raise HostError("holds userinfo or a backslash")
    split = urlsplit(request_url)
    try:
        split_port = split.port
    except ValueError:
        raise HostError("has a port out of range") from None
    if (split.hostname or "") != parts.host.strip("[]").lower() or split_port != parts.port:
        raise HostError("names its host differently to two URL parsers")
    return Origin(scheme, parts.host.lower(), parts.port)


@dataclass(frozen=True)
class Named:
    """Why a host may be asked: the setting it came from, and what to check if it fails."""

    setting: str
    hint: str


class HostPolicy:
    """The origins this run may send requests to, and which of them have answered.

    An origin is allowed once a setting or the Domain API names it (`allow`); `check` is the
    transport's last guard before a request leaves.
    """

    def __init__(self) -> None:
        self._named: dict[tuple[str, str, int], Named] = {}
        self._answered: set[tuple[str, str, int]] = set()
        self._lock = threading.Lock()

    def allow(self, origin: Origin, setting: str, hint: str = "") -> None:
        """Requests may go to `origin`, named by `setting`; the first naming of it wins.

        `hint` says what to check when it cannot be reached; by default the setting's value
        and this machine's way to it.
        """
        if not hint:
            hint = (
                f"Check `{setting}` (now {origin.netloc}) and that this machine can reach it "
                "(network, firewall, proxy)."
            )
        with self._lock:
            self._named.setdefault(origin.key, Named(setting, hint))

    def check(self, request_url: str) -> Origin:
        """The origin of `request_url`, if this run may send to it; else ForbiddenHostError."""
        try:
            origin = origin_of(request_url)
        except HostError as exc:
            msg = f"refused to send a request to {_shown(request_url)}: the URL {exc}"
            raise ForbiddenHostError(msg) from None
        with self._lock:
            allowed = origin.key in self._named
        if not allowed:
            msg = (
                f"refused to send a request to {origin.base}: no setting and no Domain API "
                "answer of this run named that host"
            )
            raise ForbiddenHostError(msg)
        return origin

    def named(self, request_url: str) -> Named | None:
        """Why the host of `request_url` was allowed, or None."""
        key = _key_of(request_url)
        with self._lock:
            return self._named.get(key) if key is not None else None

    def heard_from(self, request_url: str) -> None:
        """The host of `request_url` has sent an HTTP answer (of any status)."""
        key = _key_of(request_url)
        if key is not None:
            with self._lock:
                self._answered.add(key)

    def has_answered(self, request_url: str) -> bool:
        """Whether the host of `request_url` has sent any HTTP answer in this run."""
        key = _key_of(request_url)
        with self._lock:
            return key in self._answered


def _key_of(request_url: str) -> tuple[str, str, int] | None:
    try:
        return origin_of(request_url).key
    except HostError:
        return None


def _shown(text: str, limit: int = 200) -> str:
    """`text` as an error line may show it: redacted, without a query, cut short."""
    shown = REDACT(text.split("?", 1)[0])
    return shown if len(shown) <= limit else shown[:limit] + "..."


def refuse_redirect(response: Any, what: str, named: Named | None) -> None:
    """Raise RedirectError for a 3xx answer: the request, its status and where it pointed."""
    status = int(response.status_code)
    if not 300 <= status < 400:
        return
    location = response.headers.get("Location")
    where = f"to {_shown(location)}" if location else "without a Location"
    hint = f" Check `{named.setting}`." if named is not None else ""
    msg = (
        f"{what}: the server answered HTTP {status}, a redirect {where}. Not followed: none "
        "of LivePerson's APIs redirects, and a request carrying a credential goes only to a "
        f"host a setting or the Domain API named.{hint}"
    )
    raise RedirectError(msg, setting=named.setting if named is not None else "")
