"""Plain values shared by the clients and the reconcile core. No I/O here."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Statuspage component statuses, least to most severe. "under_maintenance" is
# never set by this service; it ranks below any outage so an outage wins.
COMPONENT_STATUSES = (
    "operational",
    "under_maintenance",
    "degraded_performance",
    "partial_outage",
    "major_outage",
)
OUTAGE_STATUSES = COMPONENT_STATUSES[2:]
# PagerDuty incident statuses that count as open.
OPEN_PD_STATUSES = ("triggered", "acknowledged")


def severity_rank(status: str) -> int:
    return COMPONENT_STATUSES.index(status)


def moment(value: Any) -> datetime | None:
    """An ISO 8601 time with its offset, as both APIs send times; None for anything else."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else None


@dataclass(frozen=True)
class PdIncident:
    """An open PagerDuty incident (status triggered or acknowledged)."""

    account: str
    id: str
    status: str  # "triggered" | "acknowledged"
    title: str = ""
    urgency: str = "high"  # "high" | "low"
    priority: str | None = None  # priority name, e.g. "P1"; None when unset
    component_ids: frozenset[str] = frozenset()
    html_url: str = ""
    # The hold-down (PAGERSTATUS_OPEN_AFTER) counts from these: when it was triggered,
    # and, while acknowledged, when it was first acknowledged. None: not known.
    created_at: datetime | None = None
    acknowledged_at: datetime | None = None


@dataclass(frozen=True)
class Component:
    """A Statuspage component, or a group of components (group=True: a tag naming it
    opens one incident over its members, the components whose group_id it is)."""

    id: str
    name: str
    status: str = "operational"
    group: bool = False
    group_id: str | None = None


@dataclass(frozen=True)
class SpIncident:
    """An unresolved Statuspage incident.

    owned: its metadata carries our key, so this service created it. legacy: its first
    update's body ends with the original tool's watermark line; adopted only when the
    policy says so. Any other incident is never written to.
    """

    id: str
    name: str
    status: str  # investigating | identified | monitoring
    created_at: str  # ISO 8601, as Statuspage returns it; sorts chronologically
    component_ids: frozenset[str] = frozenset()
    owned: bool = False
    # The components it lists, as Statuspage returns them with the incident: their
    # status is current on every read, unlike a cached component list's.
    components: tuple[Component, ...] = ()
    # The component or group id our metadata says it was opened for; None for others.
    opened_for: str | None = None
    legacy: bool = False
    # When it last entered the monitoring stage, and its newest update: the monitoring
    # window (PAGERSTATUS_MONITOR_FOR) counts from the later of the two.
    monitoring_at: datetime | None = None
    last_update_at: datetime | None = None


@dataclass(frozen=True)
class IncidentWrite:
    """Fields for creating or updating a Statuspage incident.

    components maps component id to the status to set; empty leaves components
    as they are. component_ids is the incident's whole list of affected components;
    None leaves the list as it is. deliver_notifications is always stated: whether
    subscribers hear of this write is the page owner's decision, never the API's default.
    """

    name: str | None = None
    status: str | None = None
    body: str | None = None
    components: dict[str, str] = field(default_factory=dict)
    metadata: dict | None = None
    component_ids: tuple[str, ...] | None = None
    deliver_notifications: bool = field(kw_only=True)
