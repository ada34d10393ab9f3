"""A warm instance's sync with nothing cached to refresh makes only the calls it
cannot avoid: per account one read per 100 open PagerDuty incidents, one read per
100 unresolved Statuspage incidents, and its writes. The component list and the
alert tags are the instance's (bench/ reports the same against the floor)."""
from __future__ import annotations

from pagerstatus.config import load_settings
from pagerstatus.keys import EnvKeySource
from pagerstatus.lock import MemoryLock
from pagerstatus.runtime import Runtime
from tests.harness.sandbox import running_sandbox

PAGE_ID = "page00000001"
SP_KEY = "sp-key-0123456789"
COMPONENTS = [{"id": "compapi00001", "name": "API"}, {"id": "compweb00001", "name": "Website"}]


def calls(sandbox) -> list[tuple[str, str, str]]:
    return sorted((r["api"], r["method"], r["path"]) for r in sandbox.requests())


def test_steady_state_sync_makes_only_the_unavoidable_calls():
    with running_sandbox() as sandbox:
        sandbox.add_page(PAGE_ID, SP_KEY, components=COMPONENTS)
        env = {"STATUSPAGE_PAGE": PAGE_ID, "STATUSPAGE_KEY": SP_KEY, "STATUSPAGE_API_URL": sandbox.statuspage_url,
               "PAGERDUTY_API_URL": sandbox.pagerduty_url}
        for account, component, count in (("alpha", "compapi00001", 150), ("beta", "compweb00001", 1)):
            sandbox.add_account(account, f"{account}-pd-key-0123456789")
            env[f"PD_ACCOUNT_{account.upper()}"] = f"{account}-pd-key-0123456789"
            sandbox.trigger(account, tags=f"component:{component}", status="acknowledged", deliver=False,
                            count=count)
        # Tags only in the alerts: one alerts read each, on the first sync only.
        sandbox.trigger("alpha", tags="component:compapi00001", tags_in="alerts", status="acknowledged",
                        deliver=False, count=3)
        settings = load_settings(env)
        runtime = Runtime(settings, EnvKeySource(env), MemoryLock(PAGE_ID))

        assert runtime.sync() == "performed"
        first = calls(sandbox)
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
