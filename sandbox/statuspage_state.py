"""Statuspage in memory: pages, their components and component groups, and incidents with
their updates, created and changed as the API does it. The caller holds SandboxState.lock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sandbox.base import Ids, SandboxError, now

# Least to most severe (page.py's headline is the worst).
COMPONENT_STATUSES = ("operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")
REALTIME_STATUSES = ("investigating", "identified", "monitoring", "resolved")
NOT_FOUND = "The requested resource could not be found."


@dataclass
class Page:
    id: str
    name: str
    api_key: str
    created_at: datetime


@dataclass
class Component:
    id: str
    page_id: str
    name: str
    status: str  # a group's is its worst member's (StatuspageState.status_of)
    position: int
    created_at: datetime
    updated_at: datetime
    group: bool = False  # a component group: it only gathers components
    group_id: str | None = None  # the group this component is in


@dataclass
class IncidentUpdate:
    id: str
    incident_id: str
    status: str
    body: str
    created_at: datetime
    deliver_notifications: bool
    affected_components: list[dict]


@dataclass
class Incident:
    id: str
    page_id: str
    name: str
    created_at: datetime
    status: str = "investigating"
    impact: str = "none"
    updated_at: datetime | None = None
    resolved_at: datetime | None = None
    monitoring_at: datetime | None = None  # when it last entered monitoring
    metadata: dict = field(default_factory=dict)
    component_ids: list[str] = field(default_factory=list)
    updates: list[IncidentUpdate] = field(default_factory=list)  # oldest first


@dataclass
class IncidentChange:
    """The fields of one create/update request; None leaves a field as it is."""

    name: str | None = None
    status: str | None = None
    body: str | None = None
    component_statuses: dict[str, str] = field(default_factory=dict)
    component_ids: list[str] | None = None
    metadata: dict | None = None
    deliver_notifications: bool = True  # the API's default, on a create and an update alike


def impact(component_statuses: list[str]) -> str:
    """Statuspage derives an incident's impact from its worst component status."""
    for status, level in (("major_outage", "critical"), ("partial_outage", "major"),
                          ("degraded_performance", "minor")):
        if status in component_statuses:
            return level
    return "none"


class StatuspageState:
    def __init__(self, ids: Ids):
        self.ids = ids
        self.pages: dict[str, Page] = {}
        self.components: dict[str, Component] = {}
        self.incidents: dict[str, Incident] = {}

    def add_page(self, page_id: str, api_key: str, name: str, components: list[dict]) -> Page:
        """Create a page with components given as {"name", "id"?, "status"?, "group"?, "group_id"?}:
        group=True makes a component group; group_id puts a component in one of this page's groups."""
        if page_id in self.pages:
            raise SandboxError(409, f"page {page_id!r} exists")
        groups = {c.get("id") for c in components if c.get("group")}
        for spec in components:
            if spec.get("status", "operational") not in COMPONENT_STATUSES:
                raise SandboxError(400, f"component status {spec.get('status')!r} is not one of {COMPONENT_STATUSES}")
            if spec.get("id") in self.components:
                raise SandboxError(409, f"component {spec.get('id')!r} exists")
            if spec.get("group_id") is not None and (spec.get("group") or spec["group_id"] not in groups):
                raise SandboxError(400, f"group_id {spec['group_id']!r} is not a group of this page "
                                        "(groups do not nest)")
        at = now()
        page = self.pages[page_id] = Page(id=page_id, name=name, api_key=api_key, created_at=at)
        for position, spec in enumerate(components, start=1):
            component = Component(id=spec.get("id") or self.ids.statuspage(), page_id=page_id, name=spec["name"],
                                  status="operational" if spec.get("group") else spec.get("status", "operational"),
                                  position=position, created_at=at, updated_at=at, group=bool(spec.get("group")),
                                  group_id=spec.get("group_id"))
            self.components[component.id] = component
        return page

    def status_of(self, component: Component) -> str:
        """A component's status; a group's is its worst member's."""
        if not component.group:
            return component.status
        members = [c.status for c in self.components.values() if c.group_id == component.id]
        return max(members, key=COMPONENT_STATUSES.index, default="operational")

    def page(self, page_id: str) -> Page:
        if page_id not in self.pages:
            raise SandboxError(404, NOT_FOUND)
        return self.pages[page_id]

    def page_components(self, page_id: str) -> list[Component]:
        return sorted((c for c in self.components.values() if c.page_id == page_id), key=lambda c: c.position)

    def page_incidents(self, page_id: str) -> list[Incident]:
        """A page's incidents, newest first, as Statuspage lists them."""
        found = [i for i in self.incidents.values() if i.page_id == page_id]
        return sorted(found, key=lambda i: i.created_at, reverse=True)

    def incident(self, page_id: str, incident_id: str) -> Incident:
        incident = self.incidents.get(incident_id)
        if incident is None or incident.page_id != page_id:
            raise SandboxError(404, NOT_FOUND)
        return incident

    def create_incident(self, page_id: str, change: IncidentChange, created_at: datetime | None = None) -> Incident:
        if change.name is None:
            raise SandboxError(422, "Name can't be blank")
        self.page(page_id)
        at = created_at or now()
        incident = Incident(id=self.ids.statuspage(), page_id=page_id, name="", created_at=at)
        self._apply(incident, change, at, first_update=True)
        self.incidents[incident.id] = incident
        return incident

    def update_incident(self, page_id: str, incident_id: str, change: IncidentChange) -> Incident:
        incident = self.incident(page_id, incident_id)
        self._apply(incident, change, now(), first_update=False)
        return incident

    def age_incident(self, page_id: str, incident_id: str, seconds: float) -> Incident:
        """Move every time of an incident and its updates back by seconds, as if that long had
        passed since: for tests and demos of what depends on time (the monitoring window)."""
        incident = self.incident(page_id, incident_id)
        back = timedelta(seconds=seconds)
        for name in ("created_at", "updated_at", "resolved_at", "monitoring_at"):
            if (moment := getattr(incident, name)) is not None:
                setattr(incident, name, moment - back)
        for update in incident.updates:
            update.created_at -= back
        return incident

    def _check(self, incident: Incident, change: IncidentChange) -> None:
        """Refuse a change before any of it is written: a refused request changes nothing."""
        if change.name is not None and not change.name.strip():
            raise SandboxError(422, "Name can't be blank")
        if change.status is not None and change.status not in REALTIME_STATUSES:
            raise SandboxError(422, f"status must be one of {REALTIME_STATUSES} (scheduled incidents are not emulated)")
        if change.metadata is not None and not all(isinstance(v, dict) for v in change.metadata.values()):
            raise SandboxError(422, "Metadata top level values must be objects")
        for component_id in [*change.component_statuses, *(change.component_ids or [])]:
            component = self.components.get(component_id)
            if component is None or component.page_id != incident.page_id:
                raise SandboxError(422, f"Component {component_id} not found on page {incident.page_id}")
            if component.group:
                raise SandboxError(422, f"Component {component_id} is a group: name its components")
        for status in change.component_statuses.values():
            if status not in COMPONENT_STATUSES:
                raise SandboxError(422, f"component status {status!r} is not one of {COMPONENT_STATUSES}")

    def _apply(self, incident: Incident, change: IncidentChange, at: datetime, first_update: bool) -> None:
        self._check(incident, change)
        old_status = incident.status
        if change.name is not None:
            incident.name = change.name
        if change.status is not None:
            incident.status = change.status
        if change.metadata is not None:
            incident.metadata = change.metadata
        if change.component_ids is not None:
            incident.component_ids = list(dict.fromkeys(change.component_ids))
        for component_id in change.component_statuses:
            if component_id not in incident.component_ids:
                incident.component_ids.append(component_id)

        affected = []
        for component_id, status in change.component_statuses.items():
            component = self.components[component_id]
            if component.status != status:
                affected.append({"code": component.id, "name": component.name, "old_status": component.status,
                                 "new_status": status})
                component.status = status
                component.updated_at = at
        if incident.status != "resolved":  # a resolved incident keeps the impact it had
            incident.impact = impact([self.components[c].status for c in incident.component_ids])
        incident.updated_at = at
        if incident.status == "monitoring" and old_status != "monitoring":
            incident.monitoring_at = at
        if incident.status == "resolved" and old_status != "resolved":
            incident.resolved_at = at
        elif incident.status != "resolved":
            incident.resolved_at = None
        # Statuspage writes an incident update for the first message and whenever a
        # body or a status change is posted.
        if first_update or change.body is not None or incident.status != old_status:
            incident.updates.append(IncidentUpdate(
                id=self.ids.statuspage(), incident_id=incident.id, status=incident.status, body=change.body or "",
                created_at=at, deliver_notifications=change.deliver_notifications, affected_components=affected,
            ))
