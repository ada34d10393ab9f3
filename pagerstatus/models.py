"""Plain values shared by the clients and the reconcile core. No I/O here."""
from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class Component:
    """A Statuspage component."""

    id: str
    name: str
    status: str = "operational"


@dataclass(frozen=True)
class SpIncident:
    """An unresolved Statuspage incident.

    owned: created by this service (metadata or body marker) or by the original
    tool (its watermark in the body). Unowned incidents are never written to.
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


@dataclass(frozen=True)
class IncidentWrite:
    """Fields for creating or updating a Statuspage incident.

    components maps component id to the status to set; empty leaves components
    as they are.
    """

    name: str | None = None
    status: str | None = None
    body: str | None = None
    components: dict[str, str] = field(default_factory=dict)
    metadata: dict | None = None
