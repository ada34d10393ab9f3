"""The HTTP function: routing, webhook checks, and errors as JSON.

GET /            -> 200 ["Hello from Pagerstatus"]
POST /<account>  -> a webhook from that PagerDuty account
POST /_sync      -> the periodic sync, from Cloud Scheduler with a Google ID token
A refused request is a 4xx with {"error": ...}; an upstream failure a 503 so
that PagerDuty redelivers; never a stack trace in a response.

A sync covers every configured page; its answer combines theirs (_sync_answer): any page
failed -> 503 naming the failed pages (500 if one failed on its configuration); else
any page queued behind another holder -> 202, since that holder syncs it again; else 200.

The function is public, so a caller who cannot prove who they are must cost
nothing: a body over MAX_BODY_BYTES is refused before anything else, a token is
checked before the body is read, and nothing upstream is called before the
caller is authenticated.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import flask
from werkzeug.exceptions import (
    ClientDisconnected,
    HTTPException,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
    Unauthorized,
)

from . import log
from .diagnosis import explain
from .errors import ConfigError, LeaseLost, PagerstatusError, StillChanging, UpstreamError
from .http import Deadline
from .keys import AccountKeys, AccountName
from .lock import Outcome
from .oidc import GoogleCertificates, verify_caller
from .runtime import Runtime
from .webhook import authenticate, event_types, needs_sync

HELLO = ["Hello from Pagerstatus"]
# Account names start with a letter or digit, so this path can never be an account.
SCHEDULED_SYNC_PATH = "_sync"
# PagerDuty's webhooks are a few kilobytes; a body this large is no webhook.
MAX_BODY_BYTES = 256 * 1024
# A webhook's event types in its log line: enough to tell what it was, bounded whatever it carries.
EVENTS_LOGGED = 5
# What is left of a body after the answer is dropped this far (Cloud Run refuses larger
# HTTP/1 requests itself: https://cloud.google.com/run/quotas), this much at a time.
DROP_MAX_BYTES = 32 * 1024 * 1024
DROP_CHUNK_BYTES = 64 * 1024


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

    def __init__(self, make_runtime: Callable[[], Runtime], clock: Callable[[], float] = time.monotonic):
        """clock: measures the read budget and the certificate cache's age."""
        self._make_runtime = make_runtime
        self._clock = clock
        self._runtime: Runtime | None = None
        self._certificates: GoogleCertificates | None = None
        self._mutex = threading.Lock()

    def runtime(self) -> Runtime:
        with self._mutex:
            if self._runtime is None:
                # gunicorn set its loggers up after main.py was imported; route them through ours.
                log.take_over_gunicorn()
                runtime = self._make_runtime()
                if runtime.settings.scheduler is not None:
                    self._certificates = GoogleCertificates(runtime.settings.scheduler.certs_url,
                                                            runtime.certs_session, self._clock)
                self._runtime = runtime
            return self._runtime

    def handle(self, request: flask.Request) -> flask.Response:
        return _rest_of_body_dropped(request, self._answer(request))

    def _answer(self, request: flask.Request) -> flask.Response:
        arrived = self._clock()  # the read budget counts from here
        try:
            return self._route(request, arrived)
        except HTTPException as exc:
            return json_error(exc)
        except (UpstreamError, LeaseLost, StillChanging) as exc:
            # The details stay in the log: a caller need not be authenticated to get here.
            # An upstream's refusal may be the configuration's fault (a revoked key, a missing
            # grant): the log says what `python -m pagerstatus check` would, the account too.
            advice = explain(exc).fields() if isinstance(exc, UpstreamError) else {}
            log.error("sync failed; PagerDuty will redeliver", error=str(exc), **advice)
            return _error(503, f"{_failed(exc)}; nothing written after the failure, please redeliver")
        except ConfigError as exc:
            log.error("configuration error", error=str(exc), **explain(exc).fields())
            return _error(500, "configuration error; see the function's logs")
        except Exception:
            log.LOGGER.exception("unexpected error")
            return _error(500, "internal error; see the function's logs")

    def _route(self, request: flask.Request, arrived: float) -> flask.Response:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            raise _too_large()
        path = request.path.strip("/")
        if not path:
            if request.method not in ("GET", "HEAD"):
                raise MethodNotAllowed(["GET", "HEAD"], f"expected GET on /, found {request.method}")
            return _json(HELLO, 200)
        if path == SCHEDULED_SYNC_PATH:
            return self._scheduled_sync(request, arrived)
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

        body = _authenticated_body(runtime, keys, request)
        events = event_types(body)
        fields = dict(account=account, event_count=len(events), events=events[:EVENTS_LOGGED],
                      webhook_id=request.headers.get("X-Webhook-Id"))
        if not needs_sync(events):
            log.info("webhook needs no sync", action="ignore", **fields)
            return _json(["No need to sync"], 200)
        return _sync(runtime, self._deadline(runtime, arrived), "webhook", fields)

    def _deadline(self, runtime: Runtime, arrived: float) -> Deadline:
        return Deadline(runtime.settings.read_budget_seconds, self._clock, start=arrived)

    def _scheduled_sync(self, request: flask.Request, arrived: float) -> flask.Response:
        if request.method != "POST":
            raise MethodNotAllowed(["POST"], f"expected POST on /{SCHEDULED_SYNC_PATH}, found {request.method}")
        runtime = self.runtime()
        identity = runtime.settings.scheduler
        if identity is None or self._certificates is None:
            raise NotFound("periodic sync is not enabled (PAGERSTATUS_SCHEDULER_AUDIENCE is not set)")
        deadline = self._deadline(runtime, arrived)
        claims = verify_caller(request.headers.get("Authorization"), identity, self._certificates, deadline)
        return _sync(runtime, deadline, "scheduled", dict(caller=claims.get("email")))


def _too_large() -> RequestEntityTooLarge:
    return RequestEntityTooLarge(f"expected a body of at most {MAX_BODY_BYTES} bytes")


def _read_body(request: flask.Request) -> bytes:
    """The body, read no further than one byte past MAX_BODY_BYTES whether or not a
    Content-Length announced it (a chunked body has none); 413 past the limit."""
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_BODY_BYTES:
        chunk = request.stream.read(MAX_BODY_BYTES + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > MAX_BODY_BYTES:
        raise _too_large()
    return b"".join(chunks)


def _rest_of_body_dropped(request: flask.Request, response: flask.Response) -> flask.Response:
    """response, once what is left of the request body has been read and dropped.

    functions-framework reads the whole body into memory after the function has answered
    (its read_request hook), so that a client still sending gets the answer rather than
    a connection reset: for a body this function refused, that is the very memory the
    limit spares. Here it goes in DROP_CHUNK_BYTES pieces, kept nowhere, as far as
    DROP_MAX_BYTES; beyond that the answer is made a stream, which the framework leaves
    alone, and gunicorn closes the connection instead.
    """
    try:
        for _ in range(DROP_MAX_BYTES // DROP_CHUNK_BYTES):
            if not request.stream.read(DROP_CHUNK_BYTES):
                return response
    except ClientDisconnected:
        pass
    response.response = iter([response.get_data()])  # its Content-Length stays
    return response


def _authenticated_body(runtime: Runtime, keys: AccountKeys, request: flask.Request) -> bytes:
    """The body of a webhook the account's credentials let in; Unauthorized otherwise.

    A refused webhook is checked once more against the account's credentials read
    afresh (at most every half minute, pagerstatus.secretmanager): right after a
    token is rotated, this instance may hold the old one while PagerDuty sends the
    new, and PagerDuty disables a subscription after three refused deliveries.
    """
    body: list[bytes] = []

    def read() -> bytes:
        if not body:
            body.append(_read_body(request))
        return body[0]

    allowed = keys.name in runtime.settings.allow_unauthenticated
    try:
        authenticate(keys, read, request.headers, allow_unauthenticated=allowed)
    except Unauthorized:
        fresh = runtime.keys.account(keys.name, fresh=True)
        if fresh is None or (fresh.webhook_secret, fresh.webhook_token) == (keys.webhook_secret, keys.webhook_token):
            raise
        authenticate(fresh, read, request.headers, allow_unauthenticated=allowed)
    return read()


def _sync(runtime: Runtime, deadline: Deadline, trigger: str, fields: dict[str, Any]) -> flask.Response:
    started = time.monotonic()
    outcomes = runtime.sync(deadline)
    return _sync_answer(outcomes, trigger, dict(fields, seconds=round(time.monotonic() - started, 3)))


def _sync_answer(outcomes: Mapping[str, Outcome], trigger: str, fields: dict[str, Any]) -> flask.Response:
    """Every page's outcome as one answer (the module's docstring has the rule)."""
    failed = {page: outcome for page, outcome in sorted(outcomes.items()) if isinstance(outcome, PagerstatusError)}
    pages = {page: "failed" if page in failed else outcome for page, outcome in outcomes.items()}
    if failed:
        # Details in the log only; the answer names the pages and what failed them.
        log.error(f"{trigger} sync failed for {len(failed)} of {len(outcomes)} pages; PagerDuty will redeliver",
                  action="failed", pages=pages, errors={page: str(error) for page, error in failed.items()},
                  fixes={page: explain(error).fix for page, error in failed.items()}, **fields)
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
