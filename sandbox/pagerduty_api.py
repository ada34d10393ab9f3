"""The PagerDuty REST v2 endpoints pagerstatus reads, under /pagerduty.

Emulated: Token auth per account, GET /incidents (statuses[], include[], the
one-month default window that date_range=all lifts) and GET /incidents/{id}/alerts,
both paged with limit / offset / more / total up to the 10,000 offset cap.
Ignored: every other filter (since, until, service_ids[], urgencies[], sort_by, ...)
and include[] values other than first_trigger_log_entries.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from sandbox import pagerduty_json
from sandbox.base import SandboxError, now
from sandbox.pagerduty_state import Incident
from sandbox.state import SandboxState

PREFIX = "/pagerduty"
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
OFFSET_CAP = 10_000  # offset + limit may not exceed this
DEFAULT_WINDOW = timedelta(days=30)  # without date_range=all PagerDuty lists one month
INCIDENT_STATUSES = ("triggered", "acknowledged", "resolved")

# PagerDuty's error codes for the answers emulated here.
_ERROR_CODES = {400: 2001, 401: 2006, 404: 2100, 429: 2020}


def error_response(status: int, message: str, errors: list[str] | None = None) -> Response:
    """PagerDuty's error shape: {"error": {"message", "code", "errors"?}}."""
    body: dict = {"message": message, "code": _ERROR_CODES.get(status, 2000 + status)}
    if errors:
        body["errors"] = errors
    response = jsonify({"error": body})
    response.status_code = status
    return response


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SandboxError(400, f"{name} must be an integer") from None
    if value < 0:
        raise SandboxError(400, f"{name} must not be negative")
    return value


def create_blueprint(state: SandboxState) -> Blueprint:
    blueprint = Blueprint("pagerduty", __name__, url_prefix=PREFIX)

    def base() -> str:
        return request.url_root.rstrip("/") + PREFIX

    @blueprint.before_request
    def authenticate() -> Response | None:
        header = request.headers.get("Authorization", "")
        scheme = "Token token="
        account = state.pagerduty.account_by_key(header[len(scheme) :]) if header.startswith(scheme) else None
        if account is None:
            return error_response(401, "Authentication failed")
        g.pd_account = account.name
        return None

    @blueprint.errorhandler(SandboxError)
    def refused(error: SandboxError) -> Response:
        if error.status == 400:
            return error_response(400, "Invalid Input Provided", [error.message])
        return error_response(error.status, error.message)

    def own_incident(incident_id: str) -> Incident:
        incident = state.pagerduty.incidents.get(incident_id)
        if incident is None or incident.account != g.pd_account:
            raise SandboxError(404, "Not Found")
        return incident

    @blueprint.get("/incidents")
    def list_incidents() -> Response:
        statuses = request.args.getlist("statuses[]")
        for status in statuses:
            if status not in INCIDENT_STATUSES:
                raise SandboxError(400, f"Statuses must be one of {', '.join(INCIDENT_STATUSES)}")
        full_trigger = "first_trigger_log_entries" in request.args.getlist("include[]")
        since = None if request.args.get("date_range") == "all" else now() - DEFAULT_WINDOW
        matching = sorted((i for i in state.pagerduty.incidents.values()
                           if i.account == g.pd_account and (not statuses or i.status in statuses)
                           and (since is None or i.created_at >= since)), key=lambda i: i.number)
        return _page_of("incidents", matching,
                        lambda i: pagerduty_json.incident(state.pagerduty, base(), i, full_trigger))

    @blueprint.get("/incidents/<incident_id>/alerts")
    def list_alerts(incident_id: str) -> Response:
        alerts = [state.pagerduty.alerts[a] for a in own_incident(incident_id).alert_ids]
        return _page_of("alerts", alerts, lambda a: pagerduty_json.alert(state.pagerduty, base(), a))

    return blueprint


def _page_of(key: str, items: list, render: Callable[[Any], dict]) -> Response:
    """The page of a PagerDuty classic-paginated list (`limit` / `offset` / `more` / `total`)
    the request asks for."""
    limit = min(_int_arg("limit", DEFAULT_LIMIT), MAX_LIMIT)
    offset = _int_arg("offset", 0)
    if offset + limit > OFFSET_CAP:
        raise SandboxError(400, f"Offset + limit must not exceed {OFFSET_CAP}")
    return jsonify({
        key: [render(item) for item in items[offset : offset + limit]],
        "limit": limit,
        "offset": offset,
        "more": offset + limit < len(items),
        "total": len(items) if request.args.get("total") == "true" else None,
    })
