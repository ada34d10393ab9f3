"""The HTTP function: routing, webhook checks, and errors as JSON.

GET /            -> 200 ["Hello from Pagerstatus"]
POST /<account>  -> a webhook from that PagerDuty account
POST /_sync      -> the periodic sync, from Cloud Scheduler with a Google ID token
Bad input is a 4xx with {"error": ...}; an upstream failure a 503 so that
PagerDuty redelivers; never a stack trace in a response.
"""
from __future__ import annotations

import json
import time
import traceback
from typing import Any

import flask
from werkzeug.exceptions import HTTPException

from . import log
from .config import ACCOUNT_NAME
from .errors import BadRequest, ConfigError, LeaseLost, UpstreamError
from .oidc import verify_caller
from .runtime import Runtime, get_runtime
from .webhook import authenticate, event_types, needs_sync

HELLO = ["Hello from Pagerstatus"]
# Account names start with a letter or digit, so this path can never be an account.
SCHEDULED_SYNC_PATH = "_sync"


def _json(body: Any, status: int) -> flask.Response:
    return flask.Response(json.dumps(body), status=status, mimetype="application/json")


def _error(status: int, reason: str) -> flask.Response:
    return _json({"error": reason}, status)


def framework_error(exc: HTTPException) -> flask.Response:
    """What functions-framework answers before the function runs (a path its router
    does not match, such as one with a newline; /robots.txt): a JSON error all the same."""
    return _error(exc.code or 500, exc.name)


def handle(request: flask.Request) -> flask.Response:
    try:
        return _route(request)
    except BadRequest as exc:
        return _error(exc.status, exc.reason)
    except (UpstreamError, LeaseLost) as exc:
        # The details stay in the log: a caller need not be authenticated to get here.
        log.error("sync failed; PagerDuty will redeliver", error=str(exc))
        service = exc.service if isinstance(exc, UpstreamError) else "lock"
        return _error(503, f"{service} unavailable; nothing written after the failure, please redeliver")
    except ConfigError as exc:
        log.error("configuration error", error=str(exc))
        return _error(500, "configuration error; see the function's logs")
    except Exception:  # noqa: BLE001 - the last line of defence: log it, answer without internals
        log.error("unexpected error", traceback=traceback.format_exc())
        return _error(500, "internal error; see the function's logs")


def _route(request: flask.Request) -> flask.Response:
    path = request.path.strip("/")
    if not path:
        if request.method not in ("GET", "HEAD"):
            raise BadRequest(405, f"expected GET on /, found {request.method}")
        return _json(HELLO, 200)
    if path == SCHEDULED_SYNC_PATH:
        return _scheduled_sync(request)
    if "/" in path:
        raise BadRequest(404, "expected /<account>, found a deeper path")
    account = path.lower()
    if request.method != "POST":
        raise BadRequest(405, f"expected POST on /<account>, found {request.method}")
    # Validate before the name reaches a secret id or an environment lookup.
    if not ACCOUNT_NAME.fullmatch(account):
        raise BadRequest(404, f"unknown account {path[:64]!r}")
    runtime = get_runtime()
    keys = runtime.keys.account(account)
    if keys is None:
        raise BadRequest(404, f"unknown account {account!r}")

    body = request.get_data(cache=True)
    authenticate(keys, body, request.headers)
    events = event_types(body)
    fields = dict(account=account, events=events, webhook_id=request.headers.get("X-Webhook-Id"))
    if not needs_sync(events):
        log.info("webhook needs no sync", action="ignore", **fields)
        return _json(["No need to sync"], 200)

    return _sync(runtime, "webhook", fields)


def _scheduled_sync(request: flask.Request) -> flask.Response:
    if request.method != "POST":
        raise BadRequest(405, f"expected POST on /{SCHEDULED_SYNC_PATH}, found {request.method}")
    runtime = get_runtime()
    identity = runtime.settings.scheduler
    if identity is None:
        raise BadRequest(404, "periodic sync is not enabled (PAGERSTATUS_SCHEDULER_AUDIENCE is not set)")
    claims = verify_caller(request.headers.get("Authorization"), identity, runtime.certs_session)
    return _sync(runtime, "scheduled", dict(caller=claims.get("email")))


def _sync(runtime: Runtime, trigger: str, fields: dict[str, Any]) -> flask.Response:
    started = time.monotonic()
    outcome = runtime.sync()
    log.info(f"{trigger} sync {outcome}", action=outcome, seconds=round(time.monotonic() - started, 3), **fields)
    if outcome == "queued":
        return _json(["Sync queued"], 202)
    return _json(["Performed sync"], 200)
