"""A warm instance's sync with nothing cached to refresh makes only the calls it
cannot avoid: per account one read per 100 open PagerDuty incidents (once, whatever the
number of pages), per page one read per 100 unresolved Statuspage incidents, and its
writes. The component lists and the alert tags are the instance's (bench/ reports the
same against the floor)."""
from __future__ import annotations

import pytest

from pagerstatus.config import load_settings
from pagerstatus.keys import EnvKeySource
from pagerstatus.lock import MemoryLock
from pagerstatus.runtime import Runtime
from tests.harness.world import (
    API,
    COMPONENTS,
    PAGE_2_COMPONENTS,
    PAGE_2_ID,
    PAGE_ID,
    PAY,
    SP_KEY,
    WEB,
    function_env,
    pd_key,
)


def calls(sandbox) -> list[tuple[str, str, str]]:
    return sorted((r["api"], r["method"], r["path"]) for r in sandbox.requests())


@pytest.mark.parametrize("pages", [[PAGE_ID], [PAGE_ID, PAGE_2_ID]], ids=["one page", "two pages"])
def test_steady_state_sync_makes_only_the_unavoidable_calls(sandbox, pages):
    sandbox.add_page(PAGE_ID, SP_KEY, components=COMPONENTS)
    sandbox.add_page(PAGE_2_ID, SP_KEY, components=PAGE_2_COMPONENTS)  # one key for both
    # beta's incident names a component of the second page when there is one.
    beta_component = PAY if PAGE_2_ID in pages else WEB
    for account, component, count in (("alpha", API, 150), ("beta", beta_component, 1)):
        sandbox.add_account(account, pd_key(account))
        sandbox.trigger(account, tags=f"component:{component}", status="acknowledged", deliver=False, count=count)
    # Tags only in the alerts: one alerts read each, on the first sync only.
    sandbox.trigger("alpha", tags=f"component:{API}", tags_in="alerts", status="acknowledged", deliver=False, count=3)
    env = function_env(sandbox, ["alpha", "beta"], STATUSPAGE_PAGE=",".join(pages))
    runtime = Runtime(load_settings(env), EnvKeySource(env), {page: MemoryLock(page) for page in pages})

    assert runtime.sync() == dict.fromkeys(pages, "performed")
    first = calls(sandbox)
    # Listed once a page: the opens it makes go by this sync's list (sync.OPENING_LIST_MAX_AGE).
    for page in pages:
        assert first.count(("statuspage", "GET", f"/pages/{page}/components")) == 1
    assert sum(path.endswith("/alerts") for _, _, path in first) == 3
    assert first.count(("pagerduty", "GET", "/incidents")) == 3  # once for every page
    opened = sorted(path for _, method, path in first if method == "POST")  # API, and beta's on the last page
    assert opened == sorted([f"/pages/{PAGE_ID}/incidents", f"/pages/{pages[-1]}/incidents"])

    sandbox.clear_requests()
    assert runtime.sync() == dict.fromkeys(pages, "performed")
    assert calls(sandbox) == sorted([
        ("pagerduty", "GET", "/incidents"), ("pagerduty", "GET", "/incidents"),  # alpha: 153 incidents
        ("pagerduty", "GET", "/incidents"),  # beta
        *[("statuspage", "GET", f"/pages/{page}/incidents/unresolved") for page in pages],
    ])
