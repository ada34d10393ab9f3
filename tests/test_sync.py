"""The sync's order of work with in-memory stand-ins: reads first, then guarded writes."""
import pytest

from pagerstatus.errors import LeaseLost, UpstreamError
from pagerstatus.models import Component, PdIncident, SpIncident
from pagerstatus.policy import Policy
from pagerstatus.sync import sync_once


class Source:
    def __init__(self, account, incidents=(), fail=False):
        self.account, self.incidents, self.fail = account, list(incidents), fail

    def open_incidents(self):
        if self.fail:
            raise UpstreamError(f"pagerduty:{self.account}", "503 after retries")
        return self.incidents


class Page:
    def __init__(self, components, incidents=(), fresh_components=None):
        self._components = components  # the instance's cached copy, until a fresh listing
        # What a fresh listing shows, when the cached list above is out of date.
        self._fresh_components = fresh_components if fresh_components is not None else components
        self._incidents = list(incidents)
        self.writes = []
        self.fresh_reads = 0

    def components(self, max_age=None):
        # A fresh listing is young enough for any later max_age but 0; the cached copy is not.
        if max_age == 0 or (max_age is not None and not self.fresh_reads):
            self.fresh_reads += 1
            self._components = self._fresh_components
        return self._components

    def unresolved_incidents(self):
        return self._incidents

    def create_incident(self, write):
        self.writes.append(("create", write))
        return f"new{len(self.writes)}"

    def update_incident(self, incident_id, write):
        self.writes.append((incident_id, write))


COMPONENTS = {"api": Component("api", "API"), "web": Component("web", "Website", "partial_outage")}
ACKED = PdIncident("a", "P1", "acknowledged", component_ids=frozenset({"api"}))
STALE = SpIncident("S1", "old", "investigating", "2026-01-01T00:00:00Z", frozenset({"web"}), owned=True)


def test_writes_open_and_resolve():
    page = Page(COMPONENTS, [STALE])
    sync_once([Source("a", [ACKED])], page, Policy(), guard=lambda: None)
    (kind, opened), (resolved_id, resolved) = page.writes
    assert kind == "create" and opened.components == {"api": "partial_outage"} and opened.status == "investigating"
    assert opened.metadata == {"pagerstatus": {"component_id": "api"}}
    assert resolved_id == "S1" and resolved.status == "resolved" and resolved.components == {"web": "operational"}
    # Both state whether subscribers hear of them (the default policy: opens and resolutions do).
    assert opened.deliver_notifications is True and resolved.deliver_notifications is True
    assert page.fresh_reads == 1  # an open reads the component list afresh (maintenance), once


def test_nothing_to_open_needs_no_fresh_component_list():
    page = Page(COMPONENTS, [STALE])
    sync_once([Source("a")], page, Policy(), guard=lambda: None)
    assert [kind for kind, _ in page.writes] == ["S1"] and page.fresh_reads == 0


def test_a_component_put_under_maintenance_since_the_cached_list_gets_no_incident():
    fresh = {**COMPONENTS, "api": Component("api", "API", "under_maintenance")}
    page = Page(COMPONENTS, fresh_components=fresh)
    result = sync_once([Source("a", [ACKED])], page, Policy(), guard=lambda: None)
    assert page.writes == [] and [s.component_id for s in result.skips] == ["api"]


def test_one_failed_account_means_no_writes_at_all():
    page = Page(COMPONENTS, [STALE])
    with pytest.raises(UpstreamError):
        sync_once([Source("a", [ACKED]), Source("b", fail=True)], page, Policy(), guard=lambda: None)
    assert page.writes == []


def test_other_accounts_incident_keeps_component_open():
    page = Page(COMPONENTS, [STALE])
    web = PdIncident("b", "P9", "acknowledged", component_ids=frozenset({"web"}))
    sync_once([Source("a"), Source("b", [web])], page, Policy(), guard=lambda: None)
    assert page.writes == []


def test_guard_runs_before_every_write_and_stops_them():
    page = Page(COMPONENTS, [STALE])
    calls = []

    def guard():
        calls.append(len(page.writes))
        if len(calls) == 2:
            raise LeaseLost("taken over")

    with pytest.raises(LeaseLost):
        sync_once([Source("a", [ACKED])], page, Policy(), guard=guard)
    assert calls == [0, 1] and len(page.writes) == 1


def test_dry_run_writes_nothing_but_plans():
    page = Page(COMPONENTS, [STALE])
    result = sync_once([Source("a", [ACKED])], page, Policy(), guard=lambda: None, dry_run=True)
    assert page.writes == [] and result.writes == 2


def test_statuses_come_from_the_unresolved_incidents_not_a_cached_component_list():
    # The component list may be an instance's copy from before our own incident
    # set API to partial_outage; the incident, read this sync, shows the status now.
    cached = {"api": Component("api", "API", "operational")}
    ours = SpIncident("S2", "ours", "investigating", "2026-01-01T00:00:00Z", frozenset({"api"}), owned=True,
                      components=(Component("api", "API", "partial_outage"),))
    page = Page(cached, [ours])
    sync_once([Source("a", [ACKED])], page, Policy(), guard=lambda: None)
    assert page.writes == []


def test_a_tag_naming_a_component_missing_from_the_cached_list_lists_the_page_afresh():
    added = Component("new", "New service")
    tagged = PdIncident("a", "P2", "acknowledged", component_ids=frozenset({"new"}))
    page = Page(COMPONENTS, fresh_components={**COMPONENTS, "new": added})
    sync_once([Source("a", [tagged])], page, Policy(), guard=lambda: None)
    assert page.fresh_reads == 1  # and none more for the open: this list is fresh
    [(kind, opened)] = page.writes
    assert kind == "create" and opened.components == {"new": "partial_outage"}
