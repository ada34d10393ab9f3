"""A sandbox (local PagerDuty + Statuspage emulator) running in this process.

    with running_sandbox(demo=True) as sandbox:
        sandbox.trigger("demo", monitor="datadog-api")
        requests.get(sandbox.pagerduty_url + "/incidents", headers=...)

Helpers call the control API over HTTP (as a demo or another process would) and
raise AssertionError with the sandbox's answer when it refuses.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests

from sandbox.seed import seed_demo
from sandbox.server import SandboxServer
from sandbox.state import SandboxState


class Sandbox:
    def __init__(self, server: SandboxServer):
        self.url = server.url
        self.pagerduty_url = server.pagerduty_url
        self.statuspage_url = server.statuspage_url
        self.state: SandboxState = server.state
        self.http = requests.Session()

    def control(self, method: str, path: str, body: dict | None = None, **options: Any) -> Any:
        """Call /_sandbox{path}; the decoded JSON answer. options: more of requests' arguments."""
        response = self.http.request(method, f"{self.url}/_sandbox{path}", json=body, timeout=30, **options)
        if response.status_code >= 400:
            raise AssertionError(f"sandbox refused {method} {path}: {response.status_code} {response.text}")
        return response.json()

    # --- setup ---

    def add_account(self, name: str = "acme", api_key: str = "acme-pd-key", **settings: Any) -> dict:
        """settings: webhook_url, webhook_version (2|3), webhook_secret, webhook_token."""
        return self.control("POST", "/pagerduty/accounts", {"name": name, "api_key": api_key, **settings})["account"]

    def add_page(self, page_id: str = "page00000001", api_key: str = "sp-key", components: list[dict] | None = None,
                 name: str = "Sandbox status") -> dict:
        """components: [{"name", "id"?, "status"?, "group"?, "group_id"?}] (group: true makes a
        component group, group_id puts a component in one); answers {"page", "components"}."""
        body = {"id": page_id, "api_key": api_key, "name": name, "components": components or []}
        return self.control("POST", "/statuspage/pages", body)

    def add_sp_incident(self, page: str, **fields: Any) -> dict:
        """fields: name, status, body, components {id: status}, component_ids,
        metadata, created_at (ISO 8601). Bypasses auth, faults and rate limit."""
        return self.control("POST", "/statuspage/incidents", {"page": page, **fields})["incident"]

    # --- PagerDuty incidents; each answers {"incident", "webhook"} ---

    def trigger(self, account: str | None = None, **fields: Any) -> dict:
        """fields: title, monitor, service, urgency, priority, tags (str | list),
        tags_in (trigger | alerts | both), status, created_at, deliver,
        count (then answers {"incidents", "webhooks"})."""
        body = {"account": account, **fields} if account else fields
        return self.control("POST", "/pagerduty/incidents", body)

    def act(self, incident_id: str, action: str, deliver: bool = True, **fields: Any) -> dict:
        """action: acknowledge, unacknowledge, resolve, reopen, or priority (with priority=)."""
        return self.control("POST", f"/pagerduty/incidents/{incident_id}/{action}", {"deliver": deliver, **fields})

    acknowledge = functools.partialmethod(act, action="acknowledge")
    resolve = functools.partialmethod(act, action="resolve")

    def set_priority(self, incident_id: str, priority: str | None, deliver: bool = True) -> dict:
        return self.act(incident_id, "priority", deliver, priority=priority)

    # --- time: as if it had passed, instead of waiting for it ---

    def age(self, incident_id: str, seconds: float) -> dict:
        """Move a PagerDuty incident's times (trigger, acknowledgements, ...) back by seconds."""
        return self.control("POST", f"/pagerduty/incidents/{incident_id}/age", {"seconds": seconds})["incident"]

    def age_sp_incident(self, page: str, incident_id: str, seconds: float) -> dict:
        """Move a Statuspage incident's times (created, monitoring, its updates) back by seconds."""
        path = f"/statuspage/pages/{page}/incidents/{incident_id}/age"
        return self.control("POST", path, {"seconds": seconds})["incident"]

    # --- faults, rate limit, inspection ---

    def fault(self, api: str, path: str = "", **fields: Any) -> dict:
        """fields: method, status, count, retry_after, latency, drop, query (a regex
        searched in the raw query string, e.g. "offset=100")."""
        return self.control("POST", "/faults", {"api": api, "path": path, **fields})["fault"]

    def fault_hits(self) -> int:
        """Requests the faults have met so far (counted when met, before any latency)."""
        return sum(f["hits"] for f in self.control("GET", "/faults")["faults"])

    def clear_faults(self) -> None:
        self.control("DELETE", "/faults")

    def rate_limit(self, enabled: bool = True, **settings: Any) -> dict:
        """settings: capacity (60), refill_per_second (1), status (429 | 420)."""
        return self.control("POST", "/statuspage/rate_limit", {"enabled": enabled, **settings})["rate_limit"]

    def requests(self, api: str | None = None, method: str | None = None) -> list[dict]:
        """Logged API calls: {api, method, path below the API base, query, status, at, body}; body is
        a write's JSON body as sent."""
        return self.control("GET", "/requests", params={"api": api, "method": method})["requests"]

    def clear_requests(self) -> None:
        self.control("DELETE", "/requests")

    def dump(self) -> dict:
        return self.control("GET", "/state")

    def reset(self, seed: str | None = None, webhook_url: str | None = None) -> dict | None:
        return self.control("POST", "/reset", {"seed": seed, "webhook_url": webhook_url})["seed"]


@contextmanager
def running_sandbox(demo: bool = False, clock: Callable[[], float] = time.monotonic,
                    sleep: Callable[[float], None] = time.sleep) -> Iterator[Sandbox]:
    """A sandbox on 127.0.0.1 and a port of its own, stopped on exit, with the demo seeded when
    demo is true; clock and sleep drive its rate limit and latency faults (state.py)."""
    state = SandboxState(clock=clock, sleep=sleep)
    if demo:
        seed_demo(state)
    with SandboxServer(state) as server:
        sandbox = Sandbox(server)
        try:
            yield sandbox
        finally:
            sandbox.http.close()
