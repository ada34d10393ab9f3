"""Several status pages from one deployment, end to end: the function as a functions-framework
process against the sandbox with two pages, the second read with a key of its own
(STATUSPAGE_KEY_<PAGE ID>); the last test runs two function processes on the Firestore
emulator's locks."""
from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from sandbox.launcher import REPO
from tests.harness.clock import wait_for
from tests.harness.function import running_function
from tests.harness.sandbox import Sandbox
from tests.harness.world import (
    ACK_V2,
    API,
    DB,
    PAGE_2_COMPONENTS,
    PAGE_2_ID,
    PAGE_ID,
    PAY,
    QUEUE,
    RESYNC,
    WEB,
    page_state,
    statuspage_writes,
    world,
)

SP_KEY_2 = "sp-key-page2-0123456789"
TWO_PAGES = {PAGE_2_ID: (SP_KEY_2, PAGE_2_COMPONENTS)}


def opened_on(sandbox: Sandbox) -> dict[str, list[list[str]]]:
    """Per page, the components of each unresolved incident."""
    return {page: sorted(i["component_ids"] for i in page_state(sandbox, page)[1]) for page in (PAGE_ID, PAGE_2_ID)}


def creates(sandbox: Sandbox) -> list[str]:
    return [r["path"] for r in statuspage_writes(sandbox) if r["method"] == "POST"]


def skips(function, component: str) -> int:
    return sum(e.get("action") == "skip" and e.get("component") == component for e in function.logs())


def test_a_tag_goes_to_the_page_that_has_the_component_and_one_on_no_page_is_logged_once():
    with world(more_pages=TWO_PAGES) as (sandbox, function):
        payments = sandbox.trigger("hugops", tags=f"component:{PAY}")["incident"]
        assert sandbox.acknowledge(payments["id"])["webhook"]["body"] == ["Performed sync"]
        assert opened_on(sandbox) == {PAGE_ID: [], PAGE_2_ID: [[PAY]]}
        api = sandbox.trigger("hugops", tags=f"component:{API}", status="acknowledged")
        assert api["webhook"]["body"] == ["Performed sync"]
        assert opened_on(sandbox) == {PAGE_ID: [[API]], PAGE_2_ID: [[PAY]]}
        assert creates(sandbox) == [f"/pages/{PAGE_2_ID}/incidents", f"/pages/{PAGE_ID}/incidents"]
        # The second page was read with its own key, the first with the shared one.
        assert {r["status"] for r in sandbox.requests(api="statuspage")} == {200, 201}

        sandbox.trigger("hugops", tags="component:nosuchcomp1", status="acknowledged", deliver=False)
        before = skips(function, "nosuchcomp1")
        assert function.post("/hugops", RESYNC).json() == ["Performed sync"]
        assert skips(function, "nosuchcomp1") == before + 1  # one line for the sync, not one per page
        assert skips(function, PAY) == skips(function, API) == 0  # on another page is not on no page


def test_one_incident_tagged_on_both_pages_opens_one_on_each_and_a_second_sync_opens_nothing():
    with world(more_pages=TWO_PAGES) as (sandbox, function):
        both = sandbox.trigger("hugops", tags=f"component:{WEB},component:{QUEUE}")["incident"]
        assert sandbox.acknowledge(both["id"])["webhook"]["body"] == ["Performed sync"]
        assert opened_on(sandbox) == {PAGE_ID: [[WEB]], PAGE_2_ID: [[QUEUE]]}
        assert sorted(creates(sandbox)) == [f"/pages/{PAGE_ID}/incidents", f"/pages/{PAGE_2_ID}/incidents"]
        sandbox.clear_requests()
        assert function.post("/hugops", RESYNC).json() == ["Performed sync"]
        assert statuspage_writes(sandbox) == []
        assert opened_on(sandbox) == {PAGE_ID: [[WEB]], PAGE_2_ID: [[QUEUE]]}

        sandbox.resolve(both["id"])  # and both resolve together
        assert opened_on(sandbox) == {PAGE_ID: [], PAGE_2_ID: []}


def test_a_page_whose_unresolved_list_fails_gets_no_write_while_the_other_is_updated_and_the_answer_is_503():
    with world(more_pages=TWO_PAGES) as (sandbox, function):
        sandbox.trigger("hugops", tags=f"component:{DB},component:{PAY}", status="acknowledged", deliver=False)
        sandbox.fault("statuspage", f"/pages/{PAGE_2_ID}/incidents/unresolved", status=500)
        response = function.post("/hugops", ACK_V2)
        assert (response.status_code, response.json()) == (503, {"error": (
            f"page {PAGE_2_ID}: statuspage unavailable; nothing written to them after the failure, please redeliver")})
        assert opened_on(sandbox) == {PAGE_ID: [[DB]], PAGE_2_ID: []}
        assert [r["path"] for r in statuspage_writes(sandbox)] == [f"/pages/{PAGE_ID}/incidents"]

        sandbox.clear_faults()
        sandbox.clear_requests()
        assert function.post("/hugops", ACK_V2).json() == ["Performed sync"]  # PagerDuty's redelivery
        assert opened_on(sandbox) == {PAGE_ID: [[DB]], PAGE_2_ID: [[PAY]]}
        assert creates(sandbox) == [f"/pages/{PAGE_2_ID}/incidents"]


def test_the_cli_plans_page_by_page_and_syncs_every_page():
    with world(more_pages=TWO_PAGES) as (sandbox, function):
        sandbox.trigger("hugops", title="Payments down", tags=f"component:{PAY},component:{API}",
                        status="acknowledged", deliver=False)
        env = {"PATH": "/usr/bin:/bin", **function.env}  # both pages, the second with its own key
        plan = subprocess.run([sys.executable, "-m", "pagerstatus", "plan"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60)
        assert plan.returncode == 0, plan.stderr
        first, second = plan.stdout.split("\n\n")
        assert first.startswith(f"page {PAGE_ID}\nopen     {API} 'Investigating errors in API': {API}=partial_outage;")
        assert second.startswith(
            f"page {PAGE_2_ID}\nopen     {PAY} 'Investigating errors in Payments': {PAY}=partial_outage;")
        assert PAY not in first and API not in second
        assert statuspage_writes(sandbox) == []
        sync = subprocess.run([sys.executable, "-m", "pagerstatus", "sync"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60)
        assert sync.returncode == 0, sync.stderr
        assert sync.stdout == f"page {PAGE_ID}: sync performed\npage {PAGE_2_ID}: sync performed\n"
        assert opened_on(sandbox) == {PAGE_ID: [[API]], PAGE_2_ID: [[PAY]]}


WEBHOOKS = 40


def test_two_function_processes_sharing_the_firestore_lock_never_duplicate_an_incident_on_either_page(
        firestore_project):
    env = {"GOOGLE_CLOUD_PROJECT": firestore_project}
    with world(extra_env=env, more_pages=TWO_PAGES) as (sandbox, first), running_function(first.env) as second:
        for tags in (f"component:{API},component:{PAY}", f"component:{WEB}"):
            sandbox.trigger("hugops", tags=tags, status="acknowledged", deliver=False)
        # Slow reads so that syncs overlap the way they do against the real APIs.
        sandbox.fault("pagerduty", "/incidents", latency=0.3)

        def deliver(n: int):
            if n == WEBHOOKS // 2:
                # A change for both pages lands amid the burst, after a sync has read PagerDuty
                # without it: a webhook queued behind a running sync makes its holder sync again.
                wait_for(lambda: sandbox.requests(api="pagerduty"), what="a sync's first read")
                sandbox.trigger("hugops", tags=f"component:{DB},component:{QUEUE}", status="acknowledged",
                                deliver=False)
            return (first if n % 2 else second).post("/hugops", ACK_V2)

        with ThreadPoolExecutor(max_workers=WEBHOOKS) as pool:
            answers = list(pool.map(deliver, range(WEBHOOKS)))

        expected = {(200, '["Performed sync"]'), (202, '["Sync queued"]')}
        assert [(a.status_code, a.text) for a in answers if (a.status_code, a.text) not in expected] == []
        assert opened_on(sandbox) == {PAGE_ID: [[API], [DB], [WEB]], PAGE_2_ID: [[PAY], [QUEUE]]}
        # Never a duplicate, not even one later resolved.
        assert sorted(creates(sandbox)) == sorted([f"/pages/{PAGE_ID}/incidents"] * 3
                                                  + [f"/pages/{PAGE_2_ID}/incidents"] * 2)
        # Each page's lease is a document of its own.
        from google.cloud import firestore

        leases = firestore.Client(project=firestore_project).collection("pagerstatus-locks").stream(timeout=30)
        assert sorted(lease.id for lease in leases) == [PAGE_ID, PAGE_2_ID]
