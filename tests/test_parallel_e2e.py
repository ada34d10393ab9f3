"""End to end, what a webhook sees of a sync's parallel parts: the writes go out several at
once and PagerDuty's pages are read together. A failure among them answers 503 with nothing
written after it (or, for a read, nothing written at all), and the next sync converges."""
from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from pagerstatus.statuspage import WRITES_IN_FLIGHT
from tests.harness.clock import Gate, wait_for
from tests.harness.world import ACK_V2, API, page_state, statuspage_writes, world

MANY = [{"id": f"comp{n:08d}", "name": f"Component {n}"} for n in range(30)]


def test_a_write_failing_among_parallel_writes_answers_503_and_the_next_sync_converges_without_duplicates():
    gate = Gate()
    with world(components=MANY, sleep=gate.sleep) as (sandbox, function), ThreadPoolExecutor(max_workers=1) as pool:
        for component in MANY:
            sandbox.trigger("hugops", tags=f"component:{component['id']}", status="acknowledged", deliver=False)
        # The first create fails at once; the others in flight with it are held at the gate, so
        # that the failure is known before any of them frees a writer for a new one.
        sandbox.fault("statuspage", path="/pages/[^/]+/incidents$", method="POST", status=500, count=1)
        sandbox.fault("statuspage", path="/pages/[^/]+/incidents$", method="POST", latency=1)

        answer = pool.submit(function.post, "/hugops", ACK_V2)
        gate.wait_for_a_sleeper()
        wait_for(lambda: [p["status"] for p in sandbox.requests(api="statuspage", method="POST")] == [500],
                 what="the failed create to be answered")
        time.sleep(1)  # a margin for the failing writer to mark the stop, not a measure of speed
        gate.open()
        failed = answer.result(timeout=60)
        assert failed.status_code == 503 and "statuspage unavailable" in failed.json()["error"]
        posts = sandbox.requests(api="statuspage", method="POST")
        # The failed write and those in flight with it went out; no new one after it.
        assert [p["status"] for p in posts].count(500) == 1 and len(posts) <= WRITES_IN_FLIGHT
        _, opened = page_state(sandbox)
        assert len(opened) == len(posts) - 1

        sandbox.clear_faults()
        assert function.post("/hugops", ACK_V2).status_code == 200
        components, unresolved = page_state(sandbox)
        assert Counter(c for incident in unresolved for c in incident["component_ids"]) == {
            component["id"]: 1 for component in MANY}
        assert set(components.values()) == {"partial_outage"}
        assert len(sandbox.requests(api="statuspage", method="POST")) == len(MANY) + 1  # the failed one


def test_a_pagerduty_page_failing_among_parallel_reads_writes_nothing():
    with world() as (sandbox, function):
        sandbox.trigger("hugops", tags=f"component:{API}", status="acknowledged", deliver=False, count=450)
        sandbox.fault("pagerduty", path="/incidents$", query="offset=200", status=500)

        failed = function.post("/hugops", ACK_V2)
        assert failed.status_code == 503 and "pagerduty" in failed.json()["error"]
        assert statuspage_writes(sandbox) == []
        lists = [r["query"] for r in sandbox.requests(api="pagerduty") if r["path"] == "/incidents"]
        assert lists[0]["offset"] == ["0"] and lists[0]["total"] == ["true"]

        sandbox.clear_faults()
        sandbox.clear_requests()
        assert function.post("/hugops", ACK_V2).status_code == 200
        _, unresolved = page_state(sandbox)
        assert [incident["component_ids"] for incident in unresolved] == [[API]]
        # 450 incidents: the first page with the total, then the four others, none empty.
        lists = [r["query"] for r in sandbox.requests(api="pagerduty") if r["path"] == "/incidents"]
        assert sorted(int(q["offset"][0]) for q in lists) == [0, 100, 200, 300, 400]
        assert [q.get("total") for q in lists].count(["true"]) == 1
