"""The periodic sync (POST /_sync): only a Google ID token for the scheduler's
service account, with the configured audience, starts it.

The sandbox stands in for Google: it signs tokens and serves its certificate in
the format of https://www.googleapis.com/oauth2/v1/certs.
"""
from __future__ import annotations

import base64
import json
import socket
import time

import pytest
import requests
from werkzeug.exceptions import Unauthorized
from werkzeug.wrappers import Response

from pagerstatus.config import load_settings
from pagerstatus.errors import ConfigError, UpstreamError
from pagerstatus.http import RetryPolicy, make_session
from pagerstatus.oidc import (
    UNKNOWN_KEY_REFETCH_SECONDS,
    GoogleCertificates,
    Rejected,
    SchedulerIdentity,
    bearer_token,
    verify_caller,
)
from sandbox.google_oidc import OidcIssuer
from sandbox.server import BackgroundServer
from tests.harness.clock import FakeClock
from tests.harness.network import refusing
from tests.harness.sandbox import running_sandbox
from tests.harness.world import API, page_state, world

AUDIENCE = "pagerstatus-sync:test-project"
SCHEDULER = "pagerstatus-scheduler@test-project.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def issuer_sandbox():
    with running_sandbox() as sandbox:
        yield sandbox


def identity(sandbox) -> SchedulerIdentity:
    return SchedulerIdentity(audience=AUDIENCE, service_account=SCHEDULER,
                             certs_url=f"{sandbox.url}/_sandbox/oidc/certs")


def certificates(sandbox, clock=time.monotonic) -> GoogleCertificates:
    return GoogleCertificates(identity(sandbox).certs_url, make_session(RetryPolicy(read=0)), clock)


def token(sandbox, **claims) -> str:
    body = {"audience": AUDIENCE, "email": SCHEDULER, **claims}
    return sandbox.control("POST", "/oidc/token", body)["id_token"]


def certs_fetches(sandbox) -> int:
    return sandbox.control("GET", "/oidc")["certs_fetches"]


def segment(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt_like(header: object, payload: object = None, signature: str = "c2ln") -> str:
    return f"{segment(header)}.{segment(payload if payload is not None else {'aud': AUDIENCE})}.{signature}"


# --- the check itself ---

def test_a_scheduler_token_is_accepted(issuer_sandbox):
    claims = verify_caller(f"Bearer {token(issuer_sandbox)}", identity(issuer_sandbox), certificates(issuer_sandbox))
    assert (claims["email"], claims["aud"]) == (SCHEDULER, AUDIENCE)


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "token abc"])
def test_without_a_bearer_token_the_answer_is_401(authorization):
    with pytest.raises(Unauthorized) as refused:
        bearer_token(authorization)
    assert refused.value.code == 401
    assert "Bearer" in refused.value.description


@pytest.mark.parametrize("claims,reason", [
    ({"audience": "https://someone-else.example"}, "audience"),
    ({"email": "intruder@test-project.iam.gserviceaccount.com"}, "expected email"),
    ({"issuer": "https://evil.example"}, "expected iss"),
    ({"email_verified": False}, "email_verified"),
    ({"lifetime_seconds": -120}, "expired"),
])
def test_a_token_with_a_wrong_claim_is_refused_saying_only_that_and_logging_why(issuer_sandbox, capsys, claims,
                                                                                 reason):
    with pytest.raises(Rejected) as refused:
        verify_caller(f"Bearer {token(issuer_sandbox, **claims)}", identity(issuer_sandbox),
                      certificates(issuer_sandbox))
    assert refused.value.code == 401
    assert refused.value.description == "ID token rejected"
    assert reason in refused.value.reason.lower() or reason in refused.value.reason
    assert reason in capsys.readouterr().out.lower() or reason in capsys.readouterr().out


MALFORMED = {
    "one segment": "x",
    "not base64 JSON": "a.b.c",
    "no signature": f"{segment({'alg': 'RS256', 'kid': 'k'})}.{segment({})}.",
    "four segments": jwt_like({"alg": "RS256", "kid": "k"}) + ".d",
    "HS256": jwt_like({"alg": "HS256", "kid": "k"}),
    "alg none": jwt_like({"alg": "none", "kid": "k"}),
    "no kid": jwt_like({"alg": "RS256"}),
    "empty kid": jwt_like({"alg": "RS256", "kid": ""}),
    "kid not a string": jwt_like({"alg": "RS256", "kid": 7}),
    "header not an object": jwt_like(["RS256"]),
    "payload not an object": jwt_like({"alg": "RS256", "kid": "k"}, "claims"),
    "payload not JSON": f"{segment({'alg': 'RS256', 'kid': 'k'})}.{segment(b'{nope')}.c2ln",
    "not ASCII": "\u00e9" * 50,
}


@pytest.mark.parametrize("bad", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_token_not_shaped_like_a_google_id_token_is_refused_without_a_fetch(issuer_sandbox, bad):
    fetches = certs_fetches(issuer_sandbox)
    with pytest.raises(Rejected) as refused:
        verify_caller(f"Bearer {bad}", identity(issuer_sandbox), certificates(issuer_sandbox))
    assert refused.value.description == "ID token rejected"
    assert certs_fetches(issuer_sandbox) == fetches


def test_a_forged_token_is_refused(issuer_sandbox):
    # Same key id, another key: what a forger who read the certificate endpoint would make.
    forged = OidcIssuer().mint(audience=AUDIENCE, email=SCHEDULER)
    with pytest.raises(Rejected) as refused:
        verify_caller(f"Bearer {forged}", identity(issuer_sandbox), certificates(issuer_sandbox))
    assert "signature" in refused.value.reason.lower()


def test_a_token_for_a_key_google_does_not_publish_is_refused(issuer_sandbox):
    unknown = jwt_like({"alg": "RS256", "kid": "no-such-key"})
    with pytest.raises(Rejected) as refused:
        verify_caller(f"Bearer {unknown}", identity(issuer_sandbox), certificates(issuer_sandbox))
    assert "no-such-key" in refused.value.reason


# --- Google's certificates: cached as Cache-Control allows ---

def test_certificates_are_fetched_once_per_max_age(issuer_sandbox):
    clock = FakeClock()
    cache = certificates(issuer_sandbox, clock)
    valid = f"Bearer {token(issuer_sandbox)}"
    before = certs_fetches(issuer_sandbox)
    for _ in range(3):
        verify_caller(valid, identity(issuer_sandbox), cache)
    assert certs_fetches(issuer_sandbox) == before + 1
    clock.advance(OidcIssuer.max_age - 1)
    verify_caller(valid, identity(issuer_sandbox), cache)
    assert certs_fetches(issuer_sandbox) == before + 1
    clock.advance(1)  # max-age has passed
    verify_caller(valid, identity(issuer_sandbox), cache)
    assert certs_fetches(issuer_sandbox) == before + 2


def test_an_unknown_key_id_fetches_again_at_most_once_a_minute(issuer_sandbox):
    clock = FakeClock()
    cache = certificates(issuer_sandbox, clock)
    unknown = f"Bearer {jwt_like({'alg': 'RS256', 'kid': 'rotated-in'})}"
    before = certs_fetches(issuer_sandbox)

    def refused_after_fetches() -> int:
        with pytest.raises(Rejected):
            verify_caller(unknown, identity(issuer_sandbox), cache)
        return certs_fetches(issuer_sandbox) - before

    assert [refused_after_fetches() for _ in range(3)] == [1, 1, 1]  # the first one had to fetch
    clock.advance(UNKNOWN_KEY_REFETCH_SECONDS - 1)
    assert refused_after_fetches() == 1
    clock.advance(1)
    assert [refused_after_fetches() for _ in range(3)] == [2, 2, 2]


class CertsServer:
    """Serves a scripted certificates answer: (status, headers, body) or DISCONNECT."""

    DISCONNECT = None

    def __init__(self, answer):
        self.answer = answer
        self.requests = 0

    def __call__(self, environ, start_response):
        self.requests += 1
        if self.answer is self.DISCONNECT:
            start_response("200 OK", [])
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            return []
        status, headers, body = self.answer
        return Response(body, status, headers)(environ, start_response)


def fetch(answer, clock=None):
    """GoogleCertificates.for_key() against a server answering `answer`; (result or error, the server)."""
    server = CertsServer(answer)
    with BackgroundServer(server) as running:
        cache = GoogleCertificates(f"{running.url}/certs", make_session(RetryPolicy(read=0, sleep=lambda s: None)),
                                   clock or FakeClock())
        try:
            return cache.for_key("k"), server, cache
        except UpstreamError as failed:
            return failed, server, cache


PEM = OidcIssuer().certs()[OidcIssuer.key_id]


@pytest.mark.parametrize("headers,max_age", [
    ({"Cache-Control": "public, max-age=20000, must-revalidate, no-transform"}, 20000),
    ({"Cache-Control": "public, max-age=20000", "Age": "5000"}, 15000),
    ({"Cache-Control": "no-store, max-age=20000"}, 0),
    ({"Cache-Control": "public"}, 0),
    ({}, 0),
])
def test_the_cache_lasts_what_cache_control_allows(headers, max_age):
    clock = FakeClock()
    certs, server, cache = fetch((200, {"Content-Type": "application/json", **headers}, json.dumps({"k": PEM})), clock)
    assert certs == {"k": PEM}
    with BackgroundServer(server) as running:  # a second server, to count what a later call fetches
        cache.url = f"{running.url}/certs"
        clock.advance(max(max_age - 1, 0))
        cache.for_key("k")
        assert server.requests == (1 if max_age > 1 else 2)


@pytest.mark.parametrize("answer,problem", [
    ((200, {}, "not json"), "not JSON"),
    ((200, {}, "[]"), "expected a map"),
    ((200, {}, "{}"), "expected a map"),
    ((200, {}, '{"k": 5}'), "expected a map"),
    ((200, {}, '{"k": "not a certificate"}'), "no certificate for key 'k'"),
    ((404, {}, "{}"), "answered 404"),
])
def test_a_malformed_or_failed_certificates_answer_is_an_upstream_failure(answer, problem):
    failed, _, _ = fetch(answer)
    assert isinstance(failed, UpstreamError) and failed.service == "google-certs"
    assert problem in failed.detail


def test_a_read_error_fetching_certificates_is_not_retried():
    failed, server, _ = fetch(CertsServer.DISCONNECT)
    assert isinstance(failed, UpstreamError)
    assert server.requests == 1


def test_unreachable_certificates_are_an_upstream_failure_not_a_refusal():
    well_shaped = jwt_like({"alg": "RS256", "kid": "k"})
    with refusing() as closed, pytest.raises(UpstreamError) as failed:
        verify_caller(f"Bearer {well_shaped}", SchedulerIdentity(AUDIENCE, SCHEDULER, certs_url=f"{closed}/certs"),
                      GoogleCertificates(f"{closed}/certs", make_session()))
    assert failed.value.service == "google-certs"


# --- configuration ---

BASE = {"STATUSPAGE_PAGE": "page1"}


def test_the_scheduler_identity_comes_from_the_environment():
    settings = load_settings({**BASE, "PAGERSTATUS_SCHEDULER_AUDIENCE": AUDIENCE,
                              "PAGERSTATUS_SCHEDULER_SERVICE_ACCOUNT": SCHEDULER})
    assert settings.scheduler == SchedulerIdentity(AUDIENCE, SCHEDULER, "https://www.googleapis.com/oauth2/v1/certs")


@pytest.mark.parametrize("extra,needle", [
    ({"PAGERSTATUS_SCHEDULER_AUDIENCE": AUDIENCE}, "found only one"),
    ({"PAGERSTATUS_SCHEDULER_SERVICE_ACCOUNT": SCHEDULER}, "found only one"),
    ({"PAGERSTATUS_SCHEDULER_AUDIENCE": AUDIENCE, "PAGERSTATUS_SCHEDULER_SERVICE_ACCOUNT": "scheduler"}, "email"),
    ({"PAGERSTATUS_SCHEDULER_AUDIENCE": AUDIENCE, "PAGERSTATUS_SCHEDULER_SERVICE_ACCOUNT": SCHEDULER,
      "PAGERSTATUS_OIDC_CERTS_URL": "ftp://certs"}, "PAGERSTATUS_OIDC_CERTS_URL"),
])
def test_half_a_scheduler_configuration_is_an_error(extra, needle):
    with pytest.raises(ConfigError, match=needle):
        load_settings({**BASE, **extra})


# --- end to end, through functions-framework (marked e2e: the rest of this module is unit) ---

@pytest.fixture(scope="module")
def scheduled():
    """The function configured for the periodic sync, trusting the sandbox's certificate."""
    with running_sandbox() as certs_sandbox:
        env = {"PAGERSTATUS_SCHEDULER_AUDIENCE": AUDIENCE, "PAGERSTATUS_SCHEDULER_SERVICE_ACCOUNT": SCHEDULER,
               "PAGERSTATUS_OIDC_CERTS_URL": f"{certs_sandbox.url}/_sandbox/oidc/certs"}
        with world(extra_env=env) as (sandbox, function):
            yield certs_sandbox, sandbox, function


@pytest.mark.e2e
def test_the_scheduled_sync_heals_a_lost_webhook_and_fetches_the_certificates_once(scheduled):
    certs_sandbox, sandbox, function = scheduled
    triggered = sandbox.trigger("hugops", title="API down", tags=f"component:{API}", deliver=False)
    sandbox.acknowledge(triggered["incident"]["id"], deliver=False)
    assert page_state(sandbox)[1] == []  # the webhooks were "lost"

    fetches = certs_fetches(certs_sandbox)
    for _ in range(2):
        response = function.post("/_sync", data=b"", headers={"Authorization": f"Bearer {token(certs_sandbox)}"})
        assert (response.status_code, response.json()) == (200, ["Performed sync"])

    components, unresolved = page_state(sandbox)
    assert [incident["component_ids"] for incident in unresolved] == [[API]]
    assert components[API] == "partial_outage"
    assert any(entry.get("caller") == SCHEDULER for entry in function.logs())
    assert certs_fetches(certs_sandbox) - fetches <= 1  # none if an earlier test of this module fetched them


def tells_nothing(response: requests.Response) -> bool:
    """A 401 naming neither the audience (the project) nor the scheduler's account."""
    return response.status_code == 401 and not any(secret in response.text for secret in
                                                   (AUDIENCE, SCHEDULER, "test-project"))


@pytest.mark.e2e
@pytest.mark.parametrize("headers", [
    {}, {"X-Pagerstatus-Token": "anything"}, {"Authorization": "Bearer not-a-token"},
    *({"Authorization": f"Bearer {bad}"} for name, bad in MALFORMED.items() if name != "not ASCII"),
])
def test_a_malformed_token_is_refused_reading_and_fetching_nothing(scheduled, headers):
    certs_sandbox, sandbox, function = scheduled
    sandbox.clear_requests()
    fetches = certs_fetches(certs_sandbox)
    response = function.post("/_sync", data=b"", headers=headers)
    assert tells_nothing(response), response.text
    assert set(response.json()) == {"error"}
    assert sandbox.requests() == []
    assert certs_fetches(certs_sandbox) == fetches


@pytest.mark.e2e
def test_a_token_for_another_service_account_is_refused_and_the_reason_logged(scheduled):
    certs_sandbox, sandbox, function = scheduled
    sandbox.clear_requests()
    other = token(certs_sandbox, email="someone@test-project.iam.gserviceaccount.com")
    response = function.post("/_sync", data=b"", headers={"Authorization": f"Bearer {other}"})
    assert response.json() == {"error": "ID token rejected"} and tells_nothing(response)
    assert any("expected email" in entry.get("reason", "") for entry in function.logs())
    assert sandbox.requests() == []


@pytest.mark.e2e
def test_the_scheduled_sync_path_takes_post_only(scheduled):
    _, _, function = scheduled
    response = requests.get(function.url + "/_sync", timeout=10)
    assert response.status_code == 405
    assert response.json() == {"error": "expected POST on /_sync, found GET"}
