"""PagerDuty in memory: accounts, services, monitors, incidents with their log entries and
alerts, and the user actions that change them. The caller holds SandboxState.lock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sandbox.base import Ids, SandboxError, now

OPEN_STATUSES = ("triggered", "acknowledged")
PRIORITY_NAMES = ("P1", "P2", "P3", "P4", "P5")
# Each user action: the statuses it applies to, and the status it leaves.
ACTIONS = {
    "acknowledge": (OPEN_STATUSES, "acknowledged"),  # re-acknowledging is allowed in PagerDuty
    "unacknowledge": (("acknowledged",), "triggered"),
    "resolve": (OPEN_STATUSES, "resolved"),
    "reopen": (("resolved",), "triggered"),
}


@dataclass
class Account:
    name: str
    api_key: str
    webhook_url: str | None = None
    webhook_version: int = 3  # 2 = Generic V2 Webhook, 3 = V3 webhook subscription
    webhook_secret: str | None = None  # signs X-PagerDuty-Signature when set
    webhook_token: str | None = None  # sent as X-Pagerstatus-Token when set
    subscription_id: str = ""


@dataclass
class Service:
    id: str
    account: str
    name: str


@dataclass
class Monitor:
    """A monitoring check (Datadog, Pingdom, ...) whose alerts carry fixed tags."""

    name: str
    account: str
    title: str
    tags: str | list[str]
    service: str


@dataclass
class LogEntry:
    id: str
    type: str  # trigger_log_entry, acknowledge_log_entry, ...
    incident_id: str
    created_at: datetime
    summary: str
    channel: dict  # full channel, details included
    by_user: bool  # agent is the sandbox user (True) or the service (False)


@dataclass
class Alert:
    id: str
    incident_id: str
    alert_key: str
    created_at: datetime
    status: str  # triggered | resolved
    summary: str
    details: dict


@dataclass
class Incident:
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
    # While acknowledged, each acknowledgement's time (PagerDuty lists none otherwise).
    acknowledgements: list[datetime] = field(default_factory=list)
    log_entry_ids: list[str] = field(default_factory=list)
    alert_ids: list[str] = field(default_factory=list)


def _check_priority(priority: str | None) -> None:
    if priority is not None and priority not in PRIORITY_NAMES:
        raise SandboxError(400, f"priority must be one of {PRIORITY_NAMES} or null")


class PagerDutyState:
    def __init__(self, ids: Ids):
        self.ids = ids
        self.accounts: dict[str, Account] = {}
        self.services: dict[str, Service] = {}
        self.monitors: dict[str, Monitor] = {}
        self.incidents: dict[str, Incident] = {}
        self.log_entries: dict[str, LogEntry] = {}
        self.alerts: dict[str, Alert] = {}
        self._incident_numbers: dict[str, int] = {}

    def put_account(self, account: Account) -> Account:
        """Create or replace an account's settings; its incidents stay."""
        if any(a.api_key == account.api_key and a.name != account.name for a in self.accounts.values()):
            raise SandboxError(409, "api_key already used by another account")
        old = self.accounts.get(account.name)
        account.subscription_id = old.subscription_id if old else self.ids.pagerduty()
        self.accounts[account.name] = account
        return account

    def account_by_key(self, api_key: str) -> Account | None:
        return next((a for a in self.accounts.values() if a.api_key == api_key), None)

    def account(self, name: str) -> Account:
        if name not in self.accounts:
            raise SandboxError(404, f"no PagerDuty account {name!r}")
        return self.accounts[name]

    def service(self, account: str, name: str) -> Service:
        """The account's service of that name, created on first use."""
        for service in self.services.values():
            if service.account == account and service.name == name:
                return service
        service = Service(id=self.ids.pagerduty(), account=account, name=name)
        self.services[service.id] = service
        return service

    def add_monitor(self, monitor: Monitor) -> Monitor:
        self.account(monitor.account)
        self.monitors[monitor.name] = monitor
        return monitor

    def trigger(self, account: str, title: str, service: str = "Default Service", urgency: str = "high",
                priority: str | None = None, tags: str | list[str] | None = None, tags_in: str = "both",
                created_at: datetime | None = None) -> Incident:
        """Open an incident as a monitor's alert would, with one alert and a trigger
        log entry; tags go to the trigger's channel details, the alert, or both."""
        if urgency not in ("high", "low"):
            raise SandboxError(400, "urgency must be high or low")
        _check_priority(priority)
        if tags_in not in ("trigger", "alerts", "both"):
            raise SandboxError(400, "tags_in must be trigger, alerts or both")
        if not (tags is None or isinstance(tags, str)
                or (isinstance(tags, list) and all(isinstance(t, str) for t in tags))):
            raise SandboxError(400, "tags must be a string or a list of strings")
        self.account(account)
        at = created_at or now()
        number = self._incident_numbers[account] = self._incident_numbers.get(account, 0) + 1
        key = self.ids.uuid().replace("-", "")
        details: dict = {"title": title}
        tagged = dict(details, tags=tags) if tags is not None else details
        incident = Incident(id=self.ids.pagerduty(), account=account, number=number, title=title,
                            service_id=self.service(account, service).id, status="triggered", urgency=urgency,
                            priority=priority, incident_key=key, created_at=at, updated_at=at, last_status_change_at=at)
        channel = {"type": "api", "summary": title, "description": title, "incident_key": key,
                   "details": tagged if tags_in in ("trigger", "both") else details}
        trigger = LogEntry(id=self.ids.pagerduty("R", 26), type="trigger_log_entry", incident_id=incident.id,
                           created_at=at, summary="Triggered through the API.", channel=channel, by_user=False)
        alert = Alert(id=self.ids.pagerduty(), incident_id=incident.id, alert_key=key, created_at=at,
                      status="triggered", summary=title,
                      details=tagged if tags_in in ("alerts", "both") else details)
        incident.log_entry_ids.append(trigger.id)
        incident.alert_ids.append(alert.id)
        self.incidents[incident.id] = incident
        self.log_entries[trigger.id] = trigger
        self.alerts[alert.id] = alert
        return incident

    def incident(self, incident_id: str) -> Incident:
        if incident_id not in self.incidents:
            raise SandboxError(404, f"no PagerDuty incident {incident_id!r}")
        return self.incidents[incident_id]

    def change_status(self, incident_id: str, action: str) -> LogEntry | None:
        """Apply acknowledge / unacknowledge / resolve / reopen as a user would; the log
        entry the action wrote (reopen writes none: PagerDuty's log entry types have no reopen)."""
        incident = self.incident(incident_id)
        allowed_from, target = ACTIONS[action]
        if incident.status not in allowed_from:
            raise SandboxError(409, f"cannot {action} an incident that is {incident.status}")
        at = now()
        if target != incident.status:  # acknowledging again adds an acknowledgement, not a status change
            incident.last_status_change_at = at
        incident.status = target
        incident.updated_at = at
        incident.acknowledgements = [*incident.acknowledgements, at] if action == "acknowledge" else []
        incident.resolved_at = at if action == "resolve" else None
        for alert_id in incident.alert_ids:
            self.alerts[alert_id].status = "resolved" if action == "resolve" else "triggered"
        if action == "reopen":
            return None
        entry = LogEntry(id=self.ids.pagerduty("R", 26), type=f"{action}_log_entry", incident_id=incident.id,
                         created_at=at, summary=f"{action.capitalize()}d by Sandbox Operator",
                         channel={"type": "website"}, by_user=True)
        incident.log_entry_ids.append(entry.id)
        self.log_entries[entry.id] = entry
        return entry

    def age(self, incident_id: str, seconds: float) -> Incident:
        """Move every time of an incident, its log entries and alerts back by seconds, as if that
        long had passed since: for tests and demos of what depends on time (the hold-down)."""
        incident = self.incident(incident_id)
        back = timedelta(seconds=seconds)
        for name in ("created_at", "updated_at", "last_status_change_at", "resolved_at"):
            if (moment := getattr(incident, name)) is not None:
                setattr(incident, name, moment - back)
        incident.acknowledgements = [at - back for at in incident.acknowledgements]
        for entry_id in incident.log_entry_ids:
            self.log_entries[entry_id].created_at -= back
        for alert_id in incident.alert_ids:
            self.alerts[alert_id].created_at -= back
        return incident

    def set_priority(self, incident_id: str, priority: str | None) -> None:
        _check_priority(priority)
        incident = self.incident(incident_id)
        incident.priority = priority
        incident.updated_at = now()
