"""The HTTP function: routing, webhook checks, and errors as JSON.

GET /            -> 200 ["Hello from Pagerstatus"]
POST /<account>  -> a webhook from that PagerDuty account
POST /_sync      -> the periodic sync, from Cloud Scheduler with a Google ID token
A refused request is a 4xx with {"error": ...}; an upstream failure a 503 so
that PagerDuty redelivers; never a stack trace in a response.

A sync covers every configured page; its answer combines theirs (_answer): any page
failed -> 503 naming the failed pages (500 if one failed on its configuration); else
any page queued behind another holder -> 202, since that holder syncs it again; else 200.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import flask
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from . import log
from .errors import ConfigError, LeaseLost, PagerstatusError, StillChanging, UpstreamError
from .keys import AccountName
from .lock import Outcome
from .oidc import verify_caller
from .runtime import Runtime
from .webhook import authenticate, event_types, needs_sync

HELLO = ["Hello from Pagerstatus"]
# Account names start with a letter or digit, so this path can never be an account.
SCHEDULED_SYNC_PATH = "_sync"


def _json(body: Any, status: int) -> flask.Response:
    return flask.Response(json.dumps(body), status=status, mimetype="application/json")


def _error(status: int, reason: str) -> flask.Response:
    return _json({"error": reason}, status)


def json_error(exc: HTTPException) -> flask.Response:
    """A refused request as JSON: the function's own refusals, and what
    functions-framework answers before the function runs (a path its router
    does not match, such as one with a newline; /robots.txt)."""
    response = _error(exc.code or 500, exc.description or exc.name)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


class Service:
    """The function in one process: builds the Runtime on first use and answers requests.

    A configuration error while building is answered 500 and retried on the
    next request, so fixing a secret needs no redeploy.
    """

    def __init__(self, make_runtime: Callable[[], Runtime]):
        self._make_runtime = make_runtime
        self._runtime: Runtime | None = None
        self._mutex = threading.Lock()

    def runtime(self) -> Runtime:
        with self._mutex:
            if self._runtime is None:
                # gunicorn set its loggers up after main.py was imported; route them through ours.
                log.take_over_gunicorn()
                self._runtime = self._make_runtime()
            return self._runtime

    def handle(self, request: flask.Request) -> flask.Response:
        try:
            return self._route(request)
        except HTTPException as exc:
            return json_error(exc)
        except (UpstreamError, LeaseLost, StillChanging) as exc:
            # The details stay in the log: a caller need not be authenticated to get here.
            log.error("sync failed; PagerDuty will redeliver", error=str(exc))
            return _error(503, f"{_failed(exc)}; nothing written after the failure, please redeliver")
        except ConfigError as exc:
            log.error("configuration error", error=str(exc))
            return _error(500, "configuration error; see the function's logs")
        except Exception:
            log.LOGGER.exception("unexpected error")
            return _error(500, "internal error; see the function's logs")

    def _route(self, request: flask.Request) -> flask.Response:
        path = request.path.strip("/")
        if not path:
            if request.method not in ("GET", "HEAD"):
                raise MethodNotAllowed(["GET", "HEAD"], f"expected GET on /, found {request.method}")
            return _json(HELLO, 200)
        if path == SCHEDULED_SYNC_PATH:
            return self._scheduled_sync(request)
        if "/" in path:
            raise NotFound("expected /<account>, found a deeper path")
        if request.method != "POST":
            raise MethodNotAllowed(["POST"], f"expected POST on /<account>, found {request.method}")
        # Only an AccountName reaches a secret id or an environment lookup.
        account = AccountName.from_path(path)
        if account is None:
            raise NotFound(f"unknown account {path[:64]!r}")
        runtime = self.runtime()
        keys = runtime.keys.account(account)
        if keys is None:
            raise NotFound(f"unknown account {account!r}")

        body = request.get_data(cache=True)
        authenticate(keys, body, request.headers)
        events = event_types(body)
        fields = dict(account=account, events=events, webhook_id=request.headers.get("X-Webhook-Id"))
        if not needs_sync(events):
            log.info("webhook needs no sync", action="ignore", **fields)
            return _json(["No need to sync"], 200)
        return _sync(runtime, "webhook", fields)

    def _scheduled_sync(self, request: flask.Request) -> flask.Response:
        if request.method != "POST":
            raise MethodNotAllowed(["POST"], f"expected POST on /{SCHEDULED_SYNC_PATH}, found {request.method}")
        runtime = self.runtime()
        identity = runtime.settings.scheduler
        if identity is None:
            raise NotFound("periodic sync is not enabled (PAGERSTATUS_SCHEDULER_AUDIENCE is not set)")
        claims = verify_caller(request.headers.get("Authorization"), identity, runtime.certs_session)
        return _sync(runtime, "scheduled", dict(caller=claims.get("email")))


def _sync(runtime: Runtime, trigger: str, fields: dict[str, Any]) -> flask.Response:
    started = time.monotonic()
    outcomes = runtime.sync()
    return _answer(outcomes, trigger, dict(fields, seconds=round(time.monotonic() - started, 3)))


def _answer(outcomes: Mapping[str, Outcome], trigger: str, fields: dict[str, Any]) -> flask.Response:
    """Every page's outcome as one answer (the module's docstring has the rule)."""
    failed = {page: outcome for page, outcome in sorted(outcomes.items()) if isinstance(outcome, PagerstatusError)}
    pages = {page: "failed" if page in failed else outcome for page, outcome in outcomes.items()}
    if failed:
        # Details in the log only; the answer names the pages and what failed them.
        log.error(f"{trigger} sync failed for {len(failed)} of {len(outcomes)} pages; PagerDuty will redeliver",
                  action="failed", pages=pages, errors={page: str(error) for page, error in failed.items()}, **fields)
        reasons = "; ".join(f"page {page}: {_failed(error)}" for page, error in failed.items())
        if any(isinstance(error, ConfigError) for error in failed.values()):
            return _error(500, f"{reasons}; see the function's logs")
        return _error(503, f"{reasons}; nothing written to them after the failure, please redeliver")
    outcome = "queued" if "queued" in pages.values() else "performed"
    log.info(f"{trigger} sync {outcome}", action=outcome, pages=pages, **fields)
    if outcome == "queued":
        return _json(["Sync queued"], 202)
    return _json(["Performed sync"], 200)


def _failed(error: PagerstatusError) -> str:
    """What failed, for a caller who need not be authenticated: a service's name, no detail."""
    if isinstance(error, ConfigError):
        return "configuration error"
    return f"{error.service if isinstance(error, UpstreamError) else 'sync'} unavailable"
