"""Where an account's services are: LivePerson's Domain API (CSDS), asked once per run.

The Audit Trail (unless `domain` names its host), the Login Service and Sentinel are each on a
host the Domain API names for the account; each host it names is read by hosts.py and allowed
for this run, with the setting to check when it cannot be reached. A refusal (the account or
service unknown, a host the tap will not use, no answer at all) holds for the whole run: every
window thread asking hears the same, and only one request was made.
"""

from __future__ import annotations

import copy
import logging
import threading

import requests
from singer_sdk.exceptions import FatalAPIError

from tap_lp_audittrail import hosts
from tap_lp_audittrail.errors import REDACT, AuthError
from tap_lp_audittrail.failures import REFUSALS
from tap_lp_audittrail.hosts import HostError, HostRefusedError, Origin
from tap_lp_audittrail.transport import Transport, raise_for_status, read_json, server_message

logger = logging.getLogger("tap-lp-audittrail")

AUDIT_SERVICE = "accountConfigReadOnly"
LOGIN_SERVICE = "agentVep"
SENTINEL_SERVICE = "sentinel"


class DomainResolver:
    """Finds a service's host through LivePerson's Domain API (CSDS), once per run."""

    def __init__(self, transport: Transport, domain_api: Origin, account_id: str) -> None:
        self.transport = transport
        self.domain_api = domain_api
        self.account_id = account_id
        self._hosts: dict[str, Origin] = {}
        self._refused: dict[str, FatalAPIError] = {}
        self._lock = threading.Lock()
        transport.hosts.allow(
            domain_api,
            "domain_api_url",
            f"Check `domain_api_url` (now {domain_api.base}"
            + (
                ""
                if domain_api.base == hosts.LIVEPERSON_DOMAIN_API
                else f"; LivePerson's is {hosts.LIVEPERSON_DOMAIN_API}"
            )
            + ") and that this machine can reach it (network, firewall, proxy).",
        )

    def host(self, service: str) -> Origin:
        """Where `service` is for this account."""
        with self._lock:
            if service in self._refused:
                # The Domain API refused this account, cannot be reached, or named a host the
                # tap refuses: every window thread asks, one is told, the others hear the same.
                raise copy.copy(self._refused[service])
            if service not in self._hosts:
                try:
                    self._hosts[service] = self._resolve(service)
                except REFUSALS as exc:
                    self._refused[service] = exc
                    raise
            return self._hosts[service]

    def _resolve(self, service: str) -> Origin:
        url = hosts.url(self.domain_api, "domain api", account=self.account_id, service=service)
        what = f"Domain API lookup of {service}"

        def read(response: requests.Response) -> Origin:
            if response.status_code in (400, 404):
                msg = (
                    f"{what}: LivePerson does not know account_id '{self.account_id}' or "
                    f"service '{service}': {server_message(response)}. Check `account_id` "
                    "(the site id) and `domain_api_url`."
                )
                raise AuthError(msg)
            raise_for_status(response, what)
            body = read_json(response, what)
            named = body.get("baseURI") if isinstance(body, dict) else None
            if not isinstance(named, str) or not named:
                msg = f"{what}: the answer holds no baseURI host"
                raise AuthError(msg)
            try:
                return hosts.plain_host(named)
            except HostError as exc:
                msg = (
                    f"{what}: the Domain API (`domain_api_url` {self.domain_api.base}) names "
                    f"the host {REDACT(named)!r}, which {exc}: not a plain host[:port], so "
                    "nothing is sent there. Check `domain_api_url`, or set `domain` to the "
                    "Audit Trail's host."
                )
                raise HostRefusedError(msg, setting="domain_api_url") from None

        origin = self.transport.call(what, lambda: self.transport.request("GET", url, what), read)
        logger.info("Domain API: %s is at %s", service, origin.netloc)
        self.transport.hosts.allow(
            origin,
            "domain_api_url",
            f"The Domain API (`domain_api_url`) gives this host for the service {service} of "
            f"`account_id` {self.account_id}: check that this machine can reach it (network, "
            "firewall, proxy).",
        )
        return origin
