"""Configuration from the environment, and where keys come from.

Non-secret settings are plain environment variables. Keys come from a
KeySource: the environment for local runs (the original tool's names), or
Secret Manager on Google Cloud (pagerstatus.secretmanager).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol

from .errors import ConfigError
from .oidc import GOOGLE_CERTS_URL, SchedulerIdentity
from .pagerduty import DEFAULT_BASE_URL as DEFAULT_PAGERDUTY_API_URL, REGION_BASE_URLS as PAGERDUTY_REGION_URLS
from .reconcile import DEFAULT_INCIDENT_BODY, DEFAULT_INCIDENT_NAME, DEFAULT_RESOLVED_BODY, Policy, SeverityMap
from .statuspage import DEFAULT_BASE_URL as DEFAULT_STATUSPAGE_API_URL


# Account names go into URLs, environment variable names and secret ids.
ACCOUNT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
PAGE_ID = re.compile(r"^[A-Za-z0-9]+$")

ENV_ACCOUNT_PREFIX = "PD_ACCOUNT_"
ENV_WEBHOOK_SECRET_PREFIX = "PD_WEBHOOK_SECRET_"
ENV_WEBHOOK_TOKEN_PREFIX = "PD_WEBHOOK_TOKEN_"


@dataclass(frozen=True)
class AccountKeys:
    """One PagerDuty account: its REST API key and optional webhook credentials."""

    name: str
    api_key: str = field(repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_token: str | None = field(default=None, repr=False)


class KeySource(Protocol):
    """Where keys come from. Implementations cache as they see fit."""

    def statuspage_key(self) -> str: ...

    def accounts(self) -> dict[str, AccountKeys]:
        """Every configured PagerDuty account, by lower-case name."""
        ...

    def account(self, name: str) -> AccountKeys | None:
        """One account by lower-case name, or None when it is not configured."""
        ...


@dataclass(frozen=True)
class Settings:
    """Everything but the keys."""

    statuspage_page: str
    pagerduty_api_url: str = DEFAULT_PAGERDUTY_API_URL
    # Accounts read through another API than pagerduty_api_url: EU ones, or a test's sandbox.
    pagerduty_account_api_urls: Mapping[str, str] = field(default_factory=dict)
    statuspage_api_url: str = DEFAULT_STATUSPAGE_API_URL
    policy: Policy = field(default_factory=Policy)
    dry_run: bool = False
    secrets: str = "env"  # or "secretmanager"
    lock: str = "memory"  # or "firestore"
    project: str | None = None
    firestore_database: str = "(default)"
    # Who may call POST /_sync (the periodic sync); None: nobody, the path answers 404.
    scheduler: SchedulerIdentity | None = None

    def pagerduty_api_url_for(self, account: str) -> str:
        return self.pagerduty_account_api_urls.get(account, self.pagerduty_api_url)


def _choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = environ.get(name, "").strip().lower() or default
    if value not in choices:
        raise ConfigError(f"{name}: expected one of {', '.join(choices)}, found {value!r}")
    return value


def _template(environ: Mapping[str, str], name: str, default: str) -> str:
    value = environ.get(name) or default
    try:
        value.format(component="x")
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{name}: expected a template using only {{component}}, found {value!r} ({exc})") from None
    return value


def _url(environ: Mapping[str, str], name: str, default: str) -> str:
    value = (environ.get(name) or default).rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name}: expected an http(s) URL, found {value!r}")
    return value


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    page = environ.get("STATUSPAGE_PAGE", "").strip()
    if not page:
        raise ConfigError("STATUSPAGE_PAGE: not set (the Statuspage page id)")
    if not PAGE_ID.fullmatch(page):
        raise ConfigError(f"STATUSPAGE_PAGE: expected a page id of letters and digits, found {page!r}")
    secrets = _choice(environ, "PAGERSTATUS_SECRETS", ("env", "secretmanager"), "env")
    project = environ.get("GOOGLE_CLOUD_PROJECT", "").strip() or None
    if secrets == "secretmanager" and not project:
        raise ConfigError("GOOGLE_CLOUD_PROJECT: must be set when PAGERSTATUS_SECRETS=secretmanager")
    # The Firestore lock is the default wherever a Google Cloud project is set.
    lock = _choice(environ, "PAGERSTATUS_LOCK", ("memory", "firestore"), "firestore" if project else "memory")
    if lock == "firestore" and not project:
        raise ConfigError("GOOGLE_CLOUD_PROJECT: must be set when PAGERSTATUS_LOCK=firestore")
    return Settings(
        statuspage_page=page,
        pagerduty_api_url=_url(environ, "PAGERDUTY_API_URL", DEFAULT_PAGERDUTY_API_URL),
        pagerduty_account_api_urls=_account_api_urls(environ, "PAGERSTATUS_PAGERDUTY_REGIONS"),
        statuspage_api_url=_url(environ, "STATUSPAGE_API_URL", DEFAULT_STATUSPAGE_API_URL),
        policy=Policy(
            open_on=_choice(environ, "PAGERSTATUS_OPEN_ON", ("acknowledged", "triggered"), "acknowledged"),
            severity=SeverityMap.parse(environ.get("PAGERSTATUS_SEVERITY", "")),
            incident_name=_template(environ, "PAGERSTATUS_INCIDENT_NAME", DEFAULT_INCIDENT_NAME),
            incident_body=_template(environ, "PAGERSTATUS_INCIDENT_BODY", DEFAULT_INCIDENT_BODY),
            resolved_body=_template(environ, "PAGERSTATUS_RESOLVED_BODY", DEFAULT_RESOLVED_BODY),
        ),
        dry_run=_choice(environ, "PAGERSTATUS_DRY_RUN", ("true", "false"), "false") == "true",
        secrets=secrets,
        lock=lock,
        project=project,
        firestore_database=environ.get("PAGERSTATUS_FIRESTORE_DATABASE", "").strip() or "(default)",
        scheduler=_scheduler(environ),
    )


def _account_api_urls(environ: Mapping[str, str], name: str) -> dict[str, str]:
    """ACCOUNT=REGION items, comma-separated; REGION is us, eu or an http(s) base URL."""
    urls: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in environ.get(name, "").split(","))):
        account, _, region = (piece.strip() for piece in item.partition("="))
        account = account.lower()
        if not ACCOUNT_NAME.fullmatch(account) or not region:
            raise ConfigError(f"{name}: expected ACCOUNT=REGION items, found {item!r}")
        if region.lower() in PAGERDUTY_REGION_URLS:
            urls[account] = PAGERDUTY_REGION_URLS[region.lower()]
        elif region.startswith(("http://", "https://")):
            urls[account] = region.rstrip("/")
        else:
            raise ConfigError(f"{name}: expected a region ({', '.join(PAGERDUTY_REGION_URLS)}) or an http(s) URL "
                              f"for {account}, found {region!r}")
    return urls


def _scheduler(environ: Mapping[str, str]) -> SchedulerIdentity | None:
    audience = environ.get("PAGERSTATUS_SCHEDULER_AUDIENCE", "").strip()
    service_account = environ.get("PAGERSTATUS_SCHEDULER_SERVICE_ACCOUNT", "").strip()
    if not audience and not service_account:
        return None
    if not audience or not service_account:
        raise ConfigError("PAGERSTATUS_SCHEDULER_AUDIENCE and PAGERSTATUS_SCHEDULER_SERVICE_ACCOUNT: "
                          "expected both set (the periodic sync) or neither, found only one")
    if "@" not in service_account:
        raise ConfigError(f"PAGERSTATUS_SCHEDULER_SERVICE_ACCOUNT: expected a service account email, "
                          f"found {service_account!r}")
    return SchedulerIdentity(audience=audience, service_account=service_account,
                             certs_url=_url(environ, "PAGERSTATUS_OIDC_CERTS_URL", GOOGLE_CERTS_URL))


class EnvKeySource:
    """Keys from environment variables: STATUSPAGE_KEY, PD_ACCOUNT_<NAME>, and the
    optional PD_WEBHOOK_SECRET_<NAME> / PD_WEBHOOK_TOKEN_<NAME>.

    Account <NAME> is the URL's account upper-cased, '-' written as '_'.
    """

    def __init__(self, environ: Mapping[str, str] = os.environ, on_secret: Callable[[str], None] = lambda value: None):
        """on_secret: called with every key read, so that the logs mask it."""
        self._environ = environ
        self._on_secret = on_secret

    def statuspage_key(self) -> str:
        key = self._environ.get("STATUSPAGE_KEY", "").strip()
        if not key:
            raise ConfigError("STATUSPAGE_KEY: not set (the Statuspage API key)")
        self._on_secret(key)
        return key

    def accounts(self) -> dict[str, AccountKeys]:
        found: dict[str, AccountKeys] = {}
        for variable in sorted(self._environ):
            if not variable.startswith(ENV_ACCOUNT_PREFIX):
                continue
            suffix = variable[len(ENV_ACCOUNT_PREFIX):]
            name = suffix.lower()
            # Only the canonical spelling is looked up again below: anything else
            # would silently drop the account, and with it its open incidents.
            if not ACCOUNT_NAME.fullmatch(name) or suffix != name.upper().replace("-", "_"):
                raise ConfigError(f"{variable}: expected upper-case letters, digits and _ after the prefix")
            keys = self._keys(name)
            if keys is not None:
                found[name] = keys
        if not found:
            raise ConfigError(f"{ENV_ACCOUNT_PREFIX}<NAME>: no PagerDuty account configured")
        return found

    def account(self, name: str) -> AccountKeys | None:
        if not ACCOUNT_NAME.fullmatch(name):
            return None
        return self._keys(name)

    def _keys(self, name: str) -> AccountKeys | None:
        suffix = name.upper().replace("-", "_")
        api_key = self._environ.get(ENV_ACCOUNT_PREFIX + suffix, "").strip()
        if not api_key:
            return None
        secret = self._environ.get(ENV_WEBHOOK_SECRET_PREFIX + suffix, "").strip() or None
        token = self._environ.get(ENV_WEBHOOK_TOKEN_PREFIX + suffix, "").strip() or None
        for value in (api_key, secret, token):
            if value:
                self._on_secret(value)
        return AccountKeys(name=name, api_key=api_key, webhook_secret=secret, webhook_token=token)


def load_key_source(settings: Settings, environ: Mapping[str, str] = os.environ,
                    on_secret: Callable[[str], None] = lambda value: None) -> KeySource:
    """on_secret: called with every key read, so that the logs mask it."""
    if settings.secrets == "secretmanager":
        from .secretmanager import SecretManagerKeySource  # google libraries load only when used

        return SecretManagerKeySource(project=settings.project or "", on_secret=on_secret)
    return EnvKeySource(environ, on_secret)
