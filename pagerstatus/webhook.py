"""PagerDuty webhooks: authentication and the events they carry.

Both V2 (`{"messages": [{"event": ...}]}`, end of support but still delivered)
and V3 (`{"event": {"event_type": ...}}`) payloads are accepted. The payload
only says *that* something changed; the sync reads the truth over the REST API.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.exceptions import BadRequest, Unauthorized

from . import log
from .keys import AccountKeys

SIGNATURE_HEADER = "X-PagerDuty-Signature"
TOKEN_HEADER = "X-Pagerstatus-Token"

RESYNC_EVENT = "pagerstatus.resync"
# The same answer whatever failed, and whether or not the account has credentials at all.
REFUSED = f"webhook authentication failed: expected a valid {SIGNATURE_HEADER} or {TOKEN_HEADER} header"

# Events that can change what the page should show.
SYNC_EVENTS = frozenset({
    # V2
    "incident.trigger", "incident.acknowledge", "incident.unacknowledge", "incident.resolve",
    # V3
    "incident.triggered", "incident.acknowledged", "incident.unacknowledged", "incident.resolved",
    "incident.reopened", "incident.priority_updated",
    # Not PagerDuty's: the periodic backstop sync (terraform/scheduler.tf) sends it.
    RESYNC_EVENT,
})


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """V3 signature: any `v1=<hex>` item matching HMAC-SHA256(secret, raw body).

    Several items arrive while a secret is rotated. Every item is compared in
    constant time, and all of them, so timing says nothing about which matched.
    """
    expected = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    matched = False
    for item in (header or "").split(","):
        matched |= hmac.compare_digest(item.strip().encode(), expected.encode())
    return matched


def token_valid(token: str, header: str | None) -> bool:
    return hmac.compare_digest((header or "").encode(), token.encode())


def authenticate(keys: AccountKeys, read_body: Callable[[], bytes], headers: Mapping[str, str],
                 allow_unauthenticated: bool = False) -> None:
    """Raise Unauthorized unless the request carries a credential the account has.

    read_body: the raw body, read only when a check needs it: a token is checked
    from the headers alone, so a caller without it never has its body read.
    With both a secret and a token either suffices (V2 webhooks cannot sign).
    An account with neither refuses every request unless allow_unauthenticated
    (PAGERSTATUS_ALLOW_UNAUTHENTICATED): fail closed.
    """
    if keys.webhook_secret is None and keys.webhook_token is None:
        if allow_unauthenticated:
            return
        log.warning("webhook refused: the account has no webhook secret or token; configure one, or list the "
                    "account in PAGERSTATUS_ALLOW_UNAUTHENTICATED", action="refused", account=keys.name)
        raise Unauthorized(REFUSED)
    if keys.webhook_token is not None and token_valid(keys.webhook_token, headers.get(TOKEN_HEADER)):
        return
    signature = headers.get(SIGNATURE_HEADER)
    if keys.webhook_secret is not None and signature is not None and signature_valid(keys.webhook_secret,
                                                                                     read_body(), signature):
        return
    raise Unauthorized(REFUSED)


def event_types(body: bytes) -> list[str]:
    """The event types of a V2 or V3 payload; BadRequest for anything else."""
    try:
        payload: Any = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        raise BadRequest("expected a JSON body") from None
    if isinstance(payload, dict) and "messages" in payload:
        messages = payload["messages"]
        if not isinstance(messages, list) or not messages:
            raise BadRequest("expected V2 'messages' to be a non-empty list")
        events = [m.get("event") if isinstance(m, dict) else None for m in messages]
        if not all(isinstance(e, str) for e in events):
            raise BadRequest("expected every V2 message to have a string 'event'")
        return events
    if isinstance(payload, dict) and "event" in payload:
        event = payload["event"]
        event_type = event.get("event_type") if isinstance(event, dict) else None
        if not isinstance(event_type, str):
            raise BadRequest("expected V3 'event' to be an object with a string 'event_type'")
        return [event_type]
    found = type(payload).__name__ if not isinstance(payload, dict) else f"keys {sorted(payload)[:5]}"
    raise BadRequest(f"expected a PagerDuty V2 {{'messages': [...]}} or V3 {{'event': {{...}}}} payload, found {found}")


def needs_sync(events: list[str]) -> bool:
    return any(e in SYNC_EVENTS for e in events)
