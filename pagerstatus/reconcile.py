"""The reconcile core: desired state from PagerDuty (demand.py), actual state from
Statuspage, the time, and a pure diff into a plan. No I/O: data in, plan out.

Rules (the README explains them for operators):
- Ours are the incidents whose metadata carries our key, and, when the policy adopts
  them, the original tool's. No other incident is ever in the plan; a component that
  one covers is not set operational by us, nor below the status it has.
- One incident of ours per wanted component: a component wanted through its group is
  kept by the group's incident; any other by the incident of ours covering it, the
  group's first, then a live one (not monitoring), then the oldest. The rest covering
  a wanted component are resolved as duplicates, silently.
- An incident of ours that keeps no wanted component moves to its monitoring stage
  (components operational) and resolves once it has been monitoring for the policy's
  time; wanted again meanwhile, the same incident goes back to investigating.
- Each write says whether it notifies subscribers (policy.notify); opens and resolves
  that are not due yet are listed with the time they become due.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from .demand import Demand, Pending, Skip, Wanted, demand
from .models import OUTAGE_STATUSES, Component, PdIncident, SpIncident, severity_rank
from .ownership import metadata_for
from .policy import Policy

MONITORING = "monitoring"


@dataclass(frozen=True)
class Open:
    target_id: str  # a component, or a group whose members the incident covers
    name: str
    body: str
    components: dict[str, str]  # component id -> status
    metadata: dict
    pd_incidents: tuple[PdIncident, ...]
    notify: bool


@dataclass(frozen=True)
class Update:
    incident_id: str
    components: dict[str, str]  # component id -> new status
    pd_incidents: tuple[PdIncident, ...]
    notify: bool
    reason: str  # "escalate", "deescalate" or "escalate, deescalate"; "monitoring"; "relapse"; "coverage"
    status: str | None = None  # the incident's new status; None leaves it
    body: str | None = None
    component_ids: tuple[str, ...] | None = None  # the whole list, when this update adds to it
    name: str = ""  # the incident's, for people reading a plan


@dataclass(frozen=True)
class Resolve:
    incident_id: str
    body: str
    components: dict[str, str]  # component id -> "operational"; may be empty
    reason: str  # "recovered" or "duplicate"
    notify: bool
    name: str = ""


@dataclass(frozen=True)
class Plan:
    wanted: dict[str, Wanted]
    opens: tuple[Open, ...] = ()
    updates: tuple[Update, ...] = ()
    resolves: tuple[Resolve, ...] = ()
    pending: tuple[Pending, ...] = ()
    skips: tuple[Skip, ...] = ()

    @property
    def writes(self) -> int:
        return len(self.opens) + len(self.updates) + len(self.resolves)


def _oldest_first(incident: SpIncident) -> tuple[str, str]:
    return (incident.created_at, incident.id)


def is_ours(incident: SpIncident, policy: Policy) -> bool:
    return incident.owned or (policy.adopt_legacy and incident.legacy)


def _subject(incident: SpIncident, components: Mapping[str, Component]) -> str:
    """What {component} means in a template for this incident: what it was opened for."""
    if incident.opened_for in components:
        return components[incident.opened_for].name
    names = sorted(components[c].name for c in incident.component_ids if c in components)
    return ", ".join(names) or incident.name


def _monitoring_due(incident: SpIncident, policy: Policy, now: datetime) -> datetime:
    """The monitoring window runs from the later of monitoring_at and the newest update."""
    known = [t for t in (incident.monitoring_at, incident.last_update_at) if t is not None]
    return max(known) + policy.monitor_for if known else now


def _moves(changes: Mapping[str, str], components: Mapping[str, Component]) -> list[str]:
    """The notification events of an update that changes these statuses."""
    ranks = [(severity_rank(components[c].status), severity_rank(s)) for c, s in changes.items()]
    return [event for event, moved in (("escalate", any(new > old for old, new in ranks)),
                                       ("deescalate", any(new < old for old, new in ranks))) if moved]


class _Index:
    """Incidents of ours by what they cover and what they were opened for, found once:
    a scan per component is quadratic on a page of a thousand open incidents."""

    def __init__(self, ours: list[SpIncident]):
        self.covering: dict[str, list[SpIncident]] = {}
        self.opened_for: dict[str, list[SpIncident]] = {}
        for incident in ours:
            for cid in incident.component_ids:
                self.covering.setdefault(cid, []).append(incident)
            if incident.opened_for:
                self.opened_for.setdefault(incident.opened_for, []).append(incident)

    def keeper(self, wanted: Wanted, component: Component, live: set[str]) -> SpIncident | None:
        """live: the ids of the incidents of ours that are open, or will be by this plan."""
        if wanted.via != wanted.component_id:  # only the group's own incident covers it
            candidates = self.opened_for.get(wanted.via, [])
        else:
            found = self.covering.get(wanted.component_id, []) + self.opened_for.get(wanted.component_id, [])
            candidates = list({i.id: i for i in found}.values())
        return min(candidates, default=None, key=lambda i: (
            # Its group's incident first: it covers the other members too, so one incident covers each.
            not (component.group_id and i.opened_for == component.group_id),
            i.id not in live,  # a live one, rather than relapsing one that is monitoring
            _oldest_first(i)))


def _assign(pd_incidents: list[PdIncident], components: Mapping[str, Component], open_now: frozenset[str],
            unowned_cover: frozenset[str], index: _Index, live: set[str], policy: Policy, now: datetime,
            ) -> tuple[Demand, dict[str, Wanted], dict[str, list[str]], dict[str, dict[str, str]]]:
    """The wanted components, which incident of ours keeps each (incident id -> components),
    and what must open for the others (target -> component -> status)."""
    desired = demand(pd_incidents, components, open_now, policy, now)
    wanted = dict(desired.wanted)
    # Where a person's incident also covers the component, never show less than
    # what they set: highest wins, whoever set it.
    for cid in wanted.keys() & unowned_cover:
        current = components[cid].status
        if current in OUTAGE_STATUSES and severity_rank(current) > severity_rank(wanted[cid].status):
            wanted[cid] = replace(wanted[cid], status=current)
    kept: dict[str, list[str]] = {}
    to_open: dict[str, dict[str, str]] = {}
    for cid, w in sorted(wanted.items()):
        keeper = index.keeper(w, components[cid], live)
        if keeper is None:
            to_open.setdefault(w.via, {})[cid] = w.status
        else:
            kept.setdefault(keeper.id, []).append(cid)
    return desired, wanted, kept, to_open


def plan(pd_incidents: Iterable[PdIncident], components: Mapping[str, Component], sp_incidents: Iterable[SpIncident],
         policy: Policy, now: datetime) -> Plan:
    """Diff what PagerDuty says against what Statuspage shows at `now` (an aware datetime)."""
    pd_incidents, sp_incidents = list(pd_incidents), list(sp_incidents)
    ours = sorted((i for i in sp_incidents if is_ours(i, policy)), key=_oldest_first)
    unowned_cover = frozenset().union(*(i.component_ids for i in sp_incidents if not is_ours(i, policy)))
    index = _Index(ours)

    def settled(moment: datetime) -> tuple[Demand, dict[str, Wanted], dict[str, list[str]], dict[str, dict[str, str]]]:
        # An incident of ours that is open (not monitoring) keeps what it covers open on any open
        # PagerDuty incident. One that relapses is open again: planned until no other relapses, so
        # that the next plan, seeing it open, finds nothing more to do.
        live = {i.id for i in ours if i.status != MONITORING}
        while True:
            open_now = frozenset().union(*(i.component_ids for i in ours if i.id in live),
                                         {i.opened_for for i in ours if i.id in live and i.opened_for})
            assigned = _assign(pd_incidents, components, open_now, unowned_cover, index, live, policy, moment)
            if assigned[2].keys() <= live:
                return assigned
            live |= assigned[2].keys()

    desired, wanted, kept, to_open = settled(now)

    def released(incident: SpIncident) -> dict[str, str]:
        """Its components we set to an outage that nothing wants or holds any more."""
        return {cid: "operational" for cid in sorted(incident.component_ids)
                if cid in components and cid not in wanted and cid not in unowned_cover
                and components[cid].status in OUTAGE_STATUSES}

    def behind(cids: Iterable[str]) -> tuple[PdIncident, ...]:
        return tuple({(i.account, i.id): i for c in cids for i in wanted[c].pd_incidents}.values())

    opens = tuple(
        Open(target_id=target, name=policy.incident_name.format(component=components[target].name),
             body=policy.incident_body.format(component=components[target].name), components=statuses,
             metadata=metadata_for(target), pd_incidents=behind(statuses), notify=policy.notifies("open"))
        for target, statuses in sorted(to_open.items()))

    updates: list[Update] = []
    resolves: list[Resolve] = []
    # Only a relapse can open a pending target before its own due time, and only an incident
    # of ours that is monitoring can relapse.
    relapsing = any(i.status == MONITORING for i in ours)
    pending = _earliest(desired.pending, lambda moment: settled(moment)[1]) if relapsing else list(desired.pending)
    for incident in ours:
        subject = _subject(incident, components)
        mine = kept.get(incident.id, [])
        if mine:
            changes = {cid: wanted[cid].status for cid in mine if components[cid].status != wanted[cid].status}
            changes.update(released(incident))
            adds = set(mine) - incident.component_ids
            component_ids = tuple(sorted(incident.component_ids | adds)) if adds else None
            if incident.status == MONITORING:
                updates.append(Update(incident.id, changes, behind(mine), policy.notifies("open"), "relapse",
                                      status="investigating", body=policy.incident_body.format(component=subject),
                                      component_ids=component_ids, name=incident.name))
            elif changes or component_ids:
                events = _moves(changes, components)
                updates.append(Update(incident.id, changes, behind(mine), policy.notifies(*events),
                                      ", ".join(events) or "coverage", component_ids=component_ids,
                                      name=incident.name))
        elif incident.component_ids & wanted.keys():
            resolves.append(Resolve(incident.id, policy.resolved_body.format(component=subject), released(incident),
                                    "duplicate", notify=False, name=incident.name))
        elif not policy.monitor_for or (incident.status == MONITORING
                                        and _monitoring_due(incident, policy, now) <= now):
            resolves.append(Resolve(incident.id, policy.resolved_body.format(component=subject), released(incident),
                                    "recovered", policy.notifies("resolve"), incident.name))
        elif incident.status != MONITORING:
            updates.append(Update(incident.id, released(incident), (), policy.notifies("monitoring"), "monitoring",
                                  status=MONITORING, body=policy.monitoring_body.format(component=subject),
                                  name=incident.name))
            pending.append(Pending("resolve", incident.id, incident.name, now + policy.monitor_for))
        else:
            pending.append(Pending("resolve", incident.id, incident.name, _monitoring_due(incident, policy, now)))
    return Plan(wanted=wanted, opens=opens, updates=tuple(updates), resolves=tuple(resolves),
                pending=tuple(sorted(pending, key=lambda p: (p.due, p.action, p.target))), skips=desired.skips)


def _earliest(pending: Iterable[Pending], wanted_at: Callable[[datetime], Mapping[str, Wanted]]) -> list[Pending]:
    """The pending opens, each due at the first moment it is wanted. That may be before its own
    hold-down ends: when another falls due and relapses a monitoring incident that covers it,
    that incident is open again, and so is what it covers. Only the other opens' due times can
    bring that about, so those are the moments to try."""
    pending = list(pending)
    moments = sorted({p.due for p in pending if p.action == "open"})
    tried: dict[datetime, Mapping[str, Wanted]] = {}
    earliest = []
    for p in pending:
        for moment in (m for m in moments if m < p.due) if p.action == "open" else ():
            if moment not in tried:
                tried[moment] = wanted_at(moment)
            if any(w.via == p.target for w in tried[moment].values()):
                p = replace(p, due=moment)
                break
        earliest.append(p)
    return earliest
