"""Figure 5: the reconcile core at Statuspage's maximum page size.

1,100 components (Statuspage's limit per page) and 10,000 open PagerDuty
incidents (what PagerDuty lists at most: offset + limit <= 10,000), every
component named by about nine incidents. "first": nothing open on the page yet,
the plan opens 1,100 incidents; "steady": one owned incident per component,
the plan is empty. Time is the pure plan (reconcile.plan); memory the peak
Python allocation while planning (tracemalloc), inputs excluded.
"""
from __future__ import annotations

import statistics
import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime

from pagerstatus.models import Component, PdIncident, SpIncident
from pagerstatus.policy import Policy
from pagerstatus.reconcile import plan

COMPONENTS = 1_100
INCIDENTS = 10_000
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Scale:
    name: str
    writes: int
    seconds: list[float]
    peak_bytes: int


def world(open_on_page: bool) -> tuple[list[PdIncident], dict[str, Component], list[SpIncident]]:
    components = {f"comp{n:08d}": Component(f"comp{n:08d}", f"Component {n}",
                                            "partial_outage" if open_on_page else "operational")
                  for n in range(COMPONENTS)}
    ids = list(components)
    incidents = [PdIncident("acct0", f"P{n:07d}", "acknowledged", title=f"Incident {n}",
                            component_ids=frozenset({ids[n % COMPONENTS]})) for n in range(INCIDENTS)]
    owned = [SpIncident(f"sp{n:08d}", f"Investigating errors in Component {n}", "investigating",
                        f"2026-01-01T00:00:{n % 60:02d}.000000+00:00", frozenset({cid}), owned=True,
                        components=(components[cid],))
             for n, cid in enumerate(ids)] if open_on_page else []
    return incidents, components, owned


def measure(reps: int) -> list[Scale]:
    results = []
    for name, open_on_page in (("first", False), ("steady", True)):
        incidents, components, sp_incidents = world(open_on_page)
        seconds = []
        for _ in range(reps):
            started = time.perf_counter()
            result = plan(incidents, components, sp_incidents, Policy(), NOW)
            seconds.append(time.perf_counter() - started)
        tracemalloc.start()
        plan(incidents, components, sp_incidents, Policy(), NOW)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        results.append(Scale(name, result.writes, seconds, peak))
    return results


HEADERS = ["case", "plan writes", "n", "plan median s", "max s", "peak memory while planning"]


def rows(results: list[Scale]) -> list[list[str]]:
    return [[f"{COMPONENTS:,} components, {INCIDENTS:,} PD incidents, {r.name}", str(r.writes),
             str(len(r.seconds)), f"{statistics.median(r.seconds):.3f}", f"{max(r.seconds):.3f}",
             f"{r.peak_bytes / 2**20:.1f} MiB"] for r in results]
