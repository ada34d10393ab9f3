"""The end-to-end world: a sandbox with a status page (or several) and PagerDuty accounts,
and the function (a functions-framework process) configured for them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from tests.harness.function import RunningFunction, running_function
from tests.harness.sandbox import Sandbox, running_sandbox

PAGE_ID = "page00000001"
SP_KEY = "sp-key-0123456789"
API, WEB, DB = "compapi00001", "compweb00001", "compdb000001"
COMPONENTS = [{"id": API, "name": "API"}, {"id": WEB, "name": "Website"}, {"id": DB, "name": "Database"}]
# A second page, for the worlds of several pages: its own components (ids are unique across pages).
PAGE_2_ID = "page00000002"
PAY, QUEUE = "comppay00001", "compqueue001"
PAGE_2_COMPONENTS = [{"id": PAY, "name": "Payments"}, {"id": QUEUE, "name": "Queue"}]
ACK_V2 = {"messages": [{"event": "incident.acknowledge"}]}
# A sync on demand: the same sync as the periodic one (POST /_sync), without its ID token.
RESYNC = {"event": {"event_type": "pagerstatus.resync"}}


def pd_key(account: str) -> str:
    return f"{account}-pd-key-0123456789"


def function_env(sandbox: Sandbox, accounts: Iterable[str], **extra: str) -> dict[str, str]:
    """The function's environment for this page and these accounts, in the sandbox.

    An account given no webhook credential (in extra) accepts webhooks from anyone, as
    `make run`'s demo account does: the accounts are listed in
    PAGERSTATUS_ALLOW_UNAUTHENTICATED, which extra may set otherwise (the fail-closed tests).
    """
    accounts = list(accounts)
    env = {
        "STATUSPAGE_PAGE": PAGE_ID,
        "STATUSPAGE_KEY": SP_KEY,
        "STATUSPAGE_API_URL": sandbox.statuspage_url,
        "PAGERDUTY_API_URL": sandbox.pagerduty_url,
        "PAGERSTATUS_ALLOW_UNAUTHENTICATED": ",".join(accounts),
        **{f"PD_ACCOUNT_{account.upper()}": pd_key(account) for account in accounts},
    }
    return {**env, **extra}


@contextmanager
def world(accounts: Iterable[str] = ("hugops",), extra_env: dict[str, str] | None = None,
          webhook: dict[str, Any] | None = None, components: list[dict] = COMPONENTS,
          sleep: Callable[[float], None] = time.sleep,
          more_pages: Mapping[str, tuple[str, list[dict]]] | None = None) -> Iterator[tuple[Sandbox, RunningFunction]]:
    """A sandbox with the page and the accounts, and the function configured for them.

    webhook: settings for every account's webhooks, e.g. {"webhook_version": 2,
    "webhook_token": "..."}; delivery goes to the function's /<account>. sleep: how the
    sandbox waits out latency faults. more_pages: page id -> (its Statuspage key, its
    components), pages the function syncs too, after PAGE_ID; a key other than SP_KEY is
    given to the function as the page's own (STATUSPAGE_KEY_<PAGE ID>).
    """
    accounts, webhook, more_pages = list(accounts), webhook or {}, dict(more_pages or {})
    credentials = {f"PD_{setting.upper()}_{account.upper()}": webhook[setting] for account in accounts
                   for setting in ("webhook_token", "webhook_secret") if setting in webhook}
    if more_pages:
        credentials["STATUSPAGE_PAGE"] = ",".join([PAGE_ID, *more_pages])
        credentials.update({f"STATUSPAGE_KEY_{page.upper()}": key for page, (key, _) in more_pages.items()
                            if key != SP_KEY})
    with running_sandbox(sleep=sleep) as sandbox:
        sandbox.add_page(PAGE_ID, SP_KEY, components=components)
        for page, (key, page_components) in more_pages.items():
            sandbox.add_page(page, key, components=page_components, name=f"Status {page}")
        with running_function(function_env(sandbox, accounts, **{**credentials, **(extra_env or {})})) as function:
            for account in accounts:
                sandbox.add_account(account, pd_key(account), webhook_url=f"{function.url}/{account}", **webhook)
            yield sandbox, function


def page_state(sandbox: Sandbox, page: str = PAGE_ID) -> tuple[dict[str, str], list[dict]]:
    """(component statuses, unresolved incidents) of a page as the sandbox holds them."""
    dump = sandbox.dump()["statuspage"]
    components = {c["id"]: c["status"] for c in dump["components"] if c["page_id"] == page}
    unresolved = [i for i in dump["incidents"] if i["page_id"] == page and i["status"] != "resolved"]
    return components, unresolved


def statuspage_writes(sandbox: Sandbox) -> list[dict]:
    return [r for r in sandbox.requests(api="statuspage") if r["method"] in ("POST", "PATCH", "PUT")]
