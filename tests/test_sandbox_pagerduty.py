"""The emulated PagerDuty REST API: auth per account, filters, paging and its
limits, tags in triggers and alerts, status changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.harness.sandbox import Sandbox

KEY = {"Authorization": "Token token=acme-pd-key"}


@pytest.fixture
def sandbox(sandbox: Sandbox) -> Sandbox:
    """The sandbox with account acme, its key acme-pd-key."""
    sandbox.add_account()
    return sandbox


def get(sandbox: Sandbox, path: str, params: dict | None = None, headers: dict | None = None) -> requests.Response:
    return requests.get(sandbox.pagerduty_url + path, params=params, headers=headers or KEY, timeout=10)


def test_api_keys_are_checked_per_account(sandbox: Sandbox) -> None:
    sandbox.add_account("other", "other-pd-key")
    incident = sandbox.trigger("acme", title="Disk full")["incident"]

    assert get(sandbox, "/incidents", headers={"Authorization": "Token token=nope"}).status_code == 401
    assert get(sandbox, "/incidents", headers={"Authorization": "acme-pd-key"}).status_code == 401
    other = {"Authorization": "Token token=other-pd-key"}
    assert get(sandbox, "/incidents", headers=other).json()["incidents"] == []
    assert get(sandbox, f"/incidents/{incident['id']}/alerts", headers=other).status_code == 404
    assert [i["title"] for i in get(sandbox, "/incidents").json()["incidents"]] == ["Disk full"]


def test_statuses_filter_takes_repeated_bracketed_parameter(sandbox: Sandbox) -> None:
    triggered = sandbox.trigger("acme")["incident"]["id"]
    acknowledged = sandbox.trigger("acme", status="acknowledged")["incident"]["id"]
    sandbox.trigger("acme", status="resolved")

    def ids(params: dict) -> list[str]:
        return [i["id"] for i in get(sandbox, "/incidents", params).json()["incidents"]]

    assert ids({"statuses[]": ["triggered", "acknowledged"]}) == [triggered, acknowledged]
    assert ids({"statuses[]": "acknowledged"}) == [acknowledged]
    assert len(ids({})) == 3
    # Unbracketed `statuses` is not PagerDuty's parameter: it filters nothing.
    assert len(ids({"statuses": "triggered"})) == 3
    assert get(sandbox, "/incidents", {"statuses[]": "open"}).status_code == 400


def test_paging_over_more_than_a_hundred_incidents(sandbox: Sandbox) -> None:
    created = sandbox.trigger("acme", count=130, deliver=False)["incidents"]
    assert len(created) == 130

    first = get(sandbox, "/incidents", {"limit": 500, "offset": 0}).json()
    assert (len(first["incidents"]), first["limit"], first["more"], first["total"]) == (100, 100, True, None)
    second = get(sandbox, "/incidents", {"limit": 100, "offset": 100, "total": "true"}).json()
    assert (len(second["incidents"]), second["more"], second["total"]) == (30, False, 130)
    numbers = [i["incident_number"] for i in first["incidents"] + second["incidents"]]
    assert numbers == list(range(1, 131))
    assert len(get(sandbox, "/incidents").json()["incidents"]) == 25  # PagerDuty's default limit


def test_offset_plus_limit_may_not_exceed_ten_thousand(sandbox: Sandbox) -> None:
    assert get(sandbox, "/incidents", {"offset": 9_900, "limit": 100}).status_code == 200
    refused = get(sandbox, "/incidents", {"offset": 9_901, "limit": 100})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "Invalid Input Provided"
    assert get(sandbox, "/incidents", {"limit": "many"}).status_code == 400


def test_incidents_older_than_a_month_need_date_range_all(sandbox: Sandbox) -> None:
    old = datetime.now(UTC) - timedelta(days=40)
    old_id = sandbox.trigger("acme", title="Old", created_at=old.isoformat())["incident"]["id"]
    new_id = sandbox.trigger("acme", title="New")["incident"]["id"]

    default = [i["id"] for i in get(sandbox, "/incidents").json()["incidents"]]
    everything = [i["id"] for i in get(sandbox, "/incidents", {"date_range": "all"}).json()["incidents"]]
    assert default == [new_id]
    assert everything == [old_id, new_id]


def test_tags_in_trigger_alerts_or_both(sandbox: Sandbox) -> None:
    in_alerts = sandbox.trigger("acme", tags=["component_abc"], tags_in="alerts")["incident"]
    in_trigger = sandbox.trigger("acme", tags="component:abc,env:prod", tags_in="trigger")["incident"]

    assert "tags" not in in_alerts["first_trigger_log_entry"]["channel"]["details"]
    alert = get(sandbox, f"/incidents/{in_alerts['id']}/alerts").json()["alerts"][0]
    assert alert["body"]["details"]["tags"] == ["component_abc"]
    assert in_trigger["first_trigger_log_entry"]["channel"]["details"]["tags"] == "component:abc,env:prod"
    alert = get(sandbox, f"/incidents/{in_trigger['id']}/alerts").json()["alerts"][0]
    assert "tags" not in alert["body"]["details"]


def test_first_trigger_is_a_reference_unless_included(sandbox: Sandbox) -> None:
    sandbox.trigger("acme", tags="component:abc")

    plain = get(sandbox, "/incidents").json()["incidents"][0]["first_trigger_log_entry"]
    assert plain["type"] == "trigger_log_entry_reference" and "channel" not in plain
    params = {"include[]": "first_trigger_log_entries"}
    full = get(sandbox, "/incidents", params).json()["incidents"][0]["first_trigger_log_entry"]
    assert full["channel"] == {"type": "api", "summary": "Sandbox incident", "description": "Sandbox incident",
                               "incident_key": full["channel"]["incident_key"],
                               "details": {"title": "Sandbox incident", "tags": "component:abc"}}


def test_status_changes_follow_pagerdutys_rules(sandbox: Sandbox) -> None:
    incident_id = sandbox.trigger("acme", priority="P2", urgency="low")["incident"]["id"]

    acknowledged = sandbox.acknowledge(incident_id)["incident"]
    assert acknowledged["status"] == "acknowledged"
    assert acknowledged["acknowledgements"][0]["acknowledger"]["summary"] == "Sandbox Operator"
    assert sandbox.act(incident_id, "unacknowledge")["incident"]["status"] == "triggered"
    resolved = sandbox.resolve(incident_id)["incident"]
    assert (resolved["status"], resolved["assignments"]) == ("resolved", [])
    assert resolved["resolved_at"] is not None
    refused = requests.post(f"{sandbox.url}/_sandbox/pagerduty/incidents/{incident_id}/resolve", timeout=10)
    assert refused.status_code == 409
    reopened = sandbox.act(incident_id, "reopen")["incident"]
    assert (reopened["status"], reopened["resolved_at"]) == ("triggered", None)
    assert sandbox.set_priority(incident_id, None)["incident"]["priority"] is None

    listed = get(sandbox, "/incidents").json()["incidents"][0]
    assert (listed["status"], listed["urgency"], listed["priority"]) == ("triggered", "low", None)
    alert = get(sandbox, f"/incidents/{incident_id}/alerts").json()["alerts"][0]
    assert alert["status"] == "triggered"


def test_control_refuses_bad_incident_fields(sandbox: Sandbox) -> None:
    for body in (
        {"account": "nobody"},
        {"account": "acme", "priority": "P9"},
        {"account": "acme", "tags": 7},
        {"account": "acme", "tags_in": "somewhere"},
        {"account": "acme", "count": True},
        {"monitor": "no-such-monitor"},
    ):
        response = requests.post(f"{sandbox.url}/_sandbox/pagerduty/incidents", json=body, timeout=10)
        assert 400 <= response.status_code < 500, body
        assert "error" in response.json()
    assert sandbox.state.pagerduty.incidents == {}


def test_acknowledgements_are_listed_while_acknowledged_and_age_moves_every_time_back(sandbox: Sandbox) -> None:
    incident_id = sandbox.trigger("acme", title="Slow")["incident"]["id"]
    first = sandbox.acknowledge(incident_id)["incident"]
    again = sandbox.acknowledge(incident_id)["incident"]  # a second acknowledgement: no status change
    assert [a["at"] for a in again["acknowledgements"]][:1] == [first["acknowledgements"][0]["at"]]
    assert len(again["acknowledgements"]) == 2
    assert again["last_status_change_at"] == first["last_status_change_at"]

    aged = sandbox.age(incident_id, 600)
    for field in ("created_at", "last_status_change_at"):
        assert datetime.fromisoformat(again[field]) - datetime.fromisoformat(aged[field]) == timedelta(seconds=600)
    assert [datetime.fromisoformat(a["at"]) for a in aged["acknowledgements"]] == \
        [datetime.fromisoformat(a["at"]) - timedelta(seconds=600) for a in again["acknowledgements"]]
    assert aged["first_trigger_log_entry"]["created_at"] == aged["created_at"]

    unacknowledged = sandbox.act(incident_id, "unacknowledge")["incident"]
    assert unacknowledged["acknowledgements"] == [] and unacknowledged["status"] == "triggered"
    assert datetime.fromisoformat(unacknowledged["last_status_change_at"]) > datetime.now(UTC) - timedelta(seconds=60)
