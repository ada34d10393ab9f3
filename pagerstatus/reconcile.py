"""The reconcile core: desired state from PagerDuty, actual state from Statuspage,
a pure diff into a plan. No I/O: data in, plan out.

Rules (the README explains them for operators):
- A component is wanted open when an open PagerDuty incident carrying its tag is
  in an opening status (acknowledged by default; triggered too when configured),
  and stays open while any open (triggered or acknowledged) incident carries it,
  so an acknowledgement timeout that re-triggers does not flap the page.
- Its status is the most severe among the open incidents carrying it.
- One owned Statuspage incident per component: the oldest is kept, later ones
  are resolved as duplicates.
- Unowned incidents are never in the plan; a component that an unowned
  unresolved incident covers is not set operational by us, nor below the
  status it has.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from .models import OPEN_PD_STATUSES, OUTAGE_STATUSES, Component, PdIncident, SpIncident, severity_rank
from .ownership import mark_body, metadata_for

OPEN_STATUSES = frozenset(OPEN_PD_STATUSES)
DEFAULT_INCIDENT_NAME = "Investigating errors in {component}"
DEFAULT_INCIDENT_BODY = "We are investigating errors affecting {component}."
DEFAULT_RESOLVED_BODY = "This incident has been resolved."


@dataclass(frozen=True)
class SeverityMap:
    """Maps a PagerDuty priority name or urgency to a Statuspage component status.

    A priority rule wins over an urgency rule; `default` covers the rest.
    """

    rules: Mapping[str, str] = field(default_factory=dict)  # lower-case key -> status
    default: str = "partial_outage"

    def status_for(self, priority: str | None, urgency: str | None) -> str:
        for key in (priority, urgency):
            if key and key.lower() in self.rules:
                return self.rules[key.lower()]
        return self.default


@dataclass(frozen=True)
class Policy:
    """The settings the diff depends on."""

    open_on: str = "acknowledged"  # or "triggered"
    severity: SeverityMap = field(default_factory=SeverityMap)
    incident_name: str = DEFAULT_INCIDENT_NAME
    incident_body: str = DEFAULT_INCIDENT_BODY
    resolved_body: str = DEFAULT_RESOLVED_BODY

    @property
    def opening_statuses(self) -> frozenset[str]:
        return OPEN_STATUSES if self.open_on == "triggered" else frozenset({"acknowledged"})


@dataclass(frozen=True)
class Wanted:
    """A component that should have an open incident, and why."""

    component_id: str
    status: str
    pd_incidents: tuple[PdIncident, ...]


@dataclass(frozen=True)
class Open:
    component_id: str
    name: str
    body: str
    status: str
    metadata: dict
    pd_incidents: tuple[PdIncident, ...]


@dataclass(frozen=True)
class Update:
    incident_id: str
    components: dict[str, str]  # component id -> new status
    pd_incidents: tuple[PdIncident, ...]


@dataclass(frozen=True)
class Resolve:
    incident_id: str
    body: str
    components: dict[str, str]  # component id -> "operational"; may be empty
    reason: str  # "recovered" or "duplicate"
    name: str = ""  # the incident's, for people reading a plan


@dataclass(frozen=True)
class Skip:
    component_id: str
    reason: str
    pd_incidents: tuple[PdIncident, ...]


@dataclass(frozen=True)
class Plan:
    wanted: dict[str, Wanted]
    opens: tuple[Open, ...] = ()
    updates: tuple[Update, ...] = ()
    resolves: tuple[Resolve, ...] = ()
    skips: tuple[Skip, ...] = ()

    @property
    def writes(self) -> int:
        return len(self.opens) + len(self.updates) + len(self.resolves)


def _oldest_first(incident: SpIncident) -> tuple[str, str]:
    return (incident.created_at, incident.id)


def wanted_components(
    pd_incidents: Iterable[PdIncident],
    already_open: set[str] | frozenset[str],
    policy: Policy,
) -> dict[str, Wanted]:
    """Components that should be open, with their status and the incidents behind them.

    already_open: components that an owned Statuspage incident covers now; they
    stay open on any open PagerDuty incident, not only an opening one.
    """
    carrying: dict[str, list[PdIncident]] = {}
    for incident in pd_incidents:
        if incident.status not in OPEN_STATUSES:
            continue
        for component_id in incident.component_ids:
            carrying.setdefault(component_id, []).append(incident)

    wanted: dict[str, Wanted] = {}
    for component_id, incidents in sorted(carrying.items()):
        opening = any(i.status in policy.opening_statuses for i in incidents)
        if not (opening or component_id in already_open):
            continue
        status = max(
            (policy.severity.status_for(i.priority, i.urgency) for i in incidents),
            key=severity_rank,
        )
        ordered = tuple(sorted(incidents, key=lambda i: (i.account, i.id)))
        wanted[component_id] = Wanted(component_id, status, ordered)
    return wanted


def plan(
    pd_incidents: Iterable[PdIncident],
    components: Mapping[str, Component],
    sp_incidents: Iterable[SpIncident],
    policy: Policy,
) -> Plan:
    """Diff what PagerDuty says against what Statuspage shows."""
    sp_incidents = list(sp_incidents)
    owned = sorted((i for i in sp_incidents if i.owned), key=_oldest_first)
    unowned_cover = frozenset().union(*(i.component_ids for i in sp_incidents if not i.owned))
    covered_by_owned = frozenset().union(*(i.component_ids for i in owned))

    wanted_all = wanted_components(pd_incidents, covered_by_owned, policy)
    skips = tuple(
        Skip(cid, "component not on the page", w.pd_incidents)
        for cid, w in wanted_all.items()
        if cid not in components
    )
    wanted = {cid: w for cid, w in wanted_all.items() if cid in components}
    # Where a person's incident also covers the component, never show less than
    # what they set: highest wins, whoever set it.
    for cid in wanted.keys() & unowned_cover:
        current = components[cid].status
        if current in OUTAGE_STATUSES and severity_rank(current) > severity_rank(wanted[cid].status):
            wanted[cid] = replace(wanted[cid], status=current)

    # The oldest owned incident covering a wanted component keeps it.
    keeper: dict[str, SpIncident] = {}
    for incident in owned:
        for component_id in sorted(incident.component_ids):
            if component_id in wanted and component_id not in keeper:
                keeper[component_id] = incident
    # Each keeper's components, found once: a scan per incident is quadratic
    # on a page of a thousand open incidents.
    kept: dict[str, list[str]] = {}
    for component_id, incident in keeper.items():
        kept.setdefault(incident.id, []).append(component_id)

    def released(incident: SpIncident) -> dict[str, str]:
        """Components of an incident that no owned keeper and no unowned incident holds."""
        return {
            cid: "operational"
            for cid in sorted(incident.component_ids)
            if cid in components
            and cid not in wanted
            and cid not in unowned_cover
            and components[cid].status != "operational"
        }

    opens = tuple(
        Open(
            component_id=cid,
            name=policy.incident_name.format(component=components[cid].name),
            body=mark_body(policy.incident_body.format(component=components[cid].name)),
            status=w.status,
            metadata=metadata_for(cid),
            pd_incidents=w.pd_incidents,
        )
        for cid, w in wanted.items()
        if cid not in keeper
    )

    updates = []
    for incident in owned:
        if incident.id not in kept:
            continue
        mine = sorted(kept[incident.id])
        changes = {cid: wanted[cid].status for cid in mine if components[cid].status != wanted[cid].status}
        changes.update(released(incident))
        if changes:
            behind = tuple(i for cid in mine for i in wanted[cid].pd_incidents)
            updates.append(Update(incident.id, changes, behind))

    resolves = tuple(
        Resolve(
            incident_id=incident.id,
            body=policy.resolved_body,
            components=released(incident),
            reason="duplicate" if incident.component_ids & wanted.keys() else "recovered",
            name=incident.name,
        )
        for incident in owned
        if incident.id not in kept
    )
    return Plan(wanted=wanted, opens=opens, updates=tuple(updates), resolves=resolves, skips=skips)
