"""End to end: the function as a real functions-framework process, against the sandbox.

Every test drives PagerDuty the way an operator would (through the sandbox's
control API, which delivers webhooks as PagerDuty does) and checks what the
status page ends up showing.
"""
from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from sandbox.launcher import REPO
from tests.harness.clock import Gate
from tests.harness.reference import load_json
from tests.harness.sandbox import running_sandbox
from tests.harness.world import (
    ACK_V2,
    API,
    COMPONENTS,
    DB,
    PAGE_ID,
    RESYNC,
    SP_KEY,
    WEB,
    function_env,
    page_state,
    pd_key,
    statuspage_writes,
    world,
)

# --- HTTP contract ---

@pytest.fixture(scope="module")
def hugops():
    with world() as running:
        yield running


def test_hello(hugops):
    _, function = hugops
    response = requests.get(function.url + "/", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == ["Hello from Pagerstatus"]


@pytest.mark.parametrize("path,payload,expected", [
    ("/hugops", ACK_V2, "Performed sync"),
    ("/HugOps", ACK_V2, "Performed sync"),  # the account name in any case
    ("/hugops", RESYNC, "Performed sync"),  # the periodic backstop's event
    # PagerDuty's official examples, by name.
    ("/hugops", "v2-incident-trigger", "Performed sync"),
    ("/hugops", "v2-incident-acknowledge", "Performed sync"),
    ("/hugops", "v2-incident-resolve", "Performed sync"),
    ("/hugops", "v2-incident-assign", "No need to sync"),
    ("/hugops", "v3-incident-priority_updated", "Performed sync"),
    ("/hugops", "v3-service-updated", "No need to sync"),
])
def test_webhooks(hugops, path, payload, expected):
    _, function = hugops
    if isinstance(payload, str):
        payload = load_json(f"pagerduty-webhooks/{payload}.json")
    response = function.post(path, payload)
    assert (response.status_code, response.json()) == (200, [expected])


@pytest.mark.parametrize("method,path,data,status", [
    ("POST", "/nobody", json.dumps(ACK_V2), 404),
    ("POST", "/bad.name", json.dumps(ACK_V2), 404),
    ("POST", "/hugops/extra", json.dumps(ACK_V2), 404),
    ("POST", "/hugops", "not json", 400),
    ("POST", "/hugops", '{"hello": "world"}', 400),
    ("POST", "/hugops", '{"messages": []}', 400),
    ("POST", "/hugops", "", 400),
    ("POST", "/hugops", "[" * 100_000, 400),
    ("GET", "/hugops", None, 405),
    ("PUT", "/hugops", json.dumps(ACK_V2), 405),
    ("DELETE", "/", None, 405),
])
def test_bad_requests_get_json_errors_and_call_nothing(hugops, method, path, data, status):
    sandbox, function = hugops
    sandbox.clear_requests()
    response = requests.request(method, function.url + path, data=data, timeout=10,
                                headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert set(response.json()) == {"error"} and response.json()["error"]
    assert sandbox.requests() == []


def test_without_a_scheduler_configured_the_periodic_sync_path_is_not_there(hugops):
    _, function = hugops
    response = function.post("/_sync", data=b"")
    assert response.status_code == 404
    assert "not enabled" in response.json()["error"]


# --- webhook authentication ---

def test_signed_account_with_the_official_vector():
    vector = load_json("pagerduty-webhooks/v3-signature-vector.json")
    with world(extra_env={"PD_WEBHOOK_SECRET_HUGOPS": vector["secret"]}) as (_, function):
        body = vector["body"].encode()
        valid = function.post("/hugops", data=body, headers={"X-PagerDuty-Signature": vector["valid_signature"]})
        invalid = function.post("/hugops", data=body, headers={"X-PagerDuty-Signature": vector["invalid_signature"]})
        missing = function.post("/hugops", data=body)
        assert (valid.status_code, valid.json()) == (200, ["Performed sync"])
        assert invalid.status_code == 401 and "X-PagerDuty-Signature" in invalid.json()["error"]
        assert missing.status_code == 401


def test_token_account_rejects_missing_and_wrong_tokens():
    with world(extra_env={"PD_WEBHOOK_TOKEN_HUGOPS": "token-0123456789"}) as (_, function):
        assert function.post("/hugops", ACK_V2).status_code == 401
        assert function.post("/hugops", ACK_V2, headers={"X-Pagerstatus-Token": "token-x"}).status_code == 401
        ok = function.post("/hugops", ACK_V2, headers={"X-Pagerstatus-Token": "token-0123456789"})
        assert ok.json() == ["Performed sync"]


# --- the lifecycle over real webhook deliveries ---

@pytest.mark.parametrize("webhook", [
    {"webhook_version": 3, "webhook_secret": "whsec-0123456789"},
    {"webhook_version": 3, "webhook_token": "token-0123456789"},
    {"webhook_version": 2, "webhook_token": "token-0123456789"},
], ids=["v3-signed", "v3-token", "v2-token"])
def test_lifecycle_trigger_acknowledge_resolve(webhook):
    with world(webhook=webhook) as (sandbox, function):
        triggered = sandbox.trigger("hugops", title="API errors", tags=f"env:prod,component:{API}")
        assert triggered["webhook"]["status"] == 200, triggered["webhook"]
        incident_id = triggered["incident"]["id"]
        components, unresolved = page_state(sandbox)
        assert unresolved == [] and components[API] == "operational"

        acknowledged = sandbox.acknowledge(incident_id)
        assert acknowledged["webhook"]["body"] == ["Performed sync"]
        components, unresolved = page_state(sandbox)
        assert [i["component_ids"] for i in unresolved] == [[API]]
        assert unresolved[0]["name"] == "Investigating errors in API"
        assert unresolved[0]["metadata"] == {"pagerstatus": {"component_id": API}}
        assert components == {API: "partial_outage", WEB: "operational", DB: "operational"}

        # An acknowledgement timeout re-triggers: the page must not flap.
        sandbox.act(incident_id, "unacknowledge")
        assert len(page_state(sandbox)[1]) == 1

        sandbox.resolve(incident_id)
        components, unresolved = page_state(sandbox)
        assert unresolved == [] and components[API] == "operational"
        keys = (pd_key("hugops"), SP_KEY, webhook.get("webhook_secret", "-"), webhook.get("webhook_token", "-"))
        assert not any(key in function.output() for key in keys if key != "-")


def test_pingdom_list_tags_tags_only_in_alerts_and_unknown_components():
    with world() as (sandbox, function):
        a = sandbox.trigger("hugops", title="Website down", tags=[f"component_{WEB}", "pingdom"])["incident"]
        b = sandbox.trigger("hugops", title="DB slow", tags=f"component:{DB}", tags_in="alerts")["incident"]
        c = sandbox.trigger("hugops", tags=f"component:nosuchcomp1,component:{API}")["incident"]
        for incident in (a, b, c):
            sandbox.acknowledge(incident["id"])
        components, unresolved = page_state(sandbox)
        assert sorted(i["component_ids"][0] for i in unresolved) == sorted([WEB, DB, API])
        assert components[WEB] == components[DB] == components[API] == "partial_outage"
        skips = [e for e in function.logs() if e.get("action") == "skip"]  # the unknown one, with a log line
        assert skips and {e["component"] for e in skips} == {"nosuchcomp1"} and skips[0]["severity"] == "WARNING"


# --- several accounts, many incidents ---

def test_another_accounts_incident_keeps_the_component_open():
    with world(accounts=("alpha", "beta")) as (sandbox, _):
        first = sandbox.trigger("alpha", tags=f"component:{API}")["incident"]
        second = sandbox.trigger("beta", tags=f"component:{API}")["incident"]
        sandbox.acknowledge(first["id"])
        sandbox.acknowledge(second["id"])
        sandbox.resolve(first["id"])  # alpha's webhook: beta's incident still carries API
        components, unresolved = page_state(sandbox)
        assert len(unresolved) == 1 and components[API] == "partial_outage"
        sandbox.resolve(second["id"])
        assert page_state(sandbox)[1] == []


def test_an_account_in_another_service_region_is_read_through_its_own_api():
    # A second sandbox plays PagerDuty's EU service region, which knows only account "euro".
    with running_sandbox() as eu, world(extra_env={
        "PD_ACCOUNT_EURO": pd_key("euro"),
        "PAGERSTATUS_PAGERDUTY_REGIONS": f"euro={eu.pagerduty_url}",
        "PAGERSTATUS_ALLOW_UNAUTHENTICATED": "hugops,euro",
    }) as (sandbox, function):
        eu.add_account("euro", pd_key("euro"), webhook_url=f"{function.url}/euro")
        us = sandbox.acknowledge(sandbox.trigger("hugops", tags=f"component:{API}")["incident"]["id"])
        assert us["webhook"]["body"] == ["Performed sync"]
        european = eu.trigger("euro", tags=f"component:{WEB}")["incident"]
        assert eu.acknowledge(european["id"])["webhook"]["body"] == ["Performed sync"]
        assert sorted(i["component_ids"][0] for i in page_state(sandbox)[1]) == sorted([API, WEB])
        # Each account was read through its own region's API: each sandbox knows only its
        # own account's key and would refuse the other's (401, then a 503 and no incident).
        for box in (eu, sandbox):
            reads = box.requests(api="pagerduty")
            assert reads and {r["status"] for r in reads} == {200}, reads


def test_more_than_a_hundred_incidents_on_each_side():
    with world(accounts=("alpha", "beta")) as (sandbox, function):
        for n in range(105):  # unowned incidents on the page: paginated, never touched
            sandbox.add_sp_incident(PAGE_ID, name=f"maintenance note {n}", body="human")
        for account in ("alpha", "beta"):
            sandbox.trigger(account, tags=f"component:{WEB}", status="acknowledged", count=110, deliver=False)
        # The one that matters sits on the last page of beta's incidents.
        sandbox.trigger("beta", tags=f"component:{API}", status="acknowledged", deliver=False)
        sandbox.clear_requests()
        assert function.post("/alpha", ACK_V2).json() == ["Performed sync"]
        unresolved = page_state(sandbox)[1]
        ours = [i for i in unresolved if i["metadata"]]
        assert sorted(i["component_ids"][0] for i in ours) == sorted([API, WEB])
        assert len(unresolved) == 107
        offsets = [r["query"].get("offset") for r in sandbox.requests(api="pagerduty") if r["path"] == "/incidents"]
        assert sorted(offsets) == [["0"], ["0"], ["100"], ["100"]]


# --- ownership and self-healing ---

def test_duplicates_resolve_and_legacy_incidents_are_adopted_but_unowned_left_alone():
    with world(extra_env={"PAGERSTATUS_ADOPT_LEGACY": "true"}) as (sandbox, _):
        meta = {"pagerstatus": {"component_id": API}}
        older = sandbox.add_sp_incident(PAGE_ID, name="ours", components={API: "partial_outage"}, metadata=meta,
                                        created_at="2026-01-01T00:00:00Z")
        newer = sandbox.add_sp_incident(PAGE_ID, name="ours again", components={API: "partial_outage"},
                                        metadata=meta, created_at="2026-01-02T00:00:00Z")
        legacy = sandbox.add_sp_incident(PAGE_ID, name="Investigating errors in Website",
                                         body="Investigating\n\u26c8", components={WEB: "partial_outage"})
        human = sandbox.add_sp_incident(PAGE_ID, name="Database maintenance", body="planned work",
                                        components={DB: "degraded_performance"})
        human_on_api = sandbox.add_sp_incident(PAGE_ID, name="API note", body="by a person",
                                               components={API: "partial_outage"})
        incident = sandbox.trigger("hugops", tags=f"component:{API},component:{DB}")["incident"]
        sandbox.acknowledge(incident["id"])

        components, unresolved = page_state(sandbox)
        still_open = {i["id"] for i in unresolved}
        assert older["id"] in still_open and newer["id"] not in still_open
        assert legacy["id"] not in still_open and components[WEB] == "operational"
        assert human["id"] in still_open and human_on_api["id"] in still_open
        # DB gets its own incident beside the human one, which keeps its text.
        db_incidents = [i for i in unresolved if DB in i["component_ids"]]
        assert len(db_incidents) == 2
        human_now = next(i for i in unresolved if i["id"] == human["id"])
        assert [u["body"] for u in human_now["updates"]] == ["planned work"]
        touched = {r["path"].rsplit("/", 1)[-1] for r in statuspage_writes(sandbox)}
        assert not touched & {human["id"], human_on_api["id"]}


# --- failures: nothing written, 503 so PagerDuty redelivers ---

def test_one_accounts_api_failing_leaves_the_page_unchanged():
    with world(accounts=("alpha", "beta")) as (sandbox, function):
        sandbox.add_sp_incident(PAGE_ID, name="ours", components={API: "partial_outage"},
                                metadata={"pagerstatus": {"component_id": API}})
        sandbox.trigger("alpha", tags=f"component:{WEB}", status="acknowledged", deliver=False)
        before = page_state(sandbox)
        sandbox.add_account("beta", "a-key-the-function-does-not-have")  # beta's reads now get 401
        sandbox.clear_requests()
        response = function.post("/alpha", ACK_V2)
        assert response.status_code == 503 and "pagerduty" in response.json()["error"]
        assert "401" not in response.json()["error"]  # the upstream's answer stays in the log
        assert statuspage_writes(sandbox) == [] and page_state(sandbox) == before


def test_webhook_during_a_sync_is_queued_and_not_lost():
    gate = Gate()
    with world(sleep=gate.sleep) as (sandbox, function), ThreadPoolExecutor(max_workers=1) as pool:
        sandbox.trigger("hugops", tags=f"component:{API}", status="acknowledged", deliver=False)
        # The first sync's create is held until the gate opens: by then it has read PagerDuty.
        sandbox.fault("statuspage", r"/pages/[^/]+/incidents$", method="POST", latency=1, count=1)
        first = pool.submit(function.post, "/hugops", ACK_V2)
        gate.wait_for_a_sleeper()
        # Meanwhile another incident is acknowledged and its webhook arrives.
        sandbox.trigger("hugops", tags=f"component:{WEB}", status="acknowledged", deliver=False)
        second = function.post("/hugops", ACK_V2)
        gate.open()
        assert (second.status_code, second.json()) == (202, ["Sync queued"])
        assert first.result(timeout=60).json() == ["Performed sync"]
        # The holder synced again before letting go.
        assert sorted(i["component_ids"][0] for i in page_state(sandbox)[1]) == sorted([API, WEB])


def test_rate_limits_of_both_apis_are_absorbed_within_the_sync():
    with world() as (sandbox, function):
        sandbox.rate_limit(True, capacity=2, refill_per_second=5)  # Statuspage's
        sandbox.fault("pagerduty", "/incidents", status=429, retry_after=1, count=1)
        sandbox.trigger("hugops", tags=f"component:{API},component:{WEB},component:{DB}",
                        status="acknowledged", deliver=False)
        assert function.post("/hugops", ACK_V2).json() == ["Performed sync"]
        assert len(page_state(sandbox)[1]) == 3
        assert 429 in {r["status"] for r in sandbox.requests(api="pagerduty")}


# --- the command line ---

def test_cli_plan_writes_nothing_and_sync_does():
    with running_sandbox() as sandbox:
        sandbox.add_page(PAGE_ID, SP_KEY, components=COMPONENTS)
        sandbox.add_account("hugops", pd_key("hugops"))
        incident = sandbox.trigger("hugops", title="API 5xx above 2%", tags=f"component:{API}",
                                   status="acknowledged", deliver=False)["incident"]
        env = {"PATH": "/usr/bin:/bin", **function_env(sandbox, ["hugops"])}
        plan = subprocess.run([sys.executable, "-m", "pagerstatus", "plan"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60)
        assert plan.returncode == 0, plan.stderr
        assert f"open     {API} 'Investigating errors in API': {API}=partial_outage; notifies subscribers" \
            in plan.stdout
        assert f"hugops/{incident['id']} acknowledged: API 5xx above 2% {incident['html_url']}" in plan.stdout
        assert page_state(sandbox)[1] == []
        sync = subprocess.run([sys.executable, "-m", "pagerstatus", "sync"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60)
        assert sync.returncode == 0 and "sync performed" in sync.stdout
        assert len(page_state(sandbox)[1]) == 1


def test_adopted_incident_on_two_components_keeps_the_one_still_down():
    with world(extra_env={"PAGERSTATUS_ADOPT_LEGACY": "true"}) as (sandbox, function):
        legacy = sandbox.add_sp_incident(PAGE_ID, name="Errors in API and Website", body="Investigating\n\u26c8",
                                         components={API: "partial_outage", WEB: "partial_outage"})
        sandbox.trigger("hugops", tags=f"component:{API}", status="acknowledged", deliver=False)
        assert function.post("/hugops", ACK_V2).json() == ["Performed sync"]
        assert function.post("/hugops", ACK_V2).json() == ["Performed sync"]  # and it stays that way
        components, unresolved = page_state(sandbox)
        assert [(i["id"], sorted(i["component_ids"])) for i in unresolved] == [(legacy["id"], sorted([API, WEB]))]
        assert (components[API], components[WEB]) == ("partial_outage", "operational")
        assert [r for r in statuspage_writes(sandbox) if r["method"] == "POST"] == []
