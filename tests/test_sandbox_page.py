"""What a reader sees at the sandbox's `/pages/<id>` and its index at `/`, and the demo seed."""

from __future__ import annotations

import re

import requests

from tests.harness.sandbox import Sandbox


def test_page_shows_components_incidents_and_refreshes(sandbox: Sandbox) -> None:
    sandbox.add_page(
        "page00000001", "sp-key", [{"id": "comp00000api", "name": "API"}, {"name": "Website"}], name="Acme"
    )
    sandbox.add_sp_incident(
        "page00000001",
        name="API <down> & out",
        body="Investigating <script>alert(1)</script>",
        components={"comp00000api": "major_outage"},
    )
    fixed = sandbox.add_sp_incident("page00000001", name="Earlier blip", status="resolved", body="All good.")

    html = requests.get(sandbox.url + "/pages/page00000001", timeout=10).text

    assert '<meta http-equiv="refresh" content="2">' in html
    assert re.search(r'<li class="component status-major_outage"><span class="name">API</span>', html)
    assert re.search(r'<li class="component status-operational"><span class="name">Website</span>', html)
    assert 'class="banner status-major_outage">Major Outage<' in html
    assert "API &lt;down&gt; &amp; out" in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    active, resolved = html.split("<h2>Recently resolved</h2>")
    assert "API &lt;down&gt;" in active and "Earlier blip" not in active
    assert f'id="incident-{fixed["id"]}"' in resolved and "All good." in resolved


def test_the_index_links_every_page_with_its_banner_and_each_page_shows_only_its_own(sandbox: Sandbox) -> None:
    sandbox.add_page("page00000001", "sp-key", [{"id": "comp00000api", "name": "API"}], name="Public <status>")
    sandbox.add_page("page00000002", "sp-key", [{"id": "comp0partner", "name": "Partner API"}], name="Partners")
    sandbox.add_sp_incident("page00000002", name="Partner API slow", components={"comp0partner": "partial_outage"})

    index = requests.get(sandbox.url + "/", timeout=10).text
    assert '<meta http-equiv="refresh" content="2">' in index
    assert re.search(r'<li class="component status-operational"><a class="name" href="/pages/page00000001">'
                     r'Public &lt;status&gt;</a><span class="status">All Systems Operational<', index)
    assert re.search(r'<li class="component status-partial_outage"><a class="name" href="/pages/page00000002">'
                     r'Partners</a><span class="status">Partial Outage<', index)
    public = requests.get(sandbox.url + "/pages/page00000001", timeout=10).text
    partners = requests.get(sandbox.url + "/pages/page00000002", timeout=10).text
    assert "Partner API slow" in partners and "Partner API" not in public
    assert 'href="/"' in public and "Public &lt;status&gt;" in public
    assert requests.get(sandbox.url + "/pages/nosuchpage", timeout=10).status_code == 404


def test_demo_seed_describes_itself_its_monitors_trigger_and_reset_empties_the_page(sandbox: Sandbox) -> None:
    seeded = sandbox.reset(seed="demo", webhook_url="http://127.0.0.1:9/hook")
    assert seeded["statuspage"]["components"]["API"] == "demoapi00001"
    assert seeded["statuspage"]["pages"]["demopage0002"]["components"]["Partner API"] == "demopapi0001"
    assert seeded["pagerduty"]["webhook_url"] == "http://127.0.0.1:9/hook"
    html = requests.get(sandbox.url + "/pages/demopage0001", timeout=10).text
    assert "Demo Inc." in html and "All Systems Operational" in html
    partner = sandbox.trigger(monitor="datadog-partner-api", deliver=False)["incident"]
    assert "component:demopapi0001" in partner["first_trigger_log_entry"]["channel"]["details"]["tags"]

    datadog = sandbox.trigger(monitor="datadog-api", deliver=False)["incident"]
    pingdom = sandbox.trigger(monitor="pingdom-website", deliver=False)["incident"]
    assert (
        datadog["first_trigger_log_entry"]["channel"]["details"]["tags"]
        == seeded["monitors"]["datadog-api"]["tags"]
    )
    assert pingdom["first_trigger_log_entry"]["channel"]["details"]["tags"] == [
        "component_demoweb00001",
        "pingdom",
    ]
    assert sandbox.reset() is None
    assert sandbox.dump()["statuspage"]["pages"] == []
    assert "POST /_sandbox/statuspage/pages" in requests.get(sandbox.url + "/", timeout=10).text  # how to start


def test_page_shows_groups_the_monitoring_stage_and_whether_subscribers_were_notified(sandbox: Sandbox) -> None:
    sandbox.add_page("page00000001", "sp-key", [
        {"id": "comp00000api", "name": "API"}, {"id": "grouppayment", "name": "Payments", "group": True},
        {"id": "comp00000crd", "name": "Cards", "group_id": "grouppayment", "status": "partial_outage"}])
    incident = sandbox.add_sp_incident("page00000001", name="Card errors", body="Looking.",
                                       components={"comp00000crd": "partial_outage"}, deliver_notifications=True)
    requests.patch(f"{sandbox.statuspage_url}/pages/page00000001/incidents/{incident['id']}", timeout=10,
                   headers={"Authorization": "OAuth sp-key"},
                   json={"incident": {"status": "monitoring", "body": "Watching.", "deliver_notifications": False}})

    html = requests.get(sandbox.url + "/pages/page00000001", timeout=10).text

    # The group, at its worst member's status, right before its members.
    assert re.search(r'<li class="component group status-partial_outage"><span class="name">Payments</span>.*?</li>'
                     r'<li class="component member status-partial_outage"><span class="name">Cards</span>', html)
    assert '<span class="stage stage-monitoring">Monitoring</span>' in html
    watching, looking = re.findall(r'<li class="update">(.*?)</li>', html)
    assert "Watching." in watching and "subscribers not notified" in watching
    assert "Looking." in looking and "subscribers notified" in looking
