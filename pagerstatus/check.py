"""`python -m pagerstatus check`: can the function work with this configuration?

With the configuration the function uses (the environment, keys from it or from Secret
Manager) it checks, one item at a time, so that one broken item does not hide the others:
each PagerDuty account's key (it reads the account's open incidents, which a read-only key
may), its webhook credential (present, and not blank), the Statuspage key against each page
(it reads the page's components), the lock's Firestore database (it reads each page's lease
document) and the periodic sync's identity (its settings, and Google's certificates its
token is checked with). It writes nothing anywhere.

Each item is one line: `ok` and what was found, or `FAIL`, what is wrong and how to fix it
(pagerstatus.diagnosis, which the function's log lines use too).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from .diagnosis import explain
from .errors import ConfigError, PagerstatusError
from .keys import ENV_WEBHOOK_SECRET_PREFIX, ENV_WEBHOOK_TOKEN_PREFIX, AccountKeys, AccountName
from .log import Redactor
from .oidc import GoogleCertificates
from .runtime import Runtime

# A Google service account's email: <id>@<project>.iam.gserviceaccount.com, or a Google-managed one.
SERVICE_ACCOUNT_DOMAIN = ".gserviceaccount.com"


@dataclass(frozen=True)
class Item:
    name: str
    ok: bool
    detail: str  # what was found; or, failed, what is wrong
    fix: str = ""

    def line(self) -> str:
        if self.ok:
            return f"ok    {self.name}: {self.detail}"
        return f"FAIL  {self.name}: {self.detail}; fix: {self.fix}"


def failed(name: str, error: PagerstatusError) -> Item:
    diagnosis = explain(error)
    return Item(name, False, diagnosis.problem, diagnosis.fix)


def check(environ: Mapping[str, str] = os.environ, redactor: Redactor | None = None) -> Iterator[Item]:
    """Every item, checked as it is yielded."""
    try:
        runtime = Runtime.from_environment(environ, redactor=redactor)
    except PagerstatusError as exc:
        yield failed("configuration", exc)
        return
    yield Item("configuration", True, f"pages {', '.join(runtime.settings.statuspage_pages)}; keys from "
                                      f"{runtime.settings.secrets}; lock {runtime.settings.lock}")
    yield from _accounts(runtime)
    for page in runtime.settings.statuspage_pages:
        yield _item(f"page {page}", lambda page=page: _page(runtime, page))
    yield _item("lock", lambda: _lock(runtime))
    yield _item("periodic sync", lambda: _scheduler(runtime))


def _item(name: str, run: Callable[[], str]) -> Item:
    """run() -> what was found; a PagerstatusError it raises is the item's failure."""
    try:
        return Item(name, True, run())
    except PagerstatusError as exc:
        return failed(name, exc)


def _accounts(runtime: Runtime) -> Iterator[Item]:
    try:
        names = sorted(runtime.keys.account_names())
    except PagerstatusError as exc:
        yield failed("accounts", exc)
        return
    if not names:
        yield Item("accounts", False, "no PagerDuty account configured",
                   "add one: PD_ACCOUNT_<NAME> in the environment, or secret pagerstatus-pd-<account>-api-key "
                   "(Terraform: pagerduty_accounts)")
        return
    for name in names:
        try:
            keys = runtime.keys.account(name)
        except PagerstatusError as exc:
            yield failed(f"account {name}: keys", exc)
            continue
        if keys is None:  # listed a moment ago: deleted since
            yield Item(f"account {name}: keys", False, "the account's API key is gone", "check again")
            continue
        client = runtime.source(keys)
        yield _item(f"account {name}: API key",
                    lambda client=client: f"reads {len(client.open_incidents())} open incidents at {client.base_url}")
        yield _webhook_credential(runtime, keys)


def _webhook_credential(runtime: Runtime, keys: AccountKeys) -> Item:
    name = f"account {keys.name}: webhook credential"
    kinds = [kind for kind, value in (("token", keys.webhook_token), ("signing secret", keys.webhook_secret)) if value]
    if kinds:
        return Item(name, True, " and ".join(kinds))
    if keys.name in runtime.settings.allow_unauthenticated:
        return Item(name, True, "none: accepts webhooks from anyone (PAGERSTATUS_ALLOW_UNAUTHENTICATED, local demos)")
    return Item(name, False, "none: every webhook of this account is refused (401)", _credential_fix(keys.name))


def _credential_fix(account: AccountName) -> str:
    return (f"give the account a webhook token, secret pagerstatus-pd-{account}-webhook-token (`terraform apply` "
            f"makes it and the subscription that sends it), and send it in the subscription's X-Pagerstatus-Token "
            f"header; or store the subscription's signing secret as pagerstatus-pd-{account}-webhook-secret. In the "
            f"environment: {ENV_WEBHOOK_TOKEN_PREFIX}{account.upper()} or {ENV_WEBHOOK_SECRET_PREFIX}{account.upper()}")


def _page(runtime: Runtime, page: str) -> str:
    components = runtime.page(page).components(max_age=0)
    return f"the Statuspage key reads its {len(components)} components"


def _lock(runtime: Runtime) -> str:
    settings = runtime.settings
    if settings.lock == "memory":
        return "in memory: guards one process only (on Google Cloud, Terraform sets PAGERSTATUS_LOCK=firestore)"
    from .lock.firestore import FirestoreLock, connect  # loads the Firestore client library

    client = connect(settings.project, settings.firestore_database)
    for page in settings.statuspage_pages:
        FirestoreLock(client, page).snapshot()  # a plain read of the page's lease document
    return (f"Firestore database {settings.firestore_database} of project {settings.project} "
            f"reads the lease of every page")


def _scheduler(runtime: Runtime) -> str:
    identity = runtime.settings.scheduler
    if identity is None:
        return ("not configured: POST /_sync answers 404 (on Google Cloud, Terraform sets "
                "PAGERSTATUS_SCHEDULER_AUDIENCE and PAGERSTATUS_SCHEDULER_SERVICE_ACCOUNT)")
    if not identity.service_account.endswith(SERVICE_ACCOUNT_DOMAIN):
        raise ConfigError(f"PAGERSTATUS_SCHEDULER_SERVICE_ACCOUNT: expected a service account email "
                          f"(...{SERVICE_ACCOUNT_DOMAIN}), found {identity.service_account!r}",
                          fix="set it to the scheduler job's service account: Terraform's output "
                              "scheduler_service_account_email")
    # Any key id: the first call fetches them all, as the first /_sync does.
    certificates = GoogleCertificates(identity.certs_url, runtime.certs_session).for_key("")
    return (f"ID tokens of {identity.service_account} for audience {identity.audience!r}; "
            f"{len(certificates)} signing certificates at {identity.certs_url}")


def report(items: Iterator[Item], print_line: Callable[[str], None]) -> int:
    """Print each item's line as it is checked; 1 if any failed, else 0."""
    status = 0
    for item in items:
        print_line(item.line())
        status = status or int(not item.ok)
    return status
