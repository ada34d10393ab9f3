"""The emulated Statuspage REST API: auth, writes, component statuses, incident
updates, paging."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
import requests

from tests.harness.sandbox import Sandbox

PAGE = "page00000001"
KEY = {"Authorization": "OAuth sp-key"}
COMPONENTS = [{"id": "comp00000api", "name": "API"}, {"id": "comp00000web", "name": "Website"}]


def call(sandbox: Sandbox, method: str, path: str, headers: dict | None = None, **kwargs) -> requests.Response:
    return requests.request(method, sandbox.statuspage_url + path, headers=headers or KEY, timeout=10, **kwargs)


def test_auth_and_unknown_pages(sandbox: Sandbox) -> None:
    sandbox.add_page(PAGE, "sp-key", COMPONENTS)
    sandbox.add_page("page00000002", "other-key")

    unauthorized = call(sandbox, "GET", f"/pages/{PAGE}/components", {"Authorization": "OAuth wrong"})
    assert (unauthorized.status_code, unauthorized.json()) == (401, {"error": "Could not authenticate"})
    assert call(sandbox, "GET", f"/pages/{PAGE}/components", {"Authorization": "sp-key"}).status_code == 401
    assert call(sandbox, "GET", "/pages/nosuchpage00/incidents/unresolved").status_code == 404
    # Another page's key does not open this page.
    assert call(sandbox, "GET", f"/pages/{PAGE}/components", {"Authorization": "OAuth other-key"}).status_code == 404
    assert [c["name"] for c in call(sandbox, "GET", f"/pages/{PAGE}/components").json()] == ["API", "Website"]


def test_create_sets_components_impact_and_the_first_update(sandbox: Sandbox) -> None:
    sandbox.add_page(PAGE, "sp-key", COMPONENTS)
    body = {"incident": {
        "name": "API outage", "status": "identified", "body": "We found it.",
        "components": {"comp00000api": "major_outage"}, "component_ids": ["comp00000api", "comp00000web"],
        "metadata": {"pagerstatus": {"component_id": "comp00000api"}}, "deliver_notifications": False,
    }}
    created = call(sandbox, "POST", f"/pages/{PAGE}/incidents", json=body)

    assert created.status_code == 201
    incident = created.json()
    assert (incident["name"], incident["status"], incident["impact"]) == ("API outage", "identified", "critical")
    assert [c["id"] for c in incident["components"]] == ["comp00000api", "comp00000web"]
    assert incident["metadata"] == {"pagerstatus": {"component_id": "comp00000api"}}
    update = incident["incident_updates"][0]
    assert (update["body"], update["deliver_notifications"]) == ("We found it.", False)
    assert update["affected_components"] == [
        {"code": "comp00000api", "name": "API", "old_status": "operational", "new_status": "major_outage"}
    ]
    statuses = {c["id"]: c["status"] for c in call(sandbox, "GET", f"/pages/{PAGE}/components").json()}
    assert statuses == {"comp00000api": "major_outage", "comp00000web": "operational"}


def test_updates_resolve_and_leave_the_unresolved_list(sandbox: Sandbox) -> None:
    sandbox.add_page(PAGE, "sp-key", COMPONENTS)
    body = {"incident": {"name": "Slow website", "components": {"comp00000web": "degraded_performance"}}}
    incident_id = call(sandbox, "POST", f"/pages/{PAGE}/incidents", json=body).json()["id"]

    renamed = call(sandbox, "PATCH", f"/pages/{PAGE}/incidents/{incident_id}", json={"incident": {"name": "Slower"}})
    assert len(renamed.json()["incident_updates"]) == 1  # no body, no status change: no update
    resolution = {"status": "resolved", "body": "Fixed.", "components": {"comp00000web": "operational"}}
    resolved = call(sandbox, "PATCH", f"/pages/{PAGE}/incidents/{incident_id}", json={"incident": resolution}).json()
    assert resolved["resolved_at"] is not None
    assert [u["status"] for u in resolved["incident_updates"]] == ["resolved", "investigating"]  # newest first
    assert call(sandbox, "GET", f"/pages/{PAGE}/incidents/unresolved").json() == []


def test_invalid_writes_are_refused_and_change_nothing(sandbox: Sandbox) -> None:
    sandbox.add_page(PAGE, "sp-key", COMPONENTS)
    path = f"/pages/{PAGE}/incidents"
    refusals = [
        ("POST", path, {"json": {"incident": {"name": "x", "metadata": {"pagerstatus": "not-an-object"}}}}, 422),
        ("POST", path, {"json": {"incident": {"name": "x", "components": {"nosuchcompnt": "major_outage"}}}}, 422),
        ("POST", path, {"json": {"incident": {"name": "x", "components": {"comp00000api": "on_fire"}}}}, 422),
        ("POST", path, {"json": {"incident": {"name": "x", "status": "scheduled"}}}, 422),
        ("POST", path, {"json": {"incident": {"status": "investigating"}}}, 422),
        ("POST", path, {"json": {"name": "x"}}, 400),
        ("POST", path, {"data": "incident", "headers": {**KEY, "Content-Type": "text/plain"}}, 400),
        ("POST", path, {"data": {"incident[name]": "x"}}, 400),  # only JSON
        ("PATCH", f"{path}/nosuchincdnt", {"json": {"incident": {"name": "y"}}}, 404),
    ]
    for method, target, sent, status in refusals:
        response = call(sandbox, method, target, **sent)
        assert response.status_code == status, sent
        assert "error" in response.json()
    assert sandbox.state.statuspage.incidents == {}
    assert {c.status for c in sandbox.state.statuspage.components.values()} == {"operational"}


def test_unresolved_and_components_are_paged(sandbox: Sandbox) -> None:
    sandbox.add_page(PAGE, "sp-key", [{"name": f"C{n}"} for n in range(105)])
    for n in range(3):
        sandbox.add_sp_incident(PAGE, name=f"Incident {n}", created_at=f"2024-01-0{n + 1}T00:00:00Z")

    def names(path: str, params: dict) -> list[str]:
        return [item["name"] for item in call(sandbox, "GET", path, params=params).json()]

    unresolved = f"/pages/{PAGE}/incidents/unresolved"
    assert names(unresolved, {"per_page": 2, "page": 1}) == ["Incident 2", "Incident 1"]  # newest first
    assert names(unresolved, {"per_page": 2, "page": 2}) == ["Incident 0"]
    components = f"/pages/{PAGE}/components"
    assert len(names(components, {})) == 100
    assert names(components, {"page": 2}) == [f"C{n}" for n in range(100, 105)]
    assert call(sandbox, "GET", components, params={"page": 0}).status_code == 400


def test_control_incidents_can_be_unowned_old_or_watermarked(sandbox: Sandbox) -> None:
    sandbox.add_page(PAGE, "sp-key", COMPONENTS)
    sandbox.add_sp_incident(PAGE, name="Planned by hand", body="⛈ opened by the original tool",
                            components={"comp00000api": "partial_outage"}, created_at="2023-05-01T10:00:00+00:00")
    listed = call(sandbox, "GET", f"/pages/{PAGE}/incidents/unresolved").json()[0]
    assert listed["created_at"] == "2023-05-01T10:00:00.000Z"
    assert listed["incident_updates"][0]["body"] == "⛈ opened by the original tool"
    assert (listed["metadata"], listed["impact"]) == ({}, "major")


def test_concurrent_writes_are_all_kept(sandbox: Sandbox) -> None:
    sandbox.add_page(PAGE, "sp-key", COMPONENTS)

    def create(n: int) -> int:
        body = {"incident": {"name": f"Incident {n}", "components": {"comp00000api": "degraded_performance"}}}
        return call(sandbox, "POST", f"/pages/{PAGE}/incidents", json=body).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(create, range(24))) == {201}
    assert len(call(sandbox, "GET", f"/pages/{PAGE}/incidents/unresolved").json()) == 24


GROUPED = [{"id": "comp00000api", "name": "API"}, {"id": "grouppayment", "name": "Payments", "group": True},
           {"id": "comp00000crd", "name": "Cards", "group_id": "grouppayment"},
           {"id": "comp00000bnk", "name": "Bank", "group_id": "grouppayment", "status": "degraded_performance"}]


def test_groups_are_listed_with_their_members_and_the_worst_members_status(sandbox: Sandbox) -> None:
    sandbox.add_page(PAGE, "sp-key", GROUPED)
    listed = {c["id"]: c for c in call(sandbox, "GET", f"/pages/{PAGE}/components").json()}
    assert (listed["grouppayment"]["group"], listed["grouppayment"]["group_id"]) == (True, None)
    assert listed["grouppayment"]["status"] == "degraded_performance"
    assert [listed[c]["group_id"] for c in ("comp00000crd", "comp00000bnk")] == ["grouppayment"] * 2
    assert (listed["comp00000api"]["group"], listed["comp00000api"]["group_id"]) == (False, None)
    # An incident names components, never a group.
    for fields in ({"components": {"grouppayment": "major_outage"}}, {"component_ids": ["grouppayment"]}):
        refused = call(sandbox, "POST", f"/pages/{PAGE}/incidents", json={"incident": {"name": "x", **fields}})
        assert refused.status_code == 422 and "group" in refused.json()["error"]
    with pytest.raises(AssertionError, match="not a group of this page"):
        sandbox.add_page("page00000002", "k2", [{"name": "Orphan", "group_id": "grouppayment"}])


def test_monitoring_at_is_set_on_entering_monitoring_and_age_moves_every_time_back(sandbox: Sandbox) -> None:
    sandbox.add_page(PAGE, "sp-key", COMPONENTS)
    body = {"incident": {"name": "Slow", "body": "Looking.", "components": {"comp00000api": "partial_outage"},
                         "deliver_notifications": True}}
    created = call(sandbox, "POST", f"/pages/{PAGE}/incidents", json=body).json()
    assert created["monitoring_at"] is None
    patch = {"incident": {"status": "monitoring", "body": "Fixed, watching.", "deliver_notifications": False}}
    monitoring = call(sandbox, "PATCH", f"/pages/{PAGE}/incidents/{created['id']}", json=patch).json()
    assert monitoring["monitoring_at"] == monitoring["incident_updates"][0]["created_at"]
    assert [u["deliver_notifications"] for u in monitoring["incident_updates"]] == [False, True]

    aged = sandbox.age_sp_incident(PAGE, created["id"], 90)
    for field in ("created_at", "monitoring_at"):
        assert datetime.fromisoformat(monitoring[field]) - datetime.fromisoformat(aged[field]) == timedelta(seconds=90)
    assert [datetime.fromisoformat(u["created_at"]) for u in aged["incident_updates"]] == \
        [datetime.fromisoformat(u["created_at"]) - timedelta(seconds=90) for u in monitoring["incident_updates"]]


def test_the_request_log_keeps_what_each_write_sent(sandbox: Sandbox) -> None:
    sandbox.add_page(PAGE, "sp-key", COMPONENTS)
    sent = {"incident": {"name": "Quiet", "deliver_notifications": False}}
    call(sandbox, "POST", f"/pages/{PAGE}/incidents", json=sent)
    call(sandbox, "GET", f"/pages/{PAGE}/components")
    assert [(r["method"], r["body"]) for r in sandbox.requests(api="statuspage")] == [("POST", sent), ("GET", None)]
