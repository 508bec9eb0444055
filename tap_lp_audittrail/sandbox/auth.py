"""Credentials, bearer tokens, Login Service sessions and OAuth1 signature checks.

Authentication is real (tokens expire, signatures are recomputed) so the tap's auth code is
exercised for real, not waved through.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from urllib.parse import parse_qsl

from oauthlib.oauth1.rfc5849 import signature, utils


@dataclass(frozen=True)
class Credentials:
    """Every secret the sandbox accepts, for each auth method."""

    account_id: str
    app_key: str = "sandbox-app-key"
    app_secret: str = "sandbox-app-secret"  # noqa: S105 - sandbox-only secrets
    access_token: str = "sandbox-access-token"  # noqa: S105 - sandbox-only secrets
    access_token_secret: str = "sandbox-access-token-secret"  # noqa: S105 - sandbox-only secrets
    username: str = "sandbox.admin@example.com"
    password: str = 's3cr3t, "quoted" & ünïcode'  # noqa: S105 - sandbox-only secrets
    client_id: str = "sandbox-client-id"
    client_secret: str = "sandbox-client-secret"  # noqa: S105 - sandbox-only secrets
    user_id: str = "2000000001"

    def __getitem__(self, key: str) -> str:
        """Allow dict-style access too."""
        return str(getattr(self, key))

    def as_dict(self) -> dict[str, str]:
        """All fields as a plain dict."""
        return asdict(self)


@dataclass
class Session:
    """A Login Service session: its cookie, csrf and the bearer it handed out."""

    session_id: str
    csrf: str
    bearer: str
    username: str


@dataclass
class TokenStore:
    """Live bearer tokens (from the Login Service, Sentinel or issue_bearer) with expiries."""

    ttl: float
    tokens: dict[str, float] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, prefix: str = "sbx") -> str:
        """A fresh bearer valid for ttl seconds."""
        token = f"{prefix}.{secrets.token_urlsafe(24)}"
        with self.lock:
            self.tokens[token] = time.time() + self.ttl
        return token

    def issue_jwt(self, account_id: str, client_id: str) -> str:
        """A JWT-looking bearer (header.payload.signature) like Sentinel's."""

        def b64(obj: dict[str, object]) -> str:
            raw = json.dumps(obj, separators=(",", ":")).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        now = int(time.time())
        head = b64({"alg": "RS256", "typ": "JWT"})
        body = b64({"aud": client_id, "iss": "sentinel", "sub": account_id, "iat": now,
                    "exp": now + int(self.ttl), "jti": secrets.token_hex(8)})  # fmt: skip
        token = f"{head}.{body}.{secrets.token_urlsafe(32)}"
        with self.lock:
            self.tokens[token] = time.time() + self.ttl
        return token

    def check(self, token: str) -> str | None:
        """None when the token is live, else why it is not ("unknown" or "expired")."""
        with self.lock:
            expiry = self.tokens.get(token)
        if expiry is None:
            return "unknown"
        if expiry <= time.time():
            return "expired"
        return None

    def expire_all(self) -> None:
        """Every issued token expires now (logins must happen again)."""
        now = time.time() - 1
        with self.lock:
            for token in self.tokens:
                self.tokens[token] = now

    def extend(self, token: str) -> None:
        """Push a token's expiry ttl seconds from now (a session refresh)."""
        with self.lock:
            if token in self.tokens:
                self.tokens[token] = time.time() + self.ttl

    def revoke(self, token: str) -> None:
        """The token stops working at once."""
        with self.lock:
            self.tokens.pop(token, None)

    def login(self, username: str, single_session: bool) -> Session:
        """Open a session (ending the user's previous ones when single_session)."""
        if single_session:
            with self.lock:
                old = [s for s in self.sessions.values() if s.username == username]
            for s in old:
                self.logout(s.session_id)
        sess = Session(
            session_id=secrets.token_hex(16),
            csrf=secrets.token_hex(16),
            bearer=self.issue("lgn"),
            username=username,
        )
        with self.lock:
            self.sessions[sess.session_id] = sess
        return sess

    def logout(self, session_id: str) -> bool:
        """End a session; its bearer stops working. False when there was no such session."""
        with self.lock:
            sess = self.sessions.pop(session_id, None)
        if sess is None:
            return False
        self.revoke(sess.bearer)
        return True


def verify_oauth1(header: str, method: str, url: str, query: str, creds: Credentials) -> str | None:
    """None when the OAuth1 header is valid for creds, else an oauth_problem code.

    The base string covers method, URL and query parameters plus the oauth_* parameters; the
    JSON body is not signed (RFC 5849 signs only form-encoded bodies).
    """
    try:
        params = [(k, utils.unescape(v)) for k, v in utils.parse_authorization_header(header)]
    except (ValueError, IndexError, TypeError):
        return "parameter_absent"
    oauth = dict(params)
    sig = oauth.get("oauth_signature")
    if not sig:
        return "parameter_absent"
    if oauth.get("oauth_signature_method", "") != "HMAC-SHA1":
        return "signature_method_rejected"
    if oauth.get("oauth_consumer_key") != creds.app_key:
        return "consumer_key_unknown"
    if oauth.get("oauth_token") != creds.access_token:
        return "token_rejected"
    all_params = [(k, v) for k, v in params if k not in ("oauth_signature", "realm")]
    all_params += parse_qsl(query, keep_blank_values=True)
    base = signature.signature_base_string(
        method.upper(), signature.base_string_uri(url), signature.normalize_parameters(all_params)
    )
    key = f"{utils.escape(creds.app_secret)}&{utils.escape(creds.access_token_secret)}"
    digest = hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()
    expected = base64.b64encode(digest).decode()
    if not hmac.compare_digest(expected, sig):
        return "signature_invalid"
    return None
