"""What stands in front of both emulated APIs: injected faults, Statuspage's rate
limit, and the request log tests count calls with."""

from __future__ import annotations

import socket

from flask import Flask, Response, g, request

from sandbox import pagerduty_api, statuspage_api
from sandbox.base import now
from sandbox.state import RequestRecord, SandboxState

_APIS = {
    "pagerduty": (pagerduty_api.PREFIX, pagerduty_api.error_response),
    "statuspage": (statuspage_api.PREFIX, statuspage_api.error_response),
}


def api_of(path: str) -> tuple[str, str] | None:
    """(api name, path below the API's base) for an API request, else None."""
    for name, (prefix, _) in _APIS.items():
        if path == prefix or path.startswith(prefix + "/"):
            return name, path[len(prefix) :]
    return None


def error_response(api: str, status: int, message: str) -> Response:
    return _APIS[api][1](status, message)


def _drop_connection() -> Response:
    """Close the client's connection before any response byte is sent. werkzeug's
    write of the response that follows then fails quietly (a broken pipe counts as a
    dropped connection); the client sees the connection closed without an answer."""
    connection = request.environ.get("werkzeug.socket")
    if connection is None:
        raise RuntimeError("dropping connections needs the werkzeug server (server.py)")
    connection.shutdown(socket.SHUT_RDWR)
    g.dropped = True
    return Response(status=500)


def install(app: Flask, state: SandboxState) -> None:
    @app.before_request
    def apply_faults_and_rate_limit() -> Response | None:
        located = api_of(request.path)
        if located is None:
            return None
        api, path = located
        fault = state.faults.take(api, request.method, path, request.query_string.decode("latin-1"))
        if fault is not None:
            if fault.latency:
                with state.unlocked():  # other requests go on meanwhile
                    state.sleep(fault.latency)
            if fault.drop:
                return _drop_connection()
            if fault.status is not None:
                response = error_response(api, fault.status, f"sandbox fault {fault.id}")
                if fault.retry_after is not None:
                    response.headers["Retry-After"] = str(fault.retry_after)
                return response
        if api == "statuspage":
            wait = state.rate_limiter.take(request.headers.get("Authorization", request.remote_addr or ""))
            if wait is not None:
                response = error_response(api, state.rate_limiter.limit.status, "Rate limit exceeded")
                response.headers["Retry-After"] = str(wait)
                return response
        return None

    @app.after_request
    def log_request(response: Response) -> Response:
        located = api_of(request.path)
        if located is not None:
            state.requests.append(RequestRecord(
                api=located[0],
                method=request.method,
                path=located[1],
                query=request.args.to_dict(flat=False),
                status=None if g.get("dropped") else response.status_code,
                at=now(),
                body=request.get_json(silent=True) if request.method in ("POST", "PATCH", "PUT") else None,
            ))
        return response
