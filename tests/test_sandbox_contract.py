"""The sandbox against the official specs: the requests pagerstatus sends and the
sandbox's answers both validate, so a green end-to-end run says something about the
real APIs. Also: the validation is not vacuous, and webhooks match PagerDuty's
published examples and signature vector."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from sandbox import webhooks
from tests.harness.reference import (
    load_json,
    pagerduty_spec,
    statuspage_spec,
    validate_exchange,
    validate_request,
    validate_response,
)
from tests.harness.sandbox import Sandbox, running_sandbox

PD_HEADERS = {"Authorization": "Token token=demo-pd-key", "Accept": "application/vnd.pagerduty+json;version=2"}
SP_HEADERS = {"Authorization": "OAuth demo-sp-key"}
PAGE = "demopage0001"
API_COMPONENT = "demoapi00001"
GROUP = "demoplat0001"


@pytest.fixture(scope="module")
def demo() -> Iterator[Sandbox]:
    """One demo sandbox for the module, with an acknowledged P1 incident (string
    tags) and a triggered one without priority (list tags)."""
    with running_sandbox(demo=True) as sandbox:
        sandbox.trigger(monitor="datadog-api", status="acknowledged", priority="P1")
        sandbox.trigger(monitor="pingdom-website")
        yield sandbox


def pd_get(demo: Sandbox, path: str, params: dict | None = None, headers: dict | None = None) -> requests.Response:
    response = requests.get(demo.pagerduty_url + path, params=params, headers=headers or PD_HEADERS, timeout=10)
    validate_exchange(pagerduty_spec(), response)
    return response


def sp_call(demo: Sandbox, method: str, path: str, body: dict | None = None,
            headers: dict | None = None) -> requests.Response:
    response = requests.request(method, demo.statuspage_url + path, json=body, headers=headers or SP_HEADERS,
                                timeout=10)
    validate_exchange(statuspage_spec(), response)
    return response


# --- PagerDuty ---


def test_open_incidents_with_first_triggers_validate_and_carry_both_tag_forms(demo: Sandbox) -> None:
    params = {"statuses[]": ["triggered", "acknowledged"], "include[]": ["first_trigger_log_entries"], "limit": 100,
              "offset": 0, "date_range": "all"}
    body = pd_get(demo, "/incidents", params).json()
    tags = [i["first_trigger_log_entry"]["channel"]["details"]["tags"] for i in body["incidents"]]
    assert tags == [f"component:{API_COMPONENT},env:demo,team:core", ["component_demoweb00001", "pingdom"]]
    assert [i["priority"] and i["priority"]["summary"] for i in body["incidents"]] == ["P1", None]
    assert (body["limit"], body["offset"], body["more"], body["total"]) == (100, 0, False, None)


def test_the_total_is_counted_only_when_asked_for_and_counts_every_page(demo: Sandbox) -> None:
    params = {"statuses[]": ["triggered", "acknowledged"], "date_range": "all", "limit": 1, "offset": 0}
    counted = pd_get(demo, "/incidents", {**params, "total": "true"}).json()
    assert (len(counted["incidents"]), counted["more"], counted["total"]) == (1, True, 2)
    assert pd_get(demo, "/incidents", {**params, "offset": 1}).json()["total"] is None


def test_incident_without_its_trigger_and_its_alerts_validate(demo: Sandbox) -> None:
    incident = pd_get(demo, "/incidents", {"statuses[]": "triggered"}).json()["incidents"][0]
    assert incident["first_trigger_log_entry"]["type"] == "trigger_log_entry_reference"
    alerts = pd_get(demo, f"/incidents/{incident['id']}/alerts").json()["alerts"]
    assert alerts[0]["body"]["details"]["tags"] == ["component_demoweb00001", "pingdom"]
    assert alerts[0]["body"]["cef_details"]["details"]["tags"] == ["component_demoweb00001", "pingdom"]


def test_pagerduty_errors_validate(demo: Sandbox) -> None:
    over_cap = pd_get(demo, "/incidents", {"offset": 9_950, "limit": 100})
    assert over_cap.status_code == 400
    assert over_cap.json()["error"]["code"] == 2001
    unauthorized = pd_get(demo, "/incidents", headers={**PD_HEADERS, "Authorization": "Token token=wrong"})
    assert unauthorized.status_code == 401


# --- Statuspage ---


def test_incident_lifecycle_requests_and_responses_validate(demo: Sandbox) -> None:
    created = sp_call(demo, "POST", f"/pages/{PAGE}/incidents", {"incident": {
        "name": "API: elevated errors", "status": "investigating", "body": "We are investigating.",
        "components": {API_COMPONENT: "major_outage"}, "component_ids": [API_COMPONENT],
        "metadata": {"pagerstatus": {"component_id": API_COMPONENT}}, "deliver_notifications": True,
    }})
    assert created.status_code == 201
    incident_id = created.json()["id"]

    unresolved = sp_call(demo, "GET", f"/pages/{PAGE}/incidents/unresolved?page=1&per_page=100").json()
    assert incident_id in [i["id"] for i in unresolved]
    patched = sp_call(demo, "PATCH", f"/pages/{PAGE}/incidents/{incident_id}", {"incident": {"status": "identified"}})
    assert patched.json()["status"] == "identified"
    monitoring = sp_call(demo, "PATCH", f"/pages/{PAGE}/incidents/{incident_id}", {"incident": {
        "status": "monitoring", "body": "Watching.", "components": {API_COMPONENT: "operational"},
        "deliver_notifications": False}}).json()
    assert monitoring["monitoring_at"] is not None
    resolution = {"status": "resolved", "body": "Resolved.", "components": {API_COMPONENT: "operational"},
                  "deliver_notifications": True}
    resolved = sp_call(demo, "PATCH", f"/pages/{PAGE}/incidents/{incident_id}", {"incident": resolution})
    assert resolved.json()["resolved_at"] is not None
    components = sp_call(demo, "GET", f"/pages/{PAGE}/components?page=1&per_page=100").json()
    assert {c["id"]: c["status"] for c in components}[API_COMPONENT] == "operational"
    # The demo's group, and its members naming it, validate too.
    groups = [c["id"] for c in components if c["group"]]
    assert groups == [GROUP] and {c["name"] for c in components if c["group_id"] == GROUP} == {"Database", "Payments"}


def test_statuspage_errors_validate(demo: Sandbox) -> None:
    unauthorized = sp_call(demo, "GET", f"/pages/{PAGE}/incidents/unresolved", headers={"Authorization": "OAuth wrong"})
    assert unauthorized.status_code == 401
    assert "error" in unauthorized.json()
    assert sp_call(demo, "GET", "/pages/nosuchpage00/incidents/unresolved").status_code == 404
    blank = sp_call(demo, "POST", f"/pages/{PAGE}/incidents", {"incident": {"name": ""}})
    assert blank.status_code == 422


# --- the validation itself ---


def test_validation_rejects_what_the_specs_forbid(demo: Sandbox) -> None:
    url = f"{demo.statuspage_url}/pages/{PAGE}/incidents"
    with pytest.raises(AssertionError, match="violates the spec"):
        validate_request(statuspage_spec(), "POST", url, {"incident": {"name": "x", "status": "on_fire"}}, SP_HEADERS)
    with pytest.raises(AssertionError, match="violates the spec"):
        validate_request(pagerduty_spec(), "GET", demo.pagerduty_url + "/incidents?statuses[]=open", headers=PD_HEADERS)

    demo.add_sp_incident(PAGE, name="Someone else's incident")
    good = requests.get(url + "/unresolved", headers=SP_HEADERS, timeout=10).json()
    validate_response(statuspage_spec(), "GET", url + "/unresolved", 200, good)
    broken = [dict(good[0], status="on_fire")]
    with pytest.raises(AssertionError, match="violates the spec"):
        validate_response(statuspage_spec(), "GET", url + "/unresolved", 200, broken)
    # A null is tolerated only where the real API returns one.
    incidents_url = demo.pagerduty_url + "/incidents"
    listed = requests.get(incidents_url, headers=PD_HEADERS, timeout=10).json()
    with pytest.raises(AssertionError, match="title"):
        validate_response(pagerduty_spec(), "GET", incidents_url, 200,
                          {**listed, "incidents": [dict(listed["incidents"][0], title=None)]})


# --- webhooks against PagerDuty's published material ---


def test_signature_matches_pagerdutys_test_vector() -> None:
    vector = load_json("pagerduty-webhooks/v3-signature-vector.json")
    assert webhooks.sign(vector["secret"], vector["body"].encode()) == vector["valid_signature"]
    assert webhooks.sign(vector["secret"], vector["body"].encode()) != vector["invalid_signature"]


def _payloads(version: int) -> dict:
    """The bodies the sandbox would deliver for a trigger and a priority change of a
    demo incident (delivery itself is tested in test_sandbox_webhooks.py)."""
    captured: dict = {}
    with running_sandbox(demo=True) as sandbox:
        sandbox.add_account("demo", "demo-pd-key", webhook_version=version, webhook_url="http://127.0.0.1:9/unused")
        incident_id = sandbox.trigger(monitor="datadog-api", deliver=False)["incident"]["id"]
        with sandbox.state.lock:
            pagerduty = sandbox.state.pagerduty
            incident = pagerduty.incident(incident_id)
            trigger_entry = pagerduty.log_entries[incident.log_entry_ids[0]]
            for action in ("trigger", "priority"):
                prepared = webhooks.prepare(pagerduty, sandbox.pagerduty_url, incident, action, trigger_entry)
                captured[action] = json.loads(prepared.body) if prepared else None
    return captured


def test_v3_payload_has_the_fields_of_pagerdutys_example() -> None:
    example = load_json("pagerduty-webhooks/v3-incident-priority_updated.json")["event"]
    ours = _payloads(3)["priority"]["event"]
    assert ours["event_type"] == "incident.priority_updated"
    assert set(example) <= set(ours)
    # reopened_at appears only on reopened incidents.
    assert set(example["data"]) - {"reopened_at"} <= set(ours["data"])


def test_v2_payload_has_the_fields_of_pagerdutys_example() -> None:
    example = load_json("pagerduty-webhooks/v2-incident-trigger.json")["messages"][0]
    payloads = _payloads(2)
    ours = payloads["trigger"]["messages"][0]
    assert ours["event"] == "incident.trigger"
    assert set(example) == set(ours)
    assert set(example["incident"]) <= set(ours["incident"])
    assert set(example["log_entries"][0]) <= set(ours["log_entries"][0])
    assert set(example["webhook"]) <= set(ours["webhook"])
    assert ours["log_entries"][0]["channel"]["details"]["tags"] == f"component:{API_COMPONENT},env:demo,team:core"
    assert payloads["priority"] is None  # V2 had no priority event
