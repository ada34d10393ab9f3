"""What reaches customers, and when, end to end: the function as a functions-framework
process against the sandbox, each rule driven the way PagerDuty and a page's owner would.

Time never passes by waiting: the sandbox moves an incident's times back (`age`), as if
the hold-down or the monitoring window had passed, and a sync on demand (RESYNC) plays the
periodic sync that would notice.
"""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from pagerstatus.policy import DEFAULT_INCIDENT_BODY, DEFAULT_MONITORING_BODY
from sandbox.launcher import REPO
from tests.harness.sandbox import running_sandbox
from tests.harness.world import (
    API,
    COMPONENTS,
    DB,
    PAGE_ID,
    RESYNC,
    SP_KEY,
    WEB,
    function_env,
    page_state,
    pd_key,
    statuspage_writes,
    world,
)

MINUTE = 60
OURS = {"pagerstatus": {"component_id": API}}


def resync(function) -> None:
    assert function.post("/hugops", RESYNC).json() == ["Performed sync"]


def sent(sandbox) -> list[tuple[str, str | None, bool | None]]:
    """Each Statuspage write as (method, the incident status it sets, its deliver_notifications as
    sent; None when it left the API to decide)."""
    return [(r["method"], r["body"]["incident"].get("status"), r["body"]["incident"].get("deliver_notifications"))
            for r in statuspage_writes(sandbox)]


def open_incident(sandbox, **fields) -> str:
    """A PagerDuty incident tagged for API, acknowledged (its webhook delivered); its id."""
    incident = sandbox.trigger("hugops", tags=f"component:{API}", **fields)["incident"]
    sandbox.acknowledge(incident["id"])
    return incident["id"]


# --- subscriber notifications: stated on every write, as the policy says ---

@pytest.mark.parametrize(("notify", "expected"), [
    # open, escalate, deescalate, a duplicate's resolve, the move to monitoring, the resolution
    (None, [True, True, False, False, False, True]),  # the default: open,escalate,resolve
    ("none", [False] * 6),
    ("deescalate,monitoring", [False, False, True, False, True, False]),
], ids=["default", "none", "deescalate-and-monitoring"])
def test_every_write_states_whether_subscribers_are_notified(notify, expected):
    extra = {"PAGERSTATUS_SEVERITY": "P1=major_outage", "PAGERSTATUS_MONITOR_FOR": "10m"}
    with world(extra_env=extra | ({"PAGERSTATUS_NOTIFY": notify} if notify else {})) as (sandbox, function):
        pd_incident = open_incident(sandbox)
        sandbox.set_priority(pd_incident, "P1")
        sandbox.set_priority(pd_incident, None)
        # A second incident of ours for API, newer: housekeeping resolves it, never a notice.
        sandbox.add_sp_incident(PAGE_ID, name="again", components={API: "partial_outage"}, metadata=OURS,
                                created_at="2099-01-01T00:00:00Z")
        resync(function)
        sandbox.resolve(pd_incident)
        [ours] = page_state(sandbox)[1]
        sandbox.age_sp_incident(PAGE_ID, ours["id"], 10 * MINUTE)
        resync(function)

        writes = sent(sandbox)
        assert [(method, status) for method, status, _ in writes] == [
            ("POST", "investigating"), ("PATCH", None), ("PATCH", None), ("PATCH", "resolved"),
            ("PATCH", "monitoring"), ("PATCH", "resolved")]
        assert [deliver for _, _, deliver in writes] == expected  # never None: always stated
        # The sandbox kept each update's flag, as Statuspage does.
        incident = next(i for i in sandbox.dump()["statuspage"]["incidents"] if i["id"] == ours["id"])
        assert [(u["status"], u["deliver_notifications"]) for u in incident["updates"]] == [
            ("investigating", expected[0]), ("monitoring", expected[4]), ("resolved", expected[5])]


# --- hold-down ---

def test_nothing_opens_before_the_hold_down_and_an_open_follows_it():
    with world(extra_env={"PAGERSTATUS_OPEN_AFTER": "5m"}) as (sandbox, function):
        # A blip, acknowledged and resolved within the hold-down, never reaches the page.
        blip = open_incident(sandbox)
        sandbox.resolve(blip)
        assert statuspage_writes(sandbox) == []

        held = open_incident(sandbox)
        sandbox.age(held, 4 * MINUTE)
        resync(function)
        assert page_state(sandbox)[1] == [] and statuspage_writes(sandbox) == []
        pending = [e for e in function.logs() if e.get("action") == "pending"]
        assert pending and pending[-1]["pending"] == "open" and pending[-1]["target"] == API

        sandbox.age(held, 1 * MINUTE)  # acknowledged five minutes ago now
        resync(function)
        components, [opened] = page_state(sandbox)
        assert opened["component_ids"] == [API] and components[API] == "partial_outage"


def test_opening_on_trigger_the_hold_down_counts_from_the_trigger():
    with world(extra_env={"PAGERSTATUS_OPEN_ON": "triggered", "PAGERSTATUS_OPEN_AFTER": "90s"}) as (sandbox, function):
        incident = sandbox.trigger("hugops", tags=f"component:{API}")["incident"]
        assert page_state(sandbox)[1] == []
        sandbox.age(incident["id"], 90)
        resync(function)
        assert [i["component_ids"] for i in page_state(sandbox)[1]] == [[API]]


# --- monitoring, relapse, resolution ---

def test_monitoring_then_a_relapse_onto_the_same_incident_then_resolution_after_the_window():
    with world(extra_env={"PAGERSTATUS_MONITOR_FOR": "10m"}) as (sandbox, function):
        first = open_incident(sandbox)
        sandbox.resolve(first)
        components, [incident] = page_state(sandbox)
        assert incident["status"] == "monitoring" and components[API] == "operational"
        assert incident["updates"][-1]["body"] == DEFAULT_MONITORING_BODY
        resync(function)
        assert [i["status"] for i in page_state(sandbox)[1]] == ["monitoring"]

        # Wanted again while monitoring: the same incident goes back to investigating.
        second = open_incident(sandbox)
        components, [relapsed] = page_state(sandbox)
        assert (relapsed["id"], relapsed["status"], components[API]) == (incident["id"], "investigating",
                                                                        "partial_outage")
        assert relapsed["updates"][-1]["body"] == DEFAULT_INCIDENT_BODY.format(component="API")

        sandbox.resolve(second)
        sandbox.age_sp_incident(PAGE_ID, incident["id"], 9 * MINUTE)
        resync(function)
        assert [i["status"] for i in page_state(sandbox)[1]] == ["monitoring"]  # not yet: 9 of 10 minutes
        sandbox.age_sp_incident(PAGE_ID, incident["id"], 1 * MINUTE)
        resync(function)
        assert page_state(sandbox)[1] == []
        [resolved] = sandbox.dump()["statuspage"]["incidents"]
        assert resolved["id"] == incident["id"] and resolved["status"] == "resolved"
        assert [r["method"] for r in statuspage_writes(sandbox)].count("POST") == 1  # one incident throughout


# --- ownership by metadata only; legacy adoption when asked ---

@pytest.mark.parametrize("adopt", [False, True], ids=["default", "adopt-legacy"])
def test_hand_written_incidents_are_left_alone_and_the_original_tools_adopted_only_when_asked(adopt):
    with world(extra_env={"PAGERSTATUS_ADOPT_LEGACY": str(adopt).lower()}) as (sandbox, function):
        mentions = sandbox.add_sp_incident(PAGE_ID, name="Correction", components={API: "partial_outage"},
                                           body="The earlier notice (via pagerstatus) was premature.")
        inline = sandbox.add_sp_incident(PAGE_ID, name="Storm", components={DB: "partial_outage"},
                                         body="\u26c8 a storm over the data centre")
        legacy = sandbox.add_sp_incident(PAGE_ID, name="Investigating errors in Website",
                                         components={WEB: "partial_outage"}, body="Investigating.\n\n\u26c8")
        resync(function)  # nothing in PagerDuty carries any of their components

        components, unresolved = page_state(sandbox)
        still_open = {i["id"] for i in unresolved}
        assert {mentions["id"], inline["id"]} <= still_open
        assert components[API] == components[DB] == "partial_outage"
        touched = {r["path"].rsplit("/", 1)[-1] for r in statuspage_writes(sandbox)}
        assert touched == ({legacy["id"]} if adopt else set())
        assert (legacy["id"] in still_open, components[WEB]) == ((False, "operational") if adopt
                                                                 else (True, "partial_outage"))


# --- the public body is the template ---

def test_the_public_texts_are_exactly_the_templates():
    templates = {"PAGERSTATUS_INCIDENT_NAME": "{component}: errors", "PAGERSTATUS_INCIDENT_BODY": "{component} fails.",
                 "PAGERSTATUS_RESOLVED_BODY": "{component} is back."}
    with world(extra_env=templates) as (sandbox, _):
        incident = open_incident(sandbox)
        [opened] = page_state(sandbox)[1]
        assert opened["name"] == "API: errors"
        assert [u["body"] for u in opened["updates"]] == ["API fails."]  # no marker line
        sandbox.resolve(incident)
        [resolved] = sandbox.dump()["statuspage"]["incidents"]
        assert [u["body"] for u in resolved["updates"]] == ["API fails.", "API is back."]


# --- maintenance ---

@pytest.mark.parametrize("during", ["hold", "open"])
def test_a_component_under_maintenance_is_held_unless_asked_to_open(during):
    components = [{**c, "status": "under_maintenance"} if c["id"] == API else c for c in COMPONENTS]
    with world(extra_env={"PAGERSTATUS_DURING_MAINTENANCE": during}, components=components) as (sandbox, function):
        open_incident(sandbox)
        statuses, unresolved = page_state(sandbox)
        if during == "hold":
            assert unresolved == [] and statuses[API] == "under_maintenance"
            [skip] = [e for e in function.logs() if e.get("action") == "skip"]
            assert skip["component"] == API and "maintenance" in skip["message"] and skip["severity"] == "INFO"
        else:
            assert [i["component_ids"] for i in unresolved] == [[API]] and statuses[API] == "partial_outage"


# --- component groups ---

GROUP, CARDS, BANK = "grouppayment", "compcards001", "compbank0001"
GROUPED = [*COMPONENTS, {"id": GROUP, "name": "Payments", "group": True},
           {"id": CARDS, "name": "Cards", "group_id": GROUP}, {"id": BANK, "name": "Bank", "group_id": GROUP}]


def test_a_group_tag_gives_one_incident_over_all_its_members_at_each_ones_higher_status():
    with world(extra_env={"PAGERSTATUS_SEVERITY": "P1=major_outage"}, components=GROUPED) as (sandbox, function):
        alone = sandbox.trigger("hugops", tags=f"component:{CARDS}", priority="P1")["incident"]
        sandbox.acknowledge(alone["id"])  # Cards alone first: its own incident
        group = sandbox.trigger("hugops", tags=f"env:prod,component:{GROUP}")["incident"]
        sandbox.acknowledge(group["id"])

        statuses, [incident] = page_state(sandbox)
        assert incident["name"] == "Investigating errors in Payments"
        assert sorted(incident["component_ids"]) == sorted([CARDS, BANK])
        assert incident["metadata"] == {"pagerstatus": {"component_id": GROUP}}
        assert (statuses[CARDS], statuses[BANK]) == ("major_outage", "partial_outage")
        # Cards' own incident gave way to the group's, quietly.
        assert [(m, s, d) for m, s, d in sent(sandbox) if s == "resolved"] == [("PATCH", "resolved", False)]

        resync(function)
        assert len(page_state(sandbox)[1]) == 1
        for incident_id in (alone["id"], group["id"]):
            sandbox.resolve(incident_id)
        statuses, unresolved = page_state(sandbox)
        assert unresolved == [] and statuses[CARDS] == statuses[BANK] == "operational"


# --- the command line shows what is pending, and what each write will send ---

def test_cli_plan_shows_pending_opens_and_resolves_with_due_times_and_each_writes_notification():
    with running_sandbox() as sandbox:
        sandbox.add_page(PAGE_ID, SP_KEY, components=COMPONENTS)
        sandbox.add_account("hugops", pd_key("hugops"))
        held = sandbox.trigger("hugops", tags=f"component:{API}", status="acknowledged", deliver=False)["incident"]
        due = sandbox.trigger("hugops", tags=f"component:{WEB}", status="acknowledged", deliver=False)["incident"]
        acknowledged = sandbox.age(held["id"], 2 * MINUTE)["acknowledgements"][0]["at"]
        sandbox.age(due["id"], 6 * MINUTE)  # Website: past the hold-down already
        monitoring = sandbox.add_sp_incident(PAGE_ID, name="Investigating errors in Database", status="monitoring",
                                             metadata={"pagerstatus": {"component_id": DB}}, body="Watching.",
                                             components={DB: "operational"})
        since = sandbox.age_sp_incident(PAGE_ID, monitoring["id"], 4 * MINUTE)["monitoring_at"]
        env = {"PATH": "/usr/bin:/bin", **function_env(sandbox, ["hugops"]), "PAGERSTATUS_OPEN_AFTER": "5m",
               "PAGERSTATUS_MONITOR_FOR": "10m"}
        plan = subprocess.run([sys.executable, "-m", "pagerstatus", "plan"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60)
        assert plan.returncode == 0, plan.stderr
        lines = plan.stdout.splitlines()
        assert f"open     {WEB} 'Investigating errors in Website': {WEB}=partial_outage; notifies subscribers" in lines
        open_at = (datetime.fromisoformat(acknowledged) + timedelta(minutes=5)).isoformat(timespec="seconds")
        assert any(re.fullmatch(rf"pending  open {API} 'API': due {re.escape(open_at)} \(in \d+s\)", line)
                   for line in lines), lines
        resolve_at = (datetime.fromisoformat(since) + timedelta(minutes=10)).isoformat(timespec="seconds")
        assert any(re.fullmatch(rf"pending  resolve {monitoring['id']} 'Investigating errors in Database': "
                                rf"due {re.escape(resolve_at)} \(in \d+s\)", line) for line in lines), lines
        assert statuspage_writes(sandbox) == []
