"""Webhook payloads and authentication, with PagerDuty's official examples."""
import contextlib
import hashlib
import hmac
import json

import pytest
from werkzeug.exceptions import BadRequest, Unauthorized

from pagerstatus.keys import AccountKeys
from pagerstatus.webhook import (
    REFUSED,
    RESYNC_EVENT,
    SYNC_EVENTS,
    authenticate,
    event_types,
    needs_sync,
    signature_valid,
)
from tests.harness.reference import load_json

# A signed body of our own for the checks below; the first test holds the check to PagerDuty's vector.
SECRET = "whsec-0123456789"
BODY = '{"event":{"event_type":"incident.priority_updated"}}'
VALID = "v1=" + hmac.new(SECRET.encode(), BODY.encode(), hashlib.sha256).hexdigest()
INVALID = "v1=" + "0" * 64


@pytest.mark.parametrize("signature,valid", [("valid_signature", True), ("invalid_signature", False)])
def test_official_signature_vector(signature, valid):
    official = load_json("pagerduty-webhooks/v3-signature-vector.json")
    assert signature_valid(official["secret"], official["body"].encode(), official[signature]) is valid


@pytest.mark.parametrize("body,header,valid", [
    (BODY, VALID, True),
    (BODY, f"{INVALID}, {VALID}", True),  # any item: a rotation
    # Over the raw body, not reserialised JSON.
    (json.dumps(json.loads(BODY), indent=1), VALID, False),
    # Missing or malformed.
    *[(BODY, header, False) for header in (None, "", "v1=", "v0=" + VALID[3:])],
])
def test_signature(body, header, valid):
    assert signature_valid(SECRET, body.encode(), header) is valid


SECRET_ONLY = AccountKeys("a", "key", webhook_secret=SECRET)
TOKEN_ONLY = AccountKeys("a", "key", webhook_token="tok-123456")
BOTH = AccountKeys("a", "key", webhook_secret=SECRET, webhook_token="tok-123456")
NEITHER = AccountKeys("a", "key")


class Body:
    """The request body as authenticate() reads it, noting whether it was read."""

    def __init__(self, body: str = BODY):
        self.body = body.encode()
        self.read = False

    def __call__(self) -> bytes:
        self.read = True
        return self.body


@pytest.mark.parametrize("keys,headers,allowed", [
    (NEITHER, {}, True),  # only an account listed in PAGERSTATUS_ALLOW_UNAUTHENTICATED
    (SECRET_ONLY, {"X-PagerDuty-Signature": VALID}, False),
    (TOKEN_ONLY, {"X-Pagerstatus-Token": "tok-123456"}, False),
    (BOTH, {"X-Pagerstatus-Token": "tok-123456"}, False),
    (BOTH, {"X-PagerDuty-Signature": VALID}, False),
    (SECRET_ONLY, {"X-PagerDuty-Signature": VALID}, True),  # listed or not, credentials are checked
])
def test_valid_credentials_pass(keys, headers, allowed):
    authenticate(keys, Body(), headers, allow_unauthenticated=allowed)


@pytest.mark.parametrize("keys,headers,allowed", [
    (NEITHER, {}, False),  # fail closed: no credential configured is no way in
    (NEITHER, {"X-Pagerstatus-Token": "anything", "X-PagerDuty-Signature": VALID}, False),
    (SECRET_ONLY, {}, False),
    (SECRET_ONLY, {"X-PagerDuty-Signature": INVALID}, False),
    (SECRET_ONLY, {"X-Pagerstatus-Token": "tok-123456"}, False),
    (SECRET_ONLY, {"X-PagerDuty-Signature": INVALID}, True),
    (TOKEN_ONLY, {"X-Pagerstatus-Token": "tok-12345"}, False),
    (TOKEN_ONLY, {}, False),
    (TOKEN_ONLY, {}, True),
    (BOTH, {"X-Pagerstatus-Token": "wrong"}, False),
])
def test_missing_or_wrong_credentials_are_401_and_say_the_same_whatever_the_account_has(keys, headers, allowed):
    with pytest.raises(Unauthorized) as caught:
        authenticate(keys, Body(), headers, allow_unauthenticated=allowed)
    assert caught.value.code == 401
    assert caught.value.description == REFUSED


@pytest.mark.parametrize("headers", [{}, {"X-Pagerstatus-Token": "tok-12345"}, {"X-Pagerstatus-Token": "tok-123456"}])
def test_a_token_is_checked_before_the_body_is_read(headers):
    body = Body()
    with contextlib.suppress(Unauthorized):
        authenticate(TOKEN_ONLY, body, headers)
    assert body.read is False


def test_the_body_is_read_for_a_signature_only():
    unsigned, signed = Body(), Body()
    with pytest.raises(Unauthorized):
        authenticate(BOTH, unsigned, {"X-Pagerstatus-Token": "wrong"})
    authenticate(BOTH, signed, {"X-PagerDuty-Signature": VALID})
    assert (unsigned.read, signed.read) == (False, True)


@pytest.mark.parametrize("name,types,sync", [
    ("v2-incident-trigger", ["incident.trigger"], True),
    ("v2-incident-acknowledge", ["incident.acknowledge"], True),
    ("v2-incident-resolve", ["incident.resolve"], True),
    ("v2-incident-assign", ["incident.assign"], False),
    ("v3-incident-priority_updated", ["incident.priority_updated"], True),
    ("v3-service-updated", ["service.updated"], False),
])
def test_official_examples(name, types, sync):
    body = json.dumps(load_json(f"pagerduty-webhooks/{name}.json")).encode()
    assert event_types(body) == types
    assert needs_sync(types) is sync


def test_sync_events_are_exactly_the_documented_ones_and_the_scheduled_resync():
    assert {
        "incident.trigger", "incident.acknowledge", "incident.unacknowledge", "incident.resolve",
        "incident.triggered", "incident.acknowledged", "incident.unacknowledged", "incident.resolved",
        "incident.reopened", "incident.priority_updated", "pagerstatus.resync",
    } == SYNC_EVENTS
    # The scheduled resync is a v3-shaped sync event.
    assert needs_sync(event_types(json.dumps({"event": {"event_type": RESYNC_EVENT}}).encode()))


@pytest.mark.parametrize("body", [
    b"not json", b"\xff\xfe", b"[]", b"{}", b'{"messages": []}', b'{"messages": {}}',
    b'{"messages": [{"type": "x"}]}', b'{"messages": [1]}', b'{"event": "x"}', b'{"event": {"event_type": 3}}',
    b'"string"', b"null", b"[" * 100_000,
])
def test_malformed_payloads_are_400(body):
    with pytest.raises(BadRequest) as caught:
        event_types(body)
    assert caught.value.code == 400 and caught.value.description.startswith("expected")
