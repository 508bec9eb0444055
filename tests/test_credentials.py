"""credentials.py: the auth table (which settings each method needs) and the secrets table
(every name a secret goes by), and what reads each.

The config check, the inference of `auth_method`, the authenticator chosen and meltano.yml's
`settings_group_validation` (tests/test_plugin_definitions.py) all come from AUTH_TABLE; the
settings schema's secret marks, the redaction of secret-named fields and a capture's secret
keys all come from SECRETS.
"""

from __future__ import annotations

import pytest

from tap_lp_audittrail.auth import (
    AUTHENTICATORS,
    BearerAuthenticator,
    ClientCredentialsAuthenticator,
    LoginAuthenticator,
    OAuth1Authenticator,
    build_authenticator,
)
from tap_lp_audittrail.capture import Sanitiser
from tap_lp_audittrail.credentials import (
    AUTH_METHODS,
    AUTH_TABLE,
    CREDENTIAL_SETTINGS,
    SECRET_KEYS,
    SECRET_SETTINGS,
    SECRETS,
    auth_method,
    infer_auth_method,
)
from tap_lp_audittrail.domains import DomainResolver
from tap_lp_audittrail.errors import REDACTED, AuthError, Redactor
from tap_lp_audittrail.hosts import base_url
from tap_lp_audittrail.settings import CONFIG_SCHEMA, config_errors
from tap_lp_audittrail.tap import settings_schema
from tap_lp_audittrail.transport import RetryPolicy, Transport

KEY = dict.fromkeys(("app_key", "app_secret", "access_token", "access_token_secret"), "k")

#: credentials given (no auth_method) -> the method they point to (None: they do not tell).
INFERRED: list[tuple[dict, str | None]] = [
    (KEY, "oauth1"),
    ({"app_key": "k"}, "oauth1"),  # a partial key still points to oauth1 (then: what is missing)
    ({"username": "u", "password": "p"}, "login"),
    ({"username": "u", **KEY}, "login"),
    ({"username": "u"}, "login"),
    ({"client_id": "c", "client_secret": "s"}, "client_credentials"),
    ({"client_secret": "s"}, "client_credentials"),
    ({"bearer_token": "b"}, "bearer"),
    ({}, None),
    ({"client_id": "c", "bearer_token": "b"}, None),
    ({"password": "p", **KEY}, None),  # no set of any method holds both
    ({"app_key": "", "bearer_token": "b"}, "bearer"),  # an empty setting is not given
]


@pytest.mark.parametrize(("given", "method"), INFERRED)
def test_the_credentials_given_point_to_a_method(given, method):
    assert infer_auth_method({"account_id": "1", **given}) == method


def test_auth_method_given_wins_over_the_credentials():
    assert infer_auth_method({"auth_method": "bearer", **KEY}) == "bearer"


def test_the_table_names_each_method_once_with_its_own_authenticator():
    assert AUTH_METHODS == ("oauth1", "login", "client_credentials", "bearer")
    assert [AUTHENTICATORS[m.name] for m in AUTH_TABLE] == [
        OAuth1Authenticator,
        LoginAuthenticator,
        ClientCredentialsAuthenticator,
        BearerAuthenticator,
    ]


@pytest.mark.parametrize(
    ("config", "cls"),
    [
        (KEY, OAuth1Authenticator),
        ({"username": "u", "password": "p"}, LoginAuthenticator),
        ({"auth_method": "login", "username": "u", **KEY}, LoginAuthenticator),
        ({"client_id": "c", "client_secret": "s"}, ClientCredentialsAuthenticator),
        ({"bearer_token": "b"}, BearerAuthenticator),
    ],
)
def test_the_authenticator_is_the_tables(config, cls):
    transport = Transport(timeout=1, policy=RetryPolicy(max_retry_seconds=1, initial_wait=0))
    resolver = DomainResolver(transport, base_url("http://127.0.0.1:9"), "1")
    authenticator = build_authenticator({"account_id": "1", **config}, transport, resolver)
    assert type(authenticator) is cls
    name = infer_auth_method(config)
    method = auth_method(name) if name else None
    assert method is not None
    assert not method.missing(config)


def test_no_method_no_authenticator():
    transport = Transport(timeout=1, policy=RetryPolicy(max_retry_seconds=1, initial_wait=0))
    resolver = DomainResolver(transport, base_url("http://127.0.0.1:9"), "1")
    with pytest.raises(AuthError):
        build_authenticator({"account_id": "1"}, transport, resolver)


@pytest.mark.parametrize(
    ("config", "named"),
    [
        (
            {"auth_method": "oauth1", "app_key": "k"},
            "app_secret, access_token, access_token_secret",
        ),
        ({"auth_method": "login", "username": "u"}, "password"),
        ({"auth_method": "login", "username": "u", "app_key": "k"}, "password"),
        ({"auth_method": "login", "password": "p"}, "username"),
        ({"auth_method": "client_credentials", "client_id": "c"}, "client_secret"),
        ({"auth_method": "bearer"}, "bearer_token"),
    ],
)
def test_the_config_check_names_what_the_method_still_needs(config, named):
    errors = config_errors({"account_id": "1", **config}, settings_schema())
    (error,) = errors
    assert error.startswith(f"{named}: required for auth_method {config['auth_method']}")
    method = auth_method(config["auth_method"])
    assert method is not None
    assert method.needs_text() in error


# ----------------------------------------------------------------------------- secrets
def test_the_settings_schema_marks_exactly_the_secret_settings():
    properties = CONFIG_SCHEMA["properties"]
    marked = {name for name, prop in properties.items() if prop.get("secret")}
    assert marked == set(SECRET_SETTINGS)
    assert all(properties[name].get("writeOnly") for name in marked)
    # Every credential of the auth table is a text setting; all but the user name are secret.
    for name in CREDENTIAL_SETTINGS:
        assert "string" in properties[name]["type"], name
    assert set(CREDENTIAL_SETTINGS) - set(SECRET_SETTINGS) == {"username"}


def test_the_settings_the_redactor_learns_are_the_secret_ones():
    from tap_lp_audittrail.credentials import secret_values

    config = {name: f"value-of-{name}" for name in (*CREDENTIAL_SETTINGS, "account_id")}
    assert secret_values(config) == [f"value-of-{name}" for name in SECRET_SETTINGS]


@pytest.mark.parametrize("name", [s.name for s in SECRETS if s.in_text])
def test_a_name_marked_in_text_redacts_any_value_after_it(name):
    """A value the run does not know (a token in an error body) after a secret's name."""
    redact = Redactor()  # knows no value: only the name can find it
    for text in (
        f'{{"{name}": "Zq8-unknown-value"}}',
        f"{name}=Zq8-unknown-value",
        f"{name.upper()}: Zq8-unknown-value",
        f'{{\\"{name}\\": \\"Zq8-unknown-value\\"}}',
    ):
        assert "Zq8-unknown-value" not in redact(text), text


@pytest.mark.parametrize("key", sorted(SECRET_KEYS))
def test_a_capture_writes_every_secret_keys_value_as_stars(key):
    shown = Sanitiser("12345678", pseudonymise=False).json_value({key: "a-value", "other": "kept"})
    assert shown == {key: REDACTED, "other": "kept"}
