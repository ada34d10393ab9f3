"""Keys from Secret Manager: the real client library over REST, answered by `responses`.

The client is google-cloud-secret-manager's own SecretManagerServiceClient with
transport="rest", anonymous credentials and an api_endpoint of our choosing,
so the requests checked here are the ones the library really sends.
"""
from __future__ import annotations

import base64
import functools
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from unittest.mock import Mock
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from google.auth.credentials import AnonymousCredentials
from google.cloud import secretmanager

from pagerstatus.config import Settings
from pagerstatus.diagnosis import explain
from pagerstatus.errors import ConfigError, UpstreamError
from pagerstatus.keys import AccountKeys, AccountName
from pagerstatus.runtime import key_source
from pagerstatus.secretmanager import LIST_FILTER, SecretManagerKeySource
from tests.harness.clock import FakeClock

ENDPOINT = "http://secretmanager.test"
PROJECT = "proj-1"
SECRETS_URL = f"{ENDPOINT}/v1/projects/{PROJECT}/secrets"
ACCESS_URL = re.compile(re.escape(SECRETS_URL) + r"/[^/]+/versions/latest:access")
TTL = 300.0
NEGATIVE_TTL = 30.0  # SecretManagerKeySource's default

# Error answers, as Secret Manager's REST API gives them: (HTTP code, status, message).
NOT_FOUND = (404, "NOT_FOUND", "Secret [projects/123456789/secrets/x] not found or has no versions.")
DENIED = (403, "PERMISSION_DENIED",
          "Permission 'secretmanager.versions.access' denied for resource (or it may not exist).")
DISABLED = (400, "FAILED_PRECONDITION",
            "Secret Version [projects/123456789/secrets/x/versions/3] is in DISABLED state.")
UNAVAILABLE = (503, "UNAVAILABLE", "The service is currently unavailable.")


# The library's own client over REST to ENDPOINT (bound here: a test replaces the class in the module).
rest_client = functools.partial(secretmanager.SecretManagerServiceClient, transport="rest",
                                credentials=AnonymousCredentials(), client_options={"api_endpoint": ENDPOINT})


# The secrets most tests start from.
SECRETS = {
    "pagerstatus-statuspage-api-key": "  sp-key-0001\n",
    "pagerstatus-pd-alpha-api-key": "pd-alpha-key-1",
    "pagerstatus-pd-alpha-webhook-secret": "alpha-signing-secret",
    "pagerstatus-pd-alpha-webhook-token": "alpha-token-value",
    "pagerstatus-pd-beta_2-api-key": "pd-beta-key-1\n",
    "pagerstatus-pd-beta_2-webhook-token": "beta-token-value",
    # Not accounts:
    "pagerstatus-pd-gamma-webhook-token": "no api key, no account",
    "other-pagerstatus-pd-x-api-key": "another prefix",
    "unrelated-secret": "never listed by the filter",
}


class FakeSecretManager:
    """Serves list and access calls from a dict of secret id -> value (or an error status), and
    records them: `pages` holds the offset of each page listed (0 starts a listing), `accessed`
    the secret ids read."""

    def __init__(self, mock: responses.RequestsMock):
        self.values: dict[str, str | bytes | tuple[int, str, str]] = dict(SECRETS)
        self.listing_error: tuple[int, str, str] | None = None
        self.page_size = 2  # small pages, so that paging is exercised
        self.pages: list[int] = []
        self.accessed: list[str] = []
        mock.add_callback(responses.GET, SECRETS_URL, callback=self._list)
        mock.add_callback(responses.GET, ACCESS_URL, callback=self._access)

    @property
    def listings(self) -> int:
        return self.pages.count(0)

    @property
    def calls(self) -> int:
        return len(self.pages) + len(self.accessed)

    def _list(self, request):
        query = parse_qs(urlparse(request.url).query)
        start = int(query.get("pageToken", ["0"])[0])
        self.pages.append(start)
        if self.listing_error:
            return _error(self.listing_error)
        # name:<text> lists the secrets whose name contains <text>.
        assert query["filter"] == [LIST_FILTER]
        ids = [i for i in sorted(self.values) if LIST_FILTER.split(":", 1)[1] in i]
        page = ids[start:start + self.page_size]
        body: dict = {"secrets": [{"name": f"projects/123456789/secrets/{i}",
                                   "labels": {"pagerstatus": "true"}} for i in page]}
        if start + self.page_size < len(ids):
            body["nextPageToken"] = str(start + self.page_size)
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def _access(self, request):
        secret_id = urlparse(request.url).path.split("/")[5]
        self.accessed.append(secret_id)
        value = self.values.get(secret_id, NOT_FOUND)
        if isinstance(value, tuple):
            return _error(value)
        data = value if isinstance(value, bytes) else value.encode()
        body = {"name": f"projects/123456789/secrets/{secret_id}/versions/7",
                "payload": {"data": base64.b64encode(data).decode()}}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)


def _error(error: tuple[int, str, str]):
    code, status, message = error
    body = {"error": {"code": code, "message": message, "status": status}}
    return code, {"Content-Type": "application/json"}, json.dumps(body)


@pytest.fixture
def fake():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeSecretManager(mock)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def source(fake, clock) -> SecretManagerKeySource:
    return SecretManagerKeySource(PROJECT, client=rest_client(), ttl_seconds=TTL, clock=clock, rpc_timeout=0.5)


# -- Discovery and the account name ------------------------------------------------------


def test_accounts_are_discovered_by_secret_name(fake, source):
    assert source.accounts() == {
        "alpha": AccountKeys("alpha", "pd-alpha-key-1", "alpha-signing-secret", "alpha-token-value"),
        "beta_2": AccountKeys("beta_2", "pd-beta-key-1", None, "beta-token-value"),
    }
    assert fake.listings == 1 and len(fake.pages) > 1  # one listing, followed over its pages
    # Only what exists is read: no access call for beta_2's absent webhook secret.
    assert sorted(fake.accessed) == [
        "pagerstatus-pd-alpha-api-key", "pagerstatus-pd-alpha-webhook-secret", "pagerstatus-pd-alpha-webhook-token",
        "pagerstatus-pd-beta_2-api-key", "pagerstatus-pd-beta_2-webhook-token",
    ]
    assert source.account(AccountName("beta_2")) == source.accounts()["beta_2"]


def test_no_account_is_a_clear_config_error(fake, source):
    fake.values = {"pagerstatus-statuspage-api-key": "sp-key-0001"}
    with pytest.raises(ConfigError, match=r"no PagerDuty account.*pagerstatus-pd-<account>-api-key"):
        source.accounts()


@pytest.mark.parametrize("secret_id", ["pagerstatus-pd-Upper-api-key", "pagerstatus-pd--api-key",
                                       "pagerstatus-pd-a.b-api-key", f"pagerstatus-pd-{'x' * 64}-api-key"])
def test_an_api_key_secret_naming_no_valid_account_is_an_error_not_a_dropped_account(fake, source, secret_id):
    fake.values[secret_id] = "pd-key"
    with pytest.raises(ConfigError, match=f"secret '{secret_id}': expected an account name"):
        source.accounts()


def test_accounts_that_differ_only_in_dash_and_underscore_are_an_error(fake, source):
    fake.values["pagerstatus-pd-beta-2-api-key"] = "pd-beta-key-2"
    for read in (source.accounts, lambda: source.account(AccountName("alpha"))):
        with pytest.raises(ConfigError, match="found 'beta-2' and 'beta_2'"):
            read()


def test_other_team_is_not_other_dash_team(fake, source):
    fake.values["pagerstatus-pd-other-team-api-key"] = "pd-key-1"
    assert source.account(AccountName("other_team")) is None
    assert source.account(AccountName("other-team")).api_key == "pd-key-1"


def test_unknown_names_are_cached_briefly_so_a_scan_costs_one_list_call(fake, source, clock):
    for i in range(50):
        assert source.account(AccountName(f"scan{i}")) is None
    assert fake.listings == 1 and fake.accessed == []
    clock.advance(31)  # past the negative TTL: one more look, so a new account is found quickly
    fake.values["pagerstatus-pd-scan7-api-key"] = "pd-scan7-key"
    for i in range(50):
        assert (source.account(AccountName(f"scan{i}")) is not None) == (i == 7)
    assert fake.listings == 2


def test_a_page_with_its_own_key_secret_is_read_with_it_and_the_others_with_the_shared_one(fake, source):
    fake.values["pagerstatus-statuspage-page2-api-key"] = "sp-key-page2"
    assert source.statuspage_key("page2") == "sp-key-page2"
    assert source.statuspage_key("page1") == "sp-key-0001"
    assert fake.listings == 1  # the listing that finds the accounts finds the pages' own keys too


def test_a_pages_own_key_secret_that_cannot_be_read_is_an_error_never_the_shared_key(fake, source):
    fake.values["pagerstatus-statuspage-page2-api-key"] = DISABLED
    with pytest.raises(ConfigError, match="secret 'pagerstatus-statuspage-page2-api-key'"):
        source.statuspage_key("page2")
    assert "pagerstatus-statuspage-api-key" not in fake.accessed


# -- Caching and rotation ---------------------------------------------------------------


def test_values_and_the_listing_are_cached_for_the_ttl_then_read_again(fake, source, clock):
    assert source.statuspage_key("page1") == "sp-key-0001"  # stripped
    assert set(source.accounts()) == {"alpha", "beta_2"}
    calls = fake.calls
    fake.values.update({"pagerstatus-statuspage-api-key": "sp-key-0002", "pagerstatus-pd-alpha-api-key": "pd-alpha-2",
                        "pagerstatus-pd-delta-api-key": "pd-delta-key-1"})
    del fake.values["pagerstatus-pd-beta_2-api-key"]
    clock.advance(TTL - 1)
    assert source.statuspage_key("page1") == "sp-key-0001"
    assert source.accounts()["alpha"].api_key == "pd-alpha-key-1"
    assert fake.calls == calls  # a warm instance does not call Secret Manager
    clock.advance(1)
    assert source.statuspage_key("page1") == "sp-key-0002"
    assert {name: keys.api_key for name, keys in source.accounts().items()} == {
        "alpha": "pd-alpha-2", "delta": "pd-delta-key-1"}  # an added account, without a redeploy


@pytest.mark.parametrize("failing", ["value", "listing"])
def test_a_transient_failure_serves_the_cached_value_and_does_not_retry_at_once(fake, source, clock, capsys, failing):
    source.accounts(), source.statuspage_key("page1")
    if failing == "listing":
        fake.listing_error = UNAVAILABLE
    else:
        fake.values["pagerstatus-statuspage-api-key"] = UNAVAILABLE
    clock.advance(TTL)
    assert source.statuspage_key("page1") == "sp-key-0001" and set(source.accounts()) == {"alpha", "beta_2"}
    assert "secret-stale" in capsys.readouterr().out
    calls = fake.calls
    clock.advance(1)
    assert source.statuspage_key("page1") == "sp-key-0001" and set(source.accounts()) == {"alpha", "beta_2"}
    assert fake.calls == calls  # no new attempt for a while
    clock.advance(10_000)  # far past the grace period: the outage is reported
    with pytest.raises(UpstreamError):
        source.statuspage_key("page1"), source.accounts()


# -- Errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("secret_id,read", [
    ("pagerstatus-statuspage-api-key", lambda source: source.statuspage_key("page1")),
    ("pagerstatus-pd-alpha-api-key", lambda source: source.accounts()),
    # Listed, but without an enabled version: an optional secret that exists fails closed.
    ("pagerstatus-pd-alpha-webhook-secret", lambda source: source.account(AccountName("alpha"))),
])
def test_a_missing_secret_is_a_config_error_naming_it(fake, source, secret_id, read):
    fake.values[secret_id] = NOT_FOUND
    with pytest.raises(ConfigError, match=f"'{secret_id}' not found in project 'proj-1'"):
        read(source)


def test_a_secret_found_missing_makes_the_next_request_list_again(fake, source, clock):
    source.accounts()
    clock.advance(TTL - 10)
    assert source.account(AccountName("unknown")) is None  # a fresh listing, younger than the values
    for kind in ("api-key", "webhook-secret", "webhook-token"):
        del fake.values[f"pagerstatus-pd-alpha-{kind}"]
    clock.advance(10)
    with pytest.raises(ConfigError, match="'pagerstatus-pd-alpha-api-key' not found"):
        source.accounts()
    assert set(source.accounts()) == {"beta_2"}  # not a configuration error for the listing's TTL


@pytest.mark.parametrize("kind", ["webhook-token", "webhook-secret"])
def test_a_blank_webhook_credential_is_a_config_error_never_no_credential(fake, source, kind):
    fake.values[f"pagerstatus-pd-alpha-{kind}"] = " \n "
    with pytest.raises(ConfigError, match=f"'pagerstatus-pd-alpha-{kind}' is empty"):
        source.account(AccountName("alpha"))


def test_a_fresh_look_reads_a_rotated_token_at_most_once_per_negative_ttl(fake, source, clock):
    alpha = AccountName("alpha")
    assert source.account(alpha).webhook_token == "alpha-token-value"
    fake.values["pagerstatus-pd-alpha-webhook-token"] = "rotated-token-value"
    clock.advance(NEGATIVE_TTL - 1)
    calls = fake.calls
    assert source.account(alpha, fresh=True).webhook_token == "alpha-token-value"  # read moments ago
    assert fake.calls == calls
    clock.advance(1)
    assert source.account(alpha).webhook_token == "alpha-token-value"  # an ordinary look: the TTL's cache
    assert source.account(alpha, fresh=True).webhook_token == "rotated-token-value"
    # The listing and both webhook credentials read again, the API key not.
    assert (fake.listings, sorted(fake.accessed[-2:])) == (2, ["pagerstatus-pd-alpha-webhook-secret",
                                                              "pagerstatus-pd-alpha-webhook-token"])
    calls = fake.calls
    assert source.account(alpha, fresh=True).webhook_token == "rotated-token-value"
    assert fake.calls == calls  # a flood of refused webhooks costs one read per NEGATIVE_TTL


@pytest.mark.parametrize("value, problem", [
    (DISABLED, r"latest version of secret 'pagerstatus-statuspage-api-key'.*DISABLED"),
    (b"\xff\xfe", "not UTF-8"),
    (" \n ", "is empty"),
])
def test_a_bad_value_is_a_config_error(fake, source, value, problem):
    fake.values["pagerstatus-statuspage-api-key"] = value
    with pytest.raises(ConfigError, match=problem):
        source.statuspage_key("page1")


def test_permission_denied_names_the_missing_role_and_is_never_served_stale(fake, source, clock):
    source.statuspage_key("page1")
    fake.values["pagerstatus-statuspage-api-key"] = DENIED
    clock.advance(TTL)
    with pytest.raises(UpstreamError, match=r"secretmanager: accessing secret 'pagerstatus-statuspage-api-key': "
                                            r"permission denied: .*roles/secretmanager\.secretAccessor"):
        source.statuspage_key("page1")
    fake.listing_error = (403, "PERMISSION_DENIED", "Permission 'secretmanager.secrets.list' denied.")
    clock.advance(TTL)  # the listing the key's read refreshed has expired too
    with pytest.raises(UpstreamError, match=r"listing secrets .*secretmanager\.secrets\.list on the project"):
        source.accounts()


def test_unavailable_is_an_upstream_error_within_the_timeout(fake, source):
    # Given up on within the source's budget (0.5 s here), not the library's (60 s): a bound
    # this loose holds on any machine.
    fake.values["pagerstatus-statuspage-api-key"] = UNAVAILABLE
    started = time.monotonic()
    with pytest.raises(UpstreamError) as info:
        source.statuspage_key("page1")
    assert time.monotonic() - started < 20
    assert info.value.service == "secretmanager"


def test_every_value_read_is_handed_to_on_secret(fake, clock):
    read: list[str] = []
    source = SecretManagerKeySource(PROJECT, client=rest_client(), ttl_seconds=TTL, clock=clock, rpc_timeout=0.5,
                                    on_secret=read.append)
    source.accounts(), source.statuspage_key("page1")
    assert sorted(read) == sorted(value.strip() for secret_id, value in fake.values.items()
                                  if secret_id.startswith(("pagerstatus-pd-alpha", "pagerstatus-pd-beta_2",
                                                           "pagerstatus-statuspage")))


# -- Wiring ----------------------------------------------------------------------------------


def test_the_client_is_created_lazily(monkeypatch, fake):
    factory = Mock(side_effect=lambda *args, **kwargs: rest_client())
    monkeypatch.setattr(secretmanager, "SecretManagerServiceClient", factory)
    source = key_source(Settings(statuspage_pages=("p1",), secrets="secretmanager", project=PROJECT), {},
                        lambda value: None)
    assert isinstance(source, SecretManagerKeySource) and source.project == PROJECT
    assert factory.call_count == 0  # no client, no credentials at construction
    assert source.statuspage_key("page1") == "sp-key-0001"
    source.accounts()
    assert factory.call_count == 1


@pytest.mark.e2e  # starts a python process; the rest of this module is unit
def test_importing_needs_no_credentials_and_loads_no_client():
    code = ("import sys, pagerstatus.secretmanager as m; m.SecretManagerKeySource('p'); "
            "print(any(k.startswith('google.cloud.secretmanager') for k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin"}, cwd=Path(__file__).resolve().parent.parent).stdout
    assert out.strip() == "False"


# -- A half-added account: which one, and how to fix it ---------------------------------------

@pytest.mark.parametrize(("value", "error", "fix"), [
    (NOT_FOUND, ConfigError, "gcloud secrets versions add pagerstatus-pd-beta_2-webhook-token --project=proj-1"),
    ("  ", ConfigError, "gcloud secrets versions add pagerstatus-pd-beta_2-webhook-token --project=proj-1"),
    (DENIED, UpstreamError, "gcloud secrets add-iam-policy-binding pagerstatus-pd-beta_2-webhook-token "
                            "--project=proj-1"),
], ids=["no-version", "empty", "no-grant"])
def test_a_half_added_account_fails_the_sync_naming_the_account_and_the_fix(fake, source, value, error, fix):
    # Its incidents cannot be read without its keys, and a sync without them would resolve what
    # it alone keeps open: the sync fails, but the log and `check` say which account and what to do.
    fake.values["pagerstatus-pd-beta_2-webhook-token"] = value
    with pytest.raises(error) as raised:
        source.accounts()
    diagnosis = explain(raised.value)
    assert diagnosis.account == "beta_2" and fix in diagnosis.fix, diagnosis
    assert diagnosis.fields()["account"] == "beta_2"
    assert source.account(AccountName("alpha")) is not None  # the other accounts are read as before


def test_no_google_credentials_is_a_configuration_error_saying_how_to_sign_in(monkeypatch, tmp_path):
    # What `python -m pagerstatus check` meets on a machine that never ran application-default login.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-credentials.json"))
    with pytest.raises(ConfigError) as raised:
        SecretManagerKeySource(PROJECT).accounts()
    assert "no Google credentials" in str(raised.value)
    assert "gcloud auth application-default login" in explain(raised.value).fix
