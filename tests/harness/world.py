"""The end-to-end world: a sandbox with a status page and PagerDuty accounts, and the
function (a functions-framework process) configured for them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from tests.harness.function import RunningFunction, running_function
from tests.harness.sandbox import Sandbox, running_sandbox

PAGE_ID = "page00000001"
SP_KEY = "sp-key-0123456789"
API, WEB, DB = "compapi00001", "compweb00001", "compdb000001"
COMPONENTS = [{"id": API, "name": "API"}, {"id": WEB, "name": "Website"}, {"id": DB, "name": "Database"}]
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
          sleep: Callable[[float], None] = time.sleep) -> Iterator[tuple[Sandbox, RunningFunction]]:
    """A sandbox with the page and the accounts, and the function configured for them.

    webhook: settings for every account's webhooks, e.g. {"webhook_version": 2,
    "webhook_token": "..."}; delivery goes to the function's /<account>. sleep: how the
    sandbox waits out latency faults.
    """
    accounts, webhook = list(accounts), webhook or {}
    credentials = {f"PD_{setting.upper()}_{account.upper()}": webhook[setting] for account in accounts
                   for setting in ("webhook_token", "webhook_secret") if setting in webhook}
    with running_sandbox(sleep=sleep) as sandbox:
        sandbox.add_page(PAGE_ID, SP_KEY, components=components)
        with running_function(function_env(sandbox, accounts, **{**credentials, **(extra_env or {})})) as function:
            for account in accounts:
                sandbox.add_account(account, pd_key(account), webhook_url=f"{function.url}/{account}", **webhook)
            yield sandbox, function


def page_state(sandbox: Sandbox) -> tuple[dict[str, str], list[dict]]:
    """(component statuses, unresolved incidents) as the sandbox holds them."""
    dump = sandbox.dump()["statuspage"]
    components = {c["id"]: c["status"] for c in dump["components"] if c["page_id"] == PAGE_ID}
    unresolved = [i for i in dump["incidents"] if i["page_id"] == PAGE_ID and i["status"] != "resolved"]
    return components, unresolved


def statuspage_writes(sandbox: Sandbox) -> list[dict]:
    return [r for r in sandbox.requests(api="statuspage") if r["method"] in ("POST", "PATCH", "PUT")]
