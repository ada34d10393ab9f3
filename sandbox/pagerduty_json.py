"""PagerDuty REST v2 representations of the sandbox's objects, shaped like the real
API's responses. Callers hold PagerDutyState.lock while rendering.

`base` is the API base URL the client used (e.g. http://127.0.0.1:8900/pagerduty):
`self` links point back into the sandbox, `html_url`s at the account's web app.
"""

from __future__ import annotations

from datetime import datetime

from sandbox.pagerduty_state import Alert, Incident, LogEntry, PagerDutyState

# The one user who acts in the web app of every sandbox account.
OPERATOR_ID = "PSNDBX1"
OPERATOR_NAME = "Sandbox Operator"
ESCALATION_POLICY_ID = "PEPDFLT"


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def web_url(account: str, path: str) -> str:
    return f"https://{account}.pagerduty.com{path}"


def reference(base: str, account: str, kind: str, collection: str, object_id: str, summary: str,
              web_path: str | None = None) -> dict:
    """A {kind}_reference; its web page is /{collection}/{id} unless web_path says otherwise."""
    return {
        "id": object_id,
        "type": f"{kind}_reference",
        "summary": summary,
        "self": f"{base}/{collection}/{object_id}",
        "html_url": web_url(account, web_path or f"/{collection}/{object_id}"),
    }


def operator(base: str, account: str) -> dict:
    return reference(base, account, "user", "users", OPERATOR_ID, OPERATOR_NAME)


def service_reference(state: PagerDutyState, base: str, service_id: str) -> dict:
    service = state.services[service_id]
    return reference(base, service.account, "service", "services", service.id, service.name)


def agent(state: PagerDutyState, base: str, incident: Incident, by_user: bool) -> dict:
    """Who acted: the sandbox's user, or the incident's service (a trigger through the API)."""
    return operator(base, incident.account) if by_user else service_reference(state, base, incident.service_id)


def incident_reference(base: str, incident: Incident) -> dict:
    summary = f"[#{incident.number}] {incident.title}"
    return reference(base, incident.account, "incident", "incidents", incident.id, summary)


def escalation_policy(base: str, account: str) -> dict:
    return reference(base, account, "escalation_policy", "escalation_policies", ESCALATION_POLICY_ID, "Default")


def priority_reference(base: str, account: str, priority: str | None) -> dict | None:
    if priority is None:
        return None
    return reference(base, account, "priority", "priorities", f"PRIO00{priority[1]}", priority,
                     "/account/incident_priorities")


def log_entry_reference(base: str, entry: LogEntry, account: str) -> dict:
    return reference(base, account, entry.type, "log_entries", entry.id, entry.summary,
                     f"/incidents/{entry.incident_id}/log_entries/{entry.id}")


def log_entry(state: PagerDutyState, base: str, entry: LogEntry) -> dict:
    """A full log entry, its channel's details included."""
    incident = state.incidents[entry.incident_id]
    return {
        **log_entry_reference(base, entry, incident.account),
        "type": entry.type,
        "created_at": timestamp(entry.created_at),
        "agent": agent(state, base, incident, entry.by_user),
        "channel": entry.channel,
        "service": service_reference(state, base, incident.service_id),
        "incident": incident_reference(base, incident),
        "teams": [],
        "contexts": [],
        "event_details": {"description": incident.title},
    }


def incident(state: PagerDutyState, base: str, incident: Incident, full_first_trigger: bool) -> dict:
    """An incident as GET /incidents returns it; full_first_trigger mirrors
    include[]=first_trigger_log_entries."""
    trigger = state.log_entries[incident.log_entry_ids[0]]
    alerts = [state.alerts[a] for a in incident.alert_ids]
    last_entry = state.log_entries[incident.log_entry_ids[-1]]
    user = operator(base, incident.account)
    is_open = incident.status != "resolved"
    first_trigger = (log_entry(state, base, trigger) if full_first_trigger
                     else log_entry_reference(base, trigger, incident.account))
    return {
        **incident_reference(base, incident),
        "type": "incident",
        "incident_number": incident.number,
        "title": incident.title,
        "description": incident.title,
        "created_at": timestamp(incident.created_at),
        "updated_at": timestamp(incident.updated_at),
        "status": incident.status,
        "incident_key": incident.incident_key,
        "service": service_reference(state, base, incident.service_id),
        "assignments": [{"at": timestamp(incident.created_at), "assignee": user}] if is_open else [],
        "assigned_via": "escalation_policy",
        "last_status_change_at": timestamp(incident.last_status_change_at),
        "last_status_change_by": agent(state, base, incident, last_entry.by_user),
        "resolved_at": timestamp(incident.resolved_at) if incident.resolved_at else None,
        "first_trigger_log_entry": first_trigger,
        "alert_counts": {
            "all": len(alerts),
            "triggered": sum(a.status == "triggered" for a in alerts),
            "resolved": sum(a.status == "resolved" for a in alerts),
        },
        "is_mergeable": True,
        "escalation_policy": escalation_policy(base, incident.account),
        "teams": [],
        "pending_actions": [],
        "acknowledgements": [{"at": timestamp(at), "acknowledger": user} for at in incident.acknowledgements],
        "priority": priority_reference(base, incident.account, incident.priority),
        "incidents_responders": [],
        "responder_requests": [],
        "urgency": incident.urgency,
    }


def alert(state: PagerDutyState, base: str, alert: Alert) -> dict:
    incident = state.incidents[alert.incident_id]
    trigger = state.log_entries[incident.log_entry_ids[0]]
    return {
        "id": alert.id,
        "type": "alert",
        "summary": alert.summary,
        "self": f"{base}/incidents/{incident.id}/alerts/{alert.id}",
        "html_url": web_url(incident.account, f"/alerts/{alert.id}"),
        "created_at": timestamp(alert.created_at),
        "status": alert.status,
        "alert_key": alert.alert_key,
        "service": service_reference(state, base, incident.service_id),
        "first_trigger_log_entry": log_entry_reference(base, trigger, incident.account),
        "incident": incident_reference(base, incident),
        "suppressed": False,
        "severity": "critical",
        "body": {
            "type": "alert_body",
            "contexts": [],
            "details": alert.details,
            # Events API v2 alerts carry the same details again in the common event format.
            "cef_details": {
                "dedup_key": alert.alert_key,
                "description": alert.summary,
                "details": alert.details,
                "severity": "critical",
            },
        },
    }
