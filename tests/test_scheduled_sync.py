"""The periodic sync (POST /_sync): only a Google ID token for the scheduler's
service account, with the configured audience, starts it.

The sandbox stands in for Google: it signs tokens and serves its certificate in
the format of https://www.googleapis.com/oauth2/v1/certs.
"""
from __future__ import annotations

import pytest
import requests
from werkzeug.exceptions import Unauthorized

from pagerstatus.config import load_settings
from pagerstatus.errors import ConfigError, UpstreamError
from pagerstatus.oidc import SchedulerIdentity, bearer_token, verify_caller
from sandbox.google_oidc import OidcIssuer
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


def token(sandbox, **claims) -> str:
    body = {"audience": AUDIENCE, "email": SCHEDULER, **claims}
    return sandbox.control("POST", "/oidc/token", body)["id_token"]


# --- the check itself ---

def test_a_scheduler_token_is_accepted(issuer_sandbox):
    claims = verify_caller(f"Bearer {token(issuer_sandbox)}", identity(issuer_sandbox), requests.Session())
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
def test_a_token_with_a_wrong_claim_is_refused(issuer_sandbox, claims, reason):
    with pytest.raises(Unauthorized) as refused:
        verify_caller(f"Bearer {token(issuer_sandbox, **claims)}", identity(issuer_sandbox), requests.Session())
    assert refused.value.code == 401
    assert reason in refused.value.description.lower() or reason in refused.value.description


@pytest.mark.parametrize("bad", ["x", "a.b.c", "e30.e30.", "\u00e9" * 50, "Bearer.Bearer.Bearer", "forged"])
def test_a_malformed_or_forged_token_is_refused(issuer_sandbox, bad):
    if bad == "forged":  # same key id, different key: what a forger who read the certificate endpoint would make
        bad = OidcIssuer().mint(audience=AUDIENCE, email=SCHEDULER)
    with pytest.raises(Unauthorized) as refused:
        verify_caller(f"Bearer {bad}", identity(issuer_sandbox), requests.Session())
    assert refused.value.code == 401


def test_unreachable_certificates_are_an_upstream_failure_not_a_refusal():
    with refusing() as closed, pytest.raises(UpstreamError) as failed:
        verify_caller("Bearer a.b.c", SchedulerIdentity(AUDIENCE, SCHEDULER, certs_url=f"{closed}/certs"),
                      requests.Session())
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
def test_the_scheduled_sync_heals_a_lost_webhook(scheduled):
    certs_sandbox, sandbox, function = scheduled
    triggered = sandbox.trigger("hugops", title="API down", tags=f"component:{API}", deliver=False)
    sandbox.acknowledge(triggered["incident"]["id"], deliver=False)
    assert page_state(sandbox)[1] == []  # the webhooks were "lost"

    response = function.post("/_sync", data=b"", headers={"Authorization": f"Bearer {token(certs_sandbox)}"})

    assert (response.status_code, response.json()) == (200, ["Performed sync"])
    components, unresolved = page_state(sandbox)
    assert [incident["component_ids"] for incident in unresolved] == [[API]]
    assert components[API] == "partial_outage"
    assert any(entry.get("caller") == SCHEDULER for entry in function.logs())


@pytest.mark.e2e
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}, {"X-Pagerstatus-Token": "anything"}])
def test_an_unauthenticated_scheduled_sync_reads_nothing(scheduled, headers):
    _, sandbox, function = scheduled
    sandbox.clear_requests()
    response = function.post("/_sync", data=b"", headers=headers)
    assert response.status_code == 401
    assert "error" in response.json()
    assert sandbox.requests() == []


@pytest.mark.e2e
def test_a_token_for_another_service_account_is_refused(scheduled):
    certs_sandbox, sandbox, function = scheduled
    sandbox.clear_requests()
    other = token(certs_sandbox, email="someone@test-project.iam.gserviceaccount.com")
    response = function.post("/_sync", data=b"", headers={"Authorization": f"Bearer {other}"})
    assert response.status_code == 401
    assert "expected email" in response.json()["error"]
    assert sandbox.requests() == []


@pytest.mark.e2e
def test_the_scheduled_sync_path_takes_post_only(scheduled):
    _, _, function = scheduled
    response = requests.get(function.url + "/_sync", timeout=10)
    assert response.status_code == 405
    assert response.json() == {"error": "expected POST on /_sync, found GET"}
