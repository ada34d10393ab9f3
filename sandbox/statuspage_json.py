"""Statuspage REST v1 representations of the sandbox's objects, shaped like the real
API's responses (including the nulls it really returns). Callers hold
StatuspageState.lock while rendering."""

from __future__ import annotations

from datetime import datetime

from sandbox.statuspage_state import Component, Incident, IncidentUpdate, StatuspageState


def timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def component(state: StatuspageState, item: Component) -> dict:
    return {
        "id": item.id,
        "page_id": item.page_id,
        "group_id": item.group_id,  # null outside a group, as the real API answers
        "created_at": timestamp(item.created_at),
        "updated_at": timestamp(item.updated_at),
        "group": item.group,
        "name": item.name,
        "description": None,
        "position": item.position,
        "status": state.status_of(item),
        "showcase": True,
        "only_show_if_degraded": False,
        "automation_email": f"component+{item.id}@notifications.statuspage.io",
    }


def incident_update(update: IncidentUpdate) -> dict:
    return {
        "id": update.id,
        "incident_id": update.incident_id,
        "status": update.status,
        "body": update.body,
        "created_at": timestamp(update.created_at),
        "updated_at": timestamp(update.created_at),
        "display_at": timestamp(update.created_at),
        "affected_components": update.affected_components,
        "deliver_notifications": update.deliver_notifications,
    }


def incident(state: StatuspageState, item: Incident) -> dict:
    return {
        "id": item.id,
        "name": item.name,
        "status": item.status,
        "impact": item.impact,
        "created_at": timestamp(item.created_at),
        "updated_at": timestamp(item.updated_at),
        "started_at": timestamp(item.created_at),
        "resolved_at": timestamp(item.resolved_at) if item.resolved_at else None,
        "monitoring_at": timestamp(item.monitoring_at) if item.monitoring_at else None,
        "shortlink": f"https://stspg.io/{item.id[:9]}",
        "page_id": item.page_id,
        "metadata": item.metadata,
        "components": [component(state, state.components[c]) for c in item.component_ids],
        # Statuspage lists updates newest first.
        "incident_updates": [incident_update(u) for u in reversed(item.updates)],
    }
