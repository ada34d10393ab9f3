"""Figure 1: API calls per sync against the floor.

With A accounts of N open incidents each, P status pages, M_p owned unresolved
Statuspage incidents on page p and K writes the pages need, a sync cannot do with
fewer than

    A * ceil(N/100) + sum over pages of ceil(M_p/100) + K

calls (lists page at 100), plus one component listing per page, instance and TTL:
PagerDuty is read once for every page, each page's unresolved incidents once. The
first sync runs on a fresh instance (component lists and alert tags not yet read);
the steady one on the same instance after K priorities changed.

The world: component n is on page n % P (the pages share one key), belongs to
account n % A and carries an owned incident at partial_outage; each account's N
incidents are spread over its components; every 10th carries its tags only in its
alerts (an Events API v2 integration); the first incident of K components is P1
(major_outage), so the first sync updates K incidents, and clearing those
priorities makes the steady sync update them back.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench import world
from tests.harness.function import RunningFunction
from tests.harness.sandbox import Sandbox
from tests.harness.world import ACK_V2, function_env

PER_PAGE = 100  # both APIs' list maximum
ALERTS_EVERY = 10  # every 10th incident has its tags only in its alerts
HEALTHY_COMPONENTS = 10  # components without an incident, listed all the same
SEVERITY = "P1=major_outage"
BUCKET = 60  # the function's Statuspage token bucket: 60 deep, 1/s
ORIGINAL_PD_LIMIT = 100  # the original tool read one page of acknowledged incidents


@dataclass(frozen=True)
class CallsCase:
    accounts: int  # A
    incidents: int  # N, open per account
    owned: int  # M, over all pages
    writes: int  # K
    pages: int = 1  # P

    def label(self) -> str:
        pages = f" P={self.pages}" if self.pages > 1 else ""
        return f"A={self.accounts} N={self.incidents} M={self.owned} K={self.writes}{pages}"

    @property
    def components(self) -> int:
        return self.owned + HEALTHY_COMPONENTS

    def on_page(self, count: int, page: int) -> int:
        """How many of components 0 .. count - 1 are on page `page` (component n is on page n % P)."""
        return len(range(page, count, self.pages))

    def floor(self, first: bool) -> int:
        per_page = sum(math.ceil(self.on_page(self.owned, p) / PER_PAGE)
                       + (math.ceil(self.on_page(self.components, p) / PER_PAGE) if first else 0)
                       for p in range(self.pages))
        return self.accounts * math.ceil(self.incidents / PER_PAGE) + per_page + self.writes

    def original(self, first: bool) -> str:
        """The original tool, modelled: a deployment per page, each reading one page of the
        sending account's acknowledged incidents, one unpaginated unresolved list, the
        components once per process; no severity, so none of the K updates."""
        seen = min(self.incidents, ORIGINAL_PD_LIMIT) / (self.accounts * self.incidents)
        return f"{(2 + first) * self.pages} (sees {seen:.0%} of incidents)"


CASES = [CallsCase(1, 10, 5, 2), CallsCase(3, 250, 120, 20), CallsCase(3, 250, 120, 20, pages=2),
         CallsCase(10, 1000, 500, 50)]
# The cases of a --quick run: the small ones, one of them over two pages.
QUICK_CASES = [case for case in CASES if case.incidents <= 250]


@dataclass(frozen=True)
class Calls:
    pd_lists: int
    pd_alerts: int
    sp_components: int
    sp_unresolved: int
    sp_writes: int
    refused: int  # 420/429 answers: a paced client gets none

    @property
    def total(self) -> int:
        return self.pd_lists + self.pd_alerts + self.sp_components + self.sp_unresolved + self.sp_writes

    @classmethod
    def of(cls, log: list[dict]) -> Calls:
        def count(api: str, test: Callable[[dict], bool]) -> int:
            return sum(r["api"] == api and test(r) for r in log)

        return cls(
            pd_lists=count("pagerduty", lambda r: r["path"] == "/incidents"),
            pd_alerts=count("pagerduty", lambda r: r["path"].endswith("/alerts")),
            sp_components=count("statuspage", lambda r: r["path"].endswith("/components")),
            sp_unresolved=count("statuspage", lambda r: r["path"].endswith("/incidents/unresolved")),
            sp_writes=count("statuspage", lambda r: r["method"] in ("POST", "PATCH", "PUT")),
            refused=count("statuspage", lambda r: r["status"] in (420, 429)),
        )


def build(sandbox: Sandbox, case: CallsCase) -> list[str]:
    """The world above; answers the ids of the K P1 incidents."""
    world.add_page_and_accounts(sandbox, case.components, case.accounts, case.pages)
    prioritised: list[str] = []
    for a, account in enumerate(world.account_names(case.accounts)):
        mine = [n for n in range(case.owned) if n % case.accounts == a]
        first = 0  # the account's running incident number: every 10th is tagged in its alerts only
        for i, n in enumerate(mine):
            count = case.incidents // len(mine) + (i < case.incidents % len(mine))
            numbers = range(first, first + count)
            first += count
            if n < case.writes:
                prioritised.append(world.acknowledge(sandbox, account, n, priority="P1")[0]["id"])
                numbers = numbers[1:]
            in_alerts = sum(j % ALERTS_EVERY == ALERTS_EVERY - 1 for j in numbers)
            for tags_in, how_many in (("trigger", len(numbers) - in_alerts), ("alerts", in_alerts)):
                if how_many:
                    world.acknowledge(sandbox, account, n, how_many, tags_in=tags_in)
            world.add_owned_incident(sandbox, world.component_id(n), page=world.page_of(n, case.pages))
    return prioritised


def one_sync(sandbox: Sandbox, function: RunningFunction, pages: int) -> Calls:
    sandbox.clear_requests()
    before = world.count_syncs(function)
    response = function.post(f"/{world.ACCOUNT}", ACK_V2)
    if response.status_code != 200 or world.count_syncs(function) != before + pages:
        raise RuntimeError(f"expected one sync of {pages} pages, got {response.status_code} {response.text} and "
                           f"{world.count_syncs(function) - before} pages synced")
    return Calls.of(sandbox.requests())


def measure(sandbox: Sandbox, case: CallsCase, progress: Callable[[str], None]) -> tuple[Calls, Calls]:
    """(first sync on a fresh instance, steady sync on the same instance)."""
    prioritised = build(sandbox, case)
    sandbox.rate_limit(True)  # Statuspage's: 60 deep, 1/s; a 429 would cost a call
    # This figure counts calls, not time: the sandbox renders every page in the bench's process,
    # and reading 10,000 incidents here outlasts the 4 s read budget of a webhook.
    env = function_env(sandbox, world.account_names(case.accounts), PAGERSTATUS_SEVERITY=SEVERITY,
                       STATUSPAGE_PAGE=",".join(world.page_id(p) for p in range(case.pages)),
                       PAGERSTATUS_READ_BUDGET_SECONDS="120")
    with world.warm_function(env) as function:
        started = time.monotonic()
        first = one_sync(sandbox, function, case.pages)
        for incident in prioritised:
            sandbox.set_priority(incident, None, deliver=False)
        # Counting, not timing: let the function's bucket refill so that pacing
        # does not outlast the webhook's HTTP timeout.
        spent = first.sp_components + first.sp_unresolved + first.sp_writes
        wait = spent + (spent - first.sp_components) - BUCKET - (time.monotonic() - started)
        if wait > 0:
            progress(f"        waiting {wait:.0f} s for the function's Statuspage bucket to refill")
            time.sleep(wait)
        steady = one_sync(sandbox, function, case.pages)
    for calls in (first, steady):
        if calls.sp_writes != case.writes:
            raise RuntimeError(f"{case.label()}: the world needed {calls.sp_writes} writes, not {case.writes}")
    return first, steady


HEADERS = ["case", "sync", "PD lists", "PD alerts", "SP components", "SP unresolved", "SP writes", "429s",
           "calls", "floor", "actual / floor", "original tool (modelled)"]


def rows(case: CallsCase, first: Calls, steady: Calls) -> list[list[str]]:
    return [[case.label(), name, str(c.pd_lists), str(c.pd_alerts), str(c.sp_components), str(c.sp_unresolved),
             str(c.sp_writes), str(c.refused), str(c.total), str(case.floor(is_first)),
             f"{c.total / case.floor(is_first):.3f}", case.original(is_first)]
            for name, c, is_first in (("first", first, True), ("steady", steady, False))]
