"""A bounded soak: random PagerDuty changes over 3 accounts and 30 components,
their webhooks delivered late, twice and out of order to two function instances
sharing the Firestore lock; invariants checked throughout and at rest.

20 s of changes in `make test`; `make soak` runs it for longer
(PAGERSTATUS_SOAK_SECONDS). The changes come from a seeded generator: a failure
names its seed, and PAGERSTATUS_SOAK_SEED=<seed> replays the same changes (the
timing of deliveries, and so of syncs, differs from run to run).
"""
from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from pagerstatus.models import severity_rank
from tests.harness.function import RunningFunction, running_function
from tests.harness.sandbox import Sandbox
from tests.harness.world import PAGE_ID, world

SECONDS = float(os.environ.get("PAGERSTATUS_SOAK_SECONDS", "20"))
SEED = int(os.environ.get("PAGERSTATUS_SOAK_SEED") or random.SystemRandom().randrange(2**32))
ACCOUNTS = ("north", "south", "east")
TOKEN = "soak-token-0123456789"
COMPONENTS = [{"id": f"comp{n:08d}", "name": f"Service {n}"} for n in range(30)]
IDS = [c["id"] for c in COMPONENTS]
SEVERITY = "P1=major_outage,P2=partial_outage,low=degraded_performance,*=partial_outage"
# Components a person's incident also covers: never written to, their status theirs as much as ours.
HUMAN_COVERED = IDS[:2]
EVENT_TYPES = {"trigger": "incident.triggered", "acknowledge": "incident.acknowledged",
               "unacknowledge": "incident.unacknowledged", "resolve": "incident.resolved",
               "reopen": "incident.reopened", "priority": "incident.priority_updated"}


def status_for(priority: str | None, urgency: str) -> str:
    """The severity map above, written out independently of the code under test."""
    return {"P1": "major_outage", "P2": "partial_outage"}.get(priority or "") or (
        "degraded_performance" if urgency == "low" else "partial_outage")


# --- the webhooks, as a careless network delivers them ---------------------------

class Postman:
    """Delivers each webhook after a random delay, some twice (same X-Webhook-Id, as
    PagerDuty redelivers), so that they arrive out of order; a 5xx or no answer is
    redelivered later, as PagerDuty does, until a 2xx. Each delivery is a timer of its own."""

    def __init__(self, rng: random.Random, instances: list[RunningFunction]):
        self._rng = rng
        self._instances = instances
        self._cv = threading.Condition()
        self._unanswered = 0  # deliveries not yet answered 2xx
        self.answers: Counter = Counter()

    def send(self, account: str, event_type: str) -> None:
        webhook_id = str(uuid.uuid4())
        for _ in range(2 if self._rng.random() < 0.25 else 1):
            # Each delivery's own generator, drawn here: the driver's sequence stays reproducible.
            self._later(self._rng.uniform(0, 2.0), account, event_type, webhook_id, random.Random(self._rng.random()))

    def _later(self, delay: float, *delivery) -> None:
        with self._cv:
            self._unanswered += 1
        timer = threading.Timer(delay, self._deliver, delivery)
        timer.daemon = True
        timer.start()

    def _deliver(self, account: str, event_type: str, webhook_id: str, rng: random.Random, attempts: int = 0) -> None:
        payload = {"event": {"id": webhook_id, "event_type": event_type, "resource_type": "incident"}}
        headers = {"X-Pagerstatus-Token": TOKEN, "X-Webhook-Id": webhook_id}
        try:
            status = rng.choice(self._instances).post(f"/{account}", payload, headers=headers).status_code
        except requests.RequestException:
            status = 0
        if not 200 <= status < 300:  # scheduled before this one counts as done: drain() cannot miss it
            self._later(min(10, 0.5 * 2 ** (attempts + 1)), account, event_type, webhook_id, rng, attempts + 1)
        with self._cv:
            self.answers[status] += 1
            self._unanswered -= 1
            self._cv.notify_all()

    def drain(self, timeout: float) -> None:
        """Until every webhook got a 2xx."""
        with self._cv:
            delivered = self._cv.wait_for(lambda: self._unanswered == 0, timeout)
            assert delivered, f"webhooks still undelivered after {timeout} s: {self.answers}"


# --- the invariants ------------------------------------------------------------------

def owned_open(sandbox: Sandbox) -> dict[str, list[str]]:
    """Component -> its owned unresolved incidents, from the sandbox's memory under its lock."""
    owned: dict[str, list[str]] = {}
    with sandbox.state.lock:
        for incident in sandbox.state.statuspage.incidents.values():
            if incident.page_id == PAGE_ID and incident.status != "resolved" and "pagerstatus" in incident.metadata:
                for component in incident.component_ids:
                    owned.setdefault(component, []).append(incident.id)
    return owned


@contextmanager
def watching(sandbox: Sandbox) -> Iterator[list[dict[str, list[str]]]]:
    """Samples the page while the soak runs, yielding the duplicates seen: two owned open
    incidents on one component, which the lock must prevent outright."""
    duplicates: list[dict[str, list[str]]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            if found := {c: ids for c, ids in owned_open(sandbox).items() if len(ids) > 1}:
                duplicates.append(found)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield duplicates
    finally:
        assert thread.is_alive(), "the watch died early"  # an exception would have ended it
        stop.set()
        thread.join()


def mismatches(sandbox: Sandbox, components_of: dict[str, list[str]]) -> list[str]:
    """How the page differs from what PagerDuty says now (empty: it is right).

    A component an acknowledged incident carries is open at the most severe status
    of all open incidents carrying it; one that only triggered incidents carry may
    be open or not (it stays open through an acknowledgement timeout); any other is
    operational with no owned incident.
    """
    with sandbox.state.lock:
        open_incidents = [i for i in sandbox.state.pagerduty.incidents.values()
                          if i.status in ("triggered", "acknowledged")]
        statuses = {c.id: c.status for c in sandbox.state.statuspage.components.values() if c.page_id == PAGE_ID}
    owned = owned_open(sandbox)
    problems = []
    for component in IDS:
        carrying = [i for i in open_incidents if component in components_of[i.id]]
        severity = max((status_for(i.priority, i.urgency) for i in carrying), key=severity_rank, default=None)
        must_open = any(i.status == "acknowledged" for i in carrying)
        is_open = len(owned.get(component, [])) == 1
        if len(owned.get(component, [])) > 1:
            problems.append(f"{component}: duplicate owned incidents {owned[component]}")
        elif must_open and not is_open:
            problems.append(f"{component}: acknowledged incidents but no open incident")
        elif not carrying and is_open:
            problems.append(f"{component}: open with no open PagerDuty incident")
        elif component in HUMAN_COVERED:
            continue  # the person's incident keeps its status as it is
        elif is_open and statuses[component] != severity:
            problems.append(f"{component}: {statuses[component]}, expected {severity}")
        elif not is_open and statuses[component] != "operational":
            problems.append(f"{component}: {statuses[component]} with no incident open")
    return problems


# --- the driver ---------------------------------------------------------------------------

def change_something(rng: random.Random, sandbox: Sandbox, components_of: dict[str, list[str]]) -> tuple[str, str]:
    """One random change, as people and monitors make them; (account, event type)."""
    with sandbox.state.lock:
        by_status: dict[str, list] = {}
        for incident in sandbox.state.pagerduty.incidents.values():
            by_status.setdefault(incident.status, []).append((incident.id, incident.account))
    open_count = len(by_status.get("triggered", [])) + len(by_status.get("acknowledged", []))
    weights = {"trigger": 4 if open_count < 25 else 1, "acknowledge": 3, "unacknowledge": 1,
               "resolve": 1 + open_count // 6, "reopen": 0.3, "priority": 1}
    candidates = {"acknowledge": by_status.get("triggered", []), "unacknowledge": by_status.get("acknowledged", []),
                  "resolve": by_status.get("triggered", []) + by_status.get("acknowledged", []),
                  "reopen": by_status.get("resolved", [])}
    candidates["priority"] = candidates["resolve"]
    actions = [a for a in weights if a == "trigger" or candidates[a]]
    action = rng.choices(actions, [weights[a] for a in actions])[0]
    if action == "trigger":
        account = rng.choice(ACCOUNTS)
        components = rng.sample(IDS, rng.choice([1, 1, 1, 2]))
        tags = ",".join(f"component:{c}" for c in components) + ",env:prod" if rng.random() < 0.5 else \
            [f"component_{c}" for c in components]
        created = sandbox.trigger(account, tags=tags, tags_in=rng.choice(["both", "both", "alerts"]),
                                  urgency=rng.choice(["high", "high", "low"]),
                                  priority=rng.choice([None, None, "P1", "P2"]),
                                  status=rng.choice(["triggered", "acknowledged"]), deliver=False)["incident"]
        components_of[created["id"]] = components
        return account, EVENT_TYPES["acknowledge" if created["status"] == "acknowledged" else "trigger"]
    incident_id, account = rng.choice(sorted(candidates[action]))
    if action == "priority":
        sandbox.set_priority(incident_id, rng.choice([None, "P1", "P2", "P3"]), deliver=False)
    else:
        sandbox.act(incident_id, action, deliver=False)
    return account, EVENT_TYPES[action]


def test_soak(firestore_project):
    print(f"soak: seed {SEED}, {SECONDS:g} s (PAGERSTATUS_SOAK_SEED={SEED} replays the changes)")
    rng = random.Random(SEED)
    env = {"GOOGLE_CLOUD_PROJECT": firestore_project, "PAGERSTATUS_SEVERITY": SEVERITY}
    with world(accounts=ACCOUNTS, extra_env=env, webhook={"webhook_token": TOKEN},
               components=COMPONENTS) as (sandbox, first), running_function(first.env) as second:
        humans = [sandbox.add_sp_incident(PAGE_ID, name=f"Work on {c}", body="by a person",
                                          components={c: "degraded_performance"})["id"] for c in HUMAN_COVERED]
        with sandbox.state.lock:
            human_updates = {i: len(sandbox.state.statuspage.incidents[i].updates) for i in humans}
        components_of: dict[str, list[str]] = {}
        postman = Postman(rng, [first, second])
        changes = 0
        with watching(sandbox) as duplicates:
            deadline = time.monotonic() + SECONDS
            while time.monotonic() < deadline:
                postman.send(*change_something(rng, sandbox, components_of))
                changes += 1
                time.sleep(rng.uniform(0.05, 0.7))
            postman.drain(timeout=180)
        opened = len([r for r in sandbox.requests(api="statuspage", method="POST") if r["status"] == 201])
        context = f"seed {SEED}; {changes} changes; answers {dict(postman.answers)}; {opened} incidents opened"
        print(context)

        assert duplicates == [], f"{context}: duplicates seen {duplicates[:3]}"
        assert postman.answers[200] >= 1, context  # syncs ran: every webhook got a 2xx, not all of them 202
        # At rest, with every webhook answered 2xx, the page is right without any further sync.
        assert mismatches(sandbox, components_of) == [], context
        with sandbox.state.lock:
            assert {i: len(sandbox.state.statuspage.incidents[i].updates) for i in humans} == human_updates, context
        touched = [r for r in sandbox.requests(api="statuspage") if r["method"] != "GET"
                   and any(h in r["path"] for h in humans)]
        assert touched == [], context
        syncs = sum(1 for f in (first, second) for e in f.logs() if e.get("action") == "plan")
        print(f"{syncs} syncs for {sum(postman.answers.values())} deliveries")
        assert not [e for f in (first, second) for e in f.logs() if e.get("message") == "unexpected error"], context
