"""Webhooks as PagerDuty delivers them to an account's configured URL.

V3 (webhook subscriptions): {"event": {...}} with one event and no tags.
V2 (Generic V2 Webhook, end of support but still delivering): {"messages": [...]}
with the incident and the log entry of the action.
Either is signed with `X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the raw body>`
when the account has a secret, and carries `X-Pagerstatus-Token` when it has a token.

Deliveries are prepared under SandboxState.lock and sent after letting it go, since
pagerstatus reacts by calling back into this server. One attempt per delivery: the
caller sees what pagerstatus answered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

import requests

from sandbox import pagerduty_json
from sandbox.base import now
from sandbox.pagerduty_state import Account, Incident, LogEntry, PagerDutyState

V2_EVENTS = {
    "trigger": "incident.trigger",
    "acknowledge": "incident.acknowledge",
    "unacknowledge": "incident.unacknowledge",
    "resolve": "incident.resolve",
}
# V2 had no events for reopening or priority changes.
V3_EVENTS = {
    "trigger": "incident.triggered",
    "acknowledge": "incident.acknowledged",
    "unacknowledge": "incident.unacknowledged",
    "resolve": "incident.resolved",
    "reopen": "incident.reopened",
    "priority": "incident.priority_updated",
}
DELIVERY_TIMEOUT = 5.0  # PagerDuty gives up on a delivery after 5 s


@dataclass(frozen=True)
class Delivery:
    id: str  # also the X-Webhook-Id header
    event: str
    url: str
    headers: dict[str, str]
    body: str  # the exact raw body sent


def sign(secret: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _v3_payload(state: PagerDutyState, base: str, incident: Incident, event_type: str, by_user: bool) -> dict:
    account = incident.account
    return {"event": {
        "id": state.ids.uuid(),
        "event_type": event_type,
        "resource_type": "incident",
        "occurred_at": now().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "agent": pagerduty_json.agent(state, base, incident, by_user),
        "client": None,
        "data": {
            "id": incident.id,
            "type": "incident",
            "self": f"{base}/incidents/{incident.id}",
            "html_url": pagerduty_json.web_url(account, f"/incidents/{incident.id}"),
            "number": incident.number,
            "status": incident.status,
            "incident_key": incident.incident_key,
            "created_at": pagerduty_json.timestamp(incident.created_at),
            "title": incident.title,
            "service": pagerduty_json.service_reference(state, base, incident.service_id),
            "assignees": [pagerduty_json.operator(base, account)] if incident.status != "resolved" else [],
            "escalation_policy": pagerduty_json.escalation_policy(base, account),
            "teams": [],
            "priority": pagerduty_json.priority_reference(base, account, incident.priority),
            "urgency": incident.urgency,
            "conference_bridge": None,
            "resolve_reason": None,
        },
    }}


def _v2_payload(state: PagerDutyState, base: str, account: Account, incident: Incident, event: str,
                entry: LogEntry) -> dict:
    service = state.services[incident.service_id]
    service_ref = pagerduty_json.service_reference(state, base, service.id)
    rendered = pagerduty_json.incident(state, base, incident, full_first_trigger=False)
    # V2 messages carry the full service object, the alert keys and some fields the
    # REST incident lacks.
    rendered.update(
        service={**service_ref, "type": "service", "name": service.name, "description": service.name},
        alerts=[{"alert_key": state.alerts[a].alert_key} for a in incident.alert_ids],
        impacted_services=[service_ref], metadata={}, external_references=[], importance=None, privilege=None,
        subscriber_requests=[], alert_grouping=None, basic_alert_grouping=None,
    )
    return {"messages": [{
        "event": event,
        "log_entries": [pagerduty_json.log_entry(state, base, entry)],
        "webhook": {
            "endpoint_url": account.webhook_url,
            "name": "pagerstatus",
            "description": None,
            "webhook_object": service_ref,
            "config": {},
            "outbound_integration": {
                "id": "PJFWPEP",
                "type": "outbound_integration_reference",
                "summary": "Generic V2 Webhook",
                "self": f"{base}/outbound_integrations/PJFWPEP",
                "html_url": None,
            },
            "accounts_addon": None,
            "id": account.subscription_id,
            "type": "webhook",
            "summary": "pagerstatus",
            "self": f"{base}/webhooks/{account.subscription_id}",
            "html_url": None,
        },
        "incident": rendered,
        "id": state.ids.uuid(),
        "created_on": pagerduty_json.timestamp(now()),
    }]}


def prepare(state: PagerDutyState, base: str, incident: Incident, action: str,
            entry: LogEntry | None) -> Delivery | None:
    """The delivery PagerDuty would make for this action, or None when the account
    has no webhook URL or its webhook version has no such event. Hold the lock."""
    account = state.accounts[incident.account]
    if account.webhook_url is None:
        return None
    if account.webhook_version == 2:
        event = V2_EVENTS.get(action)
        if event is None or entry is None:
            return None
        payload = _v2_payload(state, base, account, incident, event, entry)
    else:
        event = V3_EVENTS[action]
        payload = _v3_payload(state, base, incident, event, by_user=action != "trigger")
    body = json.dumps(payload)
    delivery_id = state.ids.uuid()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"PagerDuty-Webhook/V{account.webhook_version}.0",
        "X-Webhook-Id": delivery_id,
        "X-Webhook-Subscription": account.subscription_id,
    }
    if account.webhook_secret:
        headers["X-PagerDuty-Signature"] = sign(account.webhook_secret, body.encode())
    if account.webhook_token:
        headers["X-Pagerstatus-Token"] = account.webhook_token
    return Delivery(id=delivery_id, event=event, url=account.webhook_url, headers=headers, body=body)


def send(delivery: Delivery) -> dict:
    """POST the delivery once (hold no lock); what pagerstatus answered, JSON-decoded when it can be."""
    reported: dict = {"id": delivery.id, "event": delivery.event}
    try:
        answer = requests.post(delivery.url, data=delivery.body.encode(), headers=delivery.headers,
                               timeout=DELIVERY_TIMEOUT)
    except requests.RequestException as failure:
        return {**reported, "status": None, "body": None, "error": f"{type(failure).__name__}: {failure}"}
    try:
        body = answer.json()
    except ValueError:
        body = answer.text
    return {**reported, "status": answer.status_code, "body": body}
