"""`make run` with no keys: the launcher starts the sandbox and the function, and the
guided demo it prints works."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import requests

from sandbox.launcher import REPO
from tests.harness.clock import wait_for


def test_make_run_demo_end_to_end():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PD_", "STATUSPAGE_", "PAGERSTATUS_"))}
    env.pop("GOOGLE_CLOUD_PROJECT", None)
    launcher = subprocess.Popen(  # port 0: each picks a free port, and the guide names it
        [sys.executable, "-m", "sandbox.launcher", "--port", "0", "--sandbox-port", "0"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not any("Ctrl-C stops everything" in line for line in lines):
            assert time.monotonic() < deadline and launcher.poll() is None, "".join(lines)
            lines.append(launcher.stdout.readline())
        guide = "".join(lines)
        sandbox = re.search(r"status pages \(open in a browser\) +(http://127\.0\.0\.1:\d+)/\n", guide).group(1)
        main_page, partner_page = re.findall(rf"^ +Demo Inc\.(?: Partners)? +({re.escape(sandbox)}/pages/\w+)$",
                                             guide, re.MULTILINE)
        function = re.search(r"the function +(http://127\.0\.0\.1:\d+)/demo ", guide).group(1)
        index = requests.get(sandbox + "/", timeout=10).text
        assert all(f'href="{page.removeprefix(sandbox)}"' in index for page in (main_page, partner_page))

        assert requests.get(function + "/", timeout=10).json() == ["Hello from Pagerstatus"]
        acknowledged = json.dumps({"messages": [{"event": "incident.acknowledge"}]})
        seed_check = requests.post(function + "/demo", data=acknowledged,
                                   headers={"Content-Type": "application/json"}, timeout=10)
        assert seed_check.json() == ["Performed sync"]

        # The guided demo's steps, as printed.
        control = re.search(r"--data '\{\"monitor\":\"datadog-api\"\}' (\S+)", guide).group(1)
        triggered = requests.post(control, json={"monitor": "datadog-api"}, timeout=10).json()
        incident = triggered["incident"]["id"]
        assert triggered["webhook"]["body"] == ["Performed sync"]
        assert "Investigating errors in API" not in requests.get(main_page, timeout=10).text

        assert requests.post(f"{control}/{incident}/acknowledge", timeout=10).json()["webhook"]["status"] == 200
        page = requests.get(main_page, timeout=10).text
        assert "Investigating errors in API" in page and "Partial Outage" in page

        requests.post(f"{control}/{incident}/priority", json={"priority": "P1"}, timeout=10)
        assert "Major Outage" in requests.get(main_page, timeout=10).text

        # Step 5: the partner monitor's incident lands on the second page, and only there.
        partner_request = re.search(r"--data '(\{\"monitor\":\"datadog-partner-api\".*?\})' (\S+)", guide)
        partner = requests.post(partner_request.group(2), data=partner_request.group(1),
                                headers={"Content-Type": "application/json"}, timeout=10).json()
        assert partner["webhook"]["body"] == ["Performed sync"]
        assert "Investigating errors in Partner API" in requests.get(partner_page, timeout=10).text
        assert "Partner API" not in requests.get(main_page, timeout=10).text
        assert f"{control}/$ID2/resolve" in guide
        requests.post(f"{control}/{partner['incident']['id']}/resolve", timeout=10)

        # The periodic sync as printed: a token from the sandbox's issuer, then POST /_sync.
        token_request = re.search(r"--data '(\{\"audience\".*?\})' (\S+/_sandbox/oidc/token)", guide)
        token = requests.post(token_request.group(2), data=token_request.group(1),
                              headers={"Content-Type": "application/json"}, timeout=10).json()["id_token"]
        assert f"{function}/_sync" in guide
        scheduled = requests.post(f"{function}/_sync", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert (scheduled.status_code, scheduled.json()) == (200, ["Performed sync"])
        assert requests.post(f"{function}/_sync", timeout=10).status_code == 401

        requests.post(f"{control}/{incident}/resolve", timeout=10)
        statuspage = requests.get(f"{sandbox}/_sandbox/state", timeout=10).json()["statuspage"]
        assert {c["status"] for c in statuspage["components"]} == {"operational"}
        assert sorted((i["page_id"], i["status"]) for i in statuspage["incidents"]) == [
            (main_page.rsplit("/", 1)[1], "resolved"), (partner_page.rsplit("/", 1)[1], "resolved")]
    finally:
        os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
        launcher.wait(timeout=20)
    assert launcher.returncode == 0
    # Everything it started goes away (gunicorn's worker may take a moment to exit).
    for url in (f"{function}/", f"{sandbox}/"):
        wait_for(lambda url=url: refused(url), timeout=15, what=f"{url} to stop listening after Ctrl-C")


def refused(url: str) -> bool:
    try:
        requests.get(url, timeout=1)
    except requests.ConnectionError:
        return True
    except requests.Timeout:
        pass
    return False
