"""What a reader sees at the sandbox's `/`, and the demo seed and command line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import requests

from tests.sandbox_fixture import Sandbox, running_sandbox, sandbox  # noqa: F401 (the fixture)

REPO = Path(__file__).resolve().parents[1]


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

    html = requests.get(sandbox.url + "/", timeout=10).text

    assert '<meta http-equiv="refresh" content="2">' in html
    assert re.search(r'<li class="component status-major_outage"><span class="name">API</span>', html)
    assert re.search(r'<li class="component status-operational"><span class="name">Website</span>', html)
    assert 'class="banner status-major_outage">Major Outage<' in html
    assert "API &lt;down&gt; &amp; out" in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    active, resolved = html.split("<h2>Recently resolved</h2>")
    assert "API &lt;down&gt;" in active and "Earlier blip" not in active
    assert f'id="incident-{fixed["id"]}"' in resolved and "All good." in resolved


def test_empty_sandbox_page_says_how_to_start() -> None:
    with running_sandbox() as empty:
        assert "--seed demo" in requests.get(empty.url + "/", timeout=10).text


def test_demo_seed_describes_what_it_made_and_its_monitors_trigger() -> None:
    with running_sandbox() as sandbox:
        seeded = sandbox.reset(seed="demo", webhook_url="http://127.0.0.1:9/hook")
        assert seeded["statuspage"]["components"]["API"] == "demoapi00001"
        assert seeded["pagerduty"]["webhook_url"] == "http://127.0.0.1:9/hook"
        html = requests.get(sandbox.url + "/", timeout=10).text
        assert "Demo Inc." in html and "All Systems Operational" in html

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


def test_command_line_serves_the_demo_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "pagerstatus.sandbox", "--port", "0", "--seed", "demo"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        first_line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", first_line).group(0)
        components = requests.get(
            f"{url}/statuspage/v1/pages/demopage0001/components",
            headers={"Authorization": "OAuth demo-sp-key"},
            timeout=10,
        ).json()
        assert [c["name"] for c in components] == ["API", "Website", "Database", "Payments"]
    finally:
        process.send_signal(subprocess.signal.SIGINT)
        assert process.wait(timeout=10) == 0
