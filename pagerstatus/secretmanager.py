"""Keys from Google Secret Manager (PAGERSTATUS_SECRETS=secretmanager).

Secret ids, the ones Terraform creates (tests/test_terraform.py compares them):

    pagerstatus-statuspage-api-key              the Statuspage API key, for every page
    pagerstatus-statuspage-<page id>-api-key    optional: a page's own key, which serves it instead
    pagerstatus-pd-<account>-api-key            one per PagerDuty account (required)
    pagerstatus-pd-<account>-webhook-secret     optional: v3 webhook signing secret
    pagerstatus-pd-<account>-webhook-token      optional: shared token

<account> is the account name in its one spelling (pagerstatus.keys), <page id> the page id
as STATUSPAGE_PAGE spells it. Accounts and the pages' own keys are found by listing the
project's secrets: adding an account is adding its secrets, no redeploy. A page's own key
secret for a page not in STATUSPAGE_PAGE is not read.

Values are read from versions/latest and cached per instance for ttl_seconds, so a rotated
key is picked up within that time. While a refresh fails for a transient reason (Secret
Manager unavailable, overloaded, slow or unreachable) the cached value is served, with a
warning, for up to STALE_GRACE_SECONDS more: a blip does not fail webhooks on a warm
instance. A missing secret, a disabled version or a denied permission is never masked.

IAM: the function's service account needs roles/secretmanager.secretAccessor on these
secrets and secretmanager.secrets.list on the project (Terraform grants a custom role holding only that).
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions

from . import gcp, log
from .errors import ConfigError, PagerstatusError, UpstreamError
from .keys import AccountKeys, AccountName, check_distinct

if TYPE_CHECKING:  # the library itself loads when the client is made
    from google.cloud.secretmanager import SecretManagerServiceClient

SERVICE = "secretmanager"
STATUSPAGE_SECRET_ID = "pagerstatus-statuspage-api-key"
PAGE_SECRET_PREFIX, PAGE_SECRET_SUFFIX = "pagerstatus-statuspage-", "-api-key"
ACCOUNT_SECRET_PREFIX = "pagerstatus-pd-"
ACCOUNT_SECRET_SUFFIXES = ("-api-key", "-webhook-secret", "-webhook-token")
_API_KEY_SECRET = re.compile(re.escape(ACCOUNT_SECRET_PREFIX) + "(.*)" + re.escape(ACCOUNT_SECRET_SUFFIXES[0]))
# `name:` keeps the secrets whose name contains the text: "Secrets whose name contains the
# "mysecret" substring: name:mysecret" (https://cloud.google.com/secret-manager/docs/filtering,
# the syntax ListSecretsRequest.filter refers to). It spares listing unrelated secrets;
# account_names() decides which listed ids are accounts, statuspage_key() which is a page's.
LIST_FILTER = "name:pagerstatus-"
LIST_PAGE_SIZE = 250
STALE_GRACE_SECONDS = 3600.0
_LISTING = "(listing)"  # the listing's cache key; no secret id has parentheses


def account_secret_ids(account: AccountName) -> tuple[str, str, str]:
    """The (api key, webhook secret, webhook token) secret ids of an account."""
    api_key, secret, token = (ACCOUNT_SECRET_PREFIX + account + suffix for suffix in ACCOUNT_SECRET_SUFFIXES)
    return api_key, secret, token


def page_secret_id(page: str) -> str:
    """The secret id of a page's own Statuspage key."""
    return PAGE_SECRET_PREFIX + page + PAGE_SECRET_SUFFIX


def account_names(secret_ids: Iterable[str]) -> set[AccountName]:
    """The accounts with an api-key secret among secret_ids. A ConfigError, not a skip, for
    an api-key secret that names no valid account, and for names that differ only in - and _."""
    names = {AccountName.parse(match.group(1), f"Secret Manager: secret {secret_id!r}")
             for secret_id in secret_ids if (match := _API_KEY_SECRET.fullmatch(secret_id))}
    check_distinct(names, "Secret Manager: pagerstatus-pd-<account>-api-key secrets")
    return names


def _transient(exc: BaseException | None) -> bool:
    """Worth serving a stale value for: Secret Manager was unavailable, overloaded or slow,
    or not reached (a transport error, or retries out of time)."""
    return isinstance(exc, gcp.TRANSIENT) or not isinstance(exc, api_exceptions.GoogleAPICallError)


class _Entry(NamedTuple):
    value: Any
    fetched: float
    retry_at: float = float("-inf")  # while serving stale: no new attempt before this


class SecretManagerKeySource:
    """keys.KeySource backed by Secret Manager, with a per-instance TTL cache.

    negative_ttl_seconds: an unknown account name is answered from a listing at most this
        old, so a scan of random URLs costs at most one list call per negative_ttl_seconds.
    rpc_timeout: total time for one call including its retries: a webhook fails (503)
        well within PagerDuty's 5 s deadline.
    on_secret: called with every value read, so that the logs mask it.
    """

    def __init__(self, project: str, client: SecretManagerServiceClient | None = None, ttl_seconds: float = 300,
                 clock: Callable[[], float] = time.monotonic, *, negative_ttl_seconds: float = 30,
                 rpc_timeout: float = 3.0, on_secret: Callable[[str], None] = lambda value: None):
        if not project:
            raise ConfigError("GOOGLE_CLOUD_PROJECT: must be set to read keys from Secret Manager")
        self.project = project
        self._client_instance = client
        self._ttl = ttl_seconds
        self._negative_ttl = min(negative_ttl_seconds, ttl_seconds)
        self._clock = clock
        self._rpc_timeout = rpc_timeout
        self._on_secret = on_secret
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}  # by secret id, and the listing

    def statuspage_key(self, page: str) -> str:
        # Like an account's optional secrets: a page's own key secret that is listed must be
        # readable, never silently replaced by the shared key.
        own = page_secret_id(page)
        listed = own in self._fetch(_LISTING, self._ttl, self._list)
        return self._fetch(own if listed else STATUSPAGE_SECRET_ID, self._ttl, self._access)

    def accounts(self) -> dict[AccountName, AccountKeys]:
        secret_ids = self._fetch(_LISTING, self._ttl, self._list)
        names = account_names(secret_ids)
        if not names:
            raise ConfigError(f"Secret Manager: no PagerDuty account in project {self.project!r}: "
                              f"expected secrets named {ACCOUNT_SECRET_PREFIX}<account>-api-key")
        return {name: self._account_keys(name, secret_ids, self._ttl) for name in sorted(names)}

    def account(self, name: AccountName, fresh: bool = False) -> AccountKeys | None:
        """fresh: the listing and the webhook credentials no older than negative_ttl_seconds,
        so that a token rotated or added since is seen (at most one read per that time)."""
        secret_ids = self._fetch(_LISTING, self._negative_ttl if fresh else self._ttl, self._list)
        if name not in account_names(secret_ids):
            secret_ids = self._fetch(_LISTING, self._negative_ttl, self._list)
            if name not in account_names(secret_ids):
                return None
        return self._account_keys(name, secret_ids, self._negative_ttl if fresh else self._ttl)

    def account_names(self) -> set[AccountName]:
        return account_names(self._fetch(_LISTING, self._ttl, self._list))

    def _account_keys(self, name: AccountName, secret_ids: frozenset[str], credentials_max_age: float) -> AccountKeys:
        # An optional secret that exists must be readable: a webhook secret that
        # silently read as "none" would turn signature checks off.
        # The api key is always listed: that is how the account was found.
        max_ages = (self._ttl, credentials_max_age, credentials_max_age)
        try:
            api_key, secret, token = (self._fetch(secret_id, max_age, self._access) if secret_id in secret_ids else None
                                      for secret_id, max_age in zip(account_secret_ids(name), max_ages, strict=True))
        except PagerstatusError as exc:
            # A half-added account (a secret with no version, or no grant) fails every sync:
            # the log and `check` must say which account it is.
            exc.account = name
            raise
        return AccountKeys(name=name, api_key=api_key, webhook_secret=secret, webhook_token=token)

    def _fetch(self, key: str, max_age: float, load: Callable[[str], Any]) -> Any:
        """The cached value of key if younger than max_age, else load(key); the cached one for
        up to STALE_GRACE_SECONDS past the TTL while loading fails transiently."""
        with self._lock:
            entry = self._entries.get(key)
        now = self._clock()
        if entry is not None and (now - entry.fetched < max_age or now < entry.retry_at):
            return entry.value
        try:
            entry = _Entry(load(key), self._clock())
        except UpstreamError as exc:
            too_old = entry is None or now - entry.fetched >= self._ttl + STALE_GRACE_SECONDS
            if too_old or not _transient(exc.__cause__):
                raise
            log.warning("Secret Manager unavailable; using the cached value", action="secret-stale", secret=key,
                        age_seconds=round(now - entry.fetched, 1), error=str(exc))
            # Do not pay the failing call's timeout again on every request.
            entry = entry._replace(retry_at=self._clock() + self._negative_ttl)
        with self._lock:
            self._entries[key] = entry
        return entry.value

    def _client(self) -> SecretManagerServiceClient:
        with self._lock:
            if self._client_instance is None:
                from google.cloud import secretmanager  # loads only when first used

                try:
                    self._client_instance = secretmanager.SecretManagerServiceClient()
                except auth_exceptions.DefaultCredentialsError as exc:  # as the Firestore lock's connect()
                    raise ConfigError(f"Secret Manager: no Google credentials found ({exc})",
                                      fix="run `gcloud auth application-default login`, or set "
                                          "PAGERSTATUS_SECRETS=env for a local run") from None
            return self._client_instance

    def _access(self, secret_id: str) -> str:
        name = f"projects/{self.project}/secrets/{secret_id}/versions/latest"
        add_version = (f"give it an enabled, non-empty version: `gcloud secrets versions add {secret_id} "
                       f"--project={self.project} --data-file=-` with the value on stdin (or `terraform apply`, "
                       "for a secret Terraform manages)")
        grant = (f"`gcloud secrets add-iam-policy-binding {secret_id} --project={self.project} "
                 "--member=serviceAccount:<the function's service account> --role=roles/secretmanager.secretAccessor`"
                 " (Terraform grants it on the secrets it creates; a secret made by hand needs it too)")
        with self._calling(f"accessing secret {secret_id!r}", "roles/secretmanager.secretAccessor", grant) as options:
            try:
                response = self._client().access_secret_version(name=name, **options)
            except api_exceptions.NotFound:
                with self._lock:
                    self._entries.pop(_LISTING, None)  # the listing may be out of date: look again next time
                raise ConfigError(f"Secret Manager: secret {secret_id!r} not found in project {self.project!r}, "
                                  "or it has no enabled version", fix=add_version) from None
            except api_exceptions.BadRequest as exc:  # FailedPrecondition over gRPC, a plain 400 over REST
                raise ConfigError(f"Secret Manager: cannot read the latest version of secret {secret_id!r} "
                                  f"in project {self.project!r} (disabled or destroyed?): {gcp.message(exc)}",
                                  fix=add_version) from None
        try:
            value = bytes(response.payload.data).decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ConfigError(f"Secret Manager: secret {secret_id!r} is not UTF-8 text", fix=add_version) from None
        if not value:
            raise ConfigError(f"Secret Manager: secret {secret_id!r} is empty", fix=add_version)
        self._on_secret(value)
        return value

    def _list(self, _key: str) -> frozenset[str]:
        request = {"parent": f"projects/{self.project}", "page_size": LIST_PAGE_SIZE, "filter": LIST_FILTER}
        with self._calling(f"listing secrets in project {self.project!r}",
                           "secretmanager.secrets.list on the project",
                           "grant it the custom role pagerstatusSecretLister, which lists secrets only "
                           "(`terraform apply` does)") as options:
            # Every page is read here, inside the error mapping. Names are projects/<number>/secrets/<id>.
            return frozenset(secret.name.rsplit("/", 1)[-1]
                             for secret in self._client().list_secrets(request=request, **options))

    @contextmanager
    def _calling(self, doing: str, needs: str, grant: str) -> Iterator[dict[str, Any]]:
        """gcp's retry and timeout for one client call; its failure becomes an UpstreamError.
        grant: how to give the service account what it needs, the fix of a refusal."""
        with gcp.upstream_errors(SERVICE, doing):
            try:
                yield gcp.call_options(self._rpc_timeout)
            except api_exceptions.Forbidden as exc:  # PermissionDenied over gRPC is a Forbidden
                raise UpstreamError(SERVICE, f"{doing}: permission denied: the function's service account needs "
                                             f"{needs} (Secret Manager also answers this for a secret that does not "
                                             f"exist): {gcp.message(exc)}", fix=grant) from exc
