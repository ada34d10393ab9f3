"""The Statuspage REST v1 endpoints pagerstatus uses, under /statuspage/v1.

Emulated: OAuth auth (a page answers only to its own key; other pages look absent,
404), GET components and unresolved incidents paged with page / per_page (at most
100), POST and PATCH incidents with JSON bodies. The rate limit and faults are
applied before these handlers (gateway.py).
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request

from sandbox import statuspage_json
from sandbox.base import SandboxError
from sandbox.state import SandboxState
from sandbox.statuspage_state import NOT_FOUND, IncidentChange, Page

PREFIX = "/statuspage/v1"
MAX_PER_PAGE = 100


def error_response(status: int, message: str) -> Response:
    """Statuspage's error shape: {"error": "..."}."""
    response = jsonify({"error": message})
    response.status_code = status
    return response


def change_from(fields: dict) -> IncidentChange:
    """Read the `incident` object of a request body, refusing wrong types with 422."""

    def text(name: str) -> str | None:
        value = fields.get(name)
        if value is not None and not isinstance(value, str):
            raise SandboxError(422, f"{name} must be a string")
        return value

    components = fields.get("components") or {}
    if not isinstance(components, dict) or not all(isinstance(v, str) for v in components.values()):
        raise SandboxError(422, "components must map component ids to statuses")
    component_ids = fields.get("component_ids")
    if component_ids is not None and not (
        isinstance(component_ids, list) and all(isinstance(c, str) for c in component_ids)
    ):
        raise SandboxError(422, "component_ids must be a list of ids")
    metadata = fields.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise SandboxError(422, "metadata must be an object")
    deliver = fields.get("deliver_notifications", True)
    if not isinstance(deliver, bool):
        raise SandboxError(422, "deliver_notifications must be true or false")
    return IncidentChange(
        name=text("name"),
        status=text("status"),
        body=text("body"),
        # "" is in the spec's status enum and changes nothing.
        component_statuses={k: v for k, v in components.items() if v != ""},
        component_ids=component_ids,
        metadata=metadata,
        deliver_notifications=deliver,
    )


def _request_change() -> IncidentChange:
    if request.mimetype != "application/json":
        raise SandboxError(400, "send application/json")
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("incident"), dict):
        raise SandboxError(400, "param is missing or the value is empty: incident")
    return change_from(data["incident"])


def _paged(items: list) -> list:
    """The page of items the request asks for (page / per_page, at most 100 a page)."""
    try:
        page = int(request.args.get("page", 1))
        per_page = int(request.args.get("per_page", MAX_PER_PAGE))
    except ValueError:
        raise SandboxError(400, "page and per_page must be integers") from None
    if page < 1 or per_page < 1:
        raise SandboxError(400, "page and per_page must be positive")
    per_page = min(per_page, MAX_PER_PAGE)
    return items[(page - 1) * per_page : page * per_page]


def create_blueprint(state: SandboxState) -> Blueprint:
    blueprint = Blueprint("statuspage", __name__, url_prefix=PREFIX)

    @blueprint.before_request
    def authenticate() -> Response | None:
        header = request.headers.get("Authorization", "")
        key = header[len("OAuth ") :] if header.startswith("OAuth ") else None
        if key is None or not any(p.api_key == key for p in state.statuspage.pages.values()):
            return error_response(401, "Could not authenticate")
        g.sp_key = key
        return None

    @blueprint.errorhandler(SandboxError)
    def refused(error: SandboxError) -> Response:
        return error_response(error.status, error.message)

    def own_page(page_id: str) -> Page:
        page = state.statuspage.page(page_id)
        if page.api_key != g.sp_key:
            raise SandboxError(404, NOT_FOUND)
        return page

    @blueprint.get("/pages/<page_id>/components")
    def list_components(page_id: str) -> Response:
        own_page(page_id)
        return jsonify([statuspage_json.component(state.statuspage, c)
                        for c in _paged(state.statuspage.page_components(page_id))])

    @blueprint.get("/pages/<page_id>/incidents/unresolved")
    def list_unresolved(page_id: str) -> Response:
        own_page(page_id)
        unresolved = [i for i in state.statuspage.page_incidents(page_id) if i.status != "resolved"]
        return jsonify([statuspage_json.incident(state.statuspage, i) for i in _paged(unresolved)])

    @blueprint.post("/pages/<page_id>/incidents")
    def create_incident(page_id: str) -> tuple[Response, int]:
        own_page(page_id)
        created = state.statuspage.create_incident(page_id, _request_change())
        return jsonify(statuspage_json.incident(state.statuspage, created)), 201

    @blueprint.patch("/pages/<page_id>/incidents/<incident_id>")
    def update_incident(page_id: str, incident_id: str) -> Response:
        own_page(page_id)
        updated = state.statuspage.update_incident(page_id, incident_id, _request_change())
        return jsonify(statuspage_json.incident(state.statuspage, updated))

    return blueprint
