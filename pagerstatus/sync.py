"""One sync: read everything, plan, write. The only place that joins the
clients to the reconcile core.

Reads happen first and all of them must succeed: a failed read is never taken
for "no incidents". Writes follow, each behind the lock's guard, so a holder
that lost its lease stops before writing.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from . import log
from .demand import UNDER_MAINTENANCE
from .models import Component, IncidentWrite, PdIncident, SpIncident
from .policy import Policy
from .reconcile import Plan, plan

# Seconds: how old a component list may be for an open to go by the statuses it shows.
OPENING_LIST_MAX_AGE = 10.0


class IncidentSource(Protocol):
    account: str

    def open_incidents(self) -> list[PdIncident]: ...


class StatusPage(Protocol):
    def components(self, max_age: float | None = None) -> dict[str, Component]:
        """max_age: seconds; rather than a cached list older than that, read the page now
        (0: always; None: whatever the cache holds)."""

    def unresolved_incidents(self) -> list[SpIncident]: ...

    def create_incident(self, write: IncidentWrite) -> str: ...

    def update_incident(self, incident_id: str, write: IncidentWrite) -> None: ...


@dataclass(frozen=True)
class Observed:
    pd_incidents: list[PdIncident]
    components: dict[str, Component]
    sp_incidents: list[SpIncident]


def observe(sources: Sequence[IncidentSource], page: StatusPage) -> Observed:
    """Read every PagerDuty account and the page in parallel; any failure raises."""
    with ThreadPoolExecutor(max_workers=len(sources) + 2) as pool:
        incident_reads = [pool.submit(source.open_incidents) for source in sources]
        components = pool.submit(page.components)
        sp_incidents = pool.submit(page.unresolved_incidents)
        # .result() re-raises the first failure; nothing has been written yet.
        pd_incidents = [incident for read in incident_reads for incident in read.result()]
        unresolved = sp_incidents.result()
        listed = components.result()
        # A tag naming a component the (possibly cached) list lacks may name one just
        # added to the page: list it afresh rather than skip the component until the
        # cache expires. A tag that names no component at all costs this read each sync.
        if any(cid not in listed for incident in pd_incidents for cid in incident.component_ids):
            listed = page.components(max_age=0)
        return Observed(pd_incidents, with_current_statuses(listed, unresolved), unresolved)


def with_current_statuses(components: dict[str, Component], sp_incidents: Sequence[SpIncident]) -> dict[str, Component]:
    """The component list with each status as the unresolved incidents show it now.

    The list may be an instance's cached copy (statuspage.ComponentCache), its
    statuses as old as the copy. The plan compares statuses only of components
    that an unresolved incident covers, and each such incident, read this sync,
    carries its components' current status.
    """
    current = {c.id: c.status for incident in sp_incidents for c in incident.components}
    return {cid: replace(c, status=current[cid]) if cid in current and current[cid] != c.status else c
            for cid, c in components.items()}


def _behind(incidents: tuple[PdIncident, ...]) -> list[str]:
    return [f"{i.account}/{i.id}" for i in incidents]


def apply(plan: Plan, page: StatusPage, guard: Callable[[], None], dry_run: bool = False) -> None:
    """Carry out the plan's writes; guard() runs before each and raises to stop. Each write
    states whether subscribers are notified, as the plan decided."""
    mode = "dry-run: would " if dry_run else ""

    def write(call: Callable[..., Any], *args: Any) -> Any:
        if dry_run:
            return None
        guard()
        return call(*args)

    for skip in plan.skips:
        # A component under maintenance is held on purpose; a tag naming nothing is a mistake.
        report = log.info if skip.reason == UNDER_MAINTENANCE else log.warning
        report("skipping tag: " + skip.reason, action="skip", component=skip.component_id,
               pd_incidents=_behind(skip.pd_incidents))
    for action in plan.opens:
        incident_id = write(page.create_incident, IncidentWrite(
            name=action.name, status="investigating", body=action.body, components=action.components,
            component_ids=tuple(sorted(action.components)), metadata=action.metadata,
            deliver_notifications=action.notify))
        log.info(f"{mode}open incident", action="open", component=action.target_id, components=action.components,
                 notify=action.notify, incident=incident_id, pd_incidents=_behind(action.pd_incidents))
    for update in plan.updates:
        write(page.update_incident, update.incident_id, IncidentWrite(
            status=update.status, body=update.body, components=update.components,
            component_ids=update.component_ids, deliver_notifications=update.notify))
        log.info(f"{mode}update incident", action="update", reason=update.reason, incident=update.incident_id,
                 status=update.status, components=update.components, notify=update.notify,
                 pd_incidents=_behind(update.pd_incidents))
    for resolve in plan.resolves:
        write(page.update_incident, resolve.incident_id, IncidentWrite(
            status="resolved", body=resolve.body, components=resolve.components,
            deliver_notifications=resolve.notify))
        log.info(f"{mode}resolve incident", action="resolve", reason=resolve.reason, incident=resolve.incident_id,
                 components=resolve.components, notify=resolve.notify)
    for pending in plan.pending:
        log.info(f"{pending.action} pending", action="pending", pending=pending.action, target=pending.target,
                 due=pending.due.isoformat(), pd_incidents=_behind(pending.pd_incidents))


def utc_now() -> datetime:
    return datetime.now(UTC)


def sync_once(sources: Sequence[IncidentSource], page: StatusPage, policy: Policy,
              guard: Callable[[], None], dry_run: bool = False, clock: Callable[[], datetime] = utc_now) -> Plan:
    observed = observe(sources, page)
    now = clock()
    result = plan(observed.pd_incidents, observed.components, observed.sp_incidents, policy, now)
    if result.opens:
        # Only an open depends on a status from the component list (under maintenance, it
        # is held), and the list may be an instance's copy from minutes ago: one from this
        # sync will do, else read it afresh.
        components = with_current_statuses(page.components(max_age=OPENING_LIST_MAX_AGE), observed.sp_incidents)
        result = plan(observed.pd_incidents, components, observed.sp_incidents, policy, now)
    log.info("sync planned", action="plan", accounts=[s.account for s in sources],
             pd_incidents=len(observed.pd_incidents), sp_incidents=len(observed.sp_incidents),
             opens=len(result.opens), updates=len(result.updates), resolves=len(result.resolves),
             pending=len(result.pending))
    apply(result, page, guard, dry_run)
    return result
