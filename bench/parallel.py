"""Figures 6 and 7: what runs at once, each next to the same sync one after another.

6. A first sync opening 40 components, every Statuspage call taking 250 ms: the webhook's
   answer with the writes one after another (PAGERSTATUS_WRITES_IN_FLIGHT=1) and eight at
   a time (the default). The floor of the one-after-another sync is 40 x 250 ms = 10 s.
7. A steady sync (nothing to write) of one account with 1,500 and 10,000 open incidents,
   every PagerDuty call taking 200 ms: the webhook's answer with the incident list's pages
   read one after another (PAGERSTATUS_PAGERDUTY_READS_IN_FLIGHT=1) and eight at a time
   after the first (the default). The one-after-another sum is pages x 200 ms. The same
   steady sync without latency is measured too: the CPU this machine spends on such a sync
   (the sandbox renders each page under its one state lock, in the bench's process).

A sync's reads must end within the request's 4 s read budget (http.READ_BUDGET_SECONDS,
issue 12): a steady sync whose reads take longer answers 503 at the budget, and the table
says so rather than a time.

Both run the function with the Firestore lock (the emulator): each write still passes the
lease check, shared by the writes in flight (lock.gate.SharedStep).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import requests

from bench import world
from tests.harness.sandbox import Sandbox
from tests.harness.world import ACK_V2

OPENS = 40
WRITE_LATENCY_S = 0.25
INCIDENT_COUNTS = (1_500, 10_000)
READ_LATENCY_S = 0.2
PER_PAGE = 100
IN_FLIGHT = 8


@dataclass(frozen=True)
class SideBySide:
    case: str
    calls: int  # the calls the latency applies to
    latency: float
    one_after_another: Answer
    parallel: Answer
    no_latency: Answer | None = None  # the same sync at once without latency: this machine's CPU floor

    @property
    def sum(self) -> float:
        return self.calls * self.latency


@dataclass(frozen=True)
class Answer:
    """The webhook's answer: its status and how long it took."""

    status: int
    seconds: float

    def __str__(self) -> str:
        return f"{self.seconds:.3f}" if self.status == 200 else f"{self.status} after {self.seconds:.3f} (read budget)"


def _answered(function: world.RunningFunction, may_run_out: bool = False) -> Answer:
    """may_run_out: a 503 of reads outlasting the read budget is a result, not a failure."""
    started = time.perf_counter()
    response = requests.post(f"{function.url}/{world.ACCOUNT}", json=ACK_V2, timeout=120)
    answer = Answer(response.status_code, time.perf_counter() - started)
    if response.status_code != 200 and not (may_run_out and response.status_code == 503):
        raise RuntimeError(f"expected 200, got {response.status_code} {response.text}")
    return answer


def opens(sandbox: Sandbox) -> SideBySide:
    answers = {}
    for in_flight in (1, IN_FLIGHT):
        world.add_page_and_accounts(sandbox, OPENS, 1)
        for n in range(OPENS):
            world.acknowledge(sandbox, world.ACCOUNT, n)
        env = {**world.firestore_env(sandbox, 1), "PAGERSTATUS_WRITES_IN_FLIGHT": str(in_flight)}
        with world.warm_function(env) as function:
            world.set_latency(sandbox, 0, WRITE_LATENCY_S)
            answers[in_flight] = _answered(function)
        created = len(sandbox.requests(api="statuspage", method="POST"))
        if created != OPENS:
            raise RuntimeError(f"expected {OPENS} opens, found {created}")
    return SideBySide(f"{OPENS} opens, {WRITE_LATENCY_S * 1000:.0f} ms per Statuspage call", OPENS,
                      WRITE_LATENCY_S, answers[1], answers[IN_FLIGHT])


def incident_pages(sandbox: Sandbox, incidents: int) -> SideBySide:
    world.add_page_and_accounts(sandbox, 1, 1)
    world.acknowledge(sandbox, world.ACCOUNT, 0, incidents, tags_in="trigger")
    answers = {}
    for in_flight in (1, IN_FLIGHT):
        env = {**world.firestore_env(sandbox, 1), "PAGERSTATUS_PAGERDUTY_READS_IN_FLIGHT": str(in_flight)}
        with world.warm_function(env) as function:
            sandbox.clear_faults()
            _answered(function, may_run_out=True)  # the first sync opens the component and fills the caches
            if in_flight == IN_FLIGHT:
                no_latency = _answered(function, may_run_out=True)
            world.set_latency(sandbox, READ_LATENCY_S, 0)
            sandbox.clear_requests()
            answers[in_flight] = _answered(function, may_run_out=True)
            sandbox.clear_faults()
        if [r for r in sandbox.requests(api="statuspage") if r["method"] != "GET"]:
            raise RuntimeError("a steady sync wrote")
    return SideBySide(f"{incidents:,} open incidents, {READ_LATENCY_S * 1000:.0f} ms per PagerDuty call, steady",
                      math.ceil(incidents / PER_PAGE), READ_LATENCY_S, answers[1], answers[IN_FLIGHT], no_latency)


HEADERS = ["case", "calls x latency s", "one after another, answered s", f"{IN_FLIGHT} at once, answered s",
           "at once / calls x latency", "target", "at once without latency s"]
TARGET = "< 0.5"  # of the one-after-another sum


def rows(results: list[SideBySide]) -> list[list[str]]:
    return [[result.case, f"{result.sum:.2f}", str(result.one_after_another), str(result.parallel),
             f"{result.parallel.seconds / result.sum:.2f}" if result.parallel.status == 200 else "-",
             TARGET + (", < 5 s" if result.calls == OPENS else "") if result.calls <= OPENS else "(none)",
             "-" if result.no_latency is None else str(result.no_latency)]
            for result in results]
