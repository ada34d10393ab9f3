"""The reconcile core with plain values: a table of rules, then properties."""
from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from pagerstatus.models import Component, PdIncident, SpIncident
from pagerstatus.ownership import BODY_MARKER, METADATA_KEY
from pagerstatus.reconcile import Policy, Resolve, SeverityMap, Update, plan

PAGE = {
    "api": Component("api", "API"),
    "web": Component("web", "Website"),
    "db": Component("db", "Database"),
}
POLICY = Policy()


def pd(id, status="acknowledged", components=("api",), account="main", priority=None, urgency="high"):
    return PdIncident(account, id, status, title=f"incident {id}", urgency=urgency, priority=priority,
                      component_ids=frozenset(components))


def sp(id, components=("api",), owned=True, created_at="2026-01-01T00:00:00Z"):
    return SpIncident(id, f"incident {id}", "investigating", created_at, frozenset(components), owned)


def down(*ids, status="partial_outage"):
    return {cid: replace(c, status=status) if cid in ids else c for cid, c in PAGE.items()}


# --- rule 2: open on acknowledge, resolve only when nothing open carries it ---

def test_triggered_incident_does_not_open_by_default():
    result = plan([pd("P1", status="triggered")], PAGE, [], POLICY)
    assert result.opens == () and result.wanted == {}


def test_acknowledged_incident_opens_its_component():
    result = plan([pd("P1")], PAGE, [], POLICY)
    assert [o.component_id for o in result.opens] == ["api"]
    opened = result.opens[0]
    assert opened.status == "partial_outage"
    assert opened.name == "Investigating errors in API"
    assert BODY_MARKER in opened.body and "API" in opened.body
    assert opened.metadata == {METADATA_KEY: {"component_id": "api"}}
    assert [i.id for i in opened.pd_incidents] == ["P1"]


def test_open_on_triggered_opens_on_trigger():
    result = plan([pd("P1", status="triggered")], PAGE, [], Policy(open_on="triggered"))
    assert [o.component_id for o in result.opens] == ["api"]


def test_retriggered_incident_keeps_the_open_component_open():
    # An ack timeout moves P1 back to triggered: the page must not flap.
    result = plan([pd("P1", status="triggered")], down("api"), [sp("S1")], POLICY)
    assert result.writes == 0
    assert "api" in result.wanted


def test_component_resolves_when_no_open_incident_carries_it():
    result = plan([], down("api"), [sp("S1")], POLICY)
    assert result.resolves == (Resolve("S1", POLICY.resolved_body, {"api": "operational"}, "recovered", "incident S1"),)


def test_incident_on_other_component_does_not_keep_it_open():
    result = plan([pd("P1", components=("web",))], down("api"), [sp("S1")], POLICY)
    assert [r.incident_id for r in result.resolves] == ["S1"]
    assert [o.component_id for o in result.opens] == ["web"]


# --- rule 1: desired state from every account ---

def test_incident_from_another_account_keeps_component_open():
    incidents = [pd("P1", account="other")]
    result = plan(incidents, down("api"), [sp("S1")], POLICY)
    assert result.writes == 0


# --- rule 4: one incident per component, many at once ---

def test_many_components_each_get_their_own_incident():
    result = plan([pd("P1", components=("api", "web")), pd("P2", components=("db",))], PAGE, [], POLICY)
    assert sorted(o.component_id for o in result.opens) == ["api", "db", "web"]


def test_two_pagerduty_incidents_on_one_component_open_one_statuspage_incident():
    result = plan([pd("P1"), pd("P2", account="other")], PAGE, [], POLICY)
    assert len(result.opens) == 1
    assert {i.id for i in result.opens[0].pd_incidents} == {"P1", "P2"}


def test_already_open_component_is_not_opened_again():
    assert plan([pd("P1")], down("api"), [sp("S1")], POLICY).writes == 0


# --- rule 5: severity, highest wins ---

SEVERITY = Policy(severity=SeverityMap({"p1": "major_outage", "p3": "degraded_performance",
                                        "low": "degraded_performance"}))


def test_priority_maps_to_component_status():
    result = plan([pd("P1", priority="P1")], PAGE, [], SEVERITY)
    assert result.opens[0].status == "major_outage"


def test_urgency_maps_when_priority_has_no_rule():
    result = plan([pd("P1", priority="P9", urgency="low")], PAGE, [], SEVERITY)
    assert result.opens[0].status == "degraded_performance"


def test_most_severe_incident_wins():
    incidents = [pd("P1", priority="P3"), pd("P2", priority="P1", status="triggered")]
    result = plan(incidents, PAGE, [], SEVERITY)
    assert result.opens[0].status == "major_outage"


def test_severity_change_updates_the_open_incident_instead_of_opening_another():
    result = plan([pd("P1", priority="P1")], down("api"), [sp("S1")], SEVERITY)
    assert result.opens == ()
    assert [(u.incident_id, u.components) for u in result.updates] == [("S1", {"api": "major_outage"})]


def test_default_is_partial_outage_for_everything():
    result = plan([pd("P1", priority="P1", urgency="low")], PAGE, [], POLICY)
    assert result.opens[0].status == "partial_outage"


# --- rule 6: ownership ---

def test_unowned_incident_is_never_touched():
    unowned = sp("H1", owned=False)
    result = plan([], down("api"), [unowned], POLICY)
    assert result.writes == 0


def test_unowned_incident_does_not_stand_in_for_ours():
    result = plan([pd("P1")], down("api"), [sp("H1", owned=False)], POLICY)
    assert [o.component_id for o in result.opens] == ["api"]


def test_status_set_by_a_persons_incident_is_never_lowered():
    page = down("api", status="major_outage")
    result = plan([pd("P1")], page, [sp("H1", owned=False)], POLICY)
    assert [(o.component_id, o.status) for o in result.opens] == [("api", "major_outage")]
    assert result.wanted["api"].status == "major_outage"
    # Without a person's incident on it, our own mapping decides.
    assert plan([pd("P1")], page, [sp("S1")], POLICY).updates[0].components == {"api": "partial_outage"}


def test_resolve_leaves_component_of_unowned_incident_as_it_is():
    result = plan([], down("api"), [sp("S1"), sp("H1", owned=False)], POLICY)
    assert result.resolves == (Resolve("S1", POLICY.resolved_body, {}, "recovered", "incident S1"),)


# --- rule 7: self-healing ---

def test_duplicates_resolve_all_but_the_oldest():
    incidents = [sp("S2", created_at="2026-01-02T00:00:00Z"), sp("S1"), sp("S3", created_at="2026-01-03T00:00:00Z")]
    result = plan([pd("P1")], down("api"), incidents, POLICY)
    assert result.opens == () and result.updates == ()
    assert [(r.incident_id, r.reason, r.components) for r in result.resolves] == [
        ("S2", "duplicate", {}),
        ("S3", "duplicate", {}),
    ]


def test_tag_naming_missing_component_is_skipped():
    result = plan([pd("P1", components=("gone", "api"))], PAGE, [], POLICY)
    assert [o.component_id for o in result.opens] == ["api"]
    assert [(s.component_id, [i.id for i in s.pd_incidents]) for s in result.skips] == [("gone", ["P1"])]


def test_multi_component_incident_releases_components_no_longer_wanted():
    # An adopted incident of the original tool may cover several components.
    result = plan([pd("P1", components=("api",))], down("api", "web"), [sp("S1", components=("api", "web"))], POLICY)
    assert result.updates == (Update("S1", {"web": "operational"}, result.updates[0].pd_incidents),)


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
