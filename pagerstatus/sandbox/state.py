"""In-memory state of the sandbox: PagerDuty accounts and incidents, Statuspage pages
and incidents, plus the test machinery (faults, rate limit, request log, webhook
deliveries).

Everything lives in one SandboxState guarded by one re-entrant lock. Handlers take
the lock for a whole read-modify-render step and release it before any network I/O
(webhook delivery calls back into this very server).
"""

from __future__ import annotations

import random
import string
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pagerstatus.sandbox.faults import FaultTable
from pagerstatus.sandbox.ratelimit import RateLimiter

PD_OPEN_STATUSES = ("triggered", "acknowledged")
SP_COMPONENT_STATUSES = (
    "operational",
    "under_maintenance",
    "degraded_performance",
    "partial_outage",
    "major_outage",
)
SP_REALTIME_STATUSES = ("investigating", "identified", "monitoring", "resolved")
PD_PRIORITY_NAMES = ("P1", "P2", "P3", "P4", "P5")


class SandboxError(Exception):
    """A request the sandbox refuses; each API renders it in its own error shape."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def now() -> datetime:
    return datetime.now(timezone.utc)


# --- PagerDuty ---------------------------------------------------------------


@dataclass
class PdAccount:
    name: str
    api_key: str
    webhook_url: str | None = None
    webhook_version: int = 3  # 2 = Generic V2 Webhook, 3 = V3 webhook subscription
    webhook_secret: str | None = None  # signs X-PagerDuty-Signature when set
    webhook_token: str | None = None  # sent as X-Pagerstatus-Token when set
    subscription_id: str = ""


@dataclass
class PdService:
    id: str
    account: str
    name: str


@dataclass
class PdMonitor:
    """A monitoring check (Datadog, Pingdom, ...) whose alerts carry fixed tags."""

    name: str
    account: str
    title: str
    tags: str | list[str]
    service: str


@dataclass
class PdLogEntry:
    id: str
    type: str  # trigger_log_entry, acknowledge_log_entry, ...
    incident_id: str
    created_at: datetime
    summary: str
    channel: dict  # full channel, details included
    by_user: bool  # agent is the sandbox user (True) or the service (False)


@dataclass
class PdAlert:
    id: str
    incident_id: str
    alert_key: str
    created_at: datetime
    status: str  # triggered | resolved
    summary: str
    details: dict


@dataclass
class PdIncident:
    id: str
    account: str
    number: int
    title: str
    service_id: str
    status: str  # triggered | acknowledged | resolved
    urgency: str
    priority: str | None  # "P1".."P5" or None
    incident_key: str
    created_at: datetime
    updated_at: datetime
    last_status_change_at: datetime
    resolved_at: datetime | None = None
    acknowledged_at: datetime | None = None
    log_entry_ids: list[str] = field(default_factory=list)
    alert_ids: list[str] = field(default_factory=list)


# --- Statuspage --------------------------------------------------------------


@dataclass
class SpPage:
    id: str
    name: str
    api_key: str
    created_at: datetime


@dataclass
class SpComponent:
    id: str
    page_id: str
    name: str
    status: str
    position: int
    created_at: datetime
    updated_at: datetime


@dataclass
class SpIncidentUpdate:
    id: str
    incident_id: str
    status: str
    body: str
    created_at: datetime
    deliver_notifications: bool
    affected_components: list[dict]


@dataclass
class SpIncident:
    id: str
    page_id: str
    name: str
    status: str
    impact: str
    impact_override: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    metadata: dict
    component_ids: list[str]
    updates: list[SpIncidentUpdate]  # oldest first


@dataclass
class SpIncidentChange:
    """The fields of one create/update request; None leaves a field as it is."""

    name: str | None = None
    status: str | None = None
    body: str | None = None
    component_statuses: dict[str, str] = field(default_factory=dict)
    component_ids: list[str] | None = None
    metadata: dict | None = None
    impact_override: str | None = None
    deliver_notifications: bool = True


# --- Test machinery ----------------------------------------------------------


@dataclass
class RequestRecord:
    api: str  # pagerduty | statuspage
    method: str
    path: str
    query: dict[str, list[str]]
    status: int | None  # None when the connection was dropped on purpose
    at: datetime


@dataclass
class WebhookDelivery:
    id: str  # also the X-Webhook-Id header
    account: str
    event: str
    url: str
    headers: dict[str, str]
    body: str  # the exact raw body sent
    status: int | None = None  # pagerstatus' HTTP status; None if unreachable
    response: object = None  # pagerstatus' answer, JSON-decoded when possible
    error: str | None = None


_PD_ID_CHARS = string.ascii_uppercase + string.digits
_SP_ID_CHARS = string.ascii_lowercase + string.digits


class SandboxState:
    """All sandbox data. Public methods lock; callers that render or combine several
    calls hold `lock` themselves (it is re-entrant)."""

    def __init__(self, rng_seed: int | None = None):
        """rng_seed fixes the ids for a reproducible run; by default they differ
        between runs, since pagerstatus may remember ids (X-Webhook-Id, incident ids)
        from an earlier run in its own storage."""
        self.lock = threading.RLock()
        self._rng = random.Random(rng_seed)
        # Survives reset(): no id is issued twice in one process.
        self._issued_ids: set[str] = set()
        self.faults = FaultTable()
        self.rate_limiter = RateLimiter()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.accounts: dict[str, PdAccount] = {}
            self.services: dict[str, PdService] = {}
            self.monitors: dict[str, PdMonitor] = {}
            self.incidents: dict[str, PdIncident] = {}
            self.log_entries: dict[str, PdLogEntry] = {}
            self.alerts: dict[str, PdAlert] = {}
            self.pages: dict[str, SpPage] = {}
            self.components: dict[str, SpComponent] = {}
            self.sp_incidents: dict[str, SpIncident] = {}
            self.requests: list[RequestRecord] = []
            self.deliveries: dict[str, WebhookDelivery] = {}
            self._incident_numbers: dict[str, int] = {}
            self.faults.clear()
            self.rate_limiter.configure(enabled=False)

    # --- ids ---

    def _new_id(self, make: Callable[[], str]) -> str:
        with self.lock:
            while (new := make()) in self._issued_ids:
                pass
            self._issued_ids.add(new)
            return new

    def pd_id(self, prefix: str = "P", length: int = 7) -> str:
        """A PagerDuty-style id: uppercase letters and digits after a prefix."""
        return self._new_id(lambda: prefix + "".join(self._rng.choices(_PD_ID_CHARS, k=length - len(prefix))))

    def sp_id(self) -> str:
        """A Statuspage-style id: 12 lowercase letters and digits."""
        return self._new_id(lambda: "".join(self._rng.choices(_SP_ID_CHARS, k=12)))

    def uuid(self) -> str:
        return self._new_id(lambda: str(uuid.UUID(int=self._rng.getrandbits(128), version=4)))

    # --- PagerDuty: accounts, services, monitors ---

    def put_account(self, account: PdAccount) -> PdAccount:
        """Create or replace an account's settings; its incidents stay."""
        with self.lock:
            old = self.accounts.get(account.name)
            account.subscription_id = old.subscription_id if old else self.pd_id()
            if any(a.api_key == account.api_key and a.name != account.name for a in self.accounts.values()):
                raise SandboxError(409, "api_key already used by another account")
            self.accounts[account.name] = account
            return account

    def account_by_key(self, api_key: str) -> PdAccount | None:
        with self.lock:
            return next((a for a in self.accounts.values() if a.api_key == api_key), None)

    def account(self, name: str) -> PdAccount:
        with self.lock:
            if name not in self.accounts:
                raise SandboxError(404, f"no PagerDuty account {name!r}")
            return self.accounts[name]

    def service(self, account: str, name: str) -> PdService:
        """The account's service of that name, created on first use."""
        with self.lock:
            for service in self.services.values():
                if service.account == account and service.name == name:
                    return service
            service = PdService(id=self.pd_id(), account=account, name=name)
            self.services[service.id] = service
            return service

    def add_monitor(self, monitor: PdMonitor) -> PdMonitor:
        with self.lock:
            self.account(monitor.account)
            self.monitors[monitor.name] = monitor
            return monitor

    # --- PagerDuty: incidents ---

    def trigger(
        self,
        account: str,
        title: str,
        service: str = "Default Service",
        urgency: str = "high",
        priority: str | None = None,
        tags: str | list[str] | None = None,
        tags_in: str = "both",
        incident_key: str | None = None,
        created_at: datetime | None = None,
    ) -> PdIncident:
        """Open an incident as a monitor's alert would, with one alert and a trigger
        log entry; tags go to the trigger's channel details, the alert, or both."""
        if urgency not in ("high", "low"):
            raise SandboxError(400, "urgency must be high or low")
        if priority is not None and priority not in PD_PRIORITY_NAMES:
            raise SandboxError(400, f"priority must be one of {PD_PRIORITY_NAMES} or null")
        if tags_in not in ("trigger", "alerts", "both"):
            raise SandboxError(400, "tags_in must be trigger, alerts or both")
        if tags is not None and not (
            isinstance(tags, str) or (isinstance(tags, list) and all(isinstance(t, str) for t in tags))
        ):
            raise SandboxError(400, "tags must be a string or a list of strings")
        with self.lock:
            self.account(account)
            at = created_at or now()
            number = self._incident_numbers.get(account, 0) + 1
            self._incident_numbers[account] = number
            key = incident_key or self._rng.randbytes(16).hex()
            details: dict = {"title": title}
            tagged = dict(details, tags=tags) if tags is not None else details
            incident = PdIncident(
                id=self.pd_id(),
                account=account,
                number=number,
                title=title,
                service_id=self.service(account, service).id,
                status="triggered",
                urgency=urgency,
                priority=priority,
                incident_key=key,
                created_at=at,
                updated_at=at,
                last_status_change_at=at,
            )
            trigger = PdLogEntry(
                id=self.pd_id("R", 26),
                type="trigger_log_entry",
                incident_id=incident.id,
                created_at=at,
                summary="Triggered through the API.",
                channel={
                    "type": "api",
                    "summary": title,
                    "description": title,
                    "incident_key": key,
                    "details": tagged if tags_in in ("trigger", "both") else details,
                },
                by_user=False,
            )
            alert = PdAlert(
                id=self.pd_id(),
                incident_id=incident.id,
                alert_key=key,
                created_at=at,
                status="triggered",
                summary=title,
                details=tagged if tags_in in ("alerts", "both") else details,
            )
            incident.log_entry_ids.append(trigger.id)
            incident.alert_ids.append(alert.id)
            self.incidents[incident.id] = incident
            self.log_entries[trigger.id] = trigger
            self.alerts[alert.id] = alert
            return incident

    def incident(self, incident_id: str) -> PdIncident:
        with self.lock:
            if incident_id not in self.incidents:
                raise SandboxError(404, f"no PagerDuty incident {incident_id!r}")
            return self.incidents[incident_id]

    def change_status(self, incident_id: str, action: str) -> tuple[PdIncident, PdLogEntry | None]:
        """Apply acknowledge / unacknowledge / resolve / reopen as a user would.

        Returns the incident and the log entry the action wrote (reopen writes none:
        PagerDuty's log entry types have no reopen)."""
        allowed_from = {
            "acknowledge": PD_OPEN_STATUSES,  # re-acknowledging is allowed in PagerDuty
            "unacknowledge": ("acknowledged",),
            "resolve": PD_OPEN_STATUSES,
            "reopen": ("resolved",),
        }
        target = {
            "acknowledge": "acknowledged",
            "unacknowledge": "triggered",
            "resolve": "resolved",
            "reopen": "triggered",
        }
        with self.lock:
            incident = self.incident(incident_id)
            if incident.status not in allowed_from[action]:
                raise SandboxError(409, f"cannot {action} an incident that is {incident.status}")
            at = now()
            incident.status = target[action]
            incident.updated_at = incident.last_status_change_at = at
            incident.acknowledged_at = at if action == "acknowledge" else None
            incident.resolved_at = at if action == "resolve" else None
            for alert_id in incident.alert_ids:
                self.alerts[alert_id].status = "resolved" if action == "resolve" else "triggered"
            if action == "reopen":
                return incident, None
            entry = PdLogEntry(
                id=self.pd_id("R", 26),
                type=f"{action}_log_entry",
                incident_id=incident.id,
                created_at=at,
                summary=f"{action.capitalize()}d by Sandbox Operator",
                channel={"type": "website"},
                by_user=True,
            )
            incident.log_entry_ids.append(entry.id)
            self.log_entries[entry.id] = entry
            return incident, entry

    def set_priority(self, incident_id: str, priority: str | None) -> PdIncident:
        if priority is not None and priority not in PD_PRIORITY_NAMES:
            raise SandboxError(400, f"priority must be one of {PD_PRIORITY_NAMES} or null")
        with self.lock:
            incident = self.incident(incident_id)
            incident.priority = priority
            incident.updated_at = now()
            return incident

    # --- Statuspage ---

    def add_page(
        self, page_id: str, api_key: str, name: str, components: list[tuple[str | None, str, str]]
    ) -> SpPage:
        """Create a page with components given as (id or None, name, status)."""
        with self.lock:
            if page_id in self.pages:
                raise SandboxError(409, f"page {page_id!r} exists")
            for component_id, _, status in components:
                if status not in SP_COMPONENT_STATUSES:
                    raise SandboxError(
                        400, f"component status {status!r} is not one of {SP_COMPONENT_STATUSES}"
                    )
                if component_id in self.components:
                    raise SandboxError(409, f"component {component_id!r} exists")
            at = now()
            page = SpPage(id=page_id, name=name, api_key=api_key, created_at=at)
            self.pages[page_id] = page
            for position, (component_id, component_name, status) in enumerate(components, start=1):
                component = SpComponent(
                    id=component_id or self.sp_id(),
                    page_id=page_id,
                    name=component_name,
                    status=status,
                    position=position,
                    created_at=at,
                    updated_at=at,
                )
                self.components[component.id] = component
            return page

    def page(self, page_id: str) -> SpPage:
        with self.lock:
            if page_id not in self.pages:
                raise SandboxError(404, "The requested resource could not be found.")
            return self.pages[page_id]

    def page_components(self, page_id: str) -> list[SpComponent]:
        with self.lock:
            return sorted(
                (c for c in self.components.values() if c.page_id == page_id), key=lambda c: c.position
            )

    def page_incidents(self, page_id: str) -> list[SpIncident]:
        """A page's incidents, newest first, as Statuspage lists them."""
        with self.lock:
            found = [i for i in self.sp_incidents.values() if i.page_id == page_id]
            return sorted(found, key=lambda i: i.created_at, reverse=True)

    def sp_incident(self, page_id: str, incident_id: str) -> SpIncident:
        with self.lock:
            incident = self.sp_incidents.get(incident_id)
            if incident is None or incident.page_id != page_id:
                raise SandboxError(404, "The requested resource could not be found.")
            return incident

    def create_sp_incident(
        self, page_id: str, change: SpIncidentChange, created_at: datetime | None = None
    ) -> SpIncident:
        if change.name is None:
            raise SandboxError(422, "Name can't be blank")
        with self.lock:
            self.page(page_id)
            at = created_at or now()
            incident = SpIncident(
                id=self.sp_id(),
                page_id=page_id,
                name="",
                status="investigating",
                impact="none",
                impact_override=None,
                created_at=at,
                updated_at=at,
                resolved_at=None,
                metadata={},
                component_ids=[],
                updates=[],
            )
            self._apply(incident, change, at, first_update=True)
            self.sp_incidents[incident.id] = incident
            return incident

    def update_sp_incident(self, page_id: str, incident_id: str, change: SpIncidentChange) -> SpIncident:
        with self.lock:
            incident = self.sp_incident(page_id, incident_id)
            self._apply(incident, change, now(), first_update=False)
            return incident

    def _apply(
        self, incident: SpIncident, change: SpIncidentChange, at: datetime, first_update: bool
    ) -> None:
        """Validate a change completely, then write it: a refused request changes nothing."""
        if change.name is not None and not change.name.strip():
            raise SandboxError(422, "Name can't be blank")
        if change.status is not None and change.status not in SP_REALTIME_STATUSES:
            raise SandboxError(
                422, f"status must be one of {SP_REALTIME_STATUSES} (scheduled incidents are not emulated)"
            )
        if change.metadata is not None and not all(isinstance(v, dict) for v in change.metadata.values()):
            raise SandboxError(422, "Metadata top level values must be objects")
        mentioned = list(change.component_statuses) + list(change.component_ids or [])
        for component_id in mentioned:
            component = self.components.get(component_id)
            if component is None or component.page_id != incident.page_id:
                raise SandboxError(422, f"Component {component_id} not found on page {incident.page_id}")
        for status in change.component_statuses.values():
            if status not in SP_COMPONENT_STATUSES:
                raise SandboxError(422, f"component status {status!r} is not one of {SP_COMPONENT_STATUSES}")

        old_status = incident.status
        if change.name is not None:
            incident.name = change.name
        if change.status is not None:
            incident.status = change.status
        if change.metadata is not None:
            incident.metadata = change.metadata
        if change.impact_override is not None:
            incident.impact_override = change.impact_override
        if change.component_ids is not None:
            incident.component_ids = list(dict.fromkeys(change.component_ids))
        for component_id in change.component_statuses:
            if component_id not in incident.component_ids:
                incident.component_ids.append(component_id)

        affected = []
        for component_id, status in change.component_statuses.items():
            component = self.components[component_id]
            if component.status != status:
                affected.append(
                    {
                        "code": component.id,
                        "name": component.name,
                        "old_status": component.status,
                        "new_status": status,
                    }
                )
                component.status = status
                component.updated_at = at
        if incident.status != "resolved":  # a resolved incident keeps the impact it had
            incident.impact = incident.impact_override or _impact(
                [self.components[c].status for c in incident.component_ids]
            )
        incident.updated_at = at
        if incident.status == "resolved" and old_status != "resolved":
            incident.resolved_at = at
        elif incident.status != "resolved":
            incident.resolved_at = None
        # Statuspage writes an incident update for the first message and whenever a
        # body or a status change is posted.
        if first_update or change.body is not None or incident.status != old_status:
            incident.updates.append(
                SpIncidentUpdate(
                    id=self.sp_id(),
                    incident_id=incident.id,
                    status=incident.status,
                    body=change.body or "",
                    created_at=at,
                    deliver_notifications=change.deliver_notifications,
                    affected_components=affected,
                )
            )

    # --- test machinery ---

    def log_request(self, record: RequestRecord) -> None:
        with self.lock:
            self.requests.append(record)

    def record_delivery(self, delivery: WebhookDelivery) -> None:
        with self.lock:
            self.deliveries[delivery.id] = delivery


def _impact(component_statuses: list[str]) -> str:
    """Statuspage derives an incident's impact from its worst component status."""
    if "major_outage" in component_statuses:
        return "critical"
    if "partial_outage" in component_statuses:
        return "major"
    if "degraded_performance" in component_statuses:
        return "minor"
    return "none"
