"""The app in process: built on a SandboxState alone and called through werkzeug's WSGI client,
no server, no port. What the state holds is what the app serves; what the app changes, it
changes there."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

import tap_lp_audittrail.sandbox as package
from tap_lp_audittrail.sandbox.app import AuditApp, ResetConnectionError
from tap_lp_audittrail.sandbox.data import SandboxRecord
from tap_lp_audittrail.sandbox.readings import FaultRule, Readings
from tap_lp_audittrail.sandbox.state import SandboxState
from tests.sandbox.helpers import gql

UTC = timezone.utc
AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
ACCOUNT = "87654321"
AUDIT = f"/api/account/{ACCOUNT}/configuration/metadata/audit"
WHOLE_MARCH = 'fromDate: "2026-03-01", toDate: "2026-03-31", timezone: "UTC"'
QUERY = gql(WHOLE_MARCH + ', orderDirection: "ASC"', "objectName changeDate")


def change(name: str, at: datetime = AT, **fields: Any) -> SandboxRecord:
    return SandboxRecord(
        instant=at, object_type="skills", object_name=name, action_type="Edit",
        element="Name", old_value="a", new_value="b", originator="Ann",
        originator_login_name="ann", originator_user_id="7", originator_user_agent="UA",
        originator_auth_type="LE", **fields,
    )  # fmt: skip


def app_of(*records: SandboxRecord, **state: Any) -> tuple[SandboxState, Client]:
    built = SandboxState(account_id=ACCOUNT, **state)
    built.store.append(records)
    return built, Client(AuditApp(built))


def audit(client: Client, state: SandboxState, query: str = QUERY) -> Any:
    bearer = f"Bearer {state.tokens.issue()}"
    return client.post(AUDIT, json={"query": query}, headers={"Authorization": bearer})


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["objectName"] for row in response.json["data"]["auditData"]]


def test_the_audit_endpoint_serves_the_records_its_state_holds():
    state, client = app_of(change("one"), change("two", AT + timedelta(seconds=1)))
    response = audit(client, state)
    assert response.json["data"]["auditData"] == [
        {"objectName": "one", "changeDate": "2026-03-04 05:06:07.0"},
        {"objectName": "two", "changeDate": "2026-03-04 05:06:08.0"},
    ]
    assert response.headers["X-Total-Count"] == "2"
    assert state.stats.served == 2
    assert state.stats.requests["audit"] == 1


def test_records_appended_to_the_store_are_served_on_the_next_request():
    state, client = app_of(change("one"))
    assert names(audit(client, state)) == ["one"]
    state.store.append([change("two", AT - timedelta(hours=1))])
    assert names(audit(client, state)) == ["two", "one"]


def test_the_domain_api_answers_the_base_uri_of_its_state():
    _, client = app_of(base_uri="sandbox.test:4430")
    answer = client.get(f"/api/account/{ACCOUNT}/service/agentVep/baseURI.json?version=1.0")
    assert answer.json == {"service": "agentVep", "account": ACCOUNT,
                           "baseURI": "sandbox.test:4430"}  # fmt: skip
    assert client.get("/api/account/1/service/agentVep/baseURI.json").status_code == 400


def test_the_readings_of_the_state_are_read_on_every_request():
    state, client = app_of(change("one"), readings=Readings(object_types={"skills": "Skill"}))
    query = gql('fromDate: "2026-03-01", timezone: "UTC"', "objectType")
    assert audit(client, state, query).json["data"]["auditData"] == [{"objectType": "Skill"}]
    state.readings.object_types = {"skills": "Skills"}
    assert audit(client, state, query).json["data"]["auditData"] == [{"objectType": "Skills"}]


def test_the_clock_of_the_state_decides_when_a_late_change_is_served():
    state, client = app_of(
        change("shown", AT), change("late", AT, visible_after=timedelta(hours=2))
    )
    state.clock.set(AT + timedelta(hours=1))
    assert names(audit(client, state)) == ["shown"]
    state.clock.set(AT + timedelta(hours=2))
    assert names(audit(client, state)) == ["shown", "late"]


def test_a_fault_rule_of_the_state_replaces_the_answer_it_hits_and_is_counted():
    state, client = app_of(change("one"), faults=[FaultRule("503", at={2}, retry_after=2)])
    assert audit(client, state).status_code == 200
    refused = audit(client, state)
    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "2")
    assert audit(client, state).status_code == 200
    assert state.stats.faults == {"503": 1}
    assert [entry.status for entry in state.stats.log] == [200, 503, 200]


def test_a_rule_limit_counts_injections_until_the_rules_are_set_again():
    rule = FaultRule("500", rate=1.0, limit=1)
    state, client = app_of(change("one"), faults=[rule])
    assert [audit(client, state).status_code for _ in range(2)] == [500, 200]
    state.set_faults([rule])
    assert [audit(client, state).status_code for _ in range(2)] == [500, 200]


def test_a_reset_fault_raises_for_the_server_to_drop_the_connection_and_is_logged_as_0():
    state, client = app_of(change("one"), faults=[FaultRule("reset", at={1})])
    with pytest.raises(ResetConnectionError):
        audit(client, state)
    assert [(entry.status, entry.fault) for entry in state.stats.log] == [(0, "reset")]


def test_an_expire_bearer_fault_expires_every_token_of_the_state():
    state, client = app_of(change("one"), faults=[FaultRule("expire_bearer", at={1})])
    held = state.tokens.issue()
    assert audit(client, state).status_code == 401
    assert state.tokens.check(held) == "expired"


def test_without_the_read_permission_the_audit_endpoint_answers_403():
    state, client = app_of(change("one"))
    state.permission_granted = False
    assert audit(client, state).status_code == 403


def test_a_login_session_is_kept_in_the_state_tokens_until_logout():
    state, client = app_of()
    creds = state.credentials
    login = client.post(f"/api/account/{ACCOUNT}/login?v=1.3",
                        json={"username": creds.username, "password": creds.password})  # fmt: skip
    bearer = login.json["bearer"]
    assert state.tokens.check(bearer) is None
    assert client.post(f"/api/account/{ACCOUNT}/logout", json={}).status_code == 200
    assert state.tokens.check(bearer) == "unknown"


def test_the_hook_of_the_state_runs_before_each_audit_request_with_its_number():
    seen: list[tuple[int, int]] = []
    state, client = app_of(change("one"))
    state.on_audit_request = lambda n: seen.append((n, state.stats.served))
    audit(client, state)
    audit(client, state)
    assert seen == [(1, 0), (2, 1)]


# --------------------------------------------------------------------------- the layering


def imported(module: Path) -> set[str]:
    """The sandbox modules a module imports, TYPE_CHECKING imports included."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name.rsplit(".", 1)[-1] for name in found if name.startswith(package.__name__ + ".")}


def test_the_app_and_its_state_never_import_the_server():
    folder = Path(package.__file__).parent
    assert imported(folder / "app.py").isdisjoint({"server", "cli", "growth"})
    assert imported(folder / "state.py") <= {"auth", "data", "readings"}
    assert "app" in imported(folder / "server.py")


def test_every_public_name_of_the_sandbox_resolves_to_what_it_names():
    for name in package.__all__:
        assert getattr(getattr(package, name), "__name__", name) == name
