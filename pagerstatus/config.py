"""Settings: everything but the keys, from plain environment variables.

Every error is a ConfigError naming the variable, what was expected and what was
found. Keys come from a KeySource (pagerstatus.keys, pagerstatus.secretmanager).
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from . import endpoints, policy
from .errors import ConfigError
from .http import READ_BUDGET_SECONDS
from .keys import AccountName, check_distinct
from .lock import RESYNC_SETTLE_SECONDS
from .models import OUTAGE_STATUSES
from .pagerduty import READS_IN_FLIGHT
from .policy import Policy, SeverityMap
from .statuspage import WRITES_IN_FLIGHT

PAGE_ID = re.compile(r"^[A-Za-z0-9]+$")
# A duration: 0, or hours, minutes and seconds in that order, e.g. 90s, 5m, 1h30m.
DURATION = re.compile(r"^(?:0|(?=\d)(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?)$")


@dataclass(frozen=True)
class SchedulerIdentity:
    """Whom the periodic sync must come from (checked by pagerstatus.oidc)."""

    audience: str
    service_account: str
    certs_url: str = endpoints.GOOGLE_CERTS_URL


@dataclass(frozen=True)
class Settings:
    """Everything but the keys."""

    # One or more page ids, in the order STATUSPAGE_PAGE lists them; each is synced on every sync.
    statuspage_pages: tuple[str, ...]
    pagerduty_api_url: str = endpoints.PAGERDUTY_API_URL
    # Accounts read through another API than pagerduty_api_url: EU ones, or a test's sandbox.
    pagerduty_account_api_urls: Mapping[AccountName, str] = field(default_factory=dict)
    statuspage_api_url: str = endpoints.STATUSPAGE_API_URL
    policy: Policy = field(default_factory=Policy)
    dry_run: bool = False
    secrets: str = "env"  # or "secretmanager"
    lock: str = "memory"  # or "firestore"
    project: str | None = None
    firestore_database: str = "(default)"
    # Who may call POST /_sync (the periodic sync); None: nobody, the path answers 404.
    scheduler: SchedulerIdentity | None = None
    # Accounts that accept webhooks from anyone while they have no webhook secret or token
    # (PAGERSTATUS_ALLOW_UNAUTHENTICATED, for local demos); any other such account refuses all.
    allow_unauthenticated: frozenset[AccountName] = frozenset()
    # How much of a sync runs at once (1: one after another), and how long a holder lets a
    # burst of webhooks settle before a follow-up round (0: not at all).
    writes_in_flight: int = WRITES_IN_FLIGHT
    pagerduty_reads_in_flight: int = READS_IN_FLIGHT
    resync_settle_seconds: float = RESYNC_SETTLE_SECONDS
    # Seconds from a request's start by which its sync's reads must end (http.READ_BUDGET_SECONDS).
    read_budget_seconds: int = READ_BUDGET_SECONDS

    def pagerduty_api_url_for(self, account: AccountName) -> str:
        url = self.pagerduty_account_api_urls.get(account)
        if url is not None:
            return url
        # An entry spelt other-team for account other_team would silently send the
        # account to the default API: its reads would fail, or find another region's data.
        check_distinct({account, *self.pagerduty_account_api_urls}, "PAGERSTATUS_PAGERDUTY_REGIONS")
        return self.pagerduty_api_url


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    pages = _pages(environ, "STATUSPAGE_PAGE")
    secrets = _choice(environ, "PAGERSTATUS_SECRETS", ("env", "secretmanager"), "env")
    project = environ.get("GOOGLE_CLOUD_PROJECT", "").strip() or None
    if secrets == "secretmanager" and not project:
        raise ConfigError("GOOGLE_CLOUD_PROJECT: must be set when PAGERSTATUS_SECRETS=secretmanager")
    # The Firestore lock is the default wherever a Google Cloud project is set.
    lock = _choice(environ, "PAGERSTATUS_LOCK", ("memory", "firestore"), "firestore" if project else "memory")
    if lock == "firestore" and not project:
        raise ConfigError("GOOGLE_CLOUD_PROJECT: must be set when PAGERSTATUS_LOCK=firestore")
    return Settings(
        statuspage_pages=pages,
        pagerduty_api_url=_url(environ, "PAGERDUTY_API_URL", endpoints.PAGERDUTY_API_URL),
        pagerduty_account_api_urls=_account_api_urls(environ, "PAGERSTATUS_PAGERDUTY_REGIONS"),
        statuspage_api_url=_url(environ, "STATUSPAGE_API_URL", endpoints.STATUSPAGE_API_URL),
        policy=Policy(
            open_on=_choice(environ, "PAGERSTATUS_OPEN_ON", ("acknowledged", "triggered"), "acknowledged"),
            severity=_severity(environ, "PAGERSTATUS_SEVERITY"),
            incident_name=_template(environ, "PAGERSTATUS_INCIDENT_NAME", policy.DEFAULT_INCIDENT_NAME),
            incident_body=_template(environ, "PAGERSTATUS_INCIDENT_BODY", policy.DEFAULT_INCIDENT_BODY),
            resolved_body=_template(environ, "PAGERSTATUS_RESOLVED_BODY", policy.DEFAULT_RESOLVED_BODY),
            monitoring_body=_template(environ, "PAGERSTATUS_MONITORING_BODY", policy.DEFAULT_MONITORING_BODY),
            notify=_notify(environ, "PAGERSTATUS_NOTIFY"),
            open_after=_duration(environ, "PAGERSTATUS_OPEN_AFTER"),
            monitor_for=_duration(environ, "PAGERSTATUS_MONITOR_FOR"),
            adopt_legacy=_choice(environ, "PAGERSTATUS_ADOPT_LEGACY", ("true", "false"), "false") == "true",
            during_maintenance=_choice(environ, "PAGERSTATUS_DURING_MAINTENANCE", policy.DURING_MAINTENANCE, "hold"),
        ),
        dry_run=_choice(environ, "PAGERSTATUS_DRY_RUN", ("true", "false"), "false") == "true",
        secrets=secrets,
        lock=lock,
        project=project,
        firestore_database=environ.get("PAGERSTATUS_FIRESTORE_DATABASE", "").strip() or "(default)",
        scheduler=_scheduler(environ),
        allow_unauthenticated=_account_list(environ, "PAGERSTATUS_ALLOW_UNAUTHENTICATED"),
        writes_in_flight=_count(environ, "PAGERSTATUS_WRITES_IN_FLIGHT", WRITES_IN_FLIGHT, 1, 60),
        pagerduty_reads_in_flight=_count(environ, "PAGERSTATUS_PAGERDUTY_READS_IN_FLIGHT", READS_IN_FLIGHT, 1, 16),
        resync_settle_seconds=_count(environ, "PAGERSTATUS_RESYNC_SETTLE_MS", round(RESYNC_SETTLE_SECONDS * 1000),
                                     0, 2000) / 1000,
        read_budget_seconds=_count(environ, "PAGERSTATUS_READ_BUDGET_SECONDS", READ_BUDGET_SECONDS, 1, 600),
    )


def _count(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole number from low to high; unset: default."""
    value = environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise ConfigError(f"{name}: expected a whole number from {low} to {high}, found {value!r}")
    return int(value)


def _pages(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    """One page id or several separated by commas: 'abc123' or 'abc123,def456'."""
    pages: list[str] = []
    for page in filter(None, (part.strip() for part in environ.get(name, "").split(","))):
        if not PAGE_ID.fullmatch(page):
            raise ConfigError(f"{name}: expected page ids of letters and digits separated by commas, found {page!r}")
        # Ids differing only in case would share one STATUSPAGE_KEY_<PAGE ID> (pagerstatus.keys).
        if any(page.lower() == seen.lower() for seen in pages):
            raise ConfigError(f"{name}: expected each page id once (in any case), found {page!r} twice")
        pages.append(page)
    if not pages:
        raise ConfigError(f"{name}: not set (the Statuspage page id, or several separated by commas)")
    return tuple(pages)


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


def _notify(environ: Mapping[str, str], name: str) -> frozenset[str]:
    """Comma-separated notification events, or all / none; unset: the default."""
    items = [item.strip().lower() for item in environ.get(name, "").split(",") if item.strip()]
    if not items:
        return policy.DEFAULT_NOTIFY
    if items in (["all"], ["none"]):
        return frozenset(policy.NOTIFY_EVENTS) if items == ["all"] else frozenset()
    unknown = [item for item in items if item not in policy.NOTIFY_EVENTS]
    if unknown:
        raise ConfigError(f"{name}: expected all, none, or a comma-separated set of "
                          f"{', '.join(policy.NOTIFY_EVENTS)}; found {unknown[0]!r}")
    return frozenset(items)


def _duration(environ: Mapping[str, str], name: str) -> timedelta:
    """0, or hours, minutes and seconds: 90s, 5m, 1h30m; unset: 0."""
    value = environ.get(name, "").strip().lower() or "0"
    match = DURATION.fullmatch(value)
    if match is None:
        raise ConfigError(f"{name}: expected a duration such as 0, 90s, 5m or 1h30m, found {value!r}")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _url(environ: Mapping[str, str], name: str, default: str) -> str:
    value = (environ.get(name) or default).rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name}: expected an http(s) URL, found {value!r}")
    return value


def _items(environ: Mapping[str, str], name: str, form: str) -> list[tuple[str, str]]:
    """The comma-separated KEY=VALUE items of one variable, stripped.

    form: the item as the error shows it (e.g. "ACCOUNT=REGION"). A key given twice is
    an error: which of the two was meant cannot be known.
    """
    items: list[tuple[str, str]] = []
    for item in filter(None, (part.strip() for part in environ.get(name, "").split(","))):
        key, sep, value = (piece.strip() for piece in item.partition("="))
        if not sep or not key or not value:
            raise ConfigError(f"{name}: expected {form} items, found {item!r}")
        if any(key.lower() == seen.lower() for seen, _ in items):
            raise ConfigError(f"{name}: expected each key once (in any case), found {key!r} twice")
        items.append((key, value))
    return items


def _severity(environ: Mapping[str, str], name: str) -> SeverityMap:
    """PAGERSTATUS_SEVERITY: 'P1=major_outage,low=degraded_performance,*=partial_outage'."""
    rules: dict[str, str] = {}
    for key, status in _items(environ, name, "KEY=STATUS"):
        if status not in OUTAGE_STATUSES:
            raise ConfigError(f"{name}: expected a status in {', '.join(OUTAGE_STATUSES)} for {key!r}, "
                              f"found {status!r}")
        rules[key.lower()] = status  # SeverityMap compares lower-case
    default = rules.pop("*", SeverityMap.default)
    return SeverityMap(rules=rules, default=default)


def _account_api_urls(environ: Mapping[str, str], name: str) -> dict[AccountName, str]:
    """ACCOUNT=REGION items; REGION is us, eu or an http(s) base URL."""
    urls: dict[AccountName, str] = {}
    for key, region in _items(environ, name, "ACCOUNT=REGION"):
        account = AccountName.parse(key, name, any_case=True)
        url = endpoints.PAGERDUTY_REGION_URLS.get(region.lower())
        if url is None and not region.startswith(("http://", "https://")):
            regions = ", ".join(endpoints.PAGERDUTY_REGION_URLS)
            raise ConfigError(f"{name}: expected a region ({regions}) or an http(s) URL for {account}, "
                              f"found {region!r}")
        urls[account] = url or region.rstrip("/")
    check_distinct(urls, name)
    return urls


def _account_list(environ: Mapping[str, str], name: str) -> frozenset[AccountName]:
    """Comma-separated account names, in any case."""
    accounts = [AccountName.parse(item.strip(), name, any_case=True)
                for item in environ.get(name, "").split(",") if item.strip()]
    check_distinct(set(accounts), name)
    return frozenset(accounts)


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
                             certs_url=_url(environ, "PAGERSTATUS_OIDC_CERTS_URL", endpoints.GOOGLE_CERTS_URL))
