"""The fault matrix: one failure each, against the sandbox and the real Firestore
emulator, with the function as a functions-framework process.

After each, the next sync (a redelivered webhook, or a resync as the periodic
sync runs it) converges on the right state: one owned incident per component
that should be open, none for the others, never a duplicate, never a write to an
incident a person opened, and nothing resolved that should be open, not even
while the fault lasts.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import pytest
import requests

from tests.harness.clock import Gate, wait_for
from tests.harness.firestore import Outage, expire_lease, require_emulator, unique_project
from tests.harness.function import RunningFunction, running_function
from tests.harness.sandbox import Sandbox
from tests.harness.world import (
    ACK_V2,
    API,
    COMPONENTS,
    DB,
    PAGE_ID,
    RESYNC,
    WEB,
    page_state,
    statuspage_writes,
    world,
)

QUEUE, SEARCH, MAIL = "compqueue001", "compsearch01", "compmail0001"
SIX = [*COMPONENTS, {"id": QUEUE, "name": "Queue"}, {"id": SEARCH, "name": "Search"}, {"id": MAIL, "name": "Mail"}]
SECOND_PAGE = r"(^|&)offset=100(&|$)"
CREATES = r"/pages/[^/]+/incidents$"


# --- what the page must show -------------------------------------------------

def add_human_incident(sandbox: Sandbox) -> dict:
    """An incident a person opened on DB; nothing may ever write to it. Its state as stored."""
    created = sandbox.add_sp_incident(PAGE_ID, name="Database maintenance", body="planned work",
                                      components={DB: "degraded_performance"})
    return stored_incident(sandbox, created["id"])


def stored_incident(sandbox: Sandbox, incident_id: str) -> dict:
    return next(i for i in sandbox.dump()["statuspage"]["incidents"] if i["id"] == incident_id)


def assert_page(sandbox: Sandbox, wanted: dict[str, str], human: dict) -> None:
    """wanted: component -> status, each with exactly one owned unresolved incident; every
    other component operational with none (DB aside: the person's incident holds it)."""
    components, unresolved = page_state(sandbox)
    owned: dict[str, list[str]] = {}
    for incident in unresolved:
        if "pagerstatus" in (incident["metadata"] or {}):
            for component in incident["component_ids"]:
                owned.setdefault(component, []).append(incident["id"])
    assert owned.keys() == wanted.keys() and all(len(ids) == 1 for ids in owned.values()), owned
    assert {c: s for c, s in components.items() if c != DB} == {
        c: wanted.get(c, "operational") for c in components if c != DB}
    assert stored_incident(sandbox, human["id"]) == human
    assert not [r for r in statuspage_writes(sandbox) if human["id"] in r["path"]]


def created(sandbox: Sandbox) -> int:
    """Incidents Statuspage created: more than the components ever opened is a duplicate."""
    return len([r for r in sandbox.requests(api="statuspage", method="POST") if r["status"] == 201])


def acknowledged(sandbox: Sandbox, *components: str, **fields) -> list[dict]:
    return [sandbox.trigger("hugops", tags=f"component:{c}", status="acknowledged", deliver=False, **fields)["incident"]
            for c in components]


def sync_ok(function: RunningFunction) -> None:
    response = function.post("/hugops", RESYNC)
    assert (response.status_code, response.json()) == (200, ["Performed sync"]), response.text


def assert_503(response: requests.Response, service: str) -> None:
    assert response.status_code == 503 and service in response.json()["error"], response.text


# --- PagerDuty -----------------------------------------------------------------

@pytest.mark.parametrize("faults,retried", [
    ([{"status": 500}], True),
    ([{"drop": True}], True),
    # The first attempt is held (at the gate) past the request's read budget: it times out,
    # and no retry is begun after the budget, so the 500 behind it is never reached.
    ([{"latency": 1, "count": 1}, {"status": 500}], False),
], ids=["500", "dropped-connection", "timeout"])
def test_pagerduty_failing_on_the_second_page_resolves_nothing(faults, retried):
    gate = Gate()
    with world(components=SIX, sleep=gate.sleep) as (sandbox, function):
        human = add_human_incident(sandbox)
        # A hundred incidents on the first page name a component no longer on the page
        # (skipped); the one keeping API open sits on the second.
        sandbox.trigger("hugops", tags="component:retired0001", status="acknowledged", count=100, deliver=False)
        acknowledged(sandbox, API)
        sync_ok(function)
        assert_page(sandbox, {API: "partial_outage"}, human)

        acknowledged(sandbox, WEB)
        for fault in faults:
            sandbox.fault("pagerduty", "/incidents$", query=SECOND_PAGE, **fault)
        sandbox.clear_requests()
        try:
            assert_503(function.post("/hugops", ACK_V2), "pagerduty")
        finally:
            gate.open()
        assert (sandbox.fault_hits() > 1) is retried  # the second page was asked for, and failed
        assert statuspage_writes(sandbox) == []
        assert_page(sandbox, {API: "partial_outage"}, human)  # a failed page is never "no incidents"

        sandbox.clear_faults()
        sync_ok(function)
        assert_page(sandbox, {API: "partial_outage", WEB: "partial_outage"}, human)
        assert created(sandbox) == 1


# --- Statuspage ------------------------------------------------------------------

def test_statuspage_429_storm_writes_nothing_then_converges_without_duplicates():
    with world(components=SIX) as (sandbox, function):
        human = add_human_incident(sandbox)
        acknowledged(sandbox, API, WEB, QUEUE)
        # Every request refused, each answer asking for a second's wait: the retries give up.
        sandbox.fault("statuspage", "", retry_after=1)
        assert_503(function.post("/hugops", ACK_V2), "statuspage")
        assert {r["status"] for r in sandbox.requests(api="statuspage")} == {429}
        assert_page(sandbox, {}, human)

        # The storm eases: creating is refused three times more, which the retries absorb;
        # a refused create was never acted on, so repeating it duplicates nothing.
        sandbox.clear_faults()
        sandbox.fault("statuspage", CREATES, method="POST", retry_after=1, count=3)
        sync_ok(function)
        assert_page(sandbox, {API: "partial_outage", WEB: "partial_outage", QUEUE: "partial_outage"}, human)
        assert [r["status"] for r in sandbox.requests(api="statuspage", method="POST")] == [429] * 3 + [201] * 3


def test_statuspage_500_in_the_middle_of_a_plan_of_five_writes():
    with world(components=SIX, extra_env={"PAGERSTATUS_SEVERITY": "P1=major_outage"}) as (sandbox, function):
        human = add_human_incident(sandbox)
        web, queue, search = acknowledged(sandbox, WEB, QUEUE, SEARCH)
        sync_ok(function)
        open_before = {c: "partial_outage" for c in (WEB, QUEUE, SEARCH)}
        assert_page(sandbox, open_before, human)
        web_incident = next(i["id"] for i in page_state(sandbox)[1] if i["component_ids"] == [WEB])

        # The plan: open API and MAIL, update WEB to major_outage, resolve QUEUE and SEARCH.
        acknowledged(sandbox, API, MAIL)
        sandbox.set_priority(web["id"], "P1", deliver=False)
        sandbox.resolve(queue["id"], deliver=False)
        sandbox.resolve(search["id"], deliver=False)
        sandbox.fault("statuspage", f"/pages/[^/]+/incidents/{web_incident}$", method="PATCH", status=500)
        sandbox.clear_requests()
        assert_503(function.post("/hugops", ACK_V2), "statuspage")
        writes = [(r["method"], r["status"]) for r in statuspage_writes(sandbox)]
        # The five go out together: the update fails once (a PATCH is not repeated blindly),
        # those in flight with it finish, none goes twice, and none starts after the failure.
        assert writes.count(("PATCH", 500)) == 1 and len(writes) <= 5
        assert all(status < 300 for method, status in writes if (method, status) != ("PATCH", 500))
        opened_before_the_failure = created(sandbox)
        assert stored_incident(sandbox, human["id"]) == human

        sandbox.clear_faults()
        sandbox.clear_requests()
        sync_ok(function)
        assert_page(sandbox, {API: "partial_outage", MAIL: "partial_outage", WEB: "major_outage"}, human)
        assert opened_before_the_failure + created(sandbox) == 2  # each open happened once


# --- the lock ----------------------------------------------------------------------

def write_in_flight(sandbox: Sandbox, gate: Gate, function: RunningFunction) -> Future:
    """A webhook whose sync is held in its first create (its lease checked) until the gate opens."""
    sandbox.fault("statuspage", CREATES, method="POST", latency=1)  # as long as the gate is shut
    pool = ThreadPoolExecutor(max_workers=1)
    answer = pool.submit(function.post, "/hugops", ACK_V2)
    pool.shutdown(wait=False)
    gate.wait_for_a_sleeper()
    return answer


def writes_settled(sandbox: Sandbox) -> bool:
    """Every create that reached the sandbox has been answered (none sleeping in its latency)."""
    return sandbox.fault_hits() == len(sandbox.requests(api="statuspage", method="POST"))


def test_firestore_gone_mid_sync():
    project, gate = unique_project(), Gate()
    outage = Outage(require_emulator())
    try:
        env = {"GOOGLE_CLOUD_PROJECT": project, "FIRESTORE_EMULATOR_HOST": outage.host}
        with world(components=SIX, extra_env=env, sleep=gate.sleep) as (sandbox, function):
            human = add_human_incident(sandbox)
            acknowledged(sandbox, API, WEB, QUEUE)
            answer = write_in_flight(sandbox, gate, function)
            outage.stop()
            gate.open()
            assert_503(answer.result(timeout=120), "firestore")  # a later write's lease check failed
            sandbox.clear_faults()
            in_flight = created(sandbox)  # the writes go out together: those that passed their check
            assert 1 <= in_flight <= 3

            # While Firestore is away nothing syncs, not even a read: never a sync without the lock.
            sandbox.clear_requests()
            assert_503(function.post("/hugops", ACK_V2), "firestore")
            assert sandbox.requests() == []

            outage.start()  # back, with the lease the failed holder could not give up
            # gRPC reconnects after a backoff: the first answers may still be 503s.
            queued = wait_for(lambda: (reply := function.post("/hugops", ACK_V2)).status_code != 503 and reply,
                              timeout=120, what="Firestore reachable again")
            assert (queued.status_code, queued.json()) == (202, ["Sync queued"])
            expire_lease(project, PAGE_ID)
            sync_ok(function)  # the next sync takes the expired lease over
            assert_page(sandbox, {c: "partial_outage" for c in (API, WEB, QUEUE)}, human)
            assert created(sandbox) == 3 - in_flight  # only what the failed sync had not opened
    finally:
        outage.close()


def test_lease_holder_killed_mid_sync(firestore_project):
    project, gate = firestore_project, Gate()
    with world(components=SIX, extra_env={"GOOGLE_CLOUD_PROJECT": project}, sleep=gate.sleep) as (sandbox, doomed), \
            running_function(doomed.env) as survivor:
        human = add_human_incident(sandbox)
        acknowledged(sandbox, API, WEB, QUEUE)
        answer = write_in_flight(sandbox, gate, doomed)
        doomed.kill()
        with pytest.raises(requests.ConnectionError):
            answer.result(timeout=60)
        gate.open()
        wait_for(lambda: writes_settled(sandbox), what="the dead holder's creates in flight")
        sandbox.clear_faults()
        in_flight = created(sandbox)  # the writes go out together: those already sent
        assert 1 <= in_flight <= 3

        # Its lease is live for up to a minute: a webhook meanwhile is queued, and nothing is read or written.
        sandbox.clear_requests()
        queued = survivor.post("/hugops", ACK_V2)
        assert (queued.status_code, queued.json()) == (202, ["Sync queued"])
        assert sandbox.requests() == []

        expire_lease(project, PAGE_ID)
        sync_ok(survivor)  # the next sync takes the expired lease over
        assert [e for e in survivor.logs() if e.get("action") == "takeover"]
        assert_page(sandbox, {c: "partial_outage" for c in (API, WEB, QUEUE)}, human)
        assert created(sandbox) == 3 - in_flight  # only what the dead holder had not opened
