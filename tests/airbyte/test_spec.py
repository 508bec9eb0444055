"""spec.py: what `spec` says, the tap's settings as the form Airbyte shows.

Human titles (meltano.yml's labels), the project's documentation link, authentication as one
`credentials` object with a `oneOf` branch per auth method derived from the auth table, its
secrets `airbyte_secret`; tuning in an "Advanced" group; the flat credential settings and what a
container cannot use hidden but accepted. Every config of every method, flat or in
`credentials`, is valid against it, as PyAirbyte checks before a run; and `flat_config` turns
one into the other, refusing a setting given both ways differently.
"""

from __future__ import annotations

import jsonschema
import pytest
import yaml
from singer_sdk.exceptions import ConfigValidationError

from tap_lp_audittrail.airbyte.spec import (
    CONTAINER_HIDDEN,
    DOCUMENTATION_URL,
    GROUPS,
    connection_specification,
    flat_config,
)
from tap_lp_audittrail.credentials import AUTH_TABLE, CREDENTIAL_SETTINGS, SECRET_SETTINGS
from tap_lp_audittrail.settings import CONFIG_SCHEMA, OWN_SETTINGS

from ..helpers import tap_config
from ..markdown import ROOT
from .helpers import source

METHODS = {method.name: method for method in AUTH_TABLE}


def _spec(tmp_path):
    out = source(tmp_path, "spec")
    assert out.exit_code == 0
    assert out.stderr == ""
    (message,) = out.messages
    return message.spec


def _as_credentials(config: dict, method: str) -> dict:
    """`config` as the form writes it: its credentials in `credentials`, with `auth_method`."""
    moved = {k: config.pop(k) for k in list(config) if k in CREDENTIAL_SETTINGS}
    config.pop("auth_method", None)
    return {**config, "credentials": {"auth_method": method, **moved}}


def test_every_property_has_a_human_title_and_the_form_links_the_projects_docs(tmp_path):
    spec = _spec(tmp_path)
    assert str(spec.documentationUrl) == DOCUMENTATION_URL
    metadata = yaml.safe_load((ROOT / "metadata.yaml").read_text())
    assert metadata["data"]["documentationUrl"] == DOCUMENTATION_URL
    properties = spec.connectionSpecification["properties"]
    for name, prop in properties.items():
        assert prop["title"], name
        assert prop["title"] != name, f"{name}: its title is its key"
    for branch in properties["credentials"]["oneOf"]:
        for name, prop in branch["properties"].items():
            assert prop["title"], name
            assert prop["title"] != name, f"credentials.{name}: its title is its key"


def test_the_titles_are_the_labels_meltano_shows():
    data = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (tap,) = [p for p in data["plugins"]["extractors"] if p["name"] == "tap-lp-audittrail"]
    labels = {s["name"]: s["label"] for s in tap["settings"]}
    for name in OWN_SETTINGS:
        assert CONFIG_SCHEMA["properties"][name]["title"] == labels[name], name


def test_authentication_is_one_credentials_object_a_branch_per_auth_method(tmp_path):
    spec = _spec(tmp_path).connectionSpecification
    credentials = spec["properties"]["credentials"]
    assert credentials["type"] == "object"
    assert credentials["group"] == "account"
    branches = credentials["oneOf"]
    assert [b["title"] for b in branches] == [m.label for m in AUTH_TABLE]
    for method, branch in zip(AUTH_TABLE, branches, strict=True):
        discriminator = branch["properties"]["auth_method"]
        assert discriminator["const"] == method.name
        assert discriminator["order"] == 0
        assert "auth_method" in branch["required"]
        assert list(branch["properties"]) == ["auth_method", *method.settings]
        for name in method.settings:
            prop = branch["properties"][name]
            assert prop.get("airbyte_secret", False) is (name in SECRET_SETTINGS), name
            assert prop["type"] == "string"
        # Required: what every credential set of the method takes.
        assert set(branch["required"]) - {"auth_method"} == set.intersection(
            *(set(needs) for needs in method.credentials)
        )
    assert METHODS["login"].credentials[0] == ("username", "password")
    assert branches[1]["required"] == ["auth_method", "username"]


def test_tuning_is_advanced_and_what_a_container_cannot_use_is_hidden(tmp_path):
    spec = _spec(tmp_path).connectionSpecification
    properties = spec["properties"]
    assert [g["id"] for g in spec["groups"]] == ["account", "read", "advanced"]
    assert spec["groups"][-1]["title"] == "Advanced"
    shown = [name for name, prop in properties.items() if not prop.get("airbyte_hidden")]
    assert shown[:2] == ["account_id", "credentials"]
    assert spec["required"] == ["account_id"]
    hidden = {name for name, prop in properties.items() if prop.get("airbyte_hidden")}
    assert hidden == {"auth_method", *CREDENTIAL_SETTINGS, *CONTAINER_HIDDEN}
    assert "capture_dir" in hidden
    for name in ("page_size", "max_concurrency", "request_timeout", "window_days", "domain"):
        assert properties[name]["group"] == "advanced", name
    for name in ("start_date", "end_date"):
        assert properties[name]["group"] == "read", name
    # The hidden flat secrets stay masked, for the connections that still hold them.
    for name in SECRET_SETTINGS:
        assert properties[name]["airbyte_secret"] is True
    for gid, _, _ in GROUPS:  # orders are unique within a group, as the form requires
        orders = [p["order"] for p in properties.values() if p["group"] == gid]
        assert len(orders) == len(set(orders)) == len(orders)
    for name, prop in properties.items():
        if name != "credentials":
            assert isinstance(prop["type"], str), f"{name}: one type for the form"
            assert prop.get("default") == CONFIG_SCHEMA["properties"][name].get("default")


@pytest.mark.parametrize("auth", ["oauth1", "login", "login_api_key", "client_credentials"])
@pytest.mark.parametrize("form", ["flat", "credentials"])
def test_the_spec_accepts_every_auth_methods_config_in_either_form(sandbox, tmp_path, auth, form):
    """PyAirbyte validates a config against the spec before it runs the source."""
    config = tap_config(sandbox, auth=auth)
    if form == "credentials":
        config = _as_credentials(config, "login" if auth == "login_api_key" else auth)
    jsonschema.Draft7Validator(_spec(tmp_path).connectionSpecification).validate(config)


def test_a_credentials_branch_without_its_required_settings_is_refused_by_the_spec():
    spec = connection_specification()
    config = {"account_id": "1", "credentials": {"auth_method": "oauth1", "app_key": "k"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(spec).validate(config)


@pytest.mark.parametrize("auth", ["oauth1", "login", "login_api_key", "client_credentials"])
def test_a_config_in_credentials_is_the_flat_config(sandbox, auth):
    flat = tap_config(sandbox, auth=auth)
    method = "login" if auth == "login_api_key" else auth
    given = _as_credentials(dict(flat), method)
    assert flat_config(given) == {**flat, "auth_method": method}
    assert flat_config(flat) == flat  # a connection made before `credentials`: as it is


def test_credentials_and_flat_settings_that_agree_are_one_config():
    config = {
        "account_id": "1",
        "bearer_token": "t0ken",
        "credentials": {"auth_method": "bearer", "bearer_token": "t0ken"},
    }
    flat = {"account_id": "1", "bearer_token": "t0ken", "auth_method": "bearer"}
    assert flat_config(config) == flat


@pytest.mark.parametrize(
    ("config", "line"),
    [
        ({"bearer_token": "flat-t0ken", "credentials": {"auth_method": "bearer",
          "bearer_token": "form-t0ken"}},
         "c.json: credentials.bearer_token differs from the flat setting `bearer_token` of the "
         "same config: give it once, in credentials"),
        ({"auth_method": "oauth1", "credentials": {"auth_method": "bearer", "bearer_token": "t"}},
         "c.json: credentials.auth_method differs from the flat setting `auth_method` of the "
         "same config: give it once, in credentials"),
        ({"credentials": {"auth_method": "bearer", "password": "pw-s3cret"}},
         "c.json: credentials.password is not a setting of auth_method bearer; its settings: "
         "bearer_token"),
        ({"credentials": {"auth_method": "saml", "bearer_token": "t"}},
         "c.json: credentials.auth_method: 'saml'; use oauth1, login, client_credentials, bearer"),
        ({"credentials": {"bearer_tokn": "t"}},
         "c.json: credentials.bearer_tokn is not a setting of any auth_method; its settings: "
         + ", ".join(CREDENTIAL_SETTINGS)),
        ({"credentials": "bearer"}, "c.json: credentials: expected an object, got str"),
    ],
)  # fmt: skip
def test_a_credentials_object_that_cannot_be_flattened_is_one_line_naming_the_field(config, line):
    with pytest.raises(ConfigValidationError) as refused:
        flat_config({"account_id": "1", **config}, "c.json")
    assert refused.value.errors == [line]
    for secret in ("s3cret", "flat-t0ken", "form-t0ken"):
        assert secret not in line
