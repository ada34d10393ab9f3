"""Figure 3: from a webhook's arrival until the Statuspage incident exists.

Every PagerDuty call takes 150 ms and every Statuspage call 250 ms (sandbox
latency faults). A warm instance with the Firestore lock (the emulator) and its
component list cached must list the open PagerDuty incidents, list the
unresolved Statuspage incidents and create the incident: 650 ms in sequence.
The two reads go out in parallel, so the critical path is 500 ms; the rest is
overhead (lock, planning, HTTP). "Exists" is when the sandbox answered the create.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.world import ACCOUNT, acknowledge, add_page_and_accounts, firestore_env, set_latency, warm_function
from tests.harness.sandbox import Sandbox
from tests.harness.world import ACK_V2

PD_LATENCY_S = 0.150
SP_LATENCY_S = 0.250
UNAVOIDABLE_S = PD_LATENCY_S + SP_LATENCY_S + SP_LATENCY_S  # list PD, list SP unresolved, create
CRITICAL_PATH_S = max(PD_LATENCY_S, SP_LATENCY_S) + SP_LATENCY_S  # the reads run in parallel
ORIGINAL_S = UNAVOIDABLE_S  # the original tool made the same calls, one after the other
TARGET_OVERHEAD = 0.10


@dataclass(frozen=True)
class Latency:
    until_exists: list[float]  # webhook sent -> create answered
    until_answer: list[float]  # webhook sent -> webhook answered

    @property
    def median_exists(self) -> float:
        return statistics.median(self.until_exists)


def measure(sandbox: Sandbox, reps: int) -> Latency:
    add_page_and_accounts(sandbox, reps + 1, 1)
    env = firestore_env(sandbox, 1)
    exists: list[float] = []
    answered: list[float] = []
    with warm_function(env) as function:
        # Warm: the lock document, the connections and the component list.
        acknowledge(sandbox, ACCOUNT, reps)
        function.post(f"/{ACCOUNT}", ACK_V2).raise_for_status()
        set_latency(sandbox, PD_LATENCY_S, SP_LATENCY_S)
        for n in range(reps):
            acknowledge(sandbox, ACCOUNT, n)
            sandbox.clear_requests()
            sent = datetime.now(UTC)
            started = time.perf_counter()
            function.post(f"/{ACCOUNT}", ACK_V2).raise_for_status()
            answered.append(time.perf_counter() - started)
            [create] = [r for r in sandbox.requests(api="statuspage", method="POST")]
            # The sandbox logs each request with the wall clock when it answered.
            exists.append((datetime.fromisoformat(create["at"]) - sent).total_seconds())
    return Latency(exists, answered)


HEADERS = ["case", "n", "until incident exists, median s", "max s", "webhook answered, median s",
           "sum of unavoidable calls s", "overhead vs sum", "critical path s", "overhead vs critical path",
           "target", "original tool (modelled)"]


def row(result: Latency) -> list[str]:
    median = result.median_exists
    return ["150 ms PD, 250 ms SP, warm, Firestore lock", str(len(result.until_exists)), f"{median:.3f}",
            f"{max(result.until_exists):.3f}", f"{statistics.median(result.until_answer):.3f}",
            f"{UNAVOIDABLE_S:.3f}", f"{(median - UNAVOIDABLE_S) / UNAVOIDABLE_S:+.1%}", f"{CRITICAL_PATH_S:.3f}",
            f"{(median - CRITICAL_PATH_S) / CRITICAL_PATH_S:+.1%}", f"< {TARGET_OVERHEAD:.0%}",
            f"{ORIGINAL_S:.3f} s (sequential calls)"]
