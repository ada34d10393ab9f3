"""The sandbox's own control API under /_sandbox, a prefix neither real API uses:
set up accounts and pages, drive PagerDuty incidents (delivering their webhooks),
inject faults, switch the Statuspage rate limit, and inspect or reset everything.
Errors answer {"error": "..."}. Objects of the state are answered as they are
(server.py renders dataclasses and datetimes)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, jsonify, request

from sandbox import pagerduty_api, pagerduty_json, statuspage_api, statuspage_json, webhooks
from sandbox.base import SandboxError
from sandbox.google_oidc import GOOGLE_ISSUER, OidcIssuer
from sandbox.pagerduty_state import ACTIONS, Account, Incident, LogEntry
from sandbox.ratelimit import RateLimit
from sandbox.seed import seed_demo
from sandbox.state import SandboxState

PREFIX = "/_sandbox"
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
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python; a count of True is a mistake, not 1.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise SandboxError(400, f"{name} has the wrong type")
    return value


def _timestamp(data: dict, name: str) -> datetime | None:
    raw = _field(data, name, str, None)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise SandboxError(400, f"{name} must be an ISO 8601 timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def create_blueprint(state: SandboxState) -> Blueprint:
    blueprint = Blueprint("control", __name__, url_prefix=PREFIX)

    @blueprint.errorhandler(SandboxError)
    def refused(error: SandboxError) -> tuple[Response, int]:
        return jsonify({"error": error.message}), error.status

    def pd_base() -> str:
        return request.url_root.rstrip("/") + pagerduty_api.PREFIX

    def deliver(incident: Incident, action: str, entry: LogEntry | None, send: bool) -> dict | None:
        """The action's webhook unless send is false, sent with the lock let go: pagerstatus
        calls back into this server."""
        prepared = webhooks.prepare(state.pagerduty, pd_base(), incident, action, entry) if send else None
        if prepared is None:
            return None
        with state.unlocked():
            return webhooks.send(prepared)

    def rendered(incident: Incident) -> dict:
        return pagerduty_json.incident(state.pagerduty, pd_base(), incident, full_first_trigger=True)

    # --- inspection and reset ---

    @blueprint.get("/state")
    def dump() -> Response:
        pd, sp = state.pagerduty, state.statuspage
        return jsonify({
            "pagerduty": {name: list(getattr(pd, name).values())
                          for name in ("accounts", "services", "monitors", "incidents", "log_entries", "alerts")},
            "statuspage": {
                **{name: list(getattr(sp, name).values()) for name in ("pages", "components", "incidents")},
                "rate_limit": state.rate_limiter.limit,
            },
            "faults": state.faults.all(),
        })

    @blueprint.post("/reset")
    def reset() -> Response:
        data = _body()
        seed = _field(data, "seed", str, None)
        if seed not in (None, "demo"):
            raise SandboxError(400, "seed must be demo or null")
        state.reset()
        seeded = seed_demo(state, webhook_url=_field(data, "webhook_url", str, None)) if seed else None
        return jsonify({"seed": seeded})

    @blueprint.get("/requests")
    def list_requests() -> Response:
        api = request.args.get("api")
        method = request.args.get("method")
        found = [r for r in state.requests
                 if (api is None or r.api == api) and (method is None or r.method == method.upper())]
        return jsonify({"requests": found})

    @blueprint.delete("/requests")
    def clear_requests() -> Response:
        state.requests.clear()
        return jsonify({"requests": []})

    # --- faults and rate limit ---

    @blueprint.post("/faults")
    def add_fault() -> tuple[Response, int]:
        data = _body()
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
        return jsonify({"fault": fault}), 201

    @blueprint.get("/faults")
    def list_faults() -> Response:
        return jsonify({"faults": state.faults.all()})

    @blueprint.delete("/faults")
    def clear_faults() -> Response:
        state.faults.clear()
        return jsonify({"faults": []})

    @blueprint.post("/statuspage/rate_limit")
    def rate_limit() -> Response:
        data = _body()
        try:
            state.rate_limiter.configure(RateLimit(
                enabled=_field(data, "enabled", bool),
                capacity=_field(data, "capacity", (int, float), 60),
                refill_per_second=_field(data, "refill_per_second", (int, float), 1.0),
                status=_field(data, "status", int, 429),
            ))
        except ValueError as invalid:
            raise SandboxError(400, str(invalid)) from None
        return jsonify({"rate_limit": state.rate_limiter.limit})

    # --- Google ID tokens, as Cloud Scheduler sends with the periodic sync ---

    oidc = OidcIssuer()

    @blueprint.get("/oidc/certs")
    def oidc_certs() -> Response:
        response = jsonify(oidc.certs())
        response.headers["Cache-Control"] = f"public, max-age={oidc.max_age}, must-revalidate, no-transform"
        return response

    @blueprint.get("/oidc")
    def oidc_state() -> Response:
        return jsonify({"key_id": oidc.key_id, "max_age": oidc.max_age, "certs_fetches": oidc.certs_fetches})

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
        account = state.pagerduty.put_account(Account(
            name=_field(data, "name", str),
            api_key=_field(data, "api_key", str),
            webhook_url=_field(data, "webhook_url", str, None),
            webhook_version=version,
            webhook_secret=_field(data, "webhook_secret", str, None),
            webhook_token=_field(data, "webhook_token", str, None),
        ))
        return jsonify({"account": account}), 201

    @blueprint.post("/pagerduty/incidents")
    def create_incidents() -> tuple[Response, int]:
        data = _body()
        monitor_name = _field(data, "monitor", str, None)
        monitor = state.pagerduty.monitors.get(monitor_name) if monitor_name else None
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
            created_at=_timestamp(data, "created_at"),
        )
        incidents, deliveries = [], []
        for _ in range(count or 1):
            incident = state.pagerduty.trigger(**trigger_fields)
            trigger_entry = state.pagerduty.log_entries[incident.log_entry_ids[0]]
            deliveries.append(deliver(incident, "trigger", trigger_entry, send))
            if action := _ACTION_TO_REACH[status]:
                deliveries.append(deliver(incident, action, state.pagerduty.change_status(incident.id, action), send))
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
            state.pagerduty.set_priority(incident_id, _field(data, "priority", str, None))
            entry = None
        elif action in ACTIONS:
            entry = state.pagerduty.change_status(incident_id, action)
        else:
            raise SandboxError(404, f"action must be priority or one of {tuple(ACTIONS)}")
        incident = state.pagerduty.incident(incident_id)
        delivery = deliver(incident, action, entry, send)
        return jsonify({"incident": rendered(incident), "webhook": delivery})

    @blueprint.post("/pagerduty/incidents/<incident_id>/age")
    def age_pd_incident(incident_id: str) -> Response:
        """As if `seconds` had passed since each of the incident's times; no webhook."""
        seconds = _field(_body(), "seconds", (int, float))
        return jsonify({"incident": rendered(state.pagerduty.age(incident_id, seconds))})

    # --- Statuspage ---

    @blueprint.post("/statuspage/pages")
    def add_page() -> tuple[Response, int]:
        data = _body()
        components = _field(data, "components", list, [])
        for spec in components:
            if not (isinstance(spec, dict) and isinstance(spec.get("name"), str)):
                raise SandboxError(400, "components must be objects with a name (and optional id, status, "
                                        "group, group_id)")
            for name, kind in (("id", str), ("status", str), ("group", bool), ("group_id", str)):
                _field(spec, name, kind, None)
        page = state.statuspage.add_page(
            page_id=_field(data, "id", str, None) or state.ids.statuspage(),
            api_key=_field(data, "api_key", str),
            name=_field(data, "name", str, "Sandbox status"),
            components=components,
        )
        return jsonify({
            "page": {"id": page.id, "name": page.name, "api_key": page.api_key},
            "components": [statuspage_json.component(state.statuspage, c)
                           for c in state.statuspage.page_components(page.id)],
        }), 201

    @blueprint.post("/statuspage/incidents")
    def add_sp_incident() -> tuple[Response, int]:
        """Any incident, bypassing auth, rate limit and faults: incidents someone else
        opened, ones carrying the original tool's watermark, or old ones."""
        data = _body()
        page_id = _field(data, "page", str)
        change = statuspage_api.change_from(data)
        created = state.statuspage.create_incident(page_id, change, created_at=_timestamp(data, "created_at"))
        return jsonify({"incident": statuspage_json.incident(state.statuspage, created)}), 201

    @blueprint.post("/statuspage/pages/<page_id>/incidents/<incident_id>/age")
    def age_sp_incident(page_id: str, incident_id: str) -> Response:
        """As if `seconds` had passed since each of the incident's times and its updates'."""
        seconds = _field(_body(), "seconds", (int, float))
        aged = state.statuspage.age_incident(page_id, incident_id, seconds)
        return jsonify({"incident": statuspage_json.incident(state.statuspage, aged)})

    return blueprint
