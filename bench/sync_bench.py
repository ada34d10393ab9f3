"""How long one webhook-triggered sync takes, and how many upstream requests it
makes, as the world grows. PagerDuty gives a webhook 5 s to be answered.

Runs the real function (a functions-framework process) against the sandbox, with
a per-request latency injected on both APIs to model a network round trip, and
the sandbox's Statuspage rate limit on (60 deep, 1/s per key, reads included, as
Statuspage counts them). Prints plain-text tables; asserts nothing: speed goals
live here, never in tests.

    .venv/bin/python -m bench.sync_bench            # from the repository root; the full matrix, ~3 minutes
    .venv/bin/python -m bench.sync_bench --quick

Progress goes to stderr, the tables to stdout.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench.report import machine, percentile, table
from bench.world import (
    DEADLINE_S,
    account_names,
    add_page_and_accounts,
    component_id,
    count_syncs,
    set_latency,
    warm_function,
)
from tests.harness.function import RunningFunction
from tests.harness.sandbox import Sandbox, running_sandbox
from tests.harness.world import ACK_V2, PAGE_ID, function_env

WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


# --- what is measured -------------------------------------------------------------

@dataclass(frozen=True)
class World:
    accounts: int
    incidents: int  # open (acknowledged) PagerDuty incidents per account
    sp_unowned: int = 0  # unresolved Statuspage incidents nobody lets us touch (pagination)
    components: int = 10  # the incidents are spread over this many components
    tags_in: str = "both"  # "alerts": no tags in the trigger, one alerts GET per incident

    def label(self) -> str:
        text = f"{self.accounts}x{self.incidents} PD, {self.sp_unowned} SP"
        if self.components != 10:
            text += f", {self.components} comp"
        if self.tags_in == "alerts":
            text += ", tags in alerts"
        return text


@dataclass(frozen=True)
class SyncCase:
    """Each rep builds the world afresh: one first sync (opens a Statuspage incident
    per component), then `steady` syncs with nothing to write."""

    world: World
    latency_ms: int
    reps: int
    steady: int = 2


@dataclass(frozen=True)
class BurstCase:
    """`webhooks` concurrent webhooks to one function process."""

    world: World
    latency_ms: int
    webhooks: int = 50
    first: bool = False  # True: the burst lands on a page with nothing opened yet


@dataclass(frozen=True)
class Requests:
    pd_get: int = 0
    pd_alerts: int = 0  # of pd_get: the tag fallback, GET /incidents/<id>/alerts
    sp_get: int = 0
    sp_write: int = 0
    sp_429: int = 0

    @classmethod
    def of(cls, log: list[dict]) -> Requests:
        pd = [r for r in log if r["api"] == "pagerduty" and r["method"] == "GET"]
        sp = [r for r in log if r["api"] == "statuspage"]
        return cls(
            pd_get=len(pd),
            pd_alerts=sum(r["path"].endswith("/alerts") for r in pd),
            sp_get=sum(r["method"] == "GET" for r in sp),
            sp_write=sum(r["method"] in WRITE_METHODS for r in sp),
            sp_429=sum(r["status"] in (420, 429) for r in sp),
        )


@dataclass(frozen=True)
class Sample:
    seconds: float
    status: int
    syncs: int  # "sync planned" log lines the webhook caused
    requests: Requests


# --- the world, through the sandbox's control API -----------------------------------

def build_world(sandbox: Sandbox, world: World, latency_ms: int) -> None:
    """Reset the sandbox to exactly `world`, no webhook delivered, faults and limit set."""
    add_page_and_accounts(sandbox, world.components, world.accounts)
    for account in account_names(world.accounts):
        # Spread evenly: component n gets incidents // components (+1 for the first few).
        for n in range(world.components):
            count = world.incidents // world.components + (n < world.incidents % world.components)
            if count:
                sandbox.trigger(account, tags=f"component:{component_id(n)}", tags_in=world.tags_in,
                                status="acknowledged", deliver=False, count=count)
    for n in range(world.sp_unowned):
        sandbox.add_sp_incident(PAGE_ID, name=f"Maintenance note {n}", body="posted by a person")
    sandbox.rate_limit(True)  # Statuspage's defaults: 60 deep, 1 token/s
    set_latency(sandbox, latency_ms / 1000, latency_ms / 1000)
    sandbox.clear_requests()


# --- measuring ----------------------------------------------------------------------

def timed_post(function: RunningFunction, account: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = function.post(f"/{account}", ACK_V2)
    return time.perf_counter() - started, response.status_code


def one_webhook(sandbox: Sandbox, function: RunningFunction) -> Sample:
    sandbox.clear_requests()
    before = count_syncs(function)
    seconds, status = timed_post(function, account_names(1)[0])
    return Sample(seconds, status, count_syncs(function) - before, Requests.of(sandbox.requests()))


def run_sync_case(sandbox: Sandbox, case: SyncCase) -> tuple[list[Sample], list[Sample]]:
    """(first-sync samples, steady-state samples)."""
    first: list[Sample] = []
    steady: list[Sample] = []
    with warm_function(function_env(sandbox, account_names(case.world.accounts))) as function:
        for _ in range(case.reps):
            build_world(sandbox, case.world, case.latency_ms)
            first.append(one_webhook(sandbox, function))
            steady.extend(one_webhook(sandbox, function) for _ in range(case.steady))
    return first, steady


@dataclass(frozen=True)
class BurstResult:
    answers: list[tuple[float, int]]
    syncs: int
    requests: Requests


def run_burst(sandbox: Sandbox, case: BurstCase) -> BurstResult:
    with warm_function(function_env(sandbox, account_names(case.world.accounts))) as function:
        build_world(sandbox, case.world, case.latency_ms)
        if not case.first:
            one_webhook(sandbox, function)  # open everything: the burst finds nothing to write
        sandbox.clear_requests()
        before = count_syncs(function)
        # Released together, so they meet the first webhook's sync while it reads.
        barrier = threading.Barrier(case.webhooks)
        accounts = account_names(case.world.accounts)

        def deliver(n: int) -> tuple[float, int]:
            barrier.wait()
            return timed_post(function, accounts[n % len(accounts)])

        with ThreadPoolExecutor(max_workers=case.webhooks) as pool:
            answers = list(pool.map(deliver, range(case.webhooks)))
        return BurstResult(answers, count_syncs(function) - before, Requests.of(sandbox.requests()))


# --- the matrix ---------------------------------------------------------------------

def sync_cases(quick: bool) -> list[SyncCase]:
    reps = 2 if quick else 3
    # 0 ms: the floor (the in-process sandbox's own cost); 50 ms: a network round trip.
    floor = [World(1, 10), World(3, 500, 150)] if quick else [World(1, 10), World(1, 500), World(3, 500, 150)]
    grown = ([World(1, 10), World(3, 100), World(3, 500, 150)] if quick else
             [World(1, 10), World(1, 100), World(1, 500), World(3, 10), World(3, 100), World(3, 500),
              World(1, 10, 150), World(3, 500, 150)])
    cases = [SyncCase(world, 0, reps) for world in floor] + [SyncCase(world, 50, reps) for world in grown]
    # The tag fallback: one alerts GET per incident not yet in the per-process cache.
    cases.append(SyncCase(World(1, 100, tags_in="alerts"), 50, reps=1, steady=1))
    # More open incidents than the 1000-entry tag cache holds (3 x 350 = 1050): does it still help?
    if quick:
        cases.append(SyncCase(World(3, 350, tags_in="alerts"), 0, reps=1, steady=1))
    else:
        cases.append(SyncCase(World(3, 350, tags_in="alerts"), 50, reps=1, steady=1))
        # More opens than the client's 60-deep write bucket: the rest go out at 1/s.
        cases.append(SyncCase(World(1, 70, components=70), 50, reps=1, steady=1))
    return cases


def burst_cases(quick: bool) -> list[BurstCase]:
    if quick:
        return [BurstCase(World(3, 500, 150), 50)]
    return [BurstCase(World(1, 100), 0), BurstCase(World(3, 500, 150), 50),
            BurstCase(World(3, 500, 150), 50, first=True), BurstCase(World(3, 500, 150), 200)]


# --- output -------------------------------------------------------------------------

def per_sync(total: int, syncs: int) -> str:
    if not syncs:
        return "-"
    value = total / syncs
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def sync_row(name: str, case: SyncCase, samples: list[Sample]) -> list[str]:
    seconds = [s.seconds for s in samples]
    syncs = sum(s.syncs for s in samples)

    def total(field: str) -> int:
        return sum(getattr(s.requests, field) for s in samples)

    statuses = sorted({s.status for s in samples})
    return [name, case.world.label(), str(case.latency_ms), str(len(samples)),
            f"{statistics.median(seconds):.2f}", f"{max(seconds):.2f}",
            str(sum(x > DEADLINE_S for x in seconds)),
            per_sync(total("pd_get"), syncs), per_sync(total("pd_alerts"), syncs),
            per_sync(total("sp_get"), syncs), per_sync(total("sp_write"), syncs),
            str(total("sp_429")), per_sync(syncs, len(samples)), ",".join(map(str, statuses))]


SYNC_HEADERS = ["sync", "world (accounts x incidents)", "lat ms", "n", "median s", "max s", ">5s",
                "PD GET", "alerts", "SP GET", "SP wr", "429s", "syncs/wh", "HTTP"]


def burst_row(case: BurstCase, result: BurstResult) -> list[str]:
    seconds = [s for s, _ in result.answers]
    statuses = [status for _, status in result.answers]
    other = len(statuses) - statuses.count(200) - statuses.count(202)
    r = result.requests
    return ["first" if case.first else "steady", case.world.label(), str(case.latency_ms), str(case.webhooks),
            str(result.syncs), str(statuses.count(200)), str(statuses.count(202)), str(other),
            f"{percentile(seconds, 0.5):.2f}", f"{percentile(seconds, 0.95):.2f}", f"{max(seconds):.2f}",
            str(sum(x > DEADLINE_S for x in seconds)), str(r.pd_get), str(r.sp_get), str(r.sp_write),
            str(r.sp_429)]


BURST_HEADERS = ["burst onto", "world (accounts x incidents)", "lat ms", "webhooks", "syncs", "200", "202",
                 "other", "p50 s", "p95 s", "max s", ">5s", "PD GET", "SP GET", "SP wr", "429s"]


def header() -> str:
    threads = os.environ.get("THREADS", str((os.cpu_count() or 1) * 4))
    return f"pagerstatus sync bench  {machine()}  gunicorn threads={threads}  lock=memory"


LEGEND = """\
lat ms: latency injected on every PagerDuty and Statuspage request. n: webhooks timed.
first: the page has nothing open yet, the sync opens one incident per component;
steady: everything already open, nothing to write. Request columns are per sync
(PD GET includes `alerts`, the per-incident tag fallback); 429s is a total.
syncs/wh: "sync planned" log lines per webhook. The Statuspage limit is on (60 deep, 1/s,
reads count); the function's write bucket is process-wide, a fresh process per row."""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller matrix, under a minute")
    args = parser.parse_args(argv)
    started = time.monotonic()
    sync_rows: list[list[str]] = []
    burst_rows: list[list[str]] = []
    with running_sandbox() as sandbox:
        for case in sync_cases(args.quick):
            progress(f"{time.monotonic() - started:5.0f} s  sync  {case.world.label()} @ {case.latency_ms} ms")
            first, steady = run_sync_case(sandbox, case)
            sync_rows.append(sync_row("first", case, first))
            sync_rows.append(sync_row("steady", case, steady))
        for burst in burst_cases(args.quick):
            progress(f"{time.monotonic() - started:5.0f} s  burst {burst.webhooks} onto {burst.world.label()} "
                     f"@ {burst.latency_ms} ms")
            burst_rows.append(burst_row(burst, run_burst(sandbox, burst)))
    print(header())
    print()
    print(table(SYNC_HEADERS, sync_rows))
    print()
    print(table(BURST_HEADERS, burst_rows))
    print()
    print(LEGEND)
    print(f"\ntotal runtime {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
