"""The reconcile core with plain values: a table of rules, the notification of each write,
then properties over every input: time, hold-down, monitoring, groups, maintenance, legacy."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pagerstatus.demand import EMPTY_GROUP, NOT_ON_PAGE, UNDER_MAINTENANCE
from pagerstatus.models import Component, PdIncident, SpIncident
from pagerstatus.ownership import METADATA_KEY
from pagerstatus.policy import NOTIFY_EVENTS, Policy, SeverityMap
from pagerstatus.reconcile import MONITORING, Resolve, is_ours, plan

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
PAGE = {c.id: c for c in (Component("api", "API"), Component("web", "Website"), Component("db", "Database"))}
# A group, Payments, of two components, and a group without any.
GROUPED = {**PAGE, **{c.id: c for c in (Component("pay", "Payments", group=True),
                                        Component("card", "Cards", group_id="pay"),
                                        Component("bank", "Bank transfers", group_id="pay"),
                                        Component("none", "Nothing yet", group=True))}}
POLICY = Policy()
SEVERITY = Policy(severity=SeverityMap({"p1": "major_outage", "p3": "degraded_performance",
                                        "low": "degraded_performance"}))
HOLD = Policy(open_after=timedelta(minutes=5))
MONITOR = Policy(monitor_for=timedelta(minutes=10))


def ago(minutes: float | None) -> datetime | None:
    return None if minutes is None else NOW - timedelta(minutes=minutes)


def pd(id, status="acknowledged", components=("api",), account="main", priority=None, urgency="high",
       created=60, acked=30):
    """A PagerDuty incident triggered `created` and (when acknowledged) acknowledged `acked` minutes ago."""
    return PdIncident(account, id, status, title=f"incident {id}", urgency=urgency, priority=priority,
                      component_ids=frozenset(components), created_at=ago(created),
                      acknowledged_at=ago(acked) if status == "acknowledged" else None)


def sp(id, components=("api",), owned=True, created_at="2026-01-01T00:00:00Z", status="investigating",
       opened_for=None, legacy=False, monitoring=None, updated=None):
    """A Statuspage incident; ours (metadata) opened for its one component unless told otherwise.
    monitoring / updated: minutes since monitoring_at / its newest update."""
    if owned and opened_for is None and len(components) == 1:
        opened_for = components[0]
    return SpIncident(id, f"incident {id}", status, created_at, frozenset(components), owned,
                      opened_for=opened_for if owned else None, legacy=legacy,
                      monitoring_at=ago(monitoring), last_update_at=ago(updated))


def down(*ids, status="partial_outage", page=PAGE):
    return {cid: replace(c, status=status) if cid in ids else c for cid, c in page.items()}


def rule(pds, page, sps, policy=POLICY, *, id, wanted=None, opens=(), updates=(), resolves=(), pending=(), skips=()):
    """A row of the table: the inputs, and the whole plan expected of them."""
    expected = {"wanted": wanted or {}, "opens": list(opens), "updates": list(updates),
                "resolves": list(resolves), "pending": list(pending), "skips": list(skips)}
    return pytest.param(pds, page, sps, policy, expected, id=id)


def outline(result) -> dict:
    """The plan as the table writes it: statuses, and the PagerDuty incidents behind opens and skips;
    an update's new incident status where it sets one; each pending action's due time in minutes."""
    return {
        "wanted": {cid: w.status for cid, w in result.wanted.items()},
        "opens": [(o.target_id, o.components, [i.id for i in o.pd_incidents]) for o in result.opens],
        "updates": [(u.incident_id, u.status, u.components) if u.status else (u.incident_id, u.components)
                    for u in result.updates],
        "resolves": [(r.incident_id, r.reason, r.components) for r in result.resolves],
        "pending": [(p.action, p.target, (p.due - NOW) / timedelta(minutes=1)) for p in result.pending],
        "skips": [(s.component_id, s.reason, [i.id for i in s.pd_incidents]) for s in result.skips],
    }


API_DOWN = {"api": "partial_outage"}
OPEN_API = [("api", API_DOWN, ["P1"])]
PAY_DOWN = {"card": "partial_outage", "bank": "partial_outage"}
OLD, NEWER, NEWEST = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"
OPERATIONAL = {"api": "operational"}


@pytest.mark.parametrize(("pds", "page", "sps", "policy", "expected"), [
    # Open on acknowledge; resolve only when no open incident carries the component.
    rule([pd("P1", status="triggered")], PAGE, [], id="triggered-does-not-open-by-default"),
    rule([pd("P1")], PAGE, [], id="acknowledged-opens", wanted=API_DOWN, opens=OPEN_API),
    rule([pd("P1", status="triggered")], PAGE, [], Policy(open_on="triggered"), id="open-on-triggered",
         wanted=API_DOWN, opens=OPEN_API),
    # An ack timeout moves P1 back to triggered: the page must not flap.
    rule([pd("P1", status="triggered")], down("api"), [sp("S1")], id="retriggered-stays-open", wanted=API_DOWN),
    rule([], down("api"), [sp("S1")], id="resolves-when-nothing-carries-it",
         resolves=[("S1", "recovered", OPERATIONAL)]),
    rule([pd("P1", components=("web",))], down("api"), [sp("S1")], id="another-component-keeps-nothing-open",
         wanted={"web": "partial_outage"}, opens=[("web", {"web": "partial_outage"}, ["P1"])],
         resolves=[("S1", "recovered", OPERATIONAL)]),
    # Desired state from every account; one incident per component.
    rule([pd("P1", account="other")], down("api"), [sp("S1")], id="another-accounts-incident-keeps-it-open",
         wanted=API_DOWN),
    rule([pd("P1", components=("api", "web")), pd("P2", components=("db",))], PAGE, [], id="each-component-its-own",
         wanted={"api": "partial_outage", "db": "partial_outage", "web": "partial_outage"},
         opens=[("api", API_DOWN, ["P1"]), ("db", {"db": "partial_outage"}, ["P2"]),
                ("web", {"web": "partial_outage"}, ["P1"])]),
    rule([pd("P1"), pd("P2", account="other")], PAGE, [], id="two-pagerduty-incidents-one-open",
         wanted=API_DOWN, opens=[("api", API_DOWN, ["P1", "P2"])]),
    rule([pd("P1")], down("api"), [sp("S1")], id="already-open-not-opened-again", wanted=API_DOWN),
    # Severity: a priority rule, else an urgency rule, else the default; the most severe incident wins.
    rule([pd("P1", priority="P1")], PAGE, [], SEVERITY, id="priority-maps",
         wanted={"api": "major_outage"}, opens=[("api", {"api": "major_outage"}, ["P1"])]),
    rule([pd("P1", priority="P9", urgency="low")], PAGE, [], SEVERITY, id="urgency-maps-without-a-priority-rule",
         wanted={"api": "degraded_performance"}, opens=[("api", {"api": "degraded_performance"}, ["P1"])]),
    rule([pd("P1", priority="P1", urgency="low")], PAGE, [], SEVERITY, id="a-priority-rule-wins-over-an-urgency-rule",
         wanted={"api": "major_outage"}, opens=[("api", {"api": "major_outage"}, ["P1"])]),
    rule([pd("P1", priority="P3"), pd("P2", priority="P1", status="triggered")], PAGE, [], SEVERITY,
         id="most-severe-wins", wanted={"api": "major_outage"}, opens=[("api", {"api": "major_outage"}, ["P1", "P2"])]),
    rule([pd("P1", priority="P1")], down("api"), [sp("S1")], SEVERITY, id="severity-change-updates-not-opens",
         wanted={"api": "major_outage"}, updates=[("S1", {"api": "major_outage"})]),
    rule([pd("P1", priority="P1", urgency="low")], PAGE, [], id="default-partial-outage-for-everything",
         wanted=API_DOWN, opens=OPEN_API),
    # Ownership: an unowned incident is never touched, nor stands in for ours, nor is undercut.
    rule([], down("api"), [sp("H1", owned=False)], id="unowned-never-touched"),
    rule([pd("P1")], down("api"), [sp("H1", owned=False)], id="unowned-does-not-stand-in-for-ours",
         wanted=API_DOWN, opens=OPEN_API),
    rule([pd("P1")], down("api", status="major_outage"), [sp("H1", owned=False)], id="persons-status-never-lowered",
         wanted={"api": "major_outage"}, opens=[("api", {"api": "major_outage"}, ["P1"])]),
    rule([pd("P1")], down("api", status="major_outage"), [sp("S1")], id="without-a-person-our-mapping-decides",
         wanted=API_DOWN, updates=[("S1", API_DOWN)]),
    rule([], down("api"), [sp("S1"), sp("H1", owned=False)], id="resolve-leaves-an-unowned-incidents-component",
         resolves=[("S1", "recovered", {})]),
    # The original tool's incidents: a person's until adoption is asked for.
    rule([], down("api"), [sp("L1", owned=False, legacy=True)], id="legacy-not-adopted-by-default"),
    rule([], down("api"), [sp("L1", owned=False, legacy=True)], Policy(adopt_legacy=True),
         id="legacy-adopted-when-asked", resolves=[("L1", "recovered", OPERATIONAL)]),
    # Self-healing.
    rule([pd("P1")], down("api"), [sp("S2", created_at=NEWER), sp("S1", created_at=OLD), sp("S3", created_at=NEWEST)],
         id="duplicates-resolve-all-but-the-oldest", wanted=API_DOWN,
         resolves=[("S2", "duplicate", {}), ("S3", "duplicate", {})]),
    rule([pd("P1", components=("gone", "api"))], PAGE, [], id="tag-naming-a-missing-component-is-skipped",
         wanted=API_DOWN, opens=OPEN_API, skips=[("gone", NOT_ON_PAGE, ["P1"])]),
    # An adopted incident of the original tool may cover several components.
    rule([pd("P1")], down("api", "web"), [sp("S1", components=("api", "web"))],
         id="multi-component-incident-releases-what-is-no-longer-wanted",
         wanted=API_DOWN, updates=[("S1", {"web": "operational"})]),

    # Hold-down: counted from the acknowledgement (from the trigger when opening on trigger).
    rule([pd("P1", acked=1)], PAGE, [], HOLD, id="held-down-until-due", pending=[("open", "api", 4.0)]),
    rule([pd("P1", acked=5)], PAGE, [], HOLD, id="due-once-the-hold-down-has-passed", wanted=API_DOWN, opens=OPEN_API),
    rule([pd("P1", acked=1), pd("P2", acked=2, account="other")], PAGE, [], HOLD,
         id="due-when-the-earliest-acknowledgement-is", pending=[("open", "api", 3.0)]),
    rule([pd("P1", acked=1, created=60, status="triggered")], PAGE, [], HOLD,
         id="a-triggered-incident-is-not-pending-when-opening-on-acknowledge"),
    rule([pd("P1", status="triggered", created=2)], PAGE, [], replace(HOLD, open_on="triggered"),
         id="opening-on-trigger-counts-from-created_at", pending=[("open", "api", 3.0)]),
    rule([pd("P1", created=9, acked=0)], PAGE, [], replace(HOLD, open_on="triggered"),
         id="opening-on-trigger-an-acknowledgement-restarts-nothing", wanted=API_DOWN, opens=OPEN_API),
    rule([pd("P1", acked=None)], PAGE, [], HOLD, id="an-unknown-acknowledgement-time-is-due-now",
         wanted=API_DOWN, opens=OPEN_API),
    rule([pd("P1", acked=0, priority="P1")], down("api"), [sp("S1")], replace(SEVERITY, open_after=timedelta(5)),
         id="an-open-component-needs-no-hold-down", wanted={"api": "major_outage"},
         updates=[("S1", {"api": "major_outage"})]),

    # Monitoring stage, then resolve; relapse onto the same incident.
    rule([], down("api"), [sp("S1")], MONITOR, id="recovered-moves-to-monitoring",
         updates=[("S1", MONITORING, OPERATIONAL)], pending=[("resolve", "S1", 10.0)]),
    rule([], PAGE, [sp("S1", status=MONITORING, monitoring=4, updated=4)], MONITOR,
         id="monitoring-waits-out-the-window", pending=[("resolve", "S1", 6.0)]),
    rule([], PAGE, [sp("S1", status=MONITORING, monitoring=30, updated=3)], MONITOR,
         id="the-window-counts-from-the-newest-update", pending=[("resolve", "S1", 7.0)]),
    rule([], PAGE, [sp("S1", status=MONITORING, monitoring=10, updated=10)], MONITOR,
         id="resolves-once-monitored-long-enough", resolves=[("S1", "recovered", {})]),
    rule([pd("P1")], PAGE, [sp("S1", status=MONITORING, monitoring=1)], MONITOR, id="relapse-reopens-the-same-incident",
         wanted=API_DOWN, updates=[("S1", "investigating", API_DOWN)]),
    rule([pd("P1", acked=1)], PAGE, [sp("S1", status=MONITORING, monitoring=2)],
         replace(MONITOR, open_after=HOLD.open_after), id="a-relapse-is-held-down-like-an-open",
         pending=[("open", "api", 4.0), ("resolve", "S1", 8.0)]),
    rule([pd("P1", status="triggered")], PAGE, [sp("S1", status=MONITORING, monitoring=11)], MONITOR,
         id="a-triggered-incident-does-not-relapse", resolves=[("S1", "recovered", {})]),
    rule([pd("P1")], down("api"), [sp("S1", status=MONITORING, monitoring=1, created_at=OLD),
                                   sp("S2", created_at=NEWER)], MONITOR,
         id="a-live-incident-keeps-it-rather-than-a-relapse", wanted=API_DOWN, resolves=[("S1", "duplicate", {})]),
    rule([], PAGE, [sp("S1", status=MONITORING, monitoring=1)], POLICY,
         id="without-a-monitoring-window-a-monitoring-incident-resolves", resolves=[("S1", "recovered", {})]),

    # Maintenance: no new incident for a component under maintenance, unless asked.
    rule([pd("P1")], down("api", status="under_maintenance"), [], id="maintenance-held",
         skips=[("api", UNDER_MAINTENANCE, ["P1"])]),
    rule([pd("P1")], down("api", status="under_maintenance"), [], Policy(during_maintenance="open"),
         id="maintenance-opened-when-asked", wanted=API_DOWN, opens=OPEN_API),
    rule([pd("P1")], down("api", status="under_maintenance"), [sp("S1")], id="maintenance-keeps-an-open-incident",
         wanted=API_DOWN, updates=[("S1", API_DOWN)]),
    rule([], down("api", status="under_maintenance"), [sp("S1")], id="a-resolve-leaves-maintenance-as-it-is",
         resolves=[("S1", "recovered", {})]),

    # Groups: one incident over the members; a member wanted alone too is covered once, at the higher status.
    rule([pd("P1", components=("pay",))], GROUPED, [], id="a-group-tag-opens-one-incident-over-its-members",
         wanted=PAY_DOWN, opens=[("pay", PAY_DOWN, ["P1"])]),
    rule([pd("P1", components=("pay",)), pd("P2", components=("card",), priority="P1")], GROUPED, [], SEVERITY,
         id="a-member-wanted-alone-too-at-the-higher-status", wanted={**PAY_DOWN, "card": "major_outage"},
         opens=[("pay", {**PAY_DOWN, "card": "major_outage"}, ["P1", "P2"])]),
    rule([pd("P1", components=("pay",))], down("card", page=GROUPED), [sp("S1", components=("card",))],
         id="the-groups-incident-supersedes-a-members-own", wanted=PAY_DOWN,
         opens=[("pay", PAY_DOWN, ["P1"])], resolves=[("S1", "duplicate", {})]),
    rule([pd("P1", components=("card",))], down("card", "bank", page=GROUPED),
         [sp("S1", components=("card",)), sp("G1", components=("card", "bank"), opened_for="pay", created_at=NEWER)],
         id="a-groups-incident-keeps-a-member-still-wanted", wanted={"card": "partial_outage"},
         updates=[("G1", {"bank": "operational"})], resolves=[("S1", "duplicate", {})]),
    rule([pd("P1", components=("pay",))], down("card", page=GROUPED),
         [sp("G1", components=("card",), opened_for="pay")], id="a-groups-incident-takes-in-a-new-member",
         wanted=PAY_DOWN, updates=[("G1", {"bank": "partial_outage"})]),
    rule([pd("P1", components=("pay",))], down("bank", status="under_maintenance", page=GROUPED), [],
         id="a-member-under-maintenance-is-left-out", wanted={"card": "partial_outage"},
         opens=[("pay", {"card": "partial_outage"}, ["P1"])], skips=[("bank", UNDER_MAINTENANCE, ["P1"])]),
    rule([pd("P1", components=("none",))], GROUPED, [], id="an-empty-group-is-skipped",
         skips=[("none", EMPTY_GROUP, ["P1"])]),
    rule([pd("P1", components=("pay",), acked=1), pd("P2", components=("card",))], GROUPED, [], HOLD,
         id="a-member-due-alone-opens-alone-while-its-group-is-held-down", wanted={"card": "partial_outage"},
         opens=[("card", {"card": "partial_outage"}, ["P2"])], pending=[("open", "pay", 4.0)]),
])
def test_rules(pds, page, sps, policy, expected):
    assert outline(plan(pds, page, sps, policy, NOW)) == expected


def test_an_open_a_monitoring_move_and_a_resolve_say_exactly_what_the_templates_say():
    policy = Policy(incident_name="{component} is down", incident_body="Errors in {component}.",
                    monitoring_body="Watching {component}.", resolved_body="{component} is fine.",
                    monitor_for=timedelta(minutes=10))
    [opened] = plan([pd("P1")], PAGE, [], policy, NOW).opens
    assert (opened.name, opened.body) == ("API is down", "Errors in API.")
    assert opened.metadata == {METADATA_KEY: {"component_id": "api"}}
    [moved] = plan([], down("api"), [sp("S1")], policy, NOW).updates
    assert (moved.status, moved.body) == (MONITORING, "Watching API.")
    resolved = plan([], PAGE, [sp("S1", status=MONITORING, monitoring=11)], policy, NOW).resolves
    assert resolved == (Resolve("S1", "API is fine.", {}, "recovered", True, "incident S1"),)
    [group] = plan([pd("P1", components=("pay",))], GROUPED, [], policy, NOW).opens
    assert (group.name, group.body, group.metadata) == ("Payments is down", "Errors in Payments.",
                                                        {METADATA_KEY: {"component_id": "pay"}})


# --- which writes notify subscribers ---

# The writes of an incident's life, each as (inputs, the plan's write, its notification events).
LIFE = [
    ("open", lambda p: plan([pd("P1")], PAGE, [], p, NOW).opens[0], {"open"}),
    ("escalate", lambda p: plan([pd("P1", priority="P1")], down("api"), [sp("S1")],
                                replace(p, severity=SEVERITY.severity), NOW).updates[0], {"escalate"}),
    ("deescalate", lambda p: plan([pd("P1")], down("api", status="major_outage"), [sp("S1")], p, NOW).updates[0],
     {"deescalate"}),
    ("both", lambda p: plan([pd("P1", components=("api",), priority="P1")],
                            down("web", status="major_outage") | {"api": PAGE["api"]},
                            [sp("S1", components=("api", "web"))], replace(p, severity=SEVERITY.severity),
                            NOW).updates[0], {"escalate", "deescalate"}),
    ("monitoring", lambda p: plan([], down("api"), [sp("S1")], replace(p, monitor_for=timedelta(1)), NOW).updates[0],
     {"monitoring"}),
    ("relapse", lambda p: plan([pd("P1")], PAGE, [sp("S1", status=MONITORING, monitoring=1)],
                               replace(p, monitor_for=timedelta(1)), NOW).updates[0], {"open"}),
    ("resolve", lambda p: plan([], down("api"), [sp("S1")], p, NOW).resolves[0], {"resolve"}),
    ("duplicate", lambda p: plan([pd("P1")], down("api"), [sp("S1"), sp("S2", created_at=NEWER)], p,
                                 NOW).resolves[0], set()),
]


@pytest.mark.parametrize("notify", [Policy().notify, frozenset(), frozenset(NOTIFY_EVENTS), frozenset({"deescalate"})],
                         ids=["default", "none", "all", "deescalate-only"])
@pytest.mark.parametrize(("write", "events"), [pytest.param(make, events, id=name) for name, make, events in LIFE])
def test_each_write_notifies_as_the_policy_says(notify, write, events):
    assert write(Policy(notify=notify)).notify == bool(events & notify)


def test_the_default_notifies_opens_escalations_and_resolutions_only():
    assert {name for name, make, _ in LIFE if make(Policy()).notify} == {"open", "escalate", "both", "relapse",
                                                                         "resolve"}


# --- properties ---

EVERYTHING = [*sorted(GROUPED), "gone"]
minutes_ago = st.sampled_from([0, 1, 4, 5, 6, 30])
pd_incidents = st.lists(
    st.builds(
        pd,
        id=st.text("ABCDEF0123", min_size=3, max_size=3),
        status=st.sampled_from(["triggered", "acknowledged"]),
        components=st.frozensets(st.sampled_from(EVERYTHING), max_size=3).map(sorted),
        account=st.sampled_from(["a", "b"]),
        priority=st.sampled_from([None, "P1", "P3"]),
        urgency=st.sampled_from(["high", "low"]),
        created=minutes_ago,
        acked=st.one_of(st.none(), minutes_ago),
    ),
    max_size=8,
)
REAL = sorted(c.id for c in GROUPED.values() if not c.group)
MEMBERS = {"pay": ["bank", "card"], "none": []}


@st.composite
def sp_incident(draw, id):
    """Ours are well formed (one component, or a group's members) unless legacy; others anything."""
    kind = draw(st.sampled_from(["component", "group", "legacy", "person"]))
    if kind == "component":
        cid = draw(st.sampled_from(REAL))
        components, opened_for, owned = (cid,), cid, True
    elif kind == "group":
        components, opened_for, owned = tuple(MEMBERS["pay"]), "pay", True
    else:
        components = tuple(sorted(draw(st.frozensets(st.sampled_from(REAL), max_size=2))))
        opened_for, owned = None, False
    return sp(id, components, owned=owned, opened_for=opened_for, legacy=kind == "legacy" or draw(st.booleans()),
              created_at=draw(st.sampled_from([OLD, NEWER, NEWEST])),
              status=draw(st.sampled_from(["investigating", "identified", MONITORING])),
              monitoring=draw(st.one_of(st.none(), minutes_ago)), updated=draw(st.one_of(st.none(), minutes_ago)))


sp_incidents = st.lists(st.text("ghijk", min_size=4, max_size=4), max_size=5, unique=True).flatmap(
    lambda ids: st.tuples(*(sp_incident(i) for i in ids)).map(list))
page_states = st.fixed_dictionaries(
    {cid: st.sampled_from(["operational", "under_maintenance", "partial_outage", "major_outage"]) for cid in REAL}
).map(lambda statuses: {cid: replace(c, status=statuses.get(cid, c.status)) for cid, c in GROUPED.items()})
policies = st.builds(
    Policy,
    open_on=st.sampled_from(["acknowledged", "triggered"]),
    severity=st.sampled_from([POLICY.severity, SEVERITY.severity]),
    notify=st.frozensets(st.sampled_from(NOTIFY_EVENTS)),
    open_after=st.sampled_from([timedelta(0), timedelta(minutes=5)]),
    monitor_for=st.sampled_from([timedelta(0), timedelta(minutes=10)]),
    adopt_legacy=st.booleans(),
    during_maintenance=st.sampled_from(["hold", "open"]),
)


def apply(result, components, incidents):
    """What Statuspage looks like after the plan's writes, at NOW."""
    components = dict(components)
    incidents = {i.id: i for i in incidents}
    for n, action in enumerate(result.opens):
        incidents[f"new{n}"] = sp(f"new{n}", tuple(sorted(action.components)), opened_for=action.target_id,
                                  created_at="2026-12-31T00:00:00Z", updated=0)
    for action in result.updates:
        incident = incidents[action.incident_id]
        incidents[action.incident_id] = replace(
            incident, status=action.status or incident.status, last_update_at=NOW,
            monitoring_at=NOW if action.status == MONITORING else incident.monitoring_at,
            component_ids=frozenset(action.component_ids or incident.component_ids) | action.components.keys())
    for action in (*result.opens, *result.updates, *result.resolves):
        for cid, status in action.components.items():
            components[cid] = replace(components[cid], status=status)
    for action in result.resolves:
        del incidents[action.incident_id]
    return components, list(incidents.values())


@settings(max_examples=600, deadline=None)
@given(pd_incidents, page_states, sp_incidents, policies)
def test_applying_the_plan_reaches_the_desired_state(pds, components, sps, policy):
    result = plan(pds, components, sps, policy, NOW)
    after_components, after_incidents = apply(result, components, sps)
    ours = {i.id for i in sps if is_ours(i, policy)}

    # Nothing unowned is ever in a plan, and every unowned incident stays as it was.
    touched = {a.incident_id for a in (*result.updates, *result.resolves)}
    assert touched <= ours
    assert [i for i in after_incidents if i.id not in ours and not i.id.startswith("new")] == \
        [i for i in sps if i.id not in ours]

    # Exactly one incident of ours per wanted component, live, at the wanted status. An
    # adopted incident covering several components may overlap one kept for another of its
    # components; ours cover one component or a group's members.
    mine = [i for i in after_incidents if i.id in ours or i.id.startswith("new")]
    well_formed = all(i.opened_for for i in sps if i.id in ours)
    for cid, wanted in result.wanted.items():
        covering = [i for i in mine if cid in i.component_ids]
        assert len(covering) == 1 if well_formed else len(covering) >= 1, (cid, covering)
        assert any(i.status != MONITORING for i in covering), (cid, covering)
        assert after_components[cid].status == wanted.status
    # Every other incident of ours is monitoring, its resolve pending.
    pending_resolves = {p.target: p.due for p in result.pending if p.action == "resolve"}
    for incident in mine:
        if not incident.component_ids & result.wanted.keys():
            assert incident.status == MONITORING and pending_resolves[incident.id] > NOW, incident
    # A component under maintenance gets no new incident while held.
    for skip in (s for s in result.skips if s.reason == UNDER_MAINTENANCE):
        assert after_components[skip.component_id].status == components[skip.component_id].status
    # Each write notifies as the policy says; a duplicate's resolve never does.
    for action in result.opens:
        assert action.notify == ("open" in policy.notify)
    for action in result.resolves:
        assert action.notify == (action.reason == "recovered" and "resolve" in policy.notify)

    # Converged: planning again at the same time changes nothing.
    again = plan(pds, after_components, after_incidents, policy, NOW)
    assert again.writes == 0, again
    assert again.wanted == result.wanted
    assert [(p.action, p.due) for p in again.pending] == [(p.action, p.due) for p in result.pending]


def test_a_pending_open_falls_due_with_the_relapse_of_the_monitoring_incident_covering_it():
    # Cards' own hold-down ends at 12:05, but Bank transfers' ends at 12:04 and relapses the
    # Payments incident, which covers Cards too: from then on Cards is open through it.
    monitoring = sp("S1", components=("bank", "card"), status=MONITORING, opened_for="pay")
    pds = [pd("P1", status="triggered", components=["bank"], created=1, acked=None),
           pd("P2", status="triggered", components=["card"], created=0, acked=None)]
    policy = replace(HOLD, open_on="triggered")
    result = plan(pds, GROUPED, [monitoring], policy, NOW)
    assert [(p.target, p.due) for p in result.pending if p.action == "open"] == [
        ("bank", NOW + timedelta(minutes=4)), ("card", NOW + timedelta(minutes=4))]
    assert {"bank", "card"} <= plan(pds, GROUPED, [monitoring], policy, NOW + timedelta(minutes=4)).wanted.keys()


@settings(max_examples=300, deadline=None)
@given(pd_incidents, page_states, sp_incidents, policies)
def test_a_pending_open_is_due_exactly_when_the_plan_says(pds, components, sps, policy):
    result = plan(pds, components, sps, policy, NOW)
    for pending in (p for p in result.pending if p.action == "open"):
        targets = [pending.target, *MEMBERS.get(pending.target, [])]
        before = plan(pds, components, sps, policy, pending.due - timedelta(seconds=1))
        assert not any(w.via == pending.target for w in before.wanted.values())
        at_due = plan(pds, components, sps, policy, pending.due)
        held = {s.component_id for s in at_due.skips if s.reason == UNDER_MAINTENANCE}
        assert any(c in at_due.wanted or c in held for c in targets), (pending, at_due)
