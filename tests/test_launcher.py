"""`make run` with no keys: the launcher starts the sandbox and the function, and the
guided demo it prints works; stopped by a signal, or losing a child, it leaves nothing behind."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from pagerstatus.config import Settings, load_settings
from sandbox import launcher
from sandbox.launcher import REPO
from tests.harness.clock import wait_for

# gunicorn names its master's pid after the address: "Listening at: http://127.0.0.1:PORT (PID)".
MASTER = re.compile(r"Listening at: http://127\.0\.0\.1:\d+ \((\d+)\)")


def demo_environment() -> dict[str, str]:
    """This environment without keys or settings: `make run` then starts the demo."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PD_", "STATUSPAGE_", "PAGERSTATUS_"))}
    env.pop("GOOGLE_CLOUD_PROJECT", None)
    return env


def test_make_run_demo_end_to_end():
    env = demo_environment()
    launcher = subprocess.Popen(  # port 0: each picks a free port, and the guide names it
        [sys.executable, "-m", "sandbox.launcher", "--port", "0", "--sandbox-port", "0", "--backstop-every", "1"],
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

        def page() -> str:
            return requests.get(main_page, timeout=10).text

        def statuspage(page_id: str | None = "demopage0001") -> dict:
            """The sandbox's Statuspage state; its incidents those of page_id (None: every page's)."""
            state = requests.get(f"{sandbox}/_sandbox/state", timeout=10).json()["statuspage"]
            if page_id is not None:
                state["incidents"] = [i for i in state["incidents"] if i["page_id"] == page_id]
            return state

        def age(kind: str, incident_id: str, seconds: int) -> None:
            """Time passes for one incident, instead of the test waiting for it."""
            path = {"pd": f"pagerduty/incidents/{incident_id}",
                    "sp": f"statuspage/pages/demopage0001/incidents/{incident_id}"}[kind]
            requests.post(f"{sandbox}/_sandbox/{path}/age", json={"seconds": seconds}, timeout=10).raise_for_status()

        assert requests.get(function + "/", timeout=10).json() == ["Hello from Pagerstatus"]
        acknowledged = json.dumps({"messages": [{"event": "incident.acknowledge"}]})
        seed_check = requests.post(function + "/demo", data=acknowledged,
                                   headers={"Content-Type": "application/json"}, timeout=10)
        assert seed_check.json() == ["Performed sync"]

        # The guided demo's steps, as printed. 1: triggered only.
        assert "holds an opening down for 10s" in guide and "monitoring for 60s" in guide
        control = re.search(r"--data '\{\"monitor\":\"datadog-api\"\}' (\S+)", guide).group(1)
        triggered = requests.post(control, json={"monitor": "datadog-api"}, timeout=10).json()
        incident = triggered["incident"]["id"]
        assert triggered["webhook"]["body"] == ["Performed sync"]
        assert "Investigating errors in API" not in page()

        # 2: acknowledged, held down: nothing published; the printed plan command, with the demo's
        # settings, shows the open pending and when it is due.
        assert requests.post(f"{control}/{incident}/acknowledge", timeout=10).json()["webhook"]["status"] == 200
        assert "Investigating errors in API" not in page()
        plan_command = re.search(r"\n +(STATUSPAGE_PAGE=.*python -m pagerstatus plan)\n", guide).group(1)
        assert "PAGERSTATUS_OPEN_AFTER=10s" in plan_command and "PAGERSTATUS_SEVERITY=P1=major_outage" in plan_command
        planned = subprocess.run(["bash", "-c", plan_command], cwd=REPO, capture_output=True, text=True, timeout=60,
                                 env={"PATH": os.environ["PATH"]})
        assert planned.returncode == 0, planned.stderr
        assert re.search(r"pending  open demoapi00001 'API': due \S+ \(in \d+s\)", planned.stdout), planned.stdout
        # Once the hold-down has passed, the launcher's periodic sync opens it; subscribers are notified.
        age("pd", incident, 10)
        wait_for(lambda: "Investigating errors in API" in page(), what="the backstop sync to open the incident")
        assert "Partial Outage" in page() and "subscribers notified" in page()
        [opened] = [i["id"] for i in statuspage()["incidents"]]

        # 3: P1 maps to major_outage.
        requests.post(f"{control}/{incident}/priority", json={"priority": "P1"}, timeout=10)
        assert "Major Outage" in page()
        # The printed plan plans with the demo's own severity map: it agrees with what the function did.
        replanned = subprocess.run(["bash", "-c", plan_command], cwd=REPO, capture_output=True, text=True,
                                   timeout=60, env={"PATH": os.environ["PATH"]})
        assert replanned.returncode == 0, replanned.stderr
        assert not re.findall(r"^(?:open|update|resolve) ", replanned.stdout, re.MULTILINE), replanned.stdout
        assert "wanted   demoapi00001: major_outage" in replanned.stdout, replanned.stdout

        # 4: resolved: monitoring, quietly, API operational.
        requests.post(f"{control}/{incident}/resolve", timeout=10)
        assert '<span class="stage stage-monitoring">Monitoring</span>' in page()
        assert "subscribers not notified" in page()
        assert {c["status"] for c in statuspage()["components"]} == {"operational"}

        # 5: it fires again and is acknowledged: after the hold-down, the same incident relapses.
        again = requests.post(control, json={"monitor": "datadog-api"}, timeout=10).json()["incident"]["id"]
        requests.post(f"{control}/{again}/acknowledge", timeout=10)
        age("pd", again, 10)
        wait_for(lambda: [(i["id"], i["status"]) for i in statuspage()["incidents"]] == [(opened, "investigating")],
                 what="the same incident back to investigating")

        # 6: resolved and left: once it has been monitoring for the window, it resolves.
        requests.post(f"{control}/{again}/resolve", timeout=10)
        assert [i["status"] for i in statuspage()["incidents"]] == ["monitoring"]
        age("sp", opened, 60)
        wait_for(lambda: [i["status"] for i in statuspage()["incidents"]] == ["resolved"],
                 what="the backstop sync to resolve the incident after its monitoring window")
        assert {c["status"] for c in statuspage()["components"]} == {"operational"}

        # 7: the partner monitor's incident lands on the second page, and only there.
        partner_request = re.search(r"--data '(\{\"monitor\":\"datadog-partner-api\".*?\})' (\S+)", guide)
        partner = requests.post(partner_request.group(2), data=partner_request.group(1),
                                headers={"Content-Type": "application/json"}, timeout=10).json()
        assert partner["webhook"]["body"] == ["Performed sync"]
        age("pd", partner["incident"]["id"], 10)
        wait_for(lambda: "Investigating errors in Partner API" in requests.get(partner_page, timeout=10).text,
                 what="the backstop sync to open the partner incident")
        assert "Partner API" not in page()
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
        assert sorted((i["page_id"], i["status"]) for i in statuspage(None)["incidents"]) == [
            (main_page.rsplit("/", 1)[1], "resolved"), (partner_page.rsplit("/", 1)[1], "monitoring")]
    finally:
        os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
        launcher.wait(timeout=20)
    assert launcher.returncode == 0
    # Everything it started goes away (gunicorn's worker may take a moment to exit).
    for url in (f"{function}/", f"{sandbox}/"):
        wait_for(lambda url=url: refused(url), timeout=15, what=f"{url} to stop listening after Ctrl-C")


def test_the_printed_plan_command_sets_what_the_demos_function_plans_with():
    sandbox = SimpleNamespace(url="http://127.0.0.1:1", pagerduty_url="http://127.0.0.1:1/pagerduty",
                              statuspage_url="http://127.0.0.1:1/statuspage/v1")
    printed = launcher.demo_settings(sandbox)
    plan, function = load_settings(printed), load_settings(launcher.demo_environment(sandbox, printed))

    def planning(settings: Settings) -> tuple:
        return (settings.statuspage_pages, settings.policy, settings.pagerduty_api_url,
                settings.pagerduty_account_api_urls, settings.statuspage_api_url, settings.dry_run)

    assert planning(plan) == planning(function)
    assert function.policy.severity.rules == {"p1": "major_outage"}  # what step 3 relies on


def refused(url: str) -> bool:
    try:
        requests.get(url, timeout=1)
    except requests.ConnectionError:
        return True
    except requests.Timeout:
        pass
    return False


@dataclass
class Started:
    process: subprocess.Popen  # what the test started (make, or the launcher itself)
    guide: str
    function: str
    sandbox: str
    master: int  # gunicorn's master: the function's process group

    def launcher(self) -> int:
        """The launcher's pid: the process itself, or the one make started."""
        return next(pid for pid in [self.process.pid, *descendants(self.process.pid)]
                    if b"sandbox.launcher" in Path(f"/proc/{pid}/cmdline").read_bytes())


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


@contextmanager
def started(command: list[str]) -> Iterator[Started]:
    """command in a session of its own, once its guide is printed; everything it started is killed after."""
    process = subprocess.Popen(command, cwd=REPO, env=demo_environment(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    master = None
    try:
        deadline = time.monotonic() + 60
        while not any("Ctrl-C stops everything" in line for line in lines):
            assert time.monotonic() < deadline and process.poll() is None, "".join(lines)
            lines.append(process.stdout.readline())
            master = master or (MASTER.search(lines[-1]) and int(MASTER.search(lines[-1]).group(1)))
        guide = "".join(lines)
        yield Started(process, guide,
                      re.search(r"the function +(http://127\.0\.0\.1:\d+)/demo ", guide).group(1),
                      re.search(r"status pages \(open in a browser\) +(http://127\.0\.0\.1:\d+)/\n", guide).group(1),
                      master)
    finally:
        for group in (process.pid, master):
            if group is not None:
                with suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGKILL)
        process.wait(timeout=30)


def gone(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return True
    return False


def nothing_left(run: Started) -> None:
    for url in (f"{run.function}/", f"{run.sandbox}/"):
        wait_for(lambda url=url: refused(url), timeout=15, what=f"{url} to stop listening")
    wait_for(lambda: gone(run.master), timeout=15, what="the function's process group to be gone")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_make_run_on_ports_of_its_own_leaves_nothing_after_a_signal_to_the_launcher_alone(stop):
    with started(["make", "-s", "run", "PORT=0", "SANDBOX_PORT=0"]) as run:
        # The ports it was given (0: free ones) are the ones it serves on.
        assert requests.get(run.function + "/", timeout=10).json() == ["Hello from Pagerstatus"]
        assert requests.get(run.sandbox + "/", timeout=10).status_code == 200
        os.kill(run.launcher(), stop)  # not its process group: `timeout`, systemd or a closed terminal
        assert run.process.wait(timeout=60) == 0
        nothing_left(run)


def test_the_launcher_exits_non_zero_and_stops_the_sandbox_when_the_function_dies():
    with started([sys.executable, "-m", "sandbox.launcher", "--port", "0", "--sandbox-port", "0"]) as run:
        os.killpg(run.master, signal.SIGKILL)
        assert run.process.wait(timeout=60) != 0
        nothing_left(run)
