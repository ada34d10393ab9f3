"""The desired state, from PagerDuty: which components should show an open incident
now, at which status and through which tag, and which are still held down. Pure.

A tag names a target: a component, or a group (then its incident covers the group's
members). A target is wanted when an open PagerDuty incident carrying it is in an
opening status and has been for the hold-down, or when an incident of ours is open
(not monitoring) for it, in which case any open PagerDuty incident keeps it: an
acknowledgement timeout that re-triggers does not flap the page.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from .models import OPEN_PD_STATUSES, Component, PdIncident, severity_rank
from .policy import Policy

# Why a tag gets no incident; the sync logs each.
NOT_ON_PAGE = "component not on the page"
EMPTY_GROUP = "group without components"
UNDER_MAINTENANCE = "component under maintenance (PAGERSTATUS_DURING_MAINTENANCE=hold)"


@dataclass(frozen=True)
class Wanted:
    """A component that should have an open incident, and why.

    via: the target whose incident covers it: the component itself, or its group
    when the group's tag wants it (then the group's status counts too)."""

    component_id: str
    status: str
    pd_incidents: tuple[PdIncident, ...]
    via: str


@dataclass(frozen=True)
class Pending:
    """An open or a resolve that becomes due later; a sync at or after `due` does it."""

    action: str  # "open" (target: a component or group id) or "resolve" (target: an incident id)
    target: str
    name: str
    due: datetime
    pd_incidents: tuple[PdIncident, ...] = ()


@dataclass(frozen=True)
class Skip:
    component_id: str
    reason: str
    pd_incidents: tuple[PdIncident, ...]


@dataclass(frozen=True)
class Demand:
    wanted: dict[str, Wanted]
    pending: tuple[Pending, ...]
    skips: tuple[Skip, ...]


def members(components: Mapping[str, Component], group_id: str) -> list[str]:
    """The components of a group, by id."""
    return sorted(cid for cid, c in components.items() if c.group_id == group_id and not c.group)


def _ordered(incidents: Iterable[PdIncident]) -> tuple[PdIncident, ...]:
    return tuple(sorted({(i.account, i.id): i for i in incidents}.values(), key=lambda i: (i.account, i.id)))


def _due(incidents: list[PdIncident], policy: Policy, now: datetime) -> datetime | None:
    """When the earliest opening incident has been opening for the hold-down; None when none is
    opening. An opening incident whose time is not known is due now."""
    opening = [i for i in incidents if i.status in policy.opening_statuses]
    if not opening:
        return None
    return min((since + policy.open_after) if (since := policy.opening_since(i)) else now for i in opening)


def demand(pd_incidents: Iterable[PdIncident], components: Mapping[str, Component], open_now: frozenset[str],
           policy: Policy, now: datetime) -> Demand:
    """open_now: the components and groups an incident of ours is open (and not monitoring) for."""
    carrying: dict[str, list[PdIncident]] = {}
    for incident in pd_incidents:
        if incident.status in OPEN_PD_STATUSES:
            for tag_id in incident.component_ids:
                carrying.setdefault(tag_id, []).append(incident)

    targets: dict[str, list[PdIncident]] = {}
    pending: list[Pending] = []
    skips: list[Skip] = []
    for tag_id, incidents in sorted(carrying.items()):
        target = components.get(tag_id)
        if target is None or (target.group and not members(components, tag_id)):
            skips.append(Skip(tag_id, NOT_ON_PAGE if target is None else EMPTY_GROUP, _ordered(incidents)))
            continue
        if tag_id not in open_now:
            due = _due(incidents, policy, now)
            if due is None:
                continue
            if due > now:
                pending.append(Pending("open", tag_id, target.name, due, _ordered(incidents)))
                continue
        targets[tag_id] = incidents

    # A component wanted through its group is covered by the group's incident, at the
    # higher of the group's status and its own: every open incident carrying it counts,
    # held down or not, as it will once the group's incident covers it.
    via = {member: tag_id for tag_id in targets if components[tag_id].group for member in members(components, tag_id)}
    wanted: dict[str, Wanted] = {}
    for cid in sorted(via.keys() | {t for t in targets if not components[t].group}):
        incidents = carrying.get(cid, []) + targets.get(via.get(cid, ""), [])
        status = max((policy.severity.status_for(i.priority, i.urgency) for i in incidents), key=severity_rank)
        wanted[cid] = Wanted(cid, status, _ordered(incidents), via.get(cid, cid))

    if policy.during_maintenance == "hold":
        for cid in [c for c in wanted if components[c].status == "under_maintenance" and c not in open_now]:
            skips.append(Skip(cid, UNDER_MAINTENANCE, wanted.pop(cid).pd_incidents))
    # A component wanted through its group now needs no hold-down of its own.
    return Demand(wanted, tuple(p for p in pending if p.target not in wanted), tuple(skips))
