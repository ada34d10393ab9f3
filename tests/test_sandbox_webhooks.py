"""Webhook delivery from control actions to a configured URL, V2 and V3, signed or
with a token, and the receiver's answer reported back."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from werkzeug.wrappers import Request, Response

from sandbox.server import BackgroundServer
from tests.harness.network import refusing
from tests.harness.sandbox import Sandbox


@dataclass
class Receiver:
    """A stand-in for pagerstatus: records each delivery, answers `status`."""

    url: str = ""
    status: int = 202
    received: list[tuple[dict, bytes]] = field(default_factory=list)

    def __call__(self, environ: dict, start_response) -> Response:
        request = Request(environ)
        self.received.append((dict(request.headers), request.get_data()))
        answer = Response(json.dumps({"seen": len(self.received)}), status=self.status, mimetype="application/json")
        return answer(environ, start_response)

    def events(self) -> list[str]:
        bodies = [json.loads(body) for _, body in self.received]
        return [b["event"]["event_type"] if "event" in b else b["messages"][0]["event"] for b in bodies]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    recorder = Receiver()
    with BackgroundServer(recorder) as server:
        recorder.url = f"{server.url}/webhook"
        yield recorder


def test_v3_lifecycle_is_signed_and_reports_the_answer(sandbox: Sandbox, receiver: Receiver) -> None:
    sandbox.add_account(webhook_url=receiver.url, webhook_version=3, webhook_secret="s3cret")
    created = sandbox.trigger("acme", tags="component:abc")
    incident_id = created["incident"]["id"]
    assert created["webhook"]["status"] == 202
    assert created["webhook"]["body"] == {"seen": 1}
    sandbox.acknowledge(incident_id)
    sandbox.set_priority(incident_id, "P1")
    sandbox.act(incident_id, "unacknowledge")
    sandbox.resolve(incident_id)
    sandbox.act(incident_id, "reopen")

    assert receiver.events() == [
        "incident.triggered",
        "incident.acknowledged",
        "incident.priority_updated",
        "incident.unacknowledged",
        "incident.resolved",
        "incident.reopened",
    ]
    for headers, body in receiver.received:
        expected = "v1=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert headers["X-Pagerduty-Signature"] == expected
        assert headers["User-Agent"] == "PagerDuty-Webhook/V3.0"
        assert "X-Pagerstatus-Token" not in headers
    acknowledged = json.loads(receiver.received[1][1])["event"]
    assert acknowledged["data"]["id"] == incident_id
    assert acknowledged["data"]["status"] == "acknowledged"
    assert "tags" not in json.dumps(acknowledged)  # V3 carries no tags
    assert len({h["X-Webhook-Id"] for h, _ in receiver.received}) == 6


def test_v2_with_token_carries_incident_and_log_entry(sandbox: Sandbox, receiver: Receiver) -> None:
    sandbox.add_account(webhook_url=receiver.url, webhook_version=2, webhook_token="tok3n")
    incident_id = sandbox.trigger("acme", tags=["component_abc"])["incident"]["id"]
    sandbox.acknowledge(incident_id)
    assert sandbox.set_priority(incident_id, "P1")["webhook"] is None  # V2 has no such event
    sandbox.resolve(incident_id)

    assert receiver.events() == ["incident.trigger", "incident.acknowledge", "incident.resolve"]
    headers, body = receiver.received[1]
    assert headers["X-Pagerstatus-Token"] == "tok3n"
    assert "X-Pagerduty-Signature" not in headers
    message = json.loads(body)["messages"][0]
    assert (message["incident"]["id"], message["incident"]["status"]) == (incident_id, "acknowledged")
    assert message["log_entries"][0]["type"] == "acknowledge_log_entry"
    trigger = json.loads(receiver.received[0][1])["messages"][0]
    assert trigger["log_entries"][0]["channel"]["details"]["tags"] == ["component_abc"]


def test_failures_are_reported_and_delivery_can_be_skipped(sandbox: Sandbox, receiver: Receiver) -> None:
    receiver.status = 503
    sandbox.add_account(webhook_url=receiver.url)
    failed = sandbox.trigger("acme")["webhook"]
    assert (failed["status"], failed["body"]) == (503, {"seen": 1})

    assert sandbox.trigger("acme", deliver=False)["webhook"] is None
    with refusing() as closed:
        sandbox.add_account(webhook_url=f"{closed}/webhook")
        unreachable = sandbox.trigger("acme")["webhook"]
    assert unreachable["status"] is None and "ConnectionError" in unreachable["error"]
    assert len(receiver.received) == 1
