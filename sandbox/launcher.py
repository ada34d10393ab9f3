"""`make run`: the function under functions-framework, against the real APIs when
keys are in the environment, otherwise against the sandbox seeded with a demo.

    python -m sandbox.launcher [--port 8080] [--sandbox-port 8900]    (0: any free port)
        [--open-after 10s] [--monitor-for 60s] [--backstop-every 5]   (the demo's timing)

It stops what it started on SIGTERM, SIGHUP and SIGINT (Ctrl-C, `timeout`, systemd, a
closed terminal), and exits non-zero when the function or the sandbox dies under it.
The function runs in a process group of its own: a terminal's Ctrl-C reaches only the
launcher, which asks gunicorn's master alone to stop (a worker sent both the terminal's
SIGINT and its master's SIGQUIT can deadlock in its shutdown and outlive it, holding
the port), then kills the whole group if it has not gone within STOP_GRACE_SECONDS.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from contextlib import suppress
from pathlib import Path
from types import FrameType

from sandbox.seed import DEMO_ACCOUNT, DEMO_PAGE_ID, DEMO_PARTNER_PAGE_ID, DEMO_PD_KEY, DEMO_SP_KEY, seed_demo
from sandbox.server import SandboxServer
from sandbox.state import SandboxState

REPO = Path(__file__).resolve().parents[1]
FUNCTIONS_FRAMEWORK = Path(sys.executable).parent / "functions-framework"
# The periodic sync's caller in the demo; the sandbox signs its ID token in Google's place.
DEMO_SCHEDULER_AUDIENCE = "pagerstatus-sync:demo"
DEMO_SCHEDULER_SERVICE_ACCOUNT = "pagerstatus-scheduler@demo.iam.gserviceaccount.com"
# Any of these in the environment means the person wants the real thing.
REAL_CONFIGURATION = ("STATUSPAGE_KEY", "PAGERSTATUS_SECRETS")
# gunicorn says where it listens, also on port 0, at log level info (functions-framework's default is error).
LOG_LEVEL = {"GUNICORN_LOG_LEVEL": "info"}
LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
# The demo's timing: short, so that each stage of an incident shows in seconds.
DEMO_OPEN_AFTER = "10s"
DEMO_MONITOR_FOR = "60s"
DEMO_BACKSTOP_SECONDS = 5.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
# What gunicorn's master gets to stop its workers gracefully before its group is killed.
STOP_GRACE_SECONDS = 10
# How often the launcher looks whether what it started is still there.
WATCH_SECONDS = 0.2


class Stopped(Exception):
    """A stop signal arrived."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class ChildDied(Exception):
    """The function or the sandbox went away on its own."""


def function_command(port: int) -> list[str]:
    return [str(FUNCTIONS_FRAMEWORK), "--target", "pagerstatus", "--source", str(REPO / "main.py"),
            "--host", "127.0.0.1", "--port", str(port)]


def start_function(port: int, environ: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """functions-framework on port (0: a free one), its output passed on to ours; the process
    and its URL, once it answers."""
    process = subprocess.Popen(function_command(port), cwd=REPO, env=environ, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    assert process.stdout is not None
    try:
        for line in process.stdout:  # until gunicorn says where it listens
            print(line, end="", flush=True)
            if listening := LISTENING.search(line):
                break
        else:
            raise SystemExit(f"functions-framework exited with {process.wait()}")
        threading.Thread(target=_pass_on, args=(process.stdout,), daemon=True).start()
        url = f"http://127.0.0.1:{listening.group(1)}"
        wait_until_up(url + "/", process)
    except BaseException:
        stop(process)
        raise
    return process, url


def _pass_on(output: Iterable[str]) -> None:
    for line in output:
        print(line, end="", flush=True)


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"functions-framework exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"functions-framework did not answer on {url} within {seconds:.0f}s")


def demo_settings(sandbox: SandboxServer, open_after: str = DEMO_OPEN_AFTER,
                  monitor_for: str = DEMO_MONITOR_FOR) -> dict[str, str]:
    """What the demo's function plans with: its page, account and policy. The printed `plan`
    command sets exactly these, so that it plans as the function does."""
    return {
        "STATUSPAGE_PAGE": f"{DEMO_PAGE_ID},{DEMO_PARTNER_PAGE_ID}",  # both pages, one key
        "STATUSPAGE_KEY": DEMO_SP_KEY,
        "STATUSPAGE_API_URL": sandbox.statuspage_url,
        "PAGERDUTY_API_URL": sandbox.pagerduty_url,
        "PD_ACCOUNT_DEMO": DEMO_PD_KEY,
        "PAGERSTATUS_SEVERITY": "P1=major_outage",
        "PAGERSTATUS_OPEN_AFTER": open_after,
        "PAGERSTATUS_MONITOR_FOR": monitor_for,
    }


def demo_environment(sandbox: SandboxServer, settings: dict[str, str]) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PD_", "STATUSPAGE_", "PAGERSTATUS_"))}
    environ.update(
        settings,
        PAGERSTATUS_LOCK="memory",
        # No webhook credential for the demo account, so that a hand-written curl is accepted
        # too; the end-to-end tests cover signed and token-authenticated webhooks.
        PAGERSTATUS_ALLOW_UNAUTHENTICATED=DEMO_ACCOUNT,
        PAGERSTATUS_SCHEDULER_AUDIENCE=DEMO_SCHEDULER_AUDIENCE,
        PAGERSTATUS_SCHEDULER_SERVICE_ACCOUNT=DEMO_SCHEDULER_SERVICE_ACCOUNT,
        PAGERSTATUS_OIDC_CERTS_URL=f"{sandbox.url}/_sandbox/oidc/certs",
        PYTHONUNBUFFERED="1",
        **LOG_LEVEL,
    )
    environ.pop("GOOGLE_CLOUD_PROJECT", None)
    return environ


class Backstop:
    """Cloud Scheduler's part in the demo: POST /_sync with a Google ID token (the sandbox
    signs it) every few seconds, so that a held-down open or a monitoring incident's
    resolve happens when it is due without anyone sending a webhook."""

    def __init__(self, function_url: str, sandbox: SandboxServer, every_seconds: float):
        self.function_url = function_url
        self.sandbox_url = sandbox.url
        self.every_seconds = every_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-backstop", daemon=True)

    def __enter__(self) -> Backstop:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.every_seconds):
            try:
                token = _post_json(f"{self.sandbox_url}/_sandbox/oidc/token", {
                    "audience": DEMO_SCHEDULER_AUDIENCE, "email": DEMO_SCHEDULER_SERVICE_ACCOUNT})["id_token"]
                _post_json(f"{self.function_url}/_sync", None, {"Authorization": f"Bearer {token}"})
            except OSError as failure:  # the function is starting, stopping or answering 5xx: next time
                print(f"demo backstop: sync not done ({failure})", flush=True)


def _post_json(url: str, body: dict | None, headers: dict[str, str] | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else b""
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"null")


def demo_guide(function_url: str, sandbox: SandboxServer, seeded: dict, settings: dict[str, str],
               backstop_seconds: float) -> str:
    control = f"{sandbox.url}/_sandbox/pagerduty/incidents"
    take_id = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"incident\"][\"id\"])'"
    take_token = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"id_token\"])'"
    api = seeded["statuspage"]["components"]["API"]
    open_after, monitor_for = settings["PAGERSTATUS_OPEN_AFTER"], settings["PAGERSTATUS_MONITOR_FOR"]
    fire = f"ID=$(curl -s -XPOST -H \"Content-Type: application/json\" --data '{{\"monitor\":\"datadog-api\"}}' {control} | {take_id}); echo $ID"
    plan = " ".join(f"{name}={shlex.quote(value)}" for name, value in settings.items())
    pages = seeded["statuspage"]["pages"]
    partner_api = pages[DEMO_PARTNER_PAGE_ID]["components"]["Partner API"]
    page_urls = "".join(f"\n    {page['name']:<32}  {sandbox.url}/pages/{page_id}" for page_id, page in pages.items())
    return f"""
pagerstatus demo: nothing here talks to the real PagerDuty or Statuspage.

  status pages (open in a browser)    {sandbox.url}/{page_urls}
  the function                        {function_url}/demo   (PagerDuty account "demo")
  sandbox PagerDuty API               {sandbox.pagerduty_url}
  sandbox Statuspage API              {sandbox.statuspage_url}

The function's own check:
  curl {function_url}/
  curl -XPOST -H "Content-Type: application/json" --data '{{"messages":[{{"event":"incident.acknowledge"}}]}}' {function_url}/demo

Guided demo (each step makes the sandbox deliver a V3 webhook to the function, as PagerDuty
would; the answer shows what the function said). This demo holds an opening down for {open_after}
(PAGERSTATUS_OPEN_AFTER) and keeps a recovered incident monitoring for {monitor_for}
(PAGERSTATUS_MONITOR_FOR); in Cloud Scheduler's place, the launcher syncs every {backstop_seconds:g} s,
so what is pending happens by itself once it is due. The page shows, under each update, whether
subscribers were notified (PAGERSTATUS_NOTIFY: by default an open, an escalation and the resolution).
  1. A Datadog monitor tagged component:{api} (API) fires; triggered only, the page stays green:
       {fire}
  2. Someone acknowledges it. Nothing is published at once: a blip resolved within {open_after} never
     reaches the page. After {open_after}, an incident opens for API and subscribers are notified:
       curl -s -XPOST {control}/$ID/acknowledge
  3. Priority raised to P1; the demo maps P1 to major_outage (PAGERSTATUS_SEVERITY), so API turns red:
       curl -s -XPOST -H "Content-Type: application/json" --data '{{"priority":"P1"}}' {control}/$ID/priority
  4. It is resolved: API is operational again and the incident moves to Monitoring, quietly:
       curl -s -XPOST {control}/$ID/resolve
  5. Within {monitor_for}, the monitor fires again and is acknowledged: {open_after} later the same incident
     goes back to Investigating (a relapse), rather than a second incident opening:
       {fire}
       curl -s -XPOST {control}/$ID/acknowledge
  6. Resolve it and leave it: {monitor_for} after it starts monitoring, the incident resolves:
       curl -s -XPOST {control}/$ID/resolve
  The Pingdom monitor "pingdom-website" works the same way for Website; "datadog-platform" names the
  component group Platform and opens one incident over its members, Database and Payments.
  7. One function feeds both pages: a monitor tagged component:{partner_api} (Partner API, a component of the
     second page) fires and is acknowledged; {open_after} later the incident opens on {pages[DEMO_PARTNER_PAGE_ID]["name"]} only:
       ID2=$(curl -s -XPOST -H "Content-Type: application/json" --data '{{"monitor":"datadog-partner-api","status":"acknowledged"}}' {control} | {take_id}); echo $ID2
       curl -s -XPOST {control}/$ID2/resolve
  The periodic sync, as Cloud Scheduler calls it (the sandbox signs the ID token in Google's place):
       TOKEN=$(curl -s -XPOST -H "Content-Type: application/json" --data '{{"audience":"{DEMO_SCHEDULER_AUDIENCE}","email":"{DEMO_SCHEDULER_SERVICE_ACCOUNT}"}}' {sandbox.url}/_sandbox/oidc/token | {take_token})
       curl -s -XPOST -H "Authorization: Bearer $TOKEN" {function_url}/_sync
  Plan from the command line at any moment, with the demo's settings (writes nothing; shows what is
  pending and when it is due, and which writes would notify subscribers):
       {plan} .venv/bin/python -m pagerstatus plan

Ctrl-C stops everything.
"""


def stop(process: subprocess.Popen) -> None:
    """Stop the function: SIGTERM to gunicorn's master alone (a graceful stop of its
    workers), then, whatever became of it, SIGKILL to its process group, so that no
    worker outlives it holding the port."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):  # the group's SIGKILL below ends it
            process.wait(timeout=STOP_GRACE_SECONDS)
    with suppress(ProcessLookupError):  # the group is gone already
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _ignore_stop_signals() -> None:
    """Once stopping, a second signal must not cut the cleanup short."""
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)


def _on_stop_signal(signum: int, frame: FrameType | None) -> None:
    _ignore_stop_signals()
    raise Stopped(signum)


def watch(process: subprocess.Popen, sandbox_alive: Callable[[], bool] = lambda: True) -> None:
    """Until a stop signal (Stopped) or a child's death (ChildDied)."""
    while True:
        if process.poll() is not None:
            raise ChildDied(f"functions-framework exited with {process.returncode}")
        if not sandbox_alive():
            raise ChildDied("the sandbox stopped serving")
        time.sleep(WATCH_SECONDS)


def supervise(run: Callable[[], None]) -> int:
    """run() with the stop signals handled: 0 when a signal stopped it, 1 when a child died."""
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, _on_stop_signal)
    try:
        run()
    except Stopped as stopped:
        print(f"pagerstatus: {stopped}, stopping", flush=True)
        return 0
    except ChildDied as died:
        print(f"pagerstatus: {died}; stopping everything", file=sys.stderr, flush=True)
        return 1
    return 0


def run_real(port: int) -> None:
    print(f"pagerstatus: real configuration found in the environment; serving http://127.0.0.1:{port}", flush=True)
    process = subprocess.Popen(function_command(port), cwd=REPO, env={**LOG_LEVEL, **os.environ},
                               start_new_session=True)
    try:
        watch(process)
    finally:
        _ignore_stop_signals()
        stop(process)


def run_demo(port: int, sandbox_port: int, open_after: str = DEMO_OPEN_AFTER, monitor_for: str = DEMO_MONITOR_FOR,
             backstop_every: float = DEMO_BACKSTOP_SECONDS) -> None:
    state = SandboxState()
    process = None
    with SandboxServer(state, "127.0.0.1", sandbox_port) as sandbox:
        try:
            settings = demo_settings(sandbox, open_after, monitor_for)
            process, function_url = start_function(port, demo_environment(sandbox, settings))
            with state.lock:
                seeded = seed_demo(state, webhook_url=f"{function_url}/{DEMO_ACCOUNT}")
            print(demo_guide(function_url, sandbox, seeded, settings, backstop_every), flush=True)
            with Backstop(function_url, sandbox, backstop_every):
                watch(process, sandbox.serving)
        finally:
            _ignore_stop_signals()
            if process is not None:
                stop(process)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.launcher", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8080, help="the function's port")
    parser.add_argument("--sandbox-port", type=int, default=8900, help="the sandbox's port (demo only)")
    parser.add_argument("--open-after", default=DEMO_OPEN_AFTER, help="the demo's PAGERSTATUS_OPEN_AFTER")
    parser.add_argument("--monitor-for", default=DEMO_MONITOR_FOR, help="the demo's PAGERSTATUS_MONITOR_FOR")
    parser.add_argument("--backstop-every", type=float, default=DEMO_BACKSTOP_SECONDS,
                        help="seconds between the demo's periodic syncs")
    args = parser.parse_args(argv)
    if any(os.environ.get(name) for name in REAL_CONFIGURATION):
        return supervise(lambda: run_real(args.port))
    return supervise(lambda: run_demo(args.port, args.sandbox_port, args.open_after, args.monitor_for,
                                      args.backstop_every))


if __name__ == "__main__":
    sys.exit(main())
