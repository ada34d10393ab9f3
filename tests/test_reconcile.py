"""The reconcile core with plain values: a table of rules, then properties."""
from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pagerstatus.models import Component, PdIncident, SpIncident
from pagerstatus.ownership import BODY_MARKER, METADATA_KEY
from pagerstatus.reconcile import Policy, Resolve, SeverityMap, plan

PAGE = {c.id: c for c in (Component("api", "API"), Component("web", "Website"), Component("db", "Database"))}
POLICY = Policy()
SEVERITY = Policy(severity=SeverityMap({"p1": "major_outage", "p3": "degraded_performance",
                                        "low": "degraded_performance"}))


def pd(id, status="acknowledged", components=("api",), account="main", priority=None, urgency="high"):
    return PdIncident(account, id, status, title=f"incident {id}", urgency=urgency, priority=priority,
                      component_ids=frozenset(components))


def sp(id, components=("api",), owned=True, created_at="2026-01-01T00:00:00Z"):
    return SpIncident(id, f"incident {id}", "investigating", created_at, frozenset(components), owned)


def down(*ids, status="partial_outage"):
    return {cid: replace(c, status=status) if cid in ids else c for cid, c in PAGE.items()}


def rule(pds, page, sps, policy=POLICY, *, id, wanted=None, opens=(), updates=(), resolves=(), skips=()):
    """A row of the table: the inputs, and the whole plan expected of them."""
    expected = {"wanted": wanted or {}, "opens": list(opens), "updates": list(updates),
                "resolves": list(resolves), "skips": list(skips)}
    return pytest.param(pds, page, sps, policy, expected, id=id)


def outline(result) -> dict:
    """The plan as the table writes it: statuses, and the PagerDuty incidents behind opens and skips."""
    return {
        "wanted": {cid: w.status for cid, w in result.wanted.items()},
        "opens": [(o.component_id, o.status, [i.id for i in o.pd_incidents]) for o in result.opens],
        "updates": [(u.incident_id, u.components) for u in result.updates],
        "resolves": [(r.incident_id, r.reason, r.components) for r in result.resolves],
        "skips": [(s.component_id, [i.id for i in s.pd_incidents]) for s in result.skips],
    }


API_DOWN = {"api": "partial_outage"}
OPEN_API = [("api", "partial_outage", ["P1"])]
OLD, NEWER, NEWEST = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"


@pytest.mark.parametrize(("pds", "page", "sps", "policy", "expected"), [
    # Open on acknowledge; resolve only when no open incident carries the component.
    rule([pd("P1", status="triggered")], PAGE, [], id="triggered-does-not-open-by-default"),
    rule([pd("P1")], PAGE, [], id="acknowledged-opens", wanted=API_DOWN, opens=OPEN_API),
    rule([pd("P1", status="triggered")], PAGE, [], Policy(open_on="triggered"), id="open-on-triggered",
         wanted=API_DOWN, opens=OPEN_API),
    # An ack timeout moves P1 back to triggered: the page must not flap.
    rule([pd("P1", status="triggered")], down("api"), [sp("S1")], id="retriggered-stays-open", wanted=API_DOWN),
    rule([], down("api"), [sp("S1")], id="resolves-when-nothing-carries-it",
         resolves=[("S1", "recovered", {"api": "operational"})]),
    rule([pd("P1", components=("web",))], down("api"), [sp("S1")], id="another-component-keeps-nothing-open",
         wanted={"web": "partial_outage"}, opens=[("web", "partial_outage", ["P1"])],
         resolves=[("S1", "recovered", {"api": "operational"})]),
    # Desired state from every account; one incident per component.
    rule([pd("P1", account="other")], down("api"), [sp("S1")], id="another-accounts-incident-keeps-it-open",
         wanted=API_DOWN),
    rule([pd("P1", components=("api", "web")), pd("P2", components=("db",))], PAGE, [], id="each-component-its-own",
         wanted={"api": "partial_outage", "db": "partial_outage", "web": "partial_outage"},
         opens=[("api", "partial_outage", ["P1"]), ("db", "partial_outage", ["P2"]),
                ("web", "partial_outage", ["P1"])]),
    rule([pd("P1"), pd("P2", account="other")], PAGE, [], id="two-pagerduty-incidents-one-open",
         wanted=API_DOWN, opens=[("api", "partial_outage", ["P1", "P2"])]),
    rule([pd("P1")], down("api"), [sp("S1")], id="already-open-not-opened-again", wanted=API_DOWN),
    # Severity: a priority rule, else an urgency rule, else the default; the most severe incident wins.
    rule([pd("P1", priority="P1")], PAGE, [], SEVERITY, id="priority-maps",
         wanted={"api": "major_outage"}, opens=[("api", "major_outage", ["P1"])]),
    rule([pd("P1", priority="P9", urgency="low")], PAGE, [], SEVERITY, id="urgency-maps-without-a-priority-rule",
         wanted={"api": "degraded_performance"}, opens=[("api", "degraded_performance", ["P1"])]),
    rule([pd("P1", priority="P1", urgency="low")], PAGE, [], SEVERITY, id="a-priority-rule-wins-over-an-urgency-rule",
         wanted={"api": "major_outage"}, opens=[("api", "major_outage", ["P1"])]),
    rule([pd("P1", priority="P3"), pd("P2", priority="P1", status="triggered")], PAGE, [], SEVERITY,
         id="most-severe-wins", wanted={"api": "major_outage"}, opens=[("api", "major_outage", ["P1", "P2"])]),
    rule([pd("P1", priority="P1")], down("api"), [sp("S1")], SEVERITY, id="severity-change-updates-not-opens",
         wanted={"api": "major_outage"}, updates=[("S1", {"api": "major_outage"})]),
    rule([pd("P1", priority="P1", urgency="low")], PAGE, [], id="default-partial-outage-for-everything",
         wanted=API_DOWN, opens=OPEN_API),
    # Ownership: an unowned incident is never touched, nor stands in for ours, nor is undercut.
    rule([], down("api"), [sp("H1", owned=False)], id="unowned-never-touched"),
    rule([pd("P1")], down("api"), [sp("H1", owned=False)], id="unowned-does-not-stand-in-for-ours",
         wanted=API_DOWN, opens=OPEN_API),
    rule([pd("P1")], down("api", status="major_outage"), [sp("H1", owned=False)], id="persons-status-never-lowered",
         wanted={"api": "major_outage"}, opens=[("api", "major_outage", ["P1"])]),
    rule([pd("P1")], down("api", status="major_outage"), [sp("S1")], id="without-a-person-our-mapping-decides",
         wanted=API_DOWN, updates=[("S1", API_DOWN)]),
    rule([], down("api"), [sp("S1"), sp("H1", owned=False)], id="resolve-leaves-an-unowned-incidents-component",
         resolves=[("S1", "recovered", {})]),
    # Self-healing.
    rule([pd("P1")], down("api"), [sp("S2", created_at=NEWER), sp("S1", created_at=OLD), sp("S3", created_at=NEWEST)],
         id="duplicates-resolve-all-but-the-oldest", wanted=API_DOWN,
         resolves=[("S2", "duplicate", {}), ("S3", "duplicate", {})]),
    rule([pd("P1", components=("gone", "api"))], PAGE, [], id="tag-naming-a-missing-component-is-skipped",
         wanted=API_DOWN, opens=OPEN_API, skips=[("gone", ["P1"])]),
    # An adopted incident of the original tool may cover several components.
    rule([pd("P1")], down("api", "web"), [sp("S1", components=("api", "web"))],
         id="multi-component-incident-releases-what-is-no-longer-wanted",
         wanted=API_DOWN, updates=[("S1", {"web": "operational"})]),
])
def test_rules(pds, page, sps, policy, expected):
    assert outline(plan(pds, page, sps, policy)) == expected


def test_an_open_and_a_resolve_carry_the_policys_texts():
    [opened] = plan([pd("P1")], PAGE, [], POLICY).opens
    assert opened.name == "Investigating errors in API"
    assert BODY_MARKER in opened.body and "API" in opened.body
    assert opened.metadata == {METADATA_KEY: {"component_id": "api"}}
    resolved = plan([], down("api"), [sp("S1")], POLICY).resolves
    assert resolved == (Resolve("S1", POLICY.resolved_body, {"api": "operational"}, "recovered", "incident S1"),)


# --- properties ---

component_ids = st.sampled_from([*sorted(PAGE), "gone"])
pd_incidents = st.lists(
    st.builds(
        pd,
        id=st.text("ABCDEF0123", min_size=3, max_size=3),
        status=st.sampled_from(["triggered", "acknowledged"]),
        components=st.frozensets(component_ids, max_size=3),
        account=st.sampled_from(["a", "b"]),
        priority=st.sampled_from([None, "P1", "P3"]),
        urgency=st.sampled_from(["high", "low"]),
    ),
    max_size=8,
)
sp_incidents = st.lists(
    st.builds(
        sp,
        id=st.text("ghijk", min_size=4, max_size=4),
        components=st.frozensets(st.sampled_from(sorted(PAGE)), max_size=2),
        owned=st.booleans(),
        created_at=st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]),
    ),
    max_size=5,
    unique_by=lambda i: i.id,
)
page_states = st.fixed_dictionaries(
    {cid: st.sampled_from(["operational", "partial_outage", "major_outage"]) for cid in PAGE}
).map(lambda statuses: {cid: replace(c, status=statuses[cid]) for cid, c in PAGE.items()})
policies = st.sampled_from([POLICY, SEVERITY, Policy(open_on="triggered")])


def apply(result, components, incidents):
    """What Statuspage looks like after the plan's writes."""
    components = dict(components)
    incidents = {i.id: i for i in incidents}
    for n, action in enumerate(result.opens):
        incidents[f"new{n}"] = sp(f"new{n}", (action.component_id,), owned=True, created_at="2026-12-31T00:00:00Z")
        components[action.component_id] = replace(components[action.component_id], status=action.status)
    for action in (*result.updates, *result.resolves):
        for cid, status in action.components.items():
            components[cid] = replace(components[cid], status=status)
    for action in result.resolves:
        del incidents[action.incident_id]
    return components, list(incidents.values())


@settings(max_examples=400, deadline=None)
@given(pd_incidents, page_states, sp_incidents, policies)
def test_applying_the_plan_reaches_the_desired_state(pds, components, sps, policy):
    result = plan(pds, components, sps, policy)
    after_components, after_incidents = apply(result, components, sps)

    # Never touches an unowned incident.
    unowned = {i.id for i in sps if not i.owned}
    touched = {a.incident_id for a in (*result.updates, *result.resolves)}
    assert not touched & unowned
    assert [i for i in after_incidents if not i.owned] == [i for i in sps if not i.owned]

    # Exactly one owned incident per wanted component, at the wanted status. An
    # adopted incident covering several components may overlap one kept for
    # another of its components; ours always cover one.
    single_component = all(len(i.component_ids) <= 1 for i in sps if i.owned)
    for cid, wanted in result.wanted.items():
        covering = [i for i in after_incidents if i.owned and cid in i.component_ids]
        assert len(covering) == 1 if single_component else len(covering) >= 1, (cid, covering)
        assert after_components[cid].status == wanted.status
    # No owned incident left open without a wanted component.
    for incident in after_incidents:
        if incident.owned:
            assert incident.component_ids & result.wanted.keys()
    # Converged: planning again changes nothing.
    again = plan(pds, after_components, after_incidents, policy)
    assert again.writes == 0
    assert again.wanted == result.wanted
