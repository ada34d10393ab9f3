"""Keys from Google Secret Manager (PAGERSTATUS_SECRETS=secretmanager).

Secret ids, the same convention Terraform uses:

    pagerstatus-statuspage-api-key              the Statuspage API key
    pagerstatus-pd-<account>-api-key            one per PagerDuty account (required)
    pagerstatus-pd-<account>-webhook-secret     optional: v3 webhook signing secret
    pagerstatus-pd-<account>-webhook-token      optional: shared token

Accounts are discovered by listing the project's secrets whose id matches
``pagerstatus-pd-<account>-api-key``, so adding an account means adding its
secrets, not redeploying. The list call asks the server for ids containing
``pagerstatus-pd-`` (a cheap substring filter); the regular expression applied
here is the source of truth. Labels are not relied on.

Every value is read from ``versions/latest`` and cached per instance for
``ttl_seconds`` (a rotated key is picked up within that time). When a refresh
fails for a transient reason (Secret Manager unavailable, timeout), the
previous value is served for up to ``STALE_GRACE_SECONDS`` more, with a
warning, so that a Secret Manager blip does not fail webhooks on a warm
instance. A missing secret, a disabled version or denied permission is never
masked that way.

IAM: the function's service account needs ``secretmanager.versions.access`` on
these secrets (roles/secretmanager.secretAccessor) and ``secretmanager.secrets.list``
on the project (for example roles/secretmanager.viewer) for discovery.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

from google.api_core import exceptions as api_exceptions
from google.api_core import retry as api_retry

from . import log
from .config import ACCOUNT_NAME, AccountKeys
from .errors import ConfigError, UpstreamError

if TYPE_CHECKING:  # pragma: no cover - typing only; the library loads when the client is made
    from google.cloud.secretmanager import SecretManagerServiceClient

SERVICE = "secretmanager"
STATUSPAGE_SECRET_ID = "pagerstatus-statuspage-api-key"
ACCOUNT_SECRET_PREFIX = "pagerstatus-pd-"
# Server-side pre-filter: secrets whose name contains the prefix (Secret Manager's
# filter syntax, `name:` is a substring match). The regex below decides.
LIST_FILTER = f"name:{ACCOUNT_SECRET_PREFIX}"
API_KEY_SECRET = re.compile(
    "^" + re.escape(ACCOUNT_SECRET_PREFIX) + "(" + ACCOUNT_NAME.pattern.strip("^$") + ")-api-key$"
)
LIST_PAGE_SIZE = 250
# How long a cached value may still be served after its TTL when refreshing it
# fails for a transient reason.
STALE_GRACE_SECONDS = 3600.0

T = TypeVar("T")


def account_secret_ids(account: str) -> tuple[str, str, str]:
    """The (api key, webhook secret, webhook token) secret ids of an account.

    Raises ValueError for anything but a valid account name (ACCOUNT_NAME).
    """
    if not ACCOUNT_NAME.fullmatch(account):
        raise ValueError(f"not an account name: {account!r}")
    base = f"{ACCOUNT_SECRET_PREFIX}{account}"
    return f"{base}-api-key", f"{base}-webhook-secret", f"{base}-webhook-token"


class _Transient(Exception):
    """A failure worth serving a stale cached value for; wraps the UpstreamError."""

    def __init__(self, error: UpstreamError):
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class _Entry(Generic[T]):
    value: T
    fetched: float
    retry_at: float = float("-inf")  # while serving stale: no new attempt before this


class SecretManagerKeySource:
    """config.KeySource backed by Secret Manager, with a per-instance TTL cache.

    ttl_seconds: how long a value or the account listing is reused.
    negative_ttl_seconds: an unknown account name is answered from the cached
        listing if it is younger than this; otherwise the listing is refreshed
        once. A scan of random URLs therefore costs at most one list call per
        negative_ttl_seconds, however many names it tries.
    rpc_timeout: total time for one Secret Manager call including its retries,
        so that a webhook fails (503) well within PagerDuty's 5 s deadline.
    on_secret: called with every value read, so that the logs mask it.
    """

    def __init__(
        self,
        project: str,
        client: "SecretManagerServiceClient | None" = None,
        ttl_seconds: float = 300,
        clock: Callable[[], float] = time.monotonic,
        *,
        negative_ttl_seconds: float = 30,
        rpc_timeout: float = 3.0,
        on_secret: Callable[[str], None] = lambda value: None,
    ):
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
        self._values: dict[str, _Entry[str]] = {}
        self._listing: _Entry[frozenset[str]] | None = None
        self._filter: str | None = LIST_FILTER

    # -- KeySource ---------------------------------------------------------

    def statuspage_key(self) -> str:
        return self._value(STATUSPAGE_SECRET_ID)

    def accounts(self) -> dict[str, AccountKeys]:
        secret_ids = self._secret_ids()
        names = sorted(m.group(1) for m in map(API_KEY_SECRET.fullmatch, secret_ids) if m)
        if not names:
            raise ConfigError(
                f"Secret Manager: no PagerDuty account in project {self.project!r}: "
                f"expected secrets named {ACCOUNT_SECRET_PREFIX}<account>-api-key"
            )
        return {name: self._account_keys(name, secret_ids) for name in names}

    def account(self, name: str) -> AccountKeys | None:
        # Validate before the name goes anywhere near a secret id.
        if not isinstance(name, str) or not ACCOUNT_NAME.fullmatch(name):
            return None
        api_key_id = account_secret_ids(name)[0]
        secret_ids = self._secret_ids()
        if api_key_id not in secret_ids:
            secret_ids = self._secret_ids(max_age=self._negative_ttl)
            if api_key_id not in secret_ids:
                return None
        return self._account_keys(name, secret_ids)

    # -- internals ---------------------------------------------------------

    def _account_keys(self, name: str, secret_ids: frozenset[str]) -> AccountKeys:
        api_key_id, webhook_secret_id, webhook_token_id = account_secret_ids(name)
        # An optional secret that exists must be readable: a webhook secret that
        # silently read as "none" would turn signature checks off.
        return AccountKeys(
            name=name,
            api_key=self._value(api_key_id),
            webhook_secret=self._value(webhook_secret_id) if webhook_secret_id in secret_ids else None,
            webhook_token=self._value(webhook_token_id) if webhook_token_id in secret_ids else None,
        )

    def _client(self) -> "SecretManagerServiceClient":
        with self._lock:
            if self._client_instance is None:
                from google.cloud import secretmanager  # loads only when first used

                self._client_instance = secretmanager.SecretManagerServiceClient()
            return self._client_instance

    def _call_options(self) -> dict[str, Any]:
        retry = api_retry.Retry(
            initial=0.1,
            maximum=1.0,
            multiplier=2.0,
            predicate=api_retry.if_exception_type(
                api_exceptions.ServiceUnavailable,
                api_exceptions.InternalServerError,
                api_exceptions.ResourceExhausted,
                api_exceptions.DeadlineExceeded,
            ),
            timeout=self._rpc_timeout,
        )
        return {"retry": retry, "timeout": self._rpc_timeout}

    def _cached(self, entry: _Entry[T] | None, max_age: float, load: Callable[[], T], what: str) -> _Entry[T]:
        """Return a fresh-enough entry, loading it if needed; serve stale on transient errors."""
        now = self._clock()
        if entry is not None and (now - entry.fetched < max_age or now < entry.retry_at):
            return entry
        try:
            return _Entry(load(), self._clock())
        except _Transient as exc:
            if entry is None or now - entry.fetched >= self._ttl + STALE_GRACE_SECONDS:
                raise exc.error from exc.error.__cause__
            log.warning(
                "Secret Manager unavailable; using the cached value",
                action="secret-stale",
                secret=what,
                age_seconds=round(now - entry.fetched, 1),
                error=str(exc.error),
            )
            # Do not pay the failing call's timeout again on every request.
            return _Entry(entry.value, entry.fetched, retry_at=self._clock() + self._negative_ttl)

    def _value(self, secret_id: str) -> str:
        with self._lock:
            entry = self._values.get(secret_id)
        entry = self._cached(entry, self._ttl, lambda: self._access(secret_id), secret_id)
        with self._lock:
            self._values[secret_id] = entry
        return entry.value

    def _secret_ids(self, max_age: float | None = None) -> frozenset[str]:
        with self._lock:
            entry = self._listing
        entry = self._cached(entry, self._ttl if max_age is None else max_age, self._list, "listing")
        with self._lock:
            self._listing = entry
        return entry.value

    def _forget_listing(self) -> None:
        with self._lock:
            self._listing = None

    def _access(self, secret_id: str) -> str:
        name = f"projects/{self.project}/secrets/{secret_id}/versions/latest"
        try:
            response = self._client().access_secret_version(name=name, **self._call_options())
        except Exception as exc:  # noqa: BLE001 - classified; anything else propagates as is
            status = _rpc_status(exc)
            if status == "NOT_FOUND":
                self._forget_listing()  # the listing may be out of date; look again next time
                raise ConfigError(
                    f"Secret Manager: secret {secret_id!r} not found in project {self.project!r}, "
                    "or it has no enabled version"
                ) from None
            if status == "FAILED_PRECONDITION":
                raise ConfigError(
                    f"Secret Manager: the latest version of secret {secret_id!r} in project {self.project!r} "
                    f"is disabled or destroyed ({_message(exc)})"
                ) from None
            mapped = self._upstream(exc, f"accessing secret {secret_id!r}")
            if mapped is None:
                raise
            raise mapped from exc
        try:
            value = bytes(response.payload.data).decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ConfigError(f"Secret Manager: secret {secret_id!r} is not UTF-8 text") from None
        if not value:
            raise ConfigError(f"Secret Manager: secret {secret_id!r} is empty")
        self._on_secret(value)
        return value

    def _list(self) -> frozenset[str]:
        try:
            return self._list_with(self._filter)
        except _Transient:
            raise
        except UpstreamError as exc:
            if self._filter is not None and _rpc_status(exc.__cause__) == "INVALID_ARGUMENT":
                # The prefix filter is only an optimisation: list everything instead.
                log.warning("Secret Manager rejected the list filter; listing all secrets",
                            action="secret-list-unfiltered", filter=self._filter, error=str(exc))
                self._filter = None
                return self._list_with(None)
            raise

    def _list_with(self, filter_: str | None) -> frozenset[str]:
        request: dict[str, Any] = {"parent": f"projects/{self.project}", "page_size": LIST_PAGE_SIZE}
        if filter_:
            request["filter"] = filter_
        try:
            # Names come back as projects/<number>/secrets/<id>; keep the id.
            pager = self._client().list_secrets(request=request, **self._call_options())
            return frozenset(secret.name.rsplit("/", 1)[-1] for secret in pager)
        except Exception as exc:  # noqa: BLE001 - classified; anything else propagates as is
            mapped = self._upstream(exc, f"listing secrets in project {self.project!r}")
            if mapped is None:
                raise
            raise mapped from exc

    def _upstream(self, exc: Exception, doing: str) -> UpstreamError | _Transient | None:
        """Map a client failure to UpstreamError, transient ones wrapped in _Transient.

        None for anything that is not a Secret Manager or transport failure: it
        propagates as is, so that a bug is not reported as an outage.
        """
        transient = False
        if isinstance(exc, (api_exceptions.PermissionDenied, api_exceptions.Forbidden)):
            needs = (
                "roles/secretmanager.secretAccessor on the secret"
                if doing.startswith("accessing")
                else "secretmanager.secrets.list on the project (roles/secretmanager.viewer)"
            )
            detail = (f"permission denied {doing}: the function's service account needs {needs} "
                      f"(Secret Manager also answers this for a secret that does not exist): {_message(exc)}")
        elif isinstance(exc, (api_exceptions.Unauthenticated, api_exceptions.Unauthorized,
                              api_exceptions.BadRequest)):
            detail = f"{doing} failed: {_message(exc)}"
        elif isinstance(exc, (api_exceptions.GoogleAPICallError, api_exceptions.RetryError)) or _is_transport_error(exc):
            detail, transient = f"{doing} failed: {_message(exc)}", True
        else:
            return None
        error = UpstreamError(SERVICE, detail)
        error.__cause__ = exc
        return _Transient(error) if transient else error


def _rpc_status(exc: BaseException | None) -> str | None:
    """The canonical status name ("NOT_FOUND", ...) of a client error, gRPC or REST alike.

    Over REST the exception class follows the HTTP code only (a 400 is
    BadRequest whether the status is INVALID_ARGUMENT or FAILED_PRECONDITION),
    so the status is read from the error body.
    """
    if not isinstance(exc, api_exceptions.GoogleAPICallError):
        return None
    code = getattr(exc, "grpc_status_code", None)
    if code is not None:
        return str(getattr(code, "name", code))
    response = getattr(exc, "response", None)
    try:
        status = response.json()["error"]["status"]  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - no JSON error body: fall back on the HTTP code
        status = None
    if isinstance(status, str) and status:
        return status
    return {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}.get(getattr(exc, "code", None))


def _message(exc: Exception) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def _is_transport_error(exc: Exception) -> bool:
    """Network and credential-refresh failures of the REST and gRPC transports."""
    from google.auth import exceptions as auth_exceptions

    if isinstance(exc, (auth_exceptions.TransportError, auth_exceptions.RefreshError)):
        return True
    try:
        import requests
    except ImportError:  # pragma: no cover - requests is a dependency of the service
        return False
    return isinstance(exc, requests.exceptions.RequestException)
