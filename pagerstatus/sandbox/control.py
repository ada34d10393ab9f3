"""The sandbox's own control API under /_sandbox, a prefix neither real API uses:
set up accounts and pages, drive PagerDuty incidents (delivering their webhooks),
inject faults, switch the Statuspage rate limit, and inspect or reset everything.
Errors answer {"error": "..."}."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

from flask import Blueprint, Response, jsonify, request

from pagerstatus.sandbox import pagerduty_api, pagerduty_json, statuspage_api, statuspage_json, webhooks
from pagerstatus.sandbox.google_oidc import GOOGLE_ISSUER, OidcIssuer
from pagerstatus.sandbox.seed import seed_demo
from pagerstatus.sandbox.state import (
    PdAccount,
    PdIncident,
    SandboxError,
    SandboxState,
    WebhookDelivery,
)

PREFIX = "/_sandbox"
STATUS_ACTIONS = ("acknowledge", "unacknowledge", "resolve", "reopen")
# An incident created with one of these statuses goes through this action after its trigger.
_ACTION_TO_REACH = {"triggered": None, "acknowledged": "acknowledge", "resolved": "resolve"}
_MISSING = object()


def _body() -> dict:
    if not request.data:
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise SandboxError(400, "the body must be a JSON object")
    return data


def _field(data: dict, name: str, kind: type | tuple[type, ...], default: object = _MISSING) -> object:
    """data[name] checked against kind; a missing field takes default or is refused.
    An explicit null passes when default is None."""
    value = data.get(name, default)
    if value is _MISSING:
        raise SandboxError(400, f"{name} is required")
    if value is None and default is None:
        return None
    # bool is an int in Python; a count of True is a mistake, not 1.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise SandboxError(400, f"{name} has the wrong type")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _timestamp(data: dict, name: str) -> datetime | None:
    raw = _field(data, name, str, None)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise SandboxError(400, f"{name} must be an ISO 8601 timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def plain(value: object) -> object:
    """Dataclasses, datetimes and containers as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def create_blueprint(state: SandboxState) -> Blueprint:
    blueprint = Blueprint("control", __name__, url_prefix=PREFIX)

    @blueprint.errorhandler(SandboxError)
    def refused(error: SandboxError) -> tuple[Response, int]:
        return jsonify({"error": error.message}), error.status

    def pd_base() -> str:
        return request.url_root.rstrip("/") + pagerduty_api.PREFIX

    def deliver(prepared: WebhookDelivery | None) -> dict | None:
        if prepared is None:
            return None
        delivered = webhooks.send(prepared)
        state.record_delivery(delivered)
        return webhooks.summary(delivered)

    def step(incident_id: str, action: str, send: bool, priority: str | None = None) -> dict | None:
        """One user action on an incident, then its webhook (outside the lock)."""
        with state.lock:
            if action == "priority":
                incident, entry = state.set_priority(incident_id, priority), None
            else:
                incident, entry = state.change_status(incident_id, action)
            prepared = webhooks.prepare(state, pd_base(), incident, action, entry) if send else None
        return deliver(prepared)

    def rendered(incident: PdIncident) -> dict:
        with state.lock:
            return pagerduty_json.incident(state, pd_base(), incident, full_first_trigger=True)

    # --- inspection and reset ---

    @blueprint.get("/state")
    def dump() -> Response:
        with state.lock:
            return jsonify(
                {
                    "pagerduty": {
                        "accounts": plain(list(state.accounts.values())),
                        "services": plain(list(state.services.values())),
                        "monitors": plain(list(state.monitors.values())),
                        "incidents": plain(list(state.incidents.values())),
                        "log_entries": plain(list(state.log_entries.values())),
                        "alerts": plain(list(state.alerts.values())),
                        "webhook_deliveries": plain(list(state.deliveries.values())),
                    },
                    "statuspage": {
                        "pages": plain(list(state.pages.values())),
                        "components": plain(list(state.components.values())),
                        "incidents": plain(list(state.sp_incidents.values())),
                        "rate_limit": state.rate_limiter.settings(),
                    },
                    "faults": plain(state.faults.all()),
                }
            )

    @blueprint.post("/reset")
    def reset() -> Response:
        data = _body()
        seed = _field(data, "seed", str, None)
        if seed not in (None, "demo"):
            raise SandboxError(400, "seed must be demo or null")
        with state.lock:
            state.reset()
            seeded = seed_demo(state, webhook_url=_field(data, "webhook_url", str, None)) if seed else None
        return jsonify({"seed": seeded})

    @blueprint.get("/requests")
    def list_requests() -> Response:
        api = request.args.get("api")
        method = request.args.get("method")
        with state.lock:
            found = [
                r
                for r in state.requests
                if (api is None or r.api == api) and (method is None or r.method == method.upper())
            ]
            return jsonify({"requests": plain(found)})

    @blueprint.delete("/requests")
    def clear_requests() -> Response:
        with state.lock:
            state.requests.clear()
        return jsonify({"requests": []})

    # --- faults and rate limit ---

    @blueprint.post("/faults")
    def add_fault() -> tuple[Response, int]:
        data = _body()
        with state.lock:
            try:
                fault = state.faults.add(
                    api=_field(data, "api", str),
                    path=_field(data, "path", str, ""),
                    method=_field(data, "method", str, None),
                    status=_field(data, "status", int, None),
                    count=_field(data, "count", int, None),
                    retry_after=_field(data, "retry_after", int, None),
                    latency=float(_field(data, "latency", (int, float), 0)),
                    drop=_field(data, "drop", bool, False),
                    query=_field(data, "query", str, ""),
                )
            except ValueError as invalid:
                raise SandboxError(400, str(invalid)) from None
            return jsonify({"fault": plain(fault)}), 201

    @blueprint.get("/faults")
    def list_faults() -> Response:
        with state.lock:
            return jsonify({"faults": plain(state.faults.all())})

    @blueprint.delete("/faults")
    def clear_faults() -> Response:
        with state.lock:
            state.faults.clear()
        return jsonify({"faults": []})

    @blueprint.post("/statuspage/rate_limit")
    def rate_limit() -> Response:
        data = _body()
        with state.lock:
            try:
                state.rate_limiter.configure(
                    enabled=_field(data, "enabled", bool),
                    capacity=_field(data, "capacity", (int, float), 60),
                    refill_per_second=_field(data, "refill_per_second", (int, float), 1.0),
                    status=_field(data, "status", int, 429),
                )
            except ValueError as invalid:
                raise SandboxError(400, str(invalid)) from None
            return jsonify({"rate_limit": state.rate_limiter.settings()})

    # --- Google ID tokens, as Cloud Scheduler sends with the periodic sync ---

    oidc = OidcIssuer()

    @blueprint.get("/oidc/certs")
    def oidc_certs() -> Response:
        return jsonify(oidc.certs())

    @blueprint.post("/oidc/token")
    def oidc_token() -> Response:
        data = _body()
        token = oidc.mint(
            audience=_field(data, "audience", str),
            email=_field(data, "email", str),
            lifetime_seconds=_field(data, "lifetime_seconds", int, 3600),
            issuer=_field(data, "issuer", str, GOOGLE_ISSUER),
            email_verified=_field(data, "email_verified", bool, True),
        )
        return jsonify({"id_token": token})

    # --- PagerDuty ---

    @blueprint.post("/pagerduty/accounts")
    def put_account() -> tuple[Response, int]:
        data = _body()
        version = _field(data, "webhook_version", int, 3)
        if version not in (2, 3):
            raise SandboxError(400, "webhook_version must be 2 or 3")
        account = state.put_account(
            PdAccount(
                name=_field(data, "name", str),
                api_key=_field(data, "api_key", str),
                webhook_url=_field(data, "webhook_url", str, None),
                webhook_version=version,
                webhook_secret=_field(data, "webhook_secret", str, None),
                webhook_token=_field(data, "webhook_token", str, None),
            )
        )
        return jsonify({"account": plain(account)}), 201

    @blueprint.post("/pagerduty/incidents")
    def create_incidents() -> tuple[Response, int]:
        data = _body()
        monitor_name = _field(data, "monitor", str, None)
        with state.lock:
            monitor = state.monitors.get(monitor_name) if monitor_name else None
        if monitor_name and monitor is None:
            raise SandboxError(404, f"no monitor {monitor_name!r}")
        count = _field(data, "count", int, None)
        if count is not None and count < 1:
            raise SandboxError(400, "count must be at least 1")
        status = _field(data, "status", str, "triggered")
        if status not in _ACTION_TO_REACH:
            raise SandboxError(400, f"status must be one of {tuple(_ACTION_TO_REACH)}")
        send = _field(data, "deliver", bool, True)
        trigger_fields = dict(
            account=_field(data, "account", str, monitor.account if monitor else _MISSING),
            title=_field(data, "title", str, monitor.title if monitor else "Sandbox incident"),
            service=_field(data, "service", str, monitor.service if monitor else "Default Service"),
            urgency=_field(data, "urgency", str, "high"),
            priority=_field(data, "priority", str, None),
            tags=_field(data, "tags", (str, list), monitor.tags if monitor else None),
            tags_in=_field(data, "tags_in", str, "both"),
            incident_key=_field(data, "incident_key", str, None),
            created_at=_timestamp(data, "created_at"),
        )
        incidents, deliveries = [], []
        for _ in range(count or 1):
            with state.lock:
                incident = state.trigger(**trigger_fields)
                trigger_entry = state.log_entries[incident.log_entry_ids[0]]
                prepared = (
                    webhooks.prepare(state, pd_base(), incident, "trigger", trigger_entry) if send else None
                )
            deliveries.append(deliver(prepared))
            if _ACTION_TO_REACH[status]:
                deliveries.append(step(incident.id, _ACTION_TO_REACH[status], send))
            incidents.append(rendered(incident))
        if count is None:
            return jsonify({"incident": incidents[0], "webhook": deliveries[-1]}), 201
        return jsonify({"incidents": incidents, "webhooks": [d for d in deliveries if d]}), 201

    @blueprint.post("/pagerduty/incidents/<incident_id>/<action>")
    def act_on_incident(incident_id: str, action: str) -> Response:
        data = _body()
        send = _field(data, "deliver", bool, True)
        if action == "priority":
            if "priority" not in data:
                raise SandboxError(400, "priority is required (null clears it)")
            delivery = step(incident_id, action, send, priority=_field(data, "priority", str, None))
        elif action in STATUS_ACTIONS:
            delivery = step(incident_id, action, send)
        else:
            raise SandboxError(404, f"action must be priority or one of {STATUS_ACTIONS}")
        return jsonify({"incident": rendered(state.incident(incident_id)), "webhook": delivery})

    @blueprint.post("/pagerduty/webhooks/<delivery_id>/redeliver")
    def redeliver(delivery_id: str) -> Response:
        with state.lock:
            delivery = state.deliveries.get(delivery_id)
        if delivery is None:
            raise SandboxError(404, f"no webhook delivery {delivery_id!r}")
        return jsonify({"webhook": deliver(delivery)})

    # --- Statuspage ---

    @blueprint.post("/statuspage/pages")
    def add_page() -> tuple[Response, int]:
        data = _body()
        components = _field(data, "components", list, [])
        if not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in components):
            raise SandboxError(400, "components must be objects with a name (and optional id, status)")
        with state.lock:
            page = state.add_page(
                page_id=_field(data, "id", str, None) or state.sp_id(),
                api_key=_field(data, "api_key", str),
                name=_field(data, "name", str, "Sandbox status"),
                components=[(c.get("id"), c["name"], c.get("status", "operational")) for c in components],
            )
            return jsonify(
                {
                    "page": {"id": page.id, "name": page.name, "api_key": page.api_key},
                    "components": [statuspage_json.component(c) for c in state.page_components(page.id)],
                }
            ), 201

    @blueprint.post("/statuspage/incidents")
    def add_sp_incident() -> tuple[Response, int]:
        """Any incident, bypassing auth, rate limit and faults: incidents someone else
        opened, ones carrying the original tool's watermark, or old ones."""
        data = _body()
        page_id = _field(data, "page", str)
        change = statuspage_api.change_from(data)
        created_at = _timestamp(data, "created_at")
        with state.lock:
            created = state.create_sp_incident(page_id, change, created_at=created_at)
            return jsonify({"incident": statuspage_json.incident(state, created)}), 201

    return blueprint
