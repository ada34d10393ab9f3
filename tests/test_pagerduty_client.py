"""PagerDutyClient against a `responses` fake of the REST API.

Every request a test sends is checked against PagerDuty's OpenAPI spec when the
test ends (the `api` fixture; without the reference material that check alone is
skipped). Retry waits are asserted in test_http.py, against urllib3's real retry
loop; `responses` emulates that loop without sleeping.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from pagerstatus.errors import UpstreamError
from pagerstatus.http import RetryPolicy, make_session
from pagerstatus.models import PdIncident
from pagerstatus.pagerduty import MAX_OFFSET_PLUS_LIMIT, PagerDutyClient, TagCache
from tests.harness.reference import pagerduty_spec, spec_checked_responses, validate_response

BASE = "https://api.pagerduty.com"
INCIDENTS = BASE + "/incidents"
KEY = "y_NbAkKc66ryYTWUXYEu"  # the shape of a PagerDuty REST API key
TRIGGERED_AT = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # the fakes' created_at
SERVICE = {"id": "PSVC", "type": "service_reference", "summary": "API", "self": f"{BASE}/services/PSVC",
           "html_url": "https://acme.pagerduty.com/service-directory/PSVC"}


def alerts_url(incident_id: str) -> str:
    return f"{INCIDENTS}/{incident_id}/alerts"


@pytest.fixture
def api():
    """The fake API; on teardown, every request sent must match the spec."""
    with spec_checked_responses(pagerduty_spec) as mock:
        yield mock


@pytest.fixture
def cache() -> TagCache:
    return TagCache()


def make_client(cache: TagCache, account: str = "main") -> PagerDutyClient:
    # No waiting in tests: the backoff is asserted in test_http.py.
    session = make_session(RetryPolicy(sleep=lambda seconds: None))
    return PagerDutyClient(account, KEY, session=session, tag_cache=cache)


@pytest.fixture
def client(cache) -> PagerDutyClient:
    return make_client(cache)


# --- realistic fakes, after the spec's examples and what Datadog/Pingdom send ---

def trigger_log_entry(incident_id: str, details) -> dict:
    return {
        "id": f"R{incident_id}LOG",
        "type": "trigger_log_entry",
        "summary": "Triggered through the API.",
        "self": f"{BASE}/log_entries/R{incident_id}LOG",
        "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}/log_entries/R{incident_id}LOG",
        "created_at": "2026-01-05T10:00:00Z",
        "channel": {"type": "api", "summary": "[Triggered] API error rate", "details": details},
        "service": SERVICE,
        "incident": {"id": incident_id, "type": "incident_reference"},
        "teams": [],
        "contexts": [],
        "event_details": {"description": "[Triggered] API error rate"},
    }


def acknowledgement(at: str) -> dict:
    return {"at": at, "acknowledger": {"id": "PUSER", "type": "user_reference", "summary": "Ops",
                                       "self": f"{BASE}/users/PUSER", "html_url": "https://acme.pagerduty.com/users/PUSER"}}


def incident(incident_id: str, status: str = "acknowledged", tags="env:prod,component:abc123",
             priority: str | None = "P1", urgency: str = "high", details=None, acknowledged=("2026-01-05T10:05:00Z",),
             ) -> dict:
    """acknowledged: the times of its acknowledgements, while it is acknowledged (PagerDuty lists none otherwise)."""
    return {
        "id": incident_id,
        "type": "incident",
        "summary": f"[#1] API error rate ({incident_id})",
        "self": f"{INCIDENTS}/{incident_id}",
        "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}",
        "incident_number": 1,
        "title": f"API error rate ({incident_id})",
        "created_at": "2026-01-05T10:00:00Z",
        "updated_at": "2026-01-05T10:05:00Z",
        "status": status,
        "incident_key": "baf7cf21b1da41b4b0221008339ff357",
        "service": SERVICE,
        "assignments": [],
        "last_status_change_at": "2026-01-05T10:05:00Z",
        "first_trigger_log_entry": trigger_log_entry(
            incident_id, details if details is not None else {"tags": tags, "query": "avg(last_5m):..."}),
        "alert_counts": {"all": 1, "triggered": 1, "resolved": 0},
        "escalation_policy": {"id": "PEP", "type": "escalation_policy_reference", "summary": "Default",
                              "self": f"{BASE}/escalation_policies/PEP",
                              "html_url": "https://acme.pagerduty.com/escalation_policies/PEP"},
        "teams": [],
        "pending_actions": [],
        "acknowledgements": [acknowledgement(at) for at in acknowledged] if status == "acknowledged" else [],
        # The real API answers null for an incident without a priority.
        "priority": None if priority is None else {
            "id": "PPRIO", "type": "priority_reference", "summary": priority, "self": f"{BASE}/priorities/PPRIO"},
        "urgency": urgency,
    }


def incidents_page(items: list[dict], offset: int = 0, more: bool = False, limit: int = 100) -> dict:
    return {"incidents": items, "limit": limit, "offset": offset, "more": more, "total": None}


def alert(alert_id: str, incident_id: str, details=None, cef_tags=None) -> dict:
    body: dict = {"type": "alert_body", "contexts": [], "details": details if details is not None else {}}
    if cef_tags is not None:
        body["cef_details"] = {"details": {"tags": cef_tags}}
    return {
        "id": alert_id,
        "type": "alert",
        "summary": "Uptime check failed",
        "self": f"{alerts_url(incident_id)}/{alert_id}",
        "html_url": f"https://acme.pagerduty.com/alerts/{alert_id}",
        "created_at": "2026-01-05T10:00:00Z",
        "status": "triggered",
        "alert_key": "pingdom-1234",
        "service": SERVICE,
        "body": body,
        "incident": {"id": incident_id, "type": "incident_reference"},
        "suppressed": False,
        "severity": "critical",
    }


def alerts_page(items: list[dict], offset: int = 0, more: bool = False) -> dict:
    return {"alerts": items, "limit": 100, "offset": offset, "more": more, "total": None}


def query(sent) -> dict[str, list[str]]:
    """The query of a request, or of a call's request."""
    return parse_qs(urlsplit(getattr(sent, "request", sent).url).query)


# --- the fakes are what the spec describes ---

def test_fake_bodies_match_the_spec():
    listed = incidents_page([
        incident("PDATADOG"),
        incident("PPINGDOM", tags=["component_abc123"], priority=None),  # the API's null priority
        incident("PMANUAL", details="Oh my gosh"),
    ])
    validate_response(pagerduty_spec(), "GET", INCIDENTS, 200, listed)
    validate_response(pagerduty_spec(), "GET", alerts_url("PMANUAL"), 200, alerts_page([
        alert("A1", "PMANUAL", details={"tags": ["component_abc123"]}),
        alert("A2", "PMANUAL", cef_tags="component:abc123"),
    ]))


# --- reading incidents ---

def test_open_incidents_asks_for_every_open_incident_with_its_trigger_and_maps_each(api, client):
    api.get(INCIDENTS, json=incidents_page([
        incident("PDATADOG", status="triggered", tags="env:prod, component:ABC123,component:def456", priority="P1"),
        incident("PPINGDOM", tags=["component_ghi789", "x"], priority=None, urgency="low"),
    ]))
    assert client.open_incidents() == [
        PdIncident("main", "PDATADOG", "triggered", title="API error rate (PDATADOG)", urgency="high",
                   priority="P1", component_ids=frozenset({"abc123", "def456"}),
                   html_url="https://acme.pagerduty.com/incidents/PDATADOG", created_at=TRIGGERED_AT),
        PdIncident("main", "PPINGDOM", "acknowledged", title="API error rate (PPINGDOM)", urgency="low",
                   priority=None, component_ids=frozenset({"ghi789"}),
                   html_url="https://acme.pagerduty.com/incidents/PPINGDOM", created_at=TRIGGERED_AT,
                   acknowledged_at=datetime(2026, 1, 5, 10, 5, tzinfo=UTC)),
    ]
    [call] = api.calls  # tags in the trigger: no alerts read
    assert query(call) == {
        "statuses[]": ["triggered", "acknowledged"],
        "include[]": ["first_trigger_log_entries"],
        "date_range": ["all"],  # else PagerDuty lists only the last month
        "limit": ["100"],
        "offset": ["0"],
        "total": ["true"],  # so that the pages after the first can be read together
    }
    assert call.request.headers["Authorization"] == f"Token token={KEY}"
    assert call.request.headers["Accept"] == "application/vnd.pagerduty+json;version=2"


@pytest.mark.parametrize(("acknowledged", "expected"), [
    (("2026-01-05T10:07:00Z", "2026-01-05T10:03:00+00:00"), datetime(2026, 1, 5, 10, 3, tzinfo=UTC)),  # the first
    ((), datetime(2026, 1, 5, 10, 5, tzinfo=UTC)),  # none listed: when its status last changed
], ids=["earliest-of-several", "last-status-change"])
def test_an_acknowledged_incident_counts_from_its_first_acknowledgement(api, client, acknowledged, expected):
    api.get(INCIDENTS, json=incidents_page([incident("PACK", acknowledged=acknowledged)]))
    [found] = client.open_incidents()
    assert (found.created_at, found.acknowledged_at) == (TRIGGERED_AT, expected)


def counted_list(everything: list[dict], fail_at: int | None = None):
    """A callback answering pages of `everything` as PagerDuty does: `total` only when asked
    for; the page at offset fail_at answers 500."""
    def answer(request):
        asked = query(request)
        offset, limit = int(asked["offset"][0]), int(asked["limit"][0])
        if offset == fail_at:
            return 500, {}, json.dumps({"error": {"message": "Internal error", "code": 2001}})
        body = incidents_page(everything[offset:offset + limit], offset, offset + limit < len(everything), limit)
        body["total"] = len(everything) if asked.get("total") == ["true"] else None
        return 200, {}, json.dumps(body)
    return answer


@pytest.mark.parametrize("count", [250, 300, 100, 0])
def test_with_the_total_the_pages_after_the_first_are_read_together_and_exactly(api, client, count):
    everything = [incident(f"P{n:05d}") for n in range(count)]
    api.add_callback(responses.GET, INCIDENTS, callback=counted_list(everything))
    assert [i.id for i in client.open_incidents()] == [i["id"] for i in everything]
    asked = sorted((int(query(c)["offset"][0]), int(query(c)["limit"][0]), query(c).get("total")) for c in api.calls)
    # Only the first asks for the total; the last asks for no more than is left; no empty page at the end.
    expected = [(0, 100, ["true"])] + [(offset, min(100, count - offset), None) for offset in range(100, count, 100)]
    assert asked == expected


def test_a_list_longer_than_pagerdutys_cap_is_refused_after_its_first_page(api, client):
    api.add_callback(responses.GET, INCIDENTS, callback=counted_list(
        [incident(f"P{n:05d}") for n in range(MAX_OFFSET_PLUS_LIMIT + 1)]))
    with pytest.raises(UpstreamError, match=f"more than {MAX_OFFSET_PLUS_LIMIT} incidents"):
        client.open_incidents()
    assert len(api.calls) == 1


def test_a_page_failing_among_the_parallel_reads_fails_the_whole_read(api, cache):
    everything = [incident(f"P{n:05d}") for n in range(2000)]
    api.add_callback(responses.GET, INCIDENTS, callback=counted_list(everything, fail_at=300))
    client = PagerDutyClient("main", KEY, session=make_session(RetryPolicy(0)), tag_cache=cache, readers=2)
    with pytest.raises(UpstreamError, match="GET /incidents answered 500"):
        client.open_incidents()
    # Two at a time, no retries: the 16 pages after the failed one were not all read.
    assert len(api.calls) < 20


def test_open_incidents_follows_more_across_pages(api, client):
    everything = [incident(f"P{n:05d}") for n in range(250)]
    for offset in (0, 100, 200):
        api.get(INCIDENTS, match=[responses.matchers.query_param_matcher({"offset": str(offset)}, strict_match=False)],
                json=incidents_page(everything[offset:offset + 100], offset, more=offset < 200))
    assert [i.id for i in client.open_incidents()] == [i["id"] for i in everything]
    assert [query(call)["offset"] for call in api.calls] == [["0"], ["100"], ["200"]]


def test_a_list_is_read_up_to_pagerdutys_cap_and_refused_beyond_it(api, client):
    beyond_the_cap = False

    def full_page(request):
        offset = int(query(request)["offset"][0])
        more = beyond_the_cap or offset + 100 < MAX_OFFSET_PLUS_LIMIT
        return 200, {}, json.dumps(incidents_page([incident(f"P{offset + n:05d}") for n in range(100)], offset, more))

    api.add_callback(responses.GET, INCIDENTS, callback=full_page)
    assert len(client.open_incidents()) == MAX_OFFSET_PLUS_LIMIT  # a list ending exactly at the cap is complete
    api.calls.reset()
    beyond_the_cap = True
    with pytest.raises(UpstreamError, match=f"more than {MAX_OFFSET_PLUS_LIMIT} incidents") as caught:
        client.open_incidents()
    assert caught.value.service == "pagerduty:main"
    offsets_and_limits = [(int(query(c)["offset"][0]), int(query(c)["limit"][0])) for c in api.calls]
    assert len(offsets_and_limits) == MAX_OFFSET_PLUS_LIMIT // 100
    assert max(offset + limit for offset, limit in offsets_and_limits) == MAX_OFFSET_PLUS_LIMIT


# --- tags from the alerts, when the trigger has none ---

def test_without_component_tags_in_the_trigger_the_alerts_are_read(api, client):
    api.get(INCIDENTS, json=incidents_page([
        incident("PMANUAL", details="Oh my gosh"),  # a web trigger: details is a string
        incident("PNOTAGS", tags="env:prod,team:x"),
    ]))
    api.get(alerts_url("PMANUAL"), json=alerts_page([
        alert("A1", "PMANUAL", details={"tags": "env:prod,component:abc123"}),
        alert("A2", "PMANUAL", cef_tags=["component_def456"]),
    ]))
    api.get(alerts_url("PNOTAGS"), json=alerts_page([alert("A3", "PNOTAGS", details="plain text")]))
    assert {i.id: i.component_ids for i in client.open_incidents()} == {
        "PMANUAL": {"abc123", "def456"},
        "PNOTAGS": frozenset(),
    }
    assert query(api.calls[1]) == {"limit": ["100"], "offset": ["0"], "total": ["true"]}


def test_the_alerts_are_read_across_pages(api, client):
    api.get(INCIDENTS, json=incidents_page([incident("PX", details="manual")]))
    api.get(alerts_url("PX"), match=[responses.matchers.query_param_matcher({"offset": "0"}, strict_match=False)],
            json=alerts_page([alert(f"A{n}", "PX") for n in range(100)], more=True))
    api.get(alerts_url("PX"), match=[responses.matchers.query_param_matcher({"offset": "100"}, strict_match=False)],
            json=alerts_page([alert("ALAST", "PX", details={"tags": ["component_abc123"]})], offset=100))
    [found] = client.open_incidents()
    assert found.component_ids == {"abc123"}


def test_the_tag_cache_keeps_accounts_apart(api, cache):
    api.get(INCIDENTS, json=incidents_page([incident("PX", details="manual")]))
    api.get(alerts_url("PX"), json=alerts_page([alert("A1", "PX", details={"tags": "component:abc123"})]))
    make_client(cache, "main").open_incidents()
    make_client(cache, "other").open_incidents()
    assert sum(urlsplit(c.request.url).path == "/incidents/PX/alerts" for c in api.calls) == 2


def test_the_tag_cache_forgets_incidents_no_longer_open(api, cache):
    api.get(INCIDENTS, json=incidents_page([incident("PX", details="manual"), incident("PY", details="manual")]))
    api.get(INCIDENTS, json=incidents_page([incident("PY", details="manual")]))
    api.get(alerts_url("PX"), json=alerts_page([alert("A1", "PX", details={"tags": "component:abc123"})]))
    api.get(alerts_url("PY"), json=alerts_page([alert("A2", "PY", details={"tags": "component:def456"})]))
    cache.put(("other", "PX"), frozenset({"zzz"}))  # another account's entry is not this read's business
    make_client(cache).open_incidents()
    assert len(cache) == 3
    make_client(cache).open_incidents()  # PX resolved meanwhile
    assert cache.get(("main", "PX")) is None and cache.get(("main", "PY")) == {"def456"}
    assert cache.get(("other", "PX")) == {"zzz"}


def test_alert_tags_are_read_for_every_incident_once(api, cache):
    ids = [f"P{n:04d}" for n in range(120)]
    for start in range(0, 120, 100):
        api.get(INCIDENTS, match=[responses.matchers.query_param_matcher({"offset": str(start)}, strict_match=False)],
                json=incidents_page([incident(i, details="manual") for i in ids[start:start + 100]],
                                    start, more=start + 100 < 120))
    for i in ids[:-1]:
        api.get(alerts_url(i), json=alerts_page([alert("A" + i, i, details={"tags": f"component:c{i.lower()}"})]))
    api.get(alerts_url(ids[-1]), json=alerts_page([alert("ALAST", ids[-1])]))  # no component: cached as none
    first = make_client(cache).open_incidents()
    assert {i.id: i.component_ids for i in first} == {**{i: {f"c{i.lower()}"} for i in ids[:-1]}, ids[-1]: set()}
    calls = len(api.calls)
    assert make_client(cache).open_incidents() == first  # a later webhook: a new client, the same cache
    assert len(api.calls) - calls == 2  # only the two incident pages


# --- retries ---

@pytest.mark.parametrize("first", [
    {"status": 429, "headers": {"Retry-After": "1"}, "json": {"error": {"message": "Rate limit"}}},
    {"status": 503, "body": "upstream unavailable"},
], ids=["rate-limited", "server-error"])
def test_a_refused_read_is_retried(api, client, first):
    api.get(INCIDENTS, **first)
    api.get(INCIDENTS, json=incidents_page([incident("PX")]))
    assert [i.id for i in client.open_incidents()] == ["PX"]
    assert len(api.calls) == 2


# --- failures: an UpstreamError naming the account, never the key ---

@pytest.mark.parametrize(("answer", "problem", "calls"), [
    ({"status": 500, "json": {"error": {"message": "Internal error", "code": 2001}}},
     "^pagerduty:main: GET /incidents answered 500: ", RetryPolicy.MAX_RETRIES + 1),  # after the retries
    ({"status": 401, "json": {"error": {"message": f"Unauthorized: Token token={KEY}", "code": 2006}}},
     "answered 401", 1),
    ({"status": 429, "headers": {"ratelimit-reset": "40"}, "json": {"error": {"message": "Rate limit"}}},
     "GET /incidents answered 429", 1),  # asked to wait too long: fails at once
    ({"body": requests.ConnectionError("connection reset")}, "ConnectionError: connection reset", 1),
    ({"body": "<html>Service Unavailable</html>"}, "not JSON", 1),
    ({"json": {"limit": 100, "offset": 0, "more": False}}, "no 'incidents' list", 1),
    ({"json": [1, 2]}, "no 'incidents' list", 1),
    ({"json": incidents_page([{"status": "triggered"}])}, "without an id", 1),
    ({"json": incidents_page([{"id": "PX", "status": "resolved"}])}, "open status", 1),
    ({"json": incidents_page([], more=True)}, "an empty page with more to come", 1),
])
def test_a_failed_read_raises_upstream_error(api, client, answer, problem, calls):
    api.get(INCIDENTS, **answer)
    with pytest.raises(UpstreamError, match=problem) as caught:
        client.open_incidents()
    assert caught.value.service == "pagerduty:main"
    assert KEY not in str(caught.value) and KEY not in caught.value.detail
    assert len(api.calls) == calls
    assert KEY not in repr(client) and "main" in repr(client)


def test_a_failure_reading_alerts_fails_the_whole_read(api, client):
    api.get(INCIDENTS, json=incidents_page([incident("PX", details="manual")]))
    api.get(alerts_url("PX"), status=404, json={"error": {"message": "Not Found", "code": 2100}})
    with pytest.raises(UpstreamError, match="GET /incidents/PX/alerts answered 404"):
        client.open_incidents()
