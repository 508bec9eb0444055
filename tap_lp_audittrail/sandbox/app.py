"""The WSGI app: Domain API, Login Service, Sentinel and the Audit Trail endpoint, with faults.

The audit endpoint reads the validated GraphQL AST and writes JSON itself; the filtered and
ordered index of a (window, filters) pair is cached so a page costs the same at any offset.
"""

from __future__ import annotations

import json
import random
import re
import socket
import struct
import time
import traceback
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta
from datetime import time as dtime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.wrappers import Request, Response

from tap_lp_audittrail.sandbox.auth import verify_oauth1
from tap_lp_audittrail.sandbox.data import AUTOMATIC, LPA, US, Store, to_us
from tap_lp_audittrail.sandbox.query import (
    QueryCache,
    arguments_of,
    introspect,
    variables_of,
)
from tap_lp_audittrail.sandbox.readings import FaultRule, Readings
from tap_lp_audittrail.sandbox.state import SandboxState, served_type

ROUTES = [
    ("domain", re.compile(r"^/api/account/([^/]+)/service/([^/]+)/baseURI\.json$")),
    ("login", re.compile(r"^/api/account/([^/]+)/login/?$")),
    ("refresh", re.compile(r"^/api/account/([^/]+)/refresh/?$")),
    ("logout", re.compile(r"^/api/account/([^/]+)/logout/?$")),
    ("sentinel", re.compile(r"^/sentinel/api/v2/account/([^/]+)/app/token/?$")),
    ("audit", re.compile(r"^/api/account/([^/]+)/configuration/metadata/audit/?$")),
]
SERVICES = ("accountConfigReadOnly", "agentVep", "sentinel")
UTC_NAMES = {"UTC", "Etc/UTC", "Z", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu",
             "Etc/Zulu"}  # fmt: skip
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LANG_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
JSON = "application/json"


class ResetConnectionError(ConnectionResetError):
    """Raised by the app to make the server drop the connection with an RST."""


class AbortConnectionError(ConnectionAbortedError):
    """Raised mid-body to close the connection before the promised bytes are sent."""


class LPError(Exception):
    """A LivePerson-style error answer: {"time", "message", "internalCode"}."""

    def __init__(self, status: int, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code

    def response(self) -> Response:
        """The error as an HTTP response."""
        return lp_body(self.status, self.message, self.code)


def lp_body(status: int, message: str, code: int = 0) -> Response:
    """A LivePerson error body."""
    body = {"time": int(time.time() * 1000), "message": message, "internalCode": code}
    return Response(json.dumps(body), status=status, mimetype=JSON)


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer."""
    return Response(json.dumps(obj), status=status, mimetype=JSON, headers=headers)


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo | None:
    """The IANA zone of that name, or None."""
    if name == "Z":
        name = "UTC"
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return None


class AuditApp:
    """The WSGI application of one account: it reads and changes its state, nothing else."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.queries = QueryCache()
        self._index_cache: OrderedDict[tuple[Any, ...], array[int]] = OrderedDict()
        self.shuffle_rng = random.Random(state.seed)

    def invalidate(self) -> None:
        """Drop cached indexes (records were appended)."""
        with self.state.store.lock:
            self._index_cache.clear()

    # ------------------------------------------------------------------ WSGI entry
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Route, count, inject faults, serve, record."""
        arrived = time.monotonic()
        request = Request(environ)
        endpoint, match = "other", None
        for name, rx in ROUTES:
            match = rx.match(request.path)
            if match:
                endpoint = name
                break
        state = self.state
        n = state.stats.count(endpoint)
        args: dict[str, Any] | None = None
        body = request.get_data(cache=True)
        if endpoint == "audit":
            args = self._log_args(body)
            hook = state.on_audit_request
            if hook is not None:
                hook(n)
        fault = self._pick_fault(endpoint, n) if endpoint != "other" else None
        # The account's latency is the time an answer takes, the sandbox's own work included
        # (which would otherwise add milliseconds to every request, more when many are in flight).
        answer_at = None
        if endpoint == "audit" and (state.latency or state.jitter):
            answer_at = time.monotonic() + state.latency + state.rng_uniform(0.0, state.jitter)
        if fault is not None and fault.kind in ("reset",):
            if answer_at is not None:
                state.stop_event.wait(max(0.0, answer_at - time.monotonic()))
            state.stats.record(endpoint, 0, fault.kind, args, arrived)
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                # SO_LINGER 0: the server closes this connection with an RST, without a FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raise ResetConnectionError("sandbox fault: reset")
        response = self._fault_response(fault) if fault is not None else None
        if response is None:
            try:
                response = self._serve(endpoint, match, request)
            except LPError as exc:
                response = exc.response()
            except Exception:  # a sandbox bug: answer 500 and show it, never kill the thread
                traceback.print_exc()
                response = lp_body(500, "sandbox internal error (see its stderr)", 500)
        if answer_at is not None:
            state.stop_event.wait(max(0.0, answer_at - time.monotonic()))
        kind = fault.kind if fault is not None else None
        state.stats.record(endpoint, response.status_code, kind, args, arrived)
        if fault is not None and fault.kind in ("truncate", "slow_body"):
            return self._broken_body(fault, response, start_response)
        return response(environ, start_response)

    def _log_args(self, body: bytes) -> dict[str, Any] | None:
        """The audit arguments of a request, for the log (None when unreadable)."""
        try:
            payload = json.loads(body)
            mode = self.state.readings.action_type
            parsed = self.queries.get(payload["query"], payload.get("operationName"), mode)
            if parsed.errors or not parsed.roots:
                return None
            variables = variables_of(parsed, mode, payload.get("variables"))
            if isinstance(variables, list):
                return None
            return dict(arguments_of(parsed.roots[0], mode, variables))
        except Exception:
            return None

    # ------------------------------------------------------------------ faults
    def _pick_fault(self, endpoint: str, n: int) -> FaultRule | None:
        """The first non-latency rule hitting request n of endpoint; latency rules just sleep."""
        state = self.state
        chosen = None
        for idx, rule in enumerate(list(state.faults)):
            if rule.endpoint != endpoint:
                continue
            rng = random.Random(f"{state.seed}:{idx}:{endpoint}:{n}")
            if rule.at is not None:
                hit = n in rule.at
            else:
                hit = rule.rate > 0 and rng.random() < rule.rate
            if not hit or (chosen is not None and rule.kind != "latency"):
                continue
            if not state.claim_injection(rule):
                continue
            if rule.kind == "latency":
                state.stats.count_fault("latency")
                state.stop_event.wait(rule.delay + rng.uniform(0.0, rule.jitter))
            else:
                chosen = rule
        return chosen

    def _fault_response(self, rule: FaultRule) -> Response | None:
        """The answer of a fault that replaces the real one (None: serve, then break it)."""
        kind = rule.kind
        headers: dict[str, str] = {}
        if rule.retry_after is not None and kind in ("429", "503"):
            ra = rule.retry_after
            headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
        if kind == "429":
            resp = lp_body(429, "Too Many Requests", 429)
        elif kind == "500":
            resp = lp_body(500, "Internal Server Error", 500)
        elif kind == "502":
            resp = Response(
                "<html><head><title>502 Bad Gateway</title></head><body><center>"
                "<h1>502 Bad Gateway</h1></center></body></html>",
                status=502,
                mimetype="text/html",
            )
        elif kind == "503":
            resp = lp_body(503, "Service Unavailable", 503)
        elif kind == "malformed_json":
            resp = Response(
                '{"data": {"auditData": [{"accountId": "' + self.state.account_id + '", "objectT',
                status=200,
                mimetype=JSON,
                headers={"X-Total-Count": "1"},
            )
        elif kind == "graphql_errors":
            resp = json_response(
                {
                    "errors": [
                        {
                            "message": "Exception while fetching data (/auditData) : "
                            "java.util.concurrent.TimeoutException",
                            "path": ["auditData"],
                            "extensions": {"classification": "DataFetchingException"},
                        }
                    ]
                }
            )
        elif kind == "expire_bearer":
            self.state.expire_bearers()
            resp = lp_body(401, "Token expired", 401)
        else:
            return None
        resp.headers.update(headers)
        return resp

    def _broken_body(
        self, rule: FaultRule, response: Response, start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Headers with the full Content-Length, then part of the body and a close or a stall."""
        data = response.get_data()
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(data))))
        start_response(response.status, headers)
        cut = max(1, len(data) // 2) if len(data) > 1 else 0
        stop = self.state.stop_event

        def body() -> Iterator[bytes]:
            yield data[:cut]
            if rule.kind == "truncate":
                raise AbortConnectionError("sandbox fault: truncate")
            stop.wait(rule.delay)
            yield data[cut:]

        return body()

    # ------------------------------------------------------------------ endpoints
    def _serve(self, endpoint: str, match: re.Match[str] | None, request: Request) -> Response:
        if match is None:
            return lp_body(404, f"Not found: {request.path}", 404)
        method = "GET" if endpoint == "domain" else "POST"
        if request.method != method:
            return lp_body(405, f"Method {request.method} not allowed", 405)
        account = match.group(1)
        if endpoint == "domain":
            return self._domain(account, match.group(2))
        if endpoint == "sentinel":
            return self._sentinel(account, request)
        if endpoint in ("login", "refresh", "logout"):
            return self._login_service(endpoint, account, request)
        return self._audit(account, request)

    def _check_account(self, account: str) -> None:
        if account != self.state.account_id:
            raise LPError(400, f"Invalid Account id: {account}", 6)

    def _domain(self, account: str, service: str) -> Response:
        self._check_account(account)
        if service not in SERVICES:
            raise LPError(404, f"Service not found: {service}", 7)
        return json_response(
            {"service": service, "account": account, "baseURI": self.state.base_uri}
        )

    def _sentinel(self, account: str, request: Request) -> Response:
        self._check_account(account)
        creds = self.state.credentials
        form = request.form
        cid = form.get("client_id") or request.args.get("client_id")
        secret = form.get("client_secret") or request.args.get("client_secret")
        if request.authorization is not None and request.authorization.type == "basic":
            cid = cid or request.authorization.username
            secret = secret or request.authorization.password
        grant = form.get("grant_type") or request.args.get("grant_type")
        if grant != "client_credentials":
            return json_response({"error": "unsupported_grant_type"}, 400)
        if cid != creds.client_id or secret != creds.client_secret:
            return json_response({"error": "invalid_client"}, 401)
        token = self.state.tokens.issue_jwt(account, cid)
        return json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": self.state.bearer_ttl}
        )

    def _login_service(self, endpoint: str, account: str, request: Request) -> Response:
        self._check_account(account)
        state, creds = self.state, self.state.credentials
        try:
            payload = json.loads(request.get_data() or b"{}")
        except ValueError:
            raise LPError(400, "Malformed JSON body", 400) from None
        if not isinstance(payload, dict):
            raise LPError(400, "Malformed JSON body", 400)
        ttl_ms = str(int(state.bearer_ttl * 1000))
        if endpoint == "login":
            user_ok = payload.get("username") == creds.username
            pw_ok = "password" in payload and payload.get("password") == creds.password
            key_ok = (
                payload.get("appKey") == creds.app_key
                and payload.get("secret") == creds.app_secret
                and payload.get("accessToken") == creds.access_token
                and payload.get("accessTokenSecret") == creds.access_token_secret
            )
            if not (user_ok and (pw_ok or key_ok)):
                raise LPError(401, "Authentication failed: bad credentials", 401)
            sess = state.tokens.login(creds.username, state.readings.single_session_per_user)
            resp = json_response(
                {
                    "csrf": sess.csrf,
                    "wasAgent": False,
                    "config": {
                        "loginName": creds.username,
                        "userId": creds.user_id,
                        "userPrivileges": [1, 2, 3],
                        "serverCurrentTime": int(time.time() * 1000),
                        "timeDiff": 0,
                        "isLPA": False,
                        "accountTimeZoneId": "America/New_York",
                    },
                    "sessionTTl": ttl_ms,
                    "bearer": sess.bearer,
                }
            )
            resp.set_cookie("Session_id", sess.session_id, path="/", httponly=True)
            return resp
        sid = request.cookies.get("Session_id", "")
        found = state.tokens.sessions.get(sid)
        csrf = payload.get("csrf")
        if found is None or (endpoint == "refresh" and csrf != found.csrf):
            raise LPError(401, "Session not found or csrf mismatch", 401)
        if endpoint == "logout" and csrf is not None and csrf != found.csrf:
            raise LPError(401, "csrf mismatch", 401)
        if endpoint == "refresh":
            state.tokens.extend(found.bearer)
            return json_response({"sessionTTl": ttl_ms})
        state.tokens.logout(sid)
        return Response("", status=200)

    # ------------------------------------------------------------------ audit
    def _authenticate(self, account: str, request: Request) -> Response | None:
        """None when the request may read this account's audit trail, else the refusal."""
        state = self.state
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            why = state.tokens.check(value.strip())
            if why == "expired":
                return lp_body(401, "Token expired", 401)
            if why is not None or account != state.account_id:
                return lp_body(401, "Not authenticated: unknown token", 401)
        elif scheme.lower() == "oauth":
            url = request.host_url.rstrip("/") + request.path
            problem = verify_oauth1(
                header, request.method, url, request.query_string.decode(), state.credentials
            )
            if problem is None and account != state.account_id:
                problem = "token_rejected"
            if problem is not None:
                return Response(f"oauth_problem={problem}", status=401, mimetype="text/plain")
        else:
            return lp_body(401, "Not authenticated: missing Authorization header", 401)
        if not state.permission_granted:
            return lp_body(
                403,
                "User is not authorized to perform this action: missing Audit Trail read "
                "permission",
                403,
            )
        return None

    def _audit(self, account: str, request: Request) -> Response:
        refusal = self._authenticate(account, request)
        if refusal is not None:
            return refusal
        readings = self.state.readings
        try:
            payload = json.loads(request.get_data())
        except ValueError:
            raise LPError(400, "Malformed JSON body", 400) from None
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            raise LPError(400, "The body must be a JSON object with a 'query' string", 400)
        mode = readings.action_type
        op_name = payload.get("operationName")
        parsed = self.queries.get(payload["query"], op_name if isinstance(op_name, str) else None,
                                  mode)  # fmt: skip
        if parsed.errors:
            return json_response({"errors": parsed.errors}, readings.validation_error_status)
        inputs = payload.get("variables")
        variables = variables_of(parsed, mode, inputs if isinstance(inputs, dict) else None)
        if isinstance(variables, list):
            return json_response({"errors": variables}, readings.validation_error_status)
        if parsed.introspection:
            return json_response(introspect(parsed, mode, inputs))
        data: dict[str, list[str]] = {}
        total: int | None = None
        for root in parsed.roots:
            args = arguments_of(root, mode, variables)
            records, count = self._audit_data(args, root.fields, readings)
            self.state.stats.count_served(len(records))
            data[root.key] = records
            total = count if total is None else total
        body = (
            '{"data":{'
            + ",".join(json.dumps(k) + ":[" + ",".join(v) + "]" for k, v in data.items())
            + "}}"
        )
        headers = {} if total is None else {"X-Total-Count": str(total)}
        return Response(body, status=200, mimetype=JSON, headers=headers)

    def _zone_arg(self, name: str | None, readings: Readings) -> ZoneInfo:
        tzname = readings.default_timezone if name is None else name
        if not readings.utc_accepted and tzname in UTC_NAMES:
            raise LPError(400, f"Invalid timezone: {tzname}", 1)
        zone = _zone(tzname)
        if zone is None:
            raise LPError(400, f"Invalid timezone: {tzname}", 1)
        return zone

    @staticmethod
    def _date_arg(name: str, value: str) -> date:
        if not DATE_RE.match(value):
            raise LPError(400, f"Invalid {name}: '{value}', expected format yyyy-MM-dd", 1)
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise LPError(
                400, f"Invalid {name}: '{value}', expected format yyyy-MM-dd", 1
            ) from None

    def _audit_data(
        self, args: dict[str, Any], fields: list[tuple[str, str]], readings: Readings
    ) -> tuple[list[str], int]:
        """The JSON texts of one page of records and the X-Total-Count value."""
        if not args:
            raise LPError(400, "At least one argument of auditData is required", 1)
        first = args.get("first")
        first = 50 if first is None else first
        offset = args.get("offset") or 0
        if first < 0 or offset < 0:
            raise LPError(400, "first and offset must not be negative", 1)
        if first > readings.max_page_size:
            if readings.above_max_page_size == "error":
                raise LPError(
                    400, f"first must not exceed {readings.max_page_size} (got {first})", 1
                )
            first = readings.max_page_size
        for col in args.get("orderBy") or ["changeTimestamp"]:
            if col != "changeTimestamp":
                raise LPError(400, f"Invalid orderBy column: {col}", 1)
        directions = args.get("orderDirection") or ["DESC"]
        direction = str(directions[0]).upper()
        if direction not in ("ASC", "DESC"):
            raise LPError(400, f"Invalid orderDirection: {directions[0]}", 1)
        lang = args.get("language")
        if lang is not None and not LANG_RE.match(lang):
            raise LPError(400, f"Invalid language: {lang}", 1)
        zone = self._zone_arg(args.get("timezone"), readings)
        date_zone = {
            "requested": zone,
            "utc": _zone("UTC"),
            "server": _zone(readings.server_timezone),
        }[readings.dates_timezone]
        lo = hi = None
        if args.get("fromDate") is not None:
            d = self._date_arg("fromDate", args["fromDate"])
            lo = to_us(datetime.combine(d, dtime(0), date_zone))
        if args.get("toDate") is not None:
            d = self._date_arg("toDate", args["toDate"])
            if readings.to_date_inclusive:
                d += timedelta(days=1)
            hi = to_us(datetime.combine(d, dtime(0), date_zone))
        mask = (0 if args.get("lpa") else LPA) | (0 if args.get("automaticUpdates") else AUTOMATIC)
        store = self.state.store
        users_sel = None
        if args.get("users"):
            wanted = set(args["users"])
            vals = store.pool.values
            users_sel = frozenset(
                i for i, u in enumerate(list(store.users))
                if vals[u[1]] in wanted or vals[u[2]] in wanted
            )  # fmt: skip
        types_sel = None
        if args.get("componentTypes"):
            chosen: set[str] = set()
            known = 0
            for code in args["componentTypes"]:
                if code in readings.component_types:
                    chosen.update(readings.component_types[code])
                    known += 1
                elif readings.unknown_component_type == "error":
                    raise LPError(400, f"Invalid component type: {code}", 1)
            if known or readings.unknown_component_type == "empty":
                types_sel = frozenset(
                    i
                    for i, k in enumerate(list(store.otypes))
                    if served_type(k, readings) in chosen
                )
        subsecond = readings.subsecond
        index = self._index(store, lo, hi, subsecond, mask, users_sel, types_sel)
        if store.late:
            # Records not visible yet on the sandbox's clock are not served (nor counted).
            now, vis = to_us(self.state.now()), store.vis
            index = array("i", [i for i in index if vis[i] <= now])
        total = len(index)
        page = self._page(store, index, offset, first, direction == "ASC", subsecond, readings)
        count = total if readings.total_count == "total" else len(page)
        return self._render(store, page, fields, zone, readings), count

    def _index(  # noqa: PLR0917
        self,
        store: Store,
        lo: int | None,
        hi: int | None,
        subsecond: bool,
        mask: int,
        users_sel: frozenset[int] | None,
        types_sel: frozenset[int] | None,
    ) -> array[int]:
        """Stored record numbers matching, in ascending order; cached per key."""
        with store.lock:
            key = (store.generation, lo, hi, subsecond, mask, users_sel, types_sel)
            hit = self._index_cache.get(key)
            if hit is not None:
                self._index_cache.move_to_end(key)
                return hit
            if lo is not None and hi is not None and hi <= lo:
                result = array("i")
            else:
                a, b = store.window(lo, hi, subsecond)
                result = (store.order_us if subsecond else store.order_s)[a:b]
            if mask or users_sel is not None or types_sel is not None:
                fl, uc, oc = store.flags, store.user, store.otype
                if users_sel is None and types_sel is None:
                    result = array("i", [i for i in result if not fl[i] & mask])
                else:
                    us_ = users_sel
                    ts_ = types_sel
                    result = array(
                        "i",
                        [
                            i for i in result
                            if not fl[i] & mask
                            and (us_ is None or uc[i] in us_)
                            and (ts_ is None or oc[i] in ts_)
                        ],
                    )  # fmt: skip
            self._index_cache[key] = result
            while len(self._index_cache) > 16:
                self._index_cache.popitem(last=False)
            return result

    def _page(  # noqa: PLR0917
        self,
        store: Store,
        index: array[int],
        offset: int,
        first: int,
        asc: bool,
        subsecond: bool,
        readings: Readings,
    ) -> list[int]:
        """Record numbers of one page; ties reshuffled per request when tie_order says so."""
        total = len(index)
        lo, hi = offset, min(offset + first, total)
        if lo >= hi:
            return []

        def at(p: int) -> int:
            return index[p] if asc else index[total - 1 - p]

        if readings.tie_order != "shuffled":
            if asc:
                return list(index[lo:hi])
            return list(reversed(index[total - hi : total - lo]))
        inst = store.inst
        div = 1 if subsecond else US

        def key(p: int) -> int:
            return inst[at(p)] // div

        g_lo, g_hi = lo, hi
        k0 = key(lo)
        while g_lo > 0 and key(g_lo - 1) == k0:
            g_lo -= 1
        k1 = key(hi - 1)
        while g_hi < total and key(g_hi) == k1:
            g_hi += 1
        seg = [at(p) for p in range(g_lo, g_hi)]
        out: list[int] = []
        run: list[int] = []
        run_key = None
        rng = self.shuffle_rng
        with self.state.rng_lock:
            for i in seg:
                k = inst[i] // div
                if k != run_key and run:
                    rng.shuffle(run)
                    out.extend(run)
                    run = []
                run_key = k
                run.append(i)
            rng.shuffle(run)
            out.extend(run)
        return out[lo - g_lo : hi - g_lo]

    def _render(
        self,
        store: Store,
        page: list[int],
        fields: list[tuple[str, str]],
        zone: ZoneInfo,
        readings: Readings,
    ) -> list[str]:
        """JSON text of each record with only the selected fields."""
        if not page:
            return []
        subsecond = readings.subsecond
        inst = store.inst
        dates: dict[int, str] = {}

        minutes: dict[int, str] = {}

        def change_date(i: int) -> str:
            # offsets change only on whole minutes, so one conversion serves a whole minute
            us = inst[i]
            sec = us // US
            minute, second = divmod(sec, 60)
            prefix = minutes.get(minute)
            if prefix is None:
                dt = datetime.fromtimestamp(minute * 60, zone)
                prefix = (
                    f'"{dt.year:04d}-{dt.month:02d}-{dt.day:02d} {dt.hour:02d}:{dt.minute:02d}:'
                )
                minutes[minute] = prefix
            frac = (f"{us % US:06d}".rstrip("0") or "0") if subsecond else "0"
            text = f'{prefix}{second:02d}.{frac}"'
            dates[us] = text
            return text

        render = _renderer(tuple(fields))
        return render(
            page,
            store.pool.enc,
            store.users,
            store.user,
            [json.dumps(served_type(k, readings)) for k in list(store.otypes)],
            store.otype,
            store.name,
            store.action,
            store.elem,
            store.old,
            store.new,
            store.flags,
            inst,
            dates,
            change_date,
            json.dumps(self.state.account_id),
        )


@lru_cache(maxsize=256)
def _renderer(fields: tuple[tuple[str, str], ...]) -> Callable[..., list[str]]:
    """Compile a function writing records with exactly these fields (no per-field calls).

    Field names and aliases are GraphQL names (letters, digits, underscores): safe to inline.
    """
    exprs = {
        "accountId": "acct",
        "objectType": "te[ot[i]]",
        "objectName": "enc[name[i]]",
        "actionType": "enc[action[i]]",
        "element": "enc[elem[i]]",
        "oldValue": "enc[old[i]]",
        "newValue": "enc[new[i]]",
        "changeDate": "(dates.get(inst[i]) or cd(i))",
        "originator": "enc[users[ucol[i]][0]]",
        "originatorLoginName": "enc[users[ucol[i]][1]]",
        "originatorUserId": "enc[users[ucol[i]][2]]",
        "originatorUserAgent": "enc[users[ucol[i]][3]]",
        "originatorAuthType": "enc[users[ucol[i]][4]]",
        "originatorIsLpa": f'("true" if flags[i] & {LPA} else "false")',
        "__typename": "TN",
    }
    parts = []
    for key, name in fields:
        if not re.fullmatch(r"[_A-Za-z][_0-9A-Za-z]*", key) or name not in exprs:
            raise ValueError(f"cannot render field {key}: {name}")
        parts.append(f'"{key}":{{{exprs[name]}}}')
    body = ",".join(parts)
    src = (
        "def render(page, enc, users, ucol, te, ot, name, action, elem, old, new, flags, inst,"
        " dates, cd, acct):\n"
        f"    return [f'{{{{{body}}}}}' for i in page]\n"
    )
    namespace: dict[str, Any] = {"TN": '"AuditRecord"'}
    exec(compile(src, "<sandbox-renderer>", "exec"), namespace)  # noqa: S102 - inputs validated
    return namespace["render"]  # type: ignore[no-any-return]
