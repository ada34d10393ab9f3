"""Two function instances sharing the Firestore lock (the real emulator) and the sandbox:
a burst of webhooks across both opens no duplicate, loses no change, and every webhook
is answered, by a sync or by queueing for one (bench/ counts how few syncs it takes)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.harness.clock import wait_for
from tests.harness.function import running_function
from tests.harness.world import ACK_V2, API, DB, WEB, page_state, world

WEBHOOKS = 50


def test_fifty_webhooks_across_two_instances(firestore_project):
    # A project of its own: the Firestore lock is on wherever a project is set.
    with world(extra_env={"GOOGLE_CLOUD_PROJECT": firestore_project}) as (sandbox, first), \
            running_function(first.env) as second:
        for component in (API, WEB):
            sandbox.trigger("hugops", tags=f"component:{component}", status="acknowledged", deliver=False)
        # Slow reads so that syncs overlap the way they do against the real APIs.
        sandbox.fault("pagerduty", "/incidents", latency=0.3)

        def deliver(n: int):
            if n == WEBHOOKS // 2:
                # A change lands amid the burst, after a sync has read PagerDuty without it: its
                # webhook may be queued behind a running sync, which must then sync again.
                wait_for(lambda: sandbox.requests(api="pagerduty"), what="a sync's first read")
                sandbox.trigger("hugops", tags=f"component:{DB}", status="acknowledged", deliver=False)
            return (first if n % 2 else second).post("/hugops", ACK_V2)

        with ThreadPoolExecutor(max_workers=WEBHOOKS) as pool:
            answers = list(pool.map(deliver, range(WEBHOOKS)))

        expected = {(200, '["Performed sync"]'), (202, '["Sync queued"]')}
        assert [(a.status_code, a.text) for a in answers if (a.status_code, a.text) not in expected] == []
        components, unresolved = page_state(sandbox)
        assert sorted(i["component_ids"][0] for i in unresolved) == sorted([API, WEB, DB])
        assert {components[c] for c in (API, WEB, DB)} == {"partial_outage"}
        creates = [r for r in sandbox.requests(api="statuspage") if r["method"] == "POST"]
        assert len(creates) == 3  # never a duplicate, not even one later resolved
