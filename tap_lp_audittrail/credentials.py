"""Which settings are credentials: the ways in, their credential sets, and every secret's name.

Two tables, and everything else derived from them:

- `AUTH_TABLE`: each way into LivePerson (`auth_method`) and the complete sets of settings it
  takes. The config check, the inference of `auth_method`, the authenticator chosen (auth.py),
  meltano.yml's `settings_group_validation` and the Airbyte spec's groups all read it.
- `SECRETS`: every name a secret goes by. The settings that hold one (`setting`): marked secret
  in the settings schema, learnt by the redactor from the config before anything is logged,
  `***` in a capture's settings.json, `airbyte_secret` in the Airbyte spec. And the keys under
  which LivePerson's services carry them, and the tokens they issue: a capture writes each of
  their values as `***`. Those marked `in_text` are also searched for in any text the tap logs
  or captures, followed by `:` or `=` (errors.py), so that a secret the run does not know, a
  token in an error body, is redacted as well; they are searched in this table's order.

A leaf module: it imports nothing of the tap, so that the redaction, the settings, the
authenticators and the Airbyte spec can all read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OAUTH1_KEYS = ("app_key", "app_secret", "access_token", "access_token_secret")


@dataclass(frozen=True)
class Secret:
    """A name a secret goes by: a setting, or a key of what LivePerson's services send."""

    name: str
    #: A setting of the tap.
    setting: bool = False
    #: The name, followed by `:` or `=`, marks a secret in any text (a log line, a body).
    in_text: bool = False


#: Every name a secret goes by (see the module's docstring).
SECRETS: tuple[Secret, ...] = (
    # The Login Service's answer (csrf, bearer); every service's OAuth 2.0 token (access_token,
    # also a setting); the Login Service's body with an API key (accessToken, secret); a login.
    Secret("csrf", in_text=True),
    Secret("bearer", in_text=True),
    Secret("access_token", setting=True, in_text=True),
    Secret("accessToken", in_text=True),
    Secret("secret", in_text=True),
    Secret("password", setting=True, in_text=True),
    # The other settings that hold a secret.
    Secret("app_key", setting=True),
    Secret("app_secret", setting=True),
    Secret("access_token_secret", setting=True),
    Secret("client_id", setting=True),
    Secret("client_secret", setting=True),
    Secret("bearer_token", setting=True),
    # The other keys LivePerson's services carry secrets under.
    Secret("appKey"),
    Secret("accessTokenSecret"),
    Secret("token"),
    Secret("refresh_token"),
    Secret("id_token"),
    Secret("sessionId"),
    Secret("session_id"),
    Secret("Session_id"),
)
#: The settings that hold a secret.
SECRET_SETTINGS = tuple(secret.name for secret in SECRETS if secret.setting)
#: The keys of a body (request or answer) whose value is a secret, whatever the service.
SECRET_KEYS = frozenset(secret.name for secret in SECRETS)
#: The words that, followed by `:` or `=`, mark a secret in any text (searched case-folded).
SECRET_WORDS = tuple(secret.name.casefold() for secret in SECRETS if secret.in_text)


def secret_values(config: Mapping[str, Any]) -> list[object]:
    """The values of `config`'s secret settings, for the redactor to learn."""
    return [config.get(key) for key in SECRET_SETTINGS]


@dataclass(frozen=True)
class AuthMethod:
    """One way into LivePerson, and the settings it needs (auth.py holds its authenticator)."""

    name: str
    #: How Meltano's settings UI names the method (meltano.yml and the Hub file show it).
    label: str
    #: Complete sets of credential settings; the method needs every setting of one set.
    credentials: tuple[tuple[str, ...], ...]

    @property
    def settings(self) -> tuple[str, ...]:
        """Every setting of its credential sets, each once, in order."""
        return tuple(dict.fromkeys(key for needs in self.credentials for key in needs))

    def missing(self, config: Mapping[str, Any]) -> list[str]:
        """The settings still unset of the credential set closest to complete; [] if one is."""
        gaps = [[key for key in needs if not config.get(key)] for needs in self.credentials]
        return min(gaps, key=len)

    def needs_text(self) -> str:
        """The credential sets in words, e.g. `username and password, or ...`."""

        def words(needs: tuple[str, ...]) -> str:
            return " and ".join((", ".join(needs[:-1]), needs[-1])) if len(needs) > 1 else needs[0]

        return "; or ".join(words(needs) for needs in self.credentials)


#: The one table of auth methods (see the module's docstring).
AUTH_TABLE: tuple[AuthMethod, ...] = (
    AuthMethod("oauth1", "OAuth 1.0 API key", (OAUTH1_KEYS,)),
    AuthMethod(
        "login",
        "Login Service (username and password, or API key) to a bearer token",
        (("username", "password"), ("username", *OAUTH1_KEYS)),
    ),
    AuthMethod(
        "client_credentials",
        "OAuth 2.0 client credentials (Sentinel)",
        (("client_id", "client_secret"),),
    ),
    AuthMethod("bearer", "Bearer token as given", (("bearer_token",),)),
)
AUTH_METHODS = tuple(method.name for method in AUTH_TABLE)
#: Every setting that holds a credential of some method.
CREDENTIAL_SETTINGS = tuple(dict.fromkeys(key for m in AUTH_TABLE for key in m.settings))


def auth_method(name: str) -> AuthMethod | None:
    """The table's entry for `name`."""
    return next((method for method in AUTH_TABLE if method.name == name), None)


def infer_auth_method(config: Mapping[str, Any]) -> str | None:
    """The method `auth_method` names, else the one the credentials given point to.

    The credentials point to a method when one of its credential sets holds all of them;
    when several do, to the one that needs the fewest settings more. None when no method,
    or two equally, fit (or no credential is given).
    """
    if config.get("auth_method"):
        return str(config["auth_method"])
    given = {key for key in CREDENTIAL_SETTINGS if config.get(key)}
    if not given:
        return None
    fits: dict[str, int] = {}
    for method in AUTH_TABLE:
        lacking = [len(needs) - len(given) for needs in method.credentials if given <= set(needs)]
        if lacking:
            fits[method.name] = min(lacking)
    if not fits:
        return None
    fewest = min(fits.values())
    best = [name for name, lacking in fits.items() if lacking == fewest]
    return best[0] if len(best) == 1 else None


def settings_group_validation(required: tuple[str, ...] = ("account_id",)) -> list[list[str]]:
    """Meltano's `settings_group_validation`: each complete set of settings, per method."""
    return [[*required, *needs] for method in AUTH_TABLE for needs in method.credentials]
