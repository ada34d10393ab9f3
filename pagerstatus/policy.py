"""What the page's owners decide: when a component opens and resolves, what the public
incident says, and which writes notify subscribers. Plain values; config.py reads them
from the environment, the README explains each for operators.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .models import OPEN_PD_STATUSES, PdIncident

DEFAULT_INCIDENT_NAME = "Investigating errors in {component}"
DEFAULT_INCIDENT_BODY = "We are investigating errors affecting {component}."
DEFAULT_MONITORING_BODY = "A fix has been implemented and we are monitoring the results."
DEFAULT_RESOLVED_BODY = "This incident has been resolved."

# The writes that may notify subscribers (PAGERSTATUS_NOTIFY):
#   open        an incident is created, or one in its monitoring stage relapses
#   escalate    an update raises a component's status while the incident stays open
#   deescalate  an update lowers one
#   monitoring  the move into the monitoring stage
#   resolve     the resolution (resolving a duplicate is housekeeping and never notifies)
NOTIFY_EVENTS = ("open", "escalate", "deescalate", "monitoring", "resolve")
DEFAULT_NOTIFY = frozenset({"open", "escalate", "resolve"})
DURING_MAINTENANCE = ("hold", "open")


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
    """The settings the plan depends on."""

    open_on: str = "acknowledged"  # or "triggered"
    severity: SeverityMap = field(default_factory=SeverityMap)
    incident_name: str = DEFAULT_INCIDENT_NAME
    incident_body: str = DEFAULT_INCIDENT_BODY
    monitoring_body: str = DEFAULT_MONITORING_BODY
    resolved_body: str = DEFAULT_RESOLVED_BODY
    notify: frozenset[str] = DEFAULT_NOTIFY
    # Hold-down: how long an opening incident must have been opening before its component opens.
    open_after: timedelta = timedelta(0)
    # How long a recovered incident stays in its monitoring stage; 0: it resolves at once.
    monitor_for: timedelta = timedelta(0)
    adopt_legacy: bool = False  # the original tool's incidents are ours too
    during_maintenance: str = "hold"  # or "open"

    @property
    def opening_statuses(self) -> frozenset[str]:
        return frozenset(OPEN_PD_STATUSES) if self.open_on == "triggered" else frozenset({"acknowledged"})

    def opening_since(self, incident: PdIncident) -> datetime | None:
        """Since when an incident in an opening status has been in one: opening on trigger,
        both open statuses count, so since it was triggered; else since its acknowledgement."""
        return incident.created_at if self.open_on == "triggered" else incident.acknowledged_at

    def notifies(self, *events: str) -> bool:
        return any(event in self.notify for event in events)
