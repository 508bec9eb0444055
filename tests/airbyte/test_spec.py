"""spec.py: what `spec` says, the tap's settings as an Airbyte connection specification.

The same settings, names, order and defaults as the tap's; the secret ones (credentials.py)
marked `airbyte_secret`; the credentials grouped by auth method, the groups derived from the
auth table; every config of every method valid against it, as PyAirbyte checks before a run.
"""

from __future__ import annotations

import jsonschema
import pytest

from tap_lp_audittrail.airbyte.spec import connection_specification, form_groups
from tap_lp_audittrail.credentials import AUTH_TABLE, CREDENTIAL_SETTINGS, SECRET_SETTINGS
from tap_lp_audittrail.settings import CONFIG_SCHEMA
from tap_lp_audittrail.tap import TapLPAuditTrail

from ..helpers import tap_config
from .helpers import source


def test_spec_is_the_taps_settings_with_secrets_and_auth_groups(tmp_path):
    out = source(tmp_path, "spec")
    assert out.exit_code == 0
    assert out.stderr == ""
    (message,) = out.messages
    spec = message.spec.connectionSpecification
    settings = TapLPAuditTrail.config_jsonschema["properties"]
    assert list(spec["properties"]) == list(settings)  # the same names, in the same order
    assert spec["required"] == ["account_id"]
    secrets = {name for name, prop in spec["properties"].items() if prop.get("airbyte_secret")}
    assert secrets == set(SECRET_SETTINGS)
    groups = {g["id"]: g["title"] for g in spec["groups"]}
    for method in ("oauth1", "login", "client_credentials", "bearer"):
        assert method in groups
    assert {p["group"] for p in spec["properties"].values()} <= set(groups)
    assert spec["properties"]["app_secret"]["group"] == "oauth1"
    assert spec["properties"]["password"]["group"] == "login"
    assert spec["properties"]["bearer_token"]["group"] == "bearer"
    for group in groups:  # orders are unique within a group, as the form requires
        orders = [p["order"] for p in spec["properties"].values() if p["group"] == group]
        assert len(orders) == len(set(orders))
    for name, prop in spec["properties"].items():
        assert isinstance(prop["type"], str), f"{name}: one type for the form"
        assert prop.get("default") == settings[name].get("default")
    assert message.spec.supportsIncremental is True


@pytest.mark.parametrize("auth", ["oauth1", "login", "login_api_key", "client_credentials"])
def test_the_spec_accepts_every_auth_methods_config(sandbox, tmp_path, auth):
    """PyAirbyte validates a config against the spec before it runs the source."""
    (message,) = source(tmp_path, "spec").messages
    jsonschema.Draft7Validator(message.spec.connectionSpecification).validate(
        tap_config(sandbox, auth=auth)
    )


def test_each_auth_method_has_a_group_of_the_credentials_no_earlier_group_holds():
    groups = {gid: (title, names) for gid, title, names in form_groups()}
    placed: set[str] = set(groups["account"][1])
    for method in AUTH_TABLE:
        title, names = groups[method.name]
        assert title.startswith(method.label)
        assert f"auth_method {method.name}" in title
        assert set(names) == set(method.settings) - placed
        placed |= set(names)
    assert set(CREDENTIAL_SETTINGS) <= placed
    # The API key's settings serve login too: its group's title says so.
    assert groups["oauth1"][0].endswith("auth_method oauth1 or login")
    assert groups["login"][1] == ("username", "password")


def test_every_setting_is_in_one_group_and_the_replays_are_hidden():
    spec = connection_specification()
    named = [name for _, _, names in form_groups() for name in names]
    assert len(named) == len(set(named))
    assert set(named) <= set(CONFIG_SCHEMA["properties"])
    for name, prop in spec["properties"].items():
        assert prop["group"] == next(
            (gid for gid, _, names in form_groups() if name in names), form_groups()[-1][0]
        )
        assert prop.get("airbyte_hidden", False) is name.startswith("replay_")
        assert prop.get("airbyte_secret", False) is (name in SECRET_SETTINGS)
