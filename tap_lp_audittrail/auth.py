"""The four ways LivePerson lets the tap in: one authenticator each.

Which settings each method takes is the auth table's (credentials.py); where the Login
Service's and Sentinel's hosts are, the Domain API's (domains.py).

Every authenticator is a requests auth callable with a `generation` (which token signed a
request) and `renew(generation)`, so that a 401 renews a token once for all threads that saw
it, and only once.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from requests.auth import AuthBase
from singer_sdk.exceptions import FatalAPIError

from tap_lp_audittrail import hosts
from tap_lp_audittrail.credentials import infer_auth_method
from tap_lp_audittrail.domains import LOGIN_SERVICE, SENTINEL_SERVICE, DomainResolver
from tap_lp_audittrail.errors import REDACT, AuthError
from tap_lp_audittrail.failures import REFUSALS, describe
from tap_lp_audittrail.transport import Transport, raise_for_status, read_json, server_message

logger = logging.getLogger("tap-lp-audittrail")

#: Renew a login session this long before LivePerson would end it.
SESSION_MARGIN_SECONDS = 300


class Authenticator(AuthBase):
    """Base of the tap's authenticators: renewable tokens, and a name for error messages."""

    #: The settings that hold this method's credentials, named in 401/403 messages.
    credential_names: str = ""
    generation = 0
    #: The newest generation the server has authenticated a request with.
    accepted_generation = 0

    def renew(self, generation: int) -> bool:
        """Get a fresh token after a 401; False when this method cannot."""
        return False

    def generation_of(self, request: requests.PreparedRequest | None) -> int:
        """The generation of the token that signed `request` (older than now if replaced)."""
        return self.generation

    def accepted(self, request: requests.PreparedRequest | None) -> None:
        """The server authenticated `request`: a later 401 for its token means it expired."""

    def close(self) -> None:
        """End any session the tap opened."""

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], transport: Transport, resolver: DomainResolver
    ) -> Authenticator:
        """The authenticator for `config`, which holds this method's credentials."""
        raise NotImplementedError


class OAuth1Authenticator(Authenticator):
    """Signs every request HMAC-SHA1 with the API key (requests-oauthlib)."""

    credential_names = (
        "the OAuth 1.0 API key (app_key, app_secret, access_token, access_token_secret)"
    )

    def __init__(self, config: Mapping[str, Any]) -> None:
        # Imported here: every run would pay oauthlib's import (~15 ms) for one auth method.
        from requests_oauthlib import OAuth1

        self._oauth = OAuth1(
            client_key=config["app_key"],
            client_secret=config["app_secret"],
            resource_owner_key=config["access_token"],
            resource_owner_secret=config["access_token_secret"],
            signature_type="AUTH_HEADER",
        )

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], transport: Transport, resolver: DomainResolver
    ) -> Authenticator:
        """Sign with the API key of `config`; no host needs to be looked up."""
        return cls(config)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Sign the request; the JSON body is not part of an OAuth 1.0 signature."""
        return self._oauth(request)


class BearerAuthenticator(Authenticator):
    """A token handed over as it is; it cannot be renewed by the tap."""

    credential_names = "bearer_token"

    def __init__(self, token: str) -> None:
        self.token = token

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], transport: Transport, resolver: DomainResolver
    ) -> Authenticator:
        """Send `bearer_token` as it is."""
        return cls(config["bearer_token"])

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add the bearer header."""
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class _TokenAuthenticator(Authenticator):
    """A bearer the tap fetches itself, from a host `resolver` finds; again on expiry or a 401."""

    def __init__(
        self, transport: Transport, resolver: DomainResolver, config: Mapping[str, Any]
    ) -> None:
        self.transport = transport
        self.resolver = resolver
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self._generations: dict[str, int] = {}  # token -> generation, for generation_of
        self._refused: FatalAPIError | None = None

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], transport: Transport, resolver: DomainResolver
    ) -> Authenticator:
        """A token fetched with the credentials of `config`, from the host `resolver` finds."""
        return cls(transport, resolver, config)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add a live bearer, fetching one first if needed."""
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                self._refresh_locked()
            token = self._token
            request.headers["Authorization"] = f"Bearer {token}"
        return request

    def generation_of(self, request: requests.PreparedRequest | None) -> int:
        """The current generation if `request` carries the current token, else an older one.

        A request may be signed by a newer token than the generation its sender read first
        (another thread renewed in between, or a retry re-signed it): judging a 401 by the
        token it really carried renews that token, instead of retrying it once more.
        """
        sent = str(request.headers.get("Authorization") or "") if request is not None else ""
        with self._lock:
            return self._generations.get(sent.removeprefix("Bearer "), 0)

    def accepted(self, request: requests.PreparedRequest | None) -> None:
        """Remember that the token of `request` worked (so its 401 may renew it again)."""
        generation = self.generation_of(request)
        with self._lock:
            self.accepted_generation = max(self.accepted_generation, generation)

    def renew(self, generation: int) -> bool:
        """Fetch a new token unless another thread already did since `generation`.

        False when the token refused was itself a renewal the server never accepted: the
        server refuses fresh tokens, and renewing again (from every thread) would only loop.
        """
        with self._lock:
            if generation == self.generation:
                if generation > max(1, self.accepted_generation):
                    return False
                self._fetch_locked()
        return True

    def _refresh_locked(self) -> None:
        self._fetch_locked()

    def _fetch_locked(self) -> None:
        if self._refused is not None:
            # Credentials refused once (or sent a redirect) are refused for the whole run:
            # asking again from every window thread would only hammer the login (LivePerson
            # may lock the user).
            raise copy.copy(self._refused)
        try:
            token, lifetime = self._fetch()
        except REFUSALS as exc:
            self._refused = exc
            raise
        REDACT.add(token)
        self._token = token
        self._expires_at = time.monotonic() + max(lifetime - SESSION_MARGIN_SECONDS, lifetime / 2)
        self.generation += 1
        self._generations[token] = self.generation

    def _fetch(self) -> tuple[str, float]:
        raise NotImplementedError

    def _token_answer(
        self, response: requests.Response, what: str, field: str, hint: str = ""
    ) -> dict[str, Any]:
        """The JSON answer of a token request, holding a non-empty `field`.

        A refusal (400, 401, 403) names the credential and is not retried; 429 and 5xx are.
        """
        if response.status_code in (400, 401, 403):
            msg = (
                f"{what} refused {self.credential_names}: HTTP {response.status_code}: "
                f"{server_message(response)}.{hint}"
            )
            raise AuthError(msg)
        raise_for_status(response, what)
        body = read_json(response, what)
        token = body.get(field) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            msg = f"{what}: the answer holds no {field}"
            raise AuthError(msg)
        return body


class ClientCredentialsAuthenticator(_TokenAuthenticator):
    """OAuth 2.0 client credentials through LivePerson's Sentinel."""

    credential_names = "the OAuth 2.0 client (client_id, client_secret)"

    def __init__(
        self, transport: Transport, resolver: DomainResolver, config: Mapping[str, Any]
    ) -> None:
        super().__init__(transport, resolver, config)
        self.client_id = config["client_id"]
        self.client_secret = config["client_secret"]

    def _fetch(self) -> tuple[str, float]:
        origin = self.resolver.host(SENTINEL_SERVICE)
        url = hosts.url(origin, "sentinel token", account=self.resolver.account_id)
        what = "Sentinel token request"

        def read(response: requests.Response) -> tuple[str, float]:
            body = self._token_answer(
                response, what, "access_token", hint=" Check `client_id` and `client_secret`."
            )
            return body["access_token"], float(body.get("expires_in") or 3600)

        return self.transport.call(
            what,
            lambda: self.transport.request(
                "POST",
                url,
                what,
                data={
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "grant_type": "client_credentials",
                },
            ),
            read,
        )


class LoginAuthenticator(_TokenAuthenticator):
    """LivePerson's Login Service: a session with a bearer, kept alive by `refresh`."""

    def __init__(
        self, transport: Transport, resolver: DomainResolver, config: Mapping[str, Any]
    ) -> None:
        super().__init__(transport, resolver, config)
        self.username = config["username"]
        if config.get("password"):
            self.body = {"username": self.username, "password": config["password"]}
            self.credential_names = "the Login Service user (username, password)"
        else:
            self.body = {
                "username": self.username,
                "appKey": config["app_key"],
                "secret": config["app_secret"],
                "accessToken": config["access_token"],
                "accessTokenSecret": config["access_token_secret"],
            }
            self.credential_names = (
                "the Login Service user with an API key (username, app_key, "
                "app_secret, access_token, access_token_secret)"
            )
        self._csrf: str | None = None
        self._cookies: requests.cookies.RequestsCookieJar | None = None

    def _url(self, action: str) -> str:
        """The URL of `action` (login, refresh, logout) on the Login Service's host."""
        origin = self.resolver.host(LOGIN_SERVICE)
        return hosts.url(origin, action, account=self.resolver.account_id)

    def _refresh_locked(self) -> None:
        """Keep the session alive with `refresh`; log in again if LivePerson ended it."""
        if self._csrf and self._cookies is not None and self._refresh_session():
            return
        self._fetch_locked()

    def _refresh_session(self) -> bool:
        try:
            response = self.transport.request(
                "POST",
                self._url("refresh"),
                "Login session refresh",
                json={"csrf": self._csrf},
                cookies=self._cookies,
            )
        except requests.exceptions.RequestException:
            return False
        if response.status_code != 200:
            logger.info("Login session refresh answered %d; logging in again", response.status_code)
            return False
        body = read_json(response, "Login session refresh") if response.content else {}
        ttl = _ttl_seconds(body.get("sessionTTl") if isinstance(body, dict) else None)
        self._expires_at = time.monotonic() + max(ttl - SESSION_MARGIN_SECONDS, ttl / 2)
        return True

    def _fetch(self) -> tuple[str, float]:
        what = "Login Service login"

        def read(response: requests.Response) -> tuple[str, float]:
            body = self._token_answer(response, what, "bearer")
            bearer = body["bearer"]
            self._csrf = body.get("csrf")
            self._cookies = response.cookies
            REDACT.add(self._csrf, *response.cookies.values())
            return bearer, _ttl_seconds(body.get("sessionTTl"))

        return self.transport.call(
            what,
            lambda: self.transport.request("POST", self._url("login"), what, json=self.body),
            read,
        )

    def close(self) -> None:
        """Log out, so the user's session does not linger (LivePerson keeps one per user)."""
        with self._lock:
            if self._token is None:
                return
            try:
                self.transport.request(
                    "POST",
                    self._url("logout"),
                    "Login Service logout",
                    json={"csrf": self._csrf},
                    cookies=self._cookies,
                    headers={"Authorization": f"Bearer {self._token}"},
                )
            except (requests.exceptions.RequestException, FatalAPIError) as exc:
                logger.info("Logout failed (%s); the session ends on its own", describe(exc))
            self._token = self._csrf = None
            # A window thread still running after the run must not open a new session.
            self._refused = AuthError("the run has ended and logged out of the Login Service")


def _ttl_seconds(value: object) -> float:
    """SessionTTl is milliseconds as a string ("28800000"); default to LivePerson's 8 hours."""
    try:
        return max(1.0, float(str(value)) / 1000.0)
    except ValueError:
        return 8 * 3600.0


#: The authenticator of each method of the auth table (credentials.py), in its order.
AUTHENTICATORS: dict[str, type[Authenticator]] = {
    "oauth1": OAuth1Authenticator,
    "login": LoginAuthenticator,
    "client_credentials": ClientCredentialsAuthenticator,
    "bearer": BearerAuthenticator,
}


def build_authenticator(
    config: Mapping[str, Any], transport: Transport, resolver: DomainResolver
) -> Authenticator:
    """The authenticator for the configured (or inferred) method."""
    name = infer_auth_method(config)
    authenticator = AUTHENTICATORS.get(name) if name else None
    if authenticator is None:
        msg = f"no usable auth method in the config ({REDACT(str(name))})"
        raise AuthError(msg)
    return authenticator.from_config(config, transport, resolver)
