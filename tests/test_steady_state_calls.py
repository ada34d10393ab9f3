"""A warm instance's sync with nothing cached to refresh makes only the calls it
cannot avoid: per account one read per 100 open PagerDuty incidents, one read per
100 unresolved Statuspage incidents, and its writes. The component list and the
alert tags are the instance's (bench/ reports the same against the floor)."""
from __future__ import annotations

from pagerstatus.config import load_settings
from pagerstatus.keys import EnvKeySource
from pagerstatus.lock import MemoryLock
from pagerstatus.runtime import Runtime
from tests.harness.world import API, COMPONENTS, PAGE_ID, SP_KEY, WEB, function_env, pd_key


def calls(sandbox) -> list[tuple[str, str, str]]:
    return sorted((r["api"], r["method"], r["path"]) for r in sandbox.requests())


def test_steady_state_sync_makes_only_the_unavoidable_calls(sandbox):
    sandbox.add_page(PAGE_ID, SP_KEY, components=COMPONENTS)
    for account, component, count in (("alpha", API, 150), ("beta", WEB, 1)):
        sandbox.add_account(account, pd_key(account))
        sandbox.trigger(account, tags=f"component:{component}", status="acknowledged", deliver=False, count=count)
    # Tags only in the alerts: one alerts read each, on the first sync only.
    sandbox.trigger("alpha", tags=f"component:{API}", tags_in="alerts", status="acknowledged", deliver=False, count=3)
    env = function_env(sandbox, ["alpha", "beta"])
    runtime = Runtime(load_settings(env), EnvKeySource(env), MemoryLock(PAGE_ID))

    assert runtime.sync() == "performed"
    first = calls(sandbox)
    # Listed once: the opens it makes go by this sync's list (sync.OPENING_LIST_MAX_AGE).
    assert first.count(("statuspage", "GET", f"/pages/{PAGE_ID}/components")) == 1
    assert sum(path.endswith("/alerts") for _, _, path in first) == 3
    assert sum(method == "POST" for _, method, _ in first) == 2  # opens API and Website

    sandbox.clear_requests()
    assert runtime.sync() == "performed"
    assert calls(sandbox) == sorted([
        ("pagerduty", "GET", "/incidents"), ("pagerduty", "GET", "/incidents"),  # alpha: 153 incidents
        ("pagerduty", "GET", "/incidents"),  # beta
        ("statuspage", "GET", f"/pages/{PAGE_ID}/incidents/unresolved"),
    ])
