"""One sync round: read everything, plan each page, write. The only place that joins
the clients to the reconcile core.

Reads happen first and must succeed: a failed read is never taken for "no incidents".
PagerDuty is read once for every page of the round; if any account fails, the round
stops before any write. A page that cannot be read (or whose writes fail) is that
page's failure alone: it gets no write after the failure, and the other pages go on.
Writes follow the reads, each behind its page's guard, so a holder that lost a page's
lease stops writing to that page.

Routing: every page is planned from all the open PagerDuty incidents, and the core
keeps what names something on that page (reconcile.plan skips the rest), so the rule
of what a tag may name lives in the core alone. A tag naming something on no page is
one Skip of every page's plan: it is logged once per round, and only when the round
planned every configured page (else it may be on a page another holder syncs).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from . import log
from .demand import NOT_ON_PAGE, UNDER_MAINTENANCE, Skip
from .errors import PagerstatusError
from .models import Component, IncidentWrite, PdIncident, SpIncident
from .policy import Policy
from .reconcile import Open, Plan, Resolve, Update, plan
from .statuspage import WRITES_IN_FLIGHT

Guard = Callable[[], None]

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
    """One page as this round read it."""

    page: StatusPage
    components: dict[str, Component]
    sp_incidents: list[SpIncident]


@dataclass(frozen=True)
class Round:
    """What a round did: a plan per page it planned, the error of each page it could not
    sync, and the tags naming something on no configured page."""

    plans: dict[str, Plan]
    failures: dict[str, PagerstatusError]
    skips: tuple[Skip, ...]


def sync_round(sources: Sequence[IncidentSource], open_page: Callable[[str], StatusPage],
               guards: Mapping[str, Guard], policy: Policy, *, every_page: bool, dry_run: bool = False,
               clock: Callable[[], datetime] = lambda: datetime.now(UTC),
               writes_in_flight: int = WRITES_IN_FLIGHT) -> Round:
    """Sync the pages of `guards` once. open_page(page_id) gives the page's client (it may
    fail: that page's failure); guards[page_id]() runs before each write to that page and
    raises to stop it. every_page: `guards` names every configured page. clock() is the
    moment the plans are made at (hold-down and monitoring windows are measured to it).
    writes_in_flight: the most Statuspage writes under way at once, over all pages (1: one
    after another)."""
    with ThreadPoolExecutor(max_workers=len(sources) + len(guards)) as pool:
        incident_reads = [pool.submit(source.open_incidents) for source in sources]
        page_reads = {page_id: pool.submit(_read, open_page, page_id) for page_id in guards}
        # .result() re-raises an account's failure: the round stops, nothing has been written.
        pd_incidents = [incident for read in incident_reads for incident in read.result()]
        observed, failures = _results(page_reads)
        # A tag naming a component no (possibly cached) list has may name one just added to
        # a page: list the pages afresh rather than skip the component until the copies
        # expire. A tag that names no component at all costs these reads each round.
        listed = {cid for seen in observed.values() for cid in seen.components}
        if any(cid not in listed for incident in pd_incidents for cid in incident.component_ids):
            fresh, failed = _results({page_id: pool.submit(seen.page.components, max_age=0)
                                      for page_id, seen in observed.items()})
            failures.update(failed)
            observed = {page_id: replace(observed[page_id], components=fresh[page_id]) for page_id in fresh}
        now = clock()
        plans, failed = _results({page_id: pool.submit(_planned, page_id, sources, pd_incidents, seen, policy, now)
                                  for page_id, seen in observed.items()})
        failures.update(failed)

    skips = _on_no_page(plans) if every_page and not failures else ()
    for skip in skips:
        log.warning("skipping tag: component on no configured page", action="skip", component=skip.component_id,
                    pd_incidents=_behind(skip.pd_incidents))
    # One pool of writers for every page of the round: the bound holds over all pages,
    # which may share one Statuspage key and so one token bucket.
    with ThreadPoolExecutor(max_workers=max(len(plans), 1)) as pool, \
            ThreadPoolExecutor(max_workers=writes_in_flight) as writers:
        writes = {page_id: pool.submit(apply, page_id, plans[page_id], observed[page_id].page, guards[page_id], dry_run,
                                       writers if writes_in_flight > 1 else None)
                  for page_id in plans}
        failures.update(_results(writes)[1])
    return Round({page_id: plans[page_id] for page_id in plans if page_id not in failures}, failures, skips)


def _read(open_page: Callable[[str], StatusPage], page_id: str) -> Observed:
    page = open_page(page_id)
    with ThreadPoolExecutor(max_workers=2) as pool:
        components = pool.submit(page.components)
        unresolved = pool.submit(page.unresolved_incidents)
        return Observed(page, components.result(), unresolved.result())


def _results(futures: Mapping[str, Future]) -> tuple[dict[str, Any], dict[str, PagerstatusError]]:
    """(results, errors) by page: a PagerstatusError is its page's failure; anything else raises."""
    results, errors = {}, {}
    for page_id, future in futures.items():
        try:
            results[page_id] = future.result()
        except PagerstatusError as exc:
            errors[page_id] = exc
    return results, errors


def _planned(page_id: str, sources: Sequence[IncidentSource], pd_incidents: list[PdIncident], seen: Observed,
             policy: Policy, now: datetime) -> Plan:
    result = plan(pd_incidents, with_current_statuses(seen.components, seen.sp_incidents), seen.sp_incidents,
                  policy, now)
    if result.opens:
        # Only an open depends on a status from the component list (under maintenance, it
        # is held), and the list may be an instance's copy from minutes ago: one from this
        # round will do, else read it afresh.
        components = with_current_statuses(seen.page.components(max_age=OPENING_LIST_MAX_AGE), seen.sp_incidents)
        result = plan(pd_incidents, components, seen.sp_incidents, policy, now)
    log.info("sync planned", action="plan", page=page_id, accounts=[s.account for s in sources],
             pd_incidents=len(pd_incidents), sp_incidents=len(seen.sp_incidents),
             opens=len(result.opens), updates=len(result.updates), resolves=len(result.resolves),
             pending=len(result.pending))
    return result


def _on_no_page(plans: Mapping[str, Plan]) -> tuple[Skip, ...]:
    """The skips every page's plan has: tags naming something on none of the pages."""
    skipped = [{skip.component_id: skip for skip in p.skips if skip.reason == NOT_ON_PAGE} for p in plans.values()]
    if not skipped:
        return ()
    everywhere = set(skipped[0]).intersection(*skipped[1:])
    return tuple(skip for cid, skip in skipped[0].items() if cid in everywhere)


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


def apply(page_id: str, plan: Plan, page: StatusPage, guard: Guard, dry_run: bool = False,
          writers: Executor | None = None) -> None:
    """Carry out the plan's writes; guard() runs right before each and raises to stop. Each
    write states whether subscribers are notified, as the plan decided. Skips of a tag on no
    page are not logged here: sync_round logs those once a round.

    writers: the round's pool the writes go out on together (None: one after another). The
    plan's writes need no order: each touches an incident of its own, and a component two of
    them set gets the same status from both (reconcile: a wanted component has one keeper or
    one open; what a write releases is set operational by any other that releases it). After
    the first failure no new write starts, those in flight finish, and the failure is raised.
    """
    mode = "dry-run: would " if dry_run else ""
    for skip in plan.skips:
        if skip.reason != NOT_ON_PAGE:
            # A component under maintenance is held on purpose; an empty group is a mistake.
            report = log.info if skip.reason == UNDER_MAINTENANCE else log.warning
            report("skipping tag: " + skip.reason, action="skip", page=page_id, component=skip.component_id,
                   pd_incidents=_behind(skip.pd_incidents))
    writes = [*(_opened(page_id, page, action, mode) for action in plan.opens),
              *(_updated(page_id, page, update, mode) for update in plan.updates),
              *(_resolved(page_id, page, resolve, mode) for resolve in plan.resolves)]
    if dry_run:
        for write in writes:
            write.logged(None)
    else:
        _write_all(writes, guard, writers)
    for pending in plan.pending:
        log.info(f"{pending.action} pending", action="pending", page=page_id, pending=pending.action,
                 target=pending.target, due=pending.due.isoformat(), pd_incidents=_behind(pending.pd_incidents))


@dataclass(frozen=True)
class _Write:
    """One Statuspage request of a plan, and its log line given what it answered."""

    send: Callable[[], Any]
    logged: Callable[[Any], None]


def _write_all(writes: Sequence[_Write], guard: Guard, writers: Executor | None) -> None:
    stopped = threading.Event()

    def write(one: _Write) -> None:
        if stopped.is_set():
            return  # an earlier write failed: no new one starts
        try:
            guard()
            answer = one.send()
        except BaseException:
            stopped.set()
            raise
        one.logged(answer)

    if writers is None:
        for one in writes:
            write(one)
        return
    futures = [writers.submit(write, one) for one in writes]
    wait(futures)  # those in flight finish before the failure is reported
    for future in futures:
        future.result()  # the first failure, in the plan's order, is the page's


def _opened(page_id: str, page: StatusPage, action: Open, mode: str) -> _Write:
    write = IncidentWrite(name=action.name, status="investigating", body=action.body, components=action.components,
                          component_ids=tuple(sorted(action.components)), metadata=action.metadata,
                          deliver_notifications=action.notify)
    return _Write(lambda: page.create_incident(write), lambda incident_id: log.info(
        f"{mode}open incident", action="open", page=page_id, component=action.target_id,
        components=action.components, notify=action.notify, incident=incident_id,
        pd_incidents=_behind(action.pd_incidents)))


def _updated(page_id: str, page: StatusPage, update: Update, mode: str) -> _Write:
    write = IncidentWrite(status=update.status, body=update.body, components=update.components,
                          component_ids=update.component_ids, deliver_notifications=update.notify)
    return _Write(lambda: page.update_incident(update.incident_id, write), lambda _: log.info(
        f"{mode}update incident", action="update", page=page_id, reason=update.reason,
        incident=update.incident_id, status=update.status, components=update.components,
        notify=update.notify, pd_incidents=_behind(update.pd_incidents)))


def _resolved(page_id: str, page: StatusPage, resolve: Resolve, mode: str) -> _Write:
    write = IncidentWrite(status="resolved", body=resolve.body, components=resolve.components,
                          deliver_notifications=resolve.notify)
    return _Write(lambda: page.update_incident(resolve.incident_id, write), lambda _: log.info(
        f"{mode}resolve incident", action="resolve", page=page_id, reason=resolve.reason,
        incident=resolve.incident_id, components=resolve.components, notify=resolve.notify))
