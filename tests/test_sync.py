"""A sync round with in-memory stand-ins: reads first, then guarded writes, page by page."""
import json
import threading

import pytest

from pagerstatus.errors import ConfigError, LeaseLost, UpstreamError
from pagerstatus.models import Component, PdIncident, SpIncident
from pagerstatus.policy import Policy
from pagerstatus.sync import sync_round


class Source:
    def __init__(self, account, incidents=(), fail=False):
        self.account, self.incidents, self.fail = account, list(incidents), fail
        self.reads = 0

    def open_incidents(self):
        self.reads += 1
        if self.fail:
            raise UpstreamError(f"pagerduty:{self.account}", "503 after retries")
        return self.incidents


class Page:
    def __init__(self, components, incidents=(), fresh_components=None, fail=None):
        self._components = components  # the instance's cached copy, until a fresh listing
        # What a fresh listing shows, when the cached list above is out of date.
        self._fresh_components = fresh_components if fresh_components is not None else components
        self._incidents = list(incidents)
        self.fail = fail or {}  # method name -> the error it raises
        self.writes = []
        self.fresh_reads = 0

    def _failing(self, method):
        if method in self.fail:
            raise self.fail[method]

    def components(self, max_age=None):
        self._failing("components")
        # A fresh listing is young enough for any later max_age but 0; the cached copy is not.
        if max_age == 0 or (max_age is not None and not self.fresh_reads):
            self.fresh_reads += 1
            self._components = self._fresh_components
        return self._components

    def unresolved_incidents(self):
        self._failing("unresolved_incidents")
        return self._incidents

    def create_incident(self, write):
        self._failing("create_incident")
        self.writes.append(("create", write))
        return f"new{len(self.writes)}"

    def update_incident(self, incident_id, write):
        self.writes.append((incident_id, write))


def run(sources, pages, guards=None, every_page=True, dry_run=False, **options):
    """One round over pages (page id -> Page): every page, unguarded, unless told otherwise."""
    guards = guards if guards is not None else dict.fromkeys(pages, lambda: None)
    return sync_round(sources, pages.__getitem__, guards, Policy(), every_page=every_page, dry_run=dry_run, **options)


COMPONENTS = {"api": Component("api", "API"), "web": Component("web", "Website", "partial_outage")}
ACKED = PdIncident("a", "P1", "acknowledged", component_ids=frozenset({"api"}))
STALE = SpIncident("S1", "old", "investigating", "2026-01-01T00:00:00Z", frozenset({"web"}), owned=True)


def test_writes_open_and_resolve():
    page = Page(COMPONENTS, [STALE])
    result = run([Source("a", [ACKED])], {"p1": page})
    (kind, opened), (resolved_id, resolved) = page.writes
    assert kind == "create" and opened.components == {"api": "partial_outage"} and opened.status == "investigating"
    assert opened.metadata == {"pagerstatus": {"component_id": "api"}}
    assert resolved_id == "S1" and resolved.status == "resolved" and resolved.components == {"web": "operational"}
    # Both state whether subscribers hear of them (the default policy: opens and resolutions do).
    assert opened.deliver_notifications is True and resolved.deliver_notifications is True
    assert page.fresh_reads == 1  # an open reads the component list afresh (maintenance), once
    assert set(result.plans) == {"p1"} and result.failures == {} and result.skips == ()


def test_nothing_to_open_needs_no_fresh_component_list():
    page = Page(COMPONENTS, [STALE])
    run([Source("a")], {"p1": page})
    assert [kind for kind, _ in page.writes] == ["S1"] and page.fresh_reads == 0


def test_a_component_put_under_maintenance_since_the_cached_list_gets_no_incident():
    fresh = {**COMPONENTS, "api": Component("api", "API", "under_maintenance")}
    page = Page(COMPONENTS, fresh_components=fresh)
    result = run([Source("a", [ACKED])], {"p1": page})
    assert page.writes == [] and [s.component_id for s in result.plans["p1"].skips] == ["api"]
    assert result.skips == ()  # held on its page, not a tag on no page


def test_one_failed_account_means_no_writes_on_any_page():
    pages = {"p1": Page(COMPONENTS, [STALE]), "p2": Page({"db": Component("db", "DB")})}
    with pytest.raises(UpstreamError):
        run([Source("a", [ACKED]), Source("b", fail=True)], pages)
    assert [page.writes for page in pages.values()] == [[], []]


def test_other_accounts_incident_keeps_component_open():
    page = Page(COMPONENTS, [STALE])
    web = PdIncident("b", "P9", "acknowledged", component_ids=frozenset({"web"}))
    run([Source("a"), Source("b", [web])], {"p1": page})
    assert page.writes == []


def test_guard_runs_before_every_write_and_stops_that_pages_writes():
    page = Page(COMPONENTS, [STALE])
    calls = []

    def guard():
        calls.append(len(page.writes))
        if len(calls) == 2:
            raise LeaseLost("taken over")

    result = run([Source("a", [ACKED])], {"p1": page}, guards={"p1": guard}, writes_in_flight=1)
    assert calls == [0, 1] and len(page.writes) == 1
    assert isinstance(result.failures["p1"], LeaseLost) and result.plans == {}


def test_dry_run_writes_nothing_but_plans():
    page = Page(COMPONENTS, [STALE])
    result = run([Source("a", [ACKED])], {"p1": page}, dry_run=True)
    assert page.writes == [] and result.plans["p1"].writes == 2


def test_statuses_come_from_the_unresolved_incidents_not_a_cached_component_list():
    # The component list may be an instance's copy from before our own incident
    # set API to partial_outage; the incident, read this sync, shows the status now.
    cached = {"api": Component("api", "API", "operational")}
    ours = SpIncident("S2", "ours", "investigating", "2026-01-01T00:00:00Z", frozenset({"api"}), owned=True,
                      components=(Component("api", "API", "partial_outage"),))
    page = Page(cached, [ours])
    run([Source("a", [ACKED])], {"p1": page})
    assert page.writes == []


def test_a_tag_naming_a_component_missing_from_the_cached_lists_lists_the_pages_afresh():
    added = Component("new", "New service")
    tagged = PdIncident("a", "P2", "acknowledged", component_ids=frozenset({"new"}))
    first, second = Page(COMPONENTS), Page({"db": Component("db", "DB")}, fresh_components={"new": added})
    run([Source("a", [tagged])], {"p1": first, "p2": second})
    assert (first.fresh_reads, second.fresh_reads) == (1, 1)  # and none more for the open: this list is fresh
    [(kind, opened)] = second.writes
    assert kind == "create" and opened.components == {"new": "partial_outage"} and first.writes == []


# -- several pages ---------------------------------------------------------------------------

PAGE_2 = {"db": Component("db", "Database"), "queue": Component("queue", "Queue")}


def test_a_tag_goes_to_the_page_that_has_the_component_and_pagerduty_is_read_once():
    source = Source("a", [ACKED, PdIncident("a", "P2", "acknowledged", component_ids=frozenset({"queue"}))])
    first, second = Page(COMPONENTS), Page(PAGE_2)
    result = run([source], {"p1": first, "p2": second})
    assert [write.components for _, write in first.writes] == [{"api": "partial_outage"}]
    assert [write.components for _, write in second.writes] == [{"queue": "partial_outage"}]
    assert source.reads == 1 and result.failures == {} and result.skips == ()


def test_one_incident_tagged_on_two_pages_opens_one_incident_on_each():
    both = PdIncident("a", "P3", "acknowledged", component_ids=frozenset({"api", "db"}))
    first, second = Page(COMPONENTS), Page(PAGE_2)
    run([Source("a", [both])], {"p1": first, "p2": second})
    assert [(kind, write.components) for kind, write in first.writes] == [("create", {"api": "partial_outage"})]
    assert [(kind, write.components) for kind, write in second.writes] == [("create", {"db": "partial_outage"})]


@pytest.mark.parametrize("failing", ["components", "unresolved_incidents"])
def test_a_page_that_cannot_be_read_gets_no_write_and_the_other_page_is_synced(failing):
    both = PdIncident("a", "P3", "acknowledged", component_ids=frozenset({"api", "db"}))
    broken = UpstreamError("statuspage", "GET /pages/p2/incidents/unresolved answered 500")
    first, second = Page(COMPONENTS), Page(PAGE_2, fail={failing: broken})
    result = run([Source("a", [both])], {"p1": first, "p2": second})
    assert result.failures == {"p2": broken} and set(result.plans) == {"p1"}
    assert second.writes == [] and [write.components for _, write in first.writes] == [{"api": "partial_outage"}]


def test_a_page_whose_key_cannot_be_read_or_whose_write_fails_does_not_hold_back_the_other():
    both = PdIncident("a", "P3", "acknowledged", component_ids=frozenset({"api", "db", "queue"}))
    refused = UpstreamError("statuspage", "POST answered 500")
    first, second = Page(COMPONENTS, fail={"create_incident": refused}), Page(PAGE_2)
    result = run([Source("a", [both])], {"p1": first, "p2": second})
    assert result.failures == {"p1": refused} and len(second.writes) == 2

    blank = ConfigError("STATUSPAGE_KEY_P1: set but blank")

    def open_page(page_id):
        if page_id == "p1":
            raise blank
        return second

    second.writes.clear()
    result = sync_round([Source("a", [both])], open_page, dict.fromkeys(["p1", "p2"], lambda: None), Policy(),
                        every_page=True)
    assert result.failures == {"p1": blank} and len(second.writes) == 2


def skip_lines(out: str) -> list[dict]:
    return [entry for entry in map(json.loads, filter(None, out.splitlines())) if entry.get("action") == "skip"]


def test_a_tag_on_no_page_is_logged_once_and_a_tag_on_another_page_never(capsys):
    tagged = PdIncident("a", "P4", "acknowledged", component_ids=frozenset({"api", "db", "nowhere"}))
    result = run([Source("a", [tagged])], {"p1": Page(COMPONENTS), "p2": Page(PAGE_2)})
    assert [skip.component_id for skip in result.skips] == ["nowhere"]
    lines = skip_lines(capsys.readouterr().out)
    assert [(line["component"], line["pd_incidents"], line["severity"]) for line in lines] == [
        ("nowhere", ["a/P4"], "WARNING")]


@pytest.mark.parametrize("case", ["another holder has a page", "a page could not be read"])
def test_a_tag_is_not_called_on_no_page_unless_every_page_was_planned(capsys, case):
    # db is on p2: while p2 is not planned in this round, the tag may be on it.
    tagged = PdIncident("a", "P5", "acknowledged", component_ids=frozenset({"db"}))
    if case == "another holder has a page":
        result = run([Source("a", [tagged])], {"p1": Page(COMPONENTS)}, every_page=False)
    else:
        broken = Page(PAGE_2, fail={"unresolved_incidents": UpstreamError("statuspage", "500")})
        result = run([Source("a", [tagged])], {"p1": Page(COMPONENTS), "p2": broken})
    assert result.skips == () and skip_lines(capsys.readouterr().out) == []


# -- writes in parallel ----------------------------------------------------------------------

MANY = {f"c{n:02d}": Component(f"c{n:02d}", f"Component {n}") for n in range(20)}
ON_ALL = PdIncident("a", "P6", "acknowledged", component_ids=frozenset(MANY))


class ParallelPage(Page):
    """Records each create with the thread that sent it; `guarded` marks a thread whose guard
    ran since its last write. fail_on: the nth create (from 1) raises; the others started with
    it wait until it has, so that they are in flight when it fails."""

    def __init__(self, fail_on=None):
        super().__init__(MANY)
        self.fail_on, self.attempts, self.failed = fail_on, 0, threading.Event()
        self.guarded = threading.local()
        self.unguarded_writes = 0
        self._mutex = threading.Lock()

    def guard(self):
        self.guarded.ok = True

    def create_incident(self, write):
        with self._mutex:
            self.attempts += 1
            attempt = self.attempts
            if not getattr(self.guarded, "ok", False):
                self.unguarded_writes += 1
            self.guarded.ok = False
        if attempt == self.fail_on:
            self.failed.set()
            raise UpstreamError("statuspage", "POST answered 500")
        if self.fail_on is not None:
            self.failed.wait(10)  # a safety net only: the failing write is among those in flight
        with self._mutex:
            self.writes.append(("create", write))
        return f"new{attempt}"


def test_parallel_writes_each_pass_the_guard_right_before_they_go():
    page = ParallelPage()
    result = run([Source("a", [ON_ALL])], {"p1": page}, guards={"p1": page.guard}, writes_in_flight=8)
    assert len(page.writes) == 20 and page.unguarded_writes == 0 and result.failures == {}


def test_a_failed_write_among_parallel_ones_starts_no_new_write_and_fails_the_page(capsys):
    page = ParallelPage(fail_on=2)
    result = run([Source("a", [ON_ALL])], {"p1": page}, writes_in_flight=4)
    assert isinstance(result.failures["p1"], UpstreamError) and result.plans == {}
    # At most the 4 in flight were tried, not the 20 planned; those that went out are logged.
    assert page.attempts <= 4 and len(page.writes) == page.attempts - 1
    opened = [line for line in map(json.loads, filter(None, capsys.readouterr().out.splitlines()))
              if line.get("action") == "open"]
    assert sorted(line["incident"] for line in opened) == sorted(f"new{n}" for n in range(1, page.attempts + 1)
                                                                 if n != 2)


def test_a_lost_lease_among_parallel_writes_starts_no_new_write():
    page = ParallelPage()
    calls = []

    def guard():
        calls.append(1)
        if len(calls) == 3:
            raise LeaseLost("taken over")
        page.guard()

    result = run([Source("a", [ON_ALL])], {"p1": page}, guards={"p1": guard}, writes_in_flight=4)
    assert isinstance(result.failures["p1"], LeaseLost)
    assert len(calls) <= 4 + 2 and len(page.writes) < len(calls) and page.unguarded_writes == 0
