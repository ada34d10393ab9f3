"""What every benchmark builds on: the sandbox's page and accounts, and the real
function (a functions-framework process) configured for them."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pagerstatus.ownership import metadata_for
from tests.harness.firestore import require_emulator, unique_project
from tests.harness.function import RunningFunction, running_function
from tests.harness.sandbox import Sandbox
from tests.harness.world import PAGE_ID, SP_KEY, function_env, pd_key

# Needs no sync, but builds the function's Runtime: keeps cold start out of the samples.
WARM_UP_V3 = {"event": {"event_type": "service.updated"}}


def account_names(count: int) -> list[str]:
    return [f"acct{n}" for n in range(count)]


ACCOUNT = account_names(1)[0]  # the one webhooks are sent for


def component_id(n: int) -> str:
    return f"comp{n:08d}"


def page_id(p: int) -> str:
    """The id of page p; page 0 is the harness's PAGE_ID."""
    return f"page{p + 1:08d}"


def page_of(component: int, pages: int) -> str:
    """The page component n is on, when there are `pages` pages: n % pages."""
    return page_id(component % pages)


def add_page_and_accounts(sandbox: Sandbox, components: int, accounts: int, pages: int = 1) -> None:
    """Reset the sandbox to `pages` pages sharing one key, with `components` operational
    components between them (component n on page_of(n)), and `accounts` PagerDuty accounts
    without incidents (no faults, no rate limit)."""
    assert page_id(0) == PAGE_ID
    sandbox.reset()
    for p in range(pages):
        sandbox.add_page(page_id(p), SP_KEY, components=[{"id": component_id(n), "name": f"Component {n}"}
                                                         for n in range(components) if n % pages == p])
    for account in account_names(accounts):
        sandbox.add_account(account, pd_key(account))


def acknowledge(sandbox: Sandbox, account: str, component: int, count: int = 1, **fields: str) -> list[dict]:
    """count acknowledged incidents of the account tagged for component n, without webhooks.
    fields: more of the sandbox's trigger fields (priority, tags_in)."""
    tags = f"component:{component_id(component)}"
    return sandbox.trigger(account, tags=tags, status="acknowledged", deliver=False, count=count, **fields)["incidents"]


def add_owned_incident(sandbox: Sandbox, component: str, status: str = "partial_outage", page: str = PAGE_ID) -> dict:
    """An incident this service opened earlier on the page, as it would have opened it."""
    return sandbox.add_sp_incident(page, name=f"Investigating errors in {component}",
                                   components={component: status}, component_ids=[component],
                                   metadata=metadata_for(component))


def set_latency(sandbox: Sandbox, pagerduty_s: float, statuspage_s: float) -> None:
    """A delay on every request to each API, until the next reset: a network round trip."""
    for api, seconds in (("pagerduty", pagerduty_s), ("statuspage", statuspage_s)):
        if seconds:
            sandbox.fault(api, latency=seconds)


def firestore_env(sandbox: Sandbox, accounts: int) -> dict[str, str]:
    """The function's environment for the first `accounts` accounts, its lock in a project
    of its own in the Firestore emulator: a fresh lock document."""
    require_emulator()
    return function_env(sandbox, account_names(accounts), GOOGLE_CLOUD_PROJECT=unique_project())


def count_syncs(function: RunningFunction) -> int:
    """Pages the function synced: its "sync planned" log lines, one per page a sync planned."""
    return sum(entry.get("action") == "plan" for entry in function.logs())


@contextmanager
def warm_function(env: dict[str, str]) -> Iterator[RunningFunction]:
    """A fresh function process, its Runtime built by a webhook that needs no sync:
    its write bucket (process-wide, 60 deep) full, its caches empty."""
    with running_function(env) as function:
        response = function.post(f"/{ACCOUNT}", WARM_UP_V3)
        if response.status_code != 200:
            raise RuntimeError(f"warm-up answered {response.status_code}: {response.text}")
        yield function
