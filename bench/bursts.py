"""Figure 2: a burst of webhooks at once over two function processes that share
the lock in the real Firestore emulator, as two Cloud Run instances would.

Before each burst the page is steady (10 components open, both processes warm)
and D distinct changes happen in PagerDuty (D incidents acknowledged on D more
components); then B webhooks go out at once, alternating between the processes
and the two accounts. Every API call takes 50 ms, a network round trip, so the
burst meets the syncs it sets off.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench import world
from bench.report import percentile
from pagerstatus.lock import RESYNC_SETTLE_SECONDS
from tests.harness.function import RunningFunction
from tests.harness.sandbox import Sandbox
from tests.harness.world import ACK_V2, PAGE_ID

BURSTS = (10, 100, 500)
CHANGES = 5  # D
OPEN_BEFORE = 10  # components already open when the burst starts
INCIDENTS_BEFORE = 50
ACCOUNTS = 2
LATENCY_S = 0.05
P99_TARGET_S = 1.0


@dataclass(frozen=True)
class BurstResult:
    webhooks: int
    settle_ms: int | None  # None: the default
    seconds: list[float]
    statuses: list[int]
    syncs: int
    creates: int  # Statuspage incidents opened during the burst
    open_per_component: dict[str, int]  # unresolved incidents per component afterwards

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for count in self.open_per_component.values() if count > 1)

    @property
    def answered_2xx(self) -> int:
        return sum(200 <= status < 300 for status in self.statuses)


async def _post(url: str, path: str, body: bytes) -> tuple[float, int]:
    """One webhook on its own connection, timed from connecting to the last byte."""
    parts = urlsplit(url)
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    await writer.drain()
    status_line = await reader.readline()
    await reader.read()  # the rest, until the server closes
    writer.close()
    return time.perf_counter() - started, int(status_line.split()[1])


async def _burst(targets: list[tuple[str, str]], body: bytes) -> list[tuple[float, int]]:
    # asyncio rather than threads: 500 client threads would fight the sandbox,
    # which runs in this process, for the GIL and slow down what they measure.
    return list(await asyncio.gather(*(asyncio.wait_for(_post(url, path, body), 30) for url, path in targets)))


def _open_per_component(sandbox: Sandbox) -> dict[str, int]:
    counts: dict[str, int] = {}
    for incident in sandbox.dump()["statuspage"]["incidents"]:
        if incident["page_id"] == PAGE_ID and incident["status"] != "resolved":
            for component in incident["component_ids"]:
                counts[component] = counts.get(component, 0) + 1
    return counts


def _acknowledge(sandbox: Sandbox, components: range, incidents: int) -> None:
    accounts = world.account_names(ACCOUNTS)
    for i, n in enumerate(components):
        count = incidents // len(components) + (i < incidents % len(components))
        world.acknowledge(sandbox, accounts[i % ACCOUNTS], n, count)


def run(sandbox: Sandbox, webhooks: int, settle_ms: int | None = None) -> BurstResult:
    """settle_ms: the function's PAGERSTATUS_RESYNC_SETTLE_MS (None: its default)."""
    world.add_page_and_accounts(sandbox, OPEN_BEFORE + CHANGES, ACCOUNTS)
    _acknowledge(sandbox, range(OPEN_BEFORE), INCIDENTS_BEFORE)
    world.set_latency(sandbox, LATENCY_S, LATENCY_S)
    sandbox.rate_limit(True)
    env = world.firestore_env(sandbox, ACCOUNTS)
    if settle_ms is not None:
        env["PAGERSTATUS_RESYNC_SETTLE_MS"] = str(settle_ms)
    with world.warm_function(env) as first, world.warm_function(env) as second:
        processes: list[RunningFunction] = [first, second]
        for process in processes:  # open the 10, and fill both processes' caches
            process.post(f"/{world.ACCOUNT}", ACK_V2).raise_for_status()
        _acknowledge(sandbox, range(OPEN_BEFORE, OPEN_BEFORE + CHANGES), CHANGES)
        sandbox.clear_requests()
        syncs_before = sum(world.count_syncs(p) for p in processes)
        accounts = world.account_names(ACCOUNTS)
        targets = [(processes[n % 2].url, f"/{accounts[(n // 2) % ACCOUNTS]}") for n in range(webhooks)]
        answers = asyncio.run(_burst(targets, json.dumps(ACK_V2).encode()))
        syncs = sum(world.count_syncs(p) for p in processes) - syncs_before
    creates = sum(r["method"] == "POST" for r in sandbox.requests(api="statuspage"))
    return BurstResult(webhooks, settle_ms, [s for s, _ in answers], [status for _, status in answers], syncs,
                       creates, _open_per_component(sandbox))


def _others(statuses: list[int]) -> str:
    others = sorted(status for status in statuses if not 200 <= status < 300)
    return f" ({', '.join(f'{others.count(s)}x{s}' for s in sorted(set(others)))})" if others else ""


HEADERS = ["burst B", "settle", "changes D", "syncs", "target syncs", "opened", "duplicates", "2xx", "p50 s", "p99 s",
           "max s", "target p99", "original tool (modelled)"]


def row(result: BurstResult) -> list[str]:
    settle = f"{RESYNC_SETTLE_SECONDS * 1000:.0f} ms (default)" if result.settle_ms is None else \
        f"{result.settle_ms} ms"
    return [str(result.webhooks), settle, str(CHANGES), str(result.syncs), f"<= {CHANGES + 2}", str(result.creates),
            str(result.duplicates), f"{result.answered_2xx}/{result.webhooks}" + _others(result.statuses),
            f"{percentile(result.seconds, 0.5):.3f}", f"{percentile(result.seconds, 0.99):.3f}",
            f"{max(result.seconds):.3f}", f"< {P99_TARGET_S:g} s",
            f"{result.webhooks} syncs, no lock"]
