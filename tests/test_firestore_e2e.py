"""Two function instances sharing the Firestore lock (the real emulator) and the sandbox:
a burst of webhooks across both opens no duplicate, loses no change, and costs a
few syncs rather than one each."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from tests.firestore_fixture import require_emulator, unique_project, warm_up
from tests.function_fixture import running_function
from tests.sandbox_fixture import running_sandbox
from tests.test_function_e2e import ACK_V2, COMPONENTS, PAGE_ID, SP_KEY, page_state, pd_key

WEBHOOKS = 50


def test_fifty_webhooks_across_two_instances():
    warm_up(require_emulator())
    with running_sandbox() as sandbox:
        sandbox.add_page(PAGE_ID, SP_KEY, components=COMPONENTS)
        sandbox.add_account("hugops", pd_key("hugops"))
        api, web, db = (c["id"] for c in COMPONENTS)
        for component in (api, web):
            sandbox.trigger("hugops", tags=f"component:{component}", status="acknowledged", deliver=False)
        env = {
            "STATUSPAGE_PAGE": PAGE_ID,
            "STATUSPAGE_KEY": SP_KEY,
            "STATUSPAGE_API_URL": sandbox.statuspage_url,
            "PAGERDUTY_API_URL": sandbox.pagerduty_url,
            "PD_ACCOUNT_HUGOPS": pd_key("hugops"),
            "GOOGLE_CLOUD_PROJECT": unique_project(),  # the Firestore lock is on wherever a project is set
        }
        with running_function(env) as first, running_function(env) as second:
            # Slow reads so that syncs overlap the way they do against the real APIs.
            sandbox.fault("pagerduty", "/incidents", latency=0.3)

            def deliver(n: int):
                time.sleep(n * 0.01)  # the burst spreads over half a second, as a storm does
                if n == WEBHOOKS // 2:
                    # A change lands while the first sync is reading; its webhook may be queued.
                    sandbox.trigger("hugops", tags=f"component:{db}", status="acknowledged", deliver=False)
                return (first if n % 2 else second).post("/hugops", ACK_V2)

            with ThreadPoolExecutor(max_workers=WEBHOOKS) as pool:
                answers = list(pool.map(deliver, range(WEBHOOKS)))

            statuses = sorted({a.status_code for a in answers})
            assert statuses == [200, 202], [(a.status_code, a.text) for a in answers if a.status_code not in (200, 202)]
            assert {a.text for a in answers} == {'["Performed sync"]', '["Sync queued"]'}

            components, unresolved = page_state(sandbox)
            assert sorted(i["component_ids"][0] for i in unresolved) == sorted([api, web, db])
            assert {components[c] for c in (api, web, db)} == {"partial_outage"}
            creates = [r for r in sandbox.requests(api="statuspage") if r["method"] == "POST"]
            assert len(creates) == 3  # never a duplicate, not even one later resolved

            syncs = sum(1 for f in (first, second) for entry in f.logs() if entry.get("action") == "plan")
            assert 1 <= syncs <= WEBHOOKS // 5, syncs
            print(f"{WEBHOOKS} webhooks -> {syncs} syncs, {statuses}")
