"""The demo world `make run` starts with: PagerDuty account `demo`, a status page
with four components, two of them in the group Platform, and three monitors: a
Datadog-style one (comma-separated tags) for API, a Pingdom-style one (a list) for
Website, and a Datadog-style one naming the group; and a second page, for partners,
read with the same key, with two components and a monitor tagged for one of them."""

from __future__ import annotations

from sandbox.pagerduty_state import Account, Monitor
from sandbox.state import SandboxState

DEMO_ACCOUNT = "demo"
DEMO_PD_KEY = "demo-pd-key"
DEMO_WEBHOOK_SECRET = "demo-webhook-secret"
DEMO_PAGE_ID = "demopage0001"
DEMO_PAGE_NAME = "Demo Inc."
DEMO_SP_KEY = "demo-sp-key"
DEMO_COMPONENTS = {
    "API": "demoapi00001",
    "Website": "demoweb00001",
    "Database": "demodb000001",
    "Payments": "demopay00001",
}
DEMO_GROUP = {"name": "Platform", "id": "demoplat0001", "components": ("Database", "Payments")}
DEMO_PARTNER_PAGE_ID = "demopage0002"
DEMO_PARTNER_PAGE_NAME = "Demo Inc. Partners"
DEMO_PARTNER_COMPONENTS = {
    "Partner API": "demopapi0001",
    "Partner Portal": "demoport0001",
}


def seed_demo(state: SandboxState, webhook_url: str | None = None) -> dict:
    """Seed the demo and describe it (ids, keys, monitors) for a launcher to print.
    Hold state.lock, or call it before the server starts."""
    api, website, platform = DEMO_COMPONENTS["API"], DEMO_COMPONENTS["Website"], DEMO_GROUP["id"]
    monitors = [
        Monitor(name="datadog-api", account=DEMO_ACCOUNT, title="[Datadog] API error rate above 5%",
                tags=f"component:{api},env:demo,team:core", service="Datadog"),
        Monitor(name="pingdom-website", account=DEMO_ACCOUNT, title="[Pingdom] Website is down",
                tags=[f"component_{website}", "pingdom"], service="Pingdom"),
        Monitor(name="datadog-platform", account=DEMO_ACCOUNT, title="[Datadog] Platform latency above 2s",
                tags=f"component:{platform},env:demo,team:platform", service="Datadog"),
        Monitor(name="datadog-partner-api", account=DEMO_ACCOUNT, title="[Datadog] Partner API latency above 2 s",
                tags=f"component:{DEMO_PARTNER_COMPONENTS['Partner API']},env:demo,team:partners", service="Datadog"),
    ]
    in_group = {DEMO_COMPONENTS[name]: platform for name in DEMO_GROUP["components"]}
    components = [{"id": component_id, "name": name, "group_id": in_group.get(component_id)}
                  for name, component_id in DEMO_COMPONENTS.items()]
    components.insert(2, {"id": platform, "name": DEMO_GROUP["name"], "group": True})
    state.pagerduty.put_account(Account(name=DEMO_ACCOUNT, api_key=DEMO_PD_KEY, webhook_url=webhook_url,
                                        webhook_version=3, webhook_secret=DEMO_WEBHOOK_SECRET))
    state.statuspage.add_page(DEMO_PAGE_ID, DEMO_SP_KEY, DEMO_PAGE_NAME, components)
    partner_components = [{"id": component_id, "name": name} for name, component_id in DEMO_PARTNER_COMPONENTS.items()]
    state.statuspage.add_page(DEMO_PARTNER_PAGE_ID, DEMO_SP_KEY, DEMO_PARTNER_PAGE_NAME, partner_components)
    for monitor in monitors:
        state.pagerduty.add_monitor(monitor)
    return {
        "pagerduty": {"account": DEMO_ACCOUNT, "api_key": DEMO_PD_KEY, "webhook_url": webhook_url, "webhook_version": 3,
                      "webhook_secret": DEMO_WEBHOOK_SECRET},
        # page_id and components: the first page's; pages: every page, by id.
        "statuspage": {"page_id": DEMO_PAGE_ID, "api_key": DEMO_SP_KEY, "components": dict(DEMO_COMPONENTS),
                       "groups": {DEMO_GROUP["name"]: {"id": platform, "components": list(DEMO_GROUP["components"])}},
                       "pages": {DEMO_PAGE_ID: {"name": DEMO_PAGE_NAME, "components": dict(DEMO_COMPONENTS)},
                                 DEMO_PARTNER_PAGE_ID: {"name": DEMO_PARTNER_PAGE_NAME,
                                                        "components": dict(DEMO_PARTNER_COMPONENTS)}}},
        "monitors": {m.name: {"title": m.title, "tags": m.tags, "service": m.service} for m in monitors},
    }
