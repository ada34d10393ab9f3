"""StatuspageClient against a `responses` fake of the REST API.

Every request a test sends is checked against Statuspage's OpenAPI spec when the
test ends (the `api` fixture; without the reference material that check alone is
skipped). Retry waits are asserted in test_http.py, against urllib3's real retry
loop; `responses` emulates that loop without sleeping.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from pagerstatus import statuspage
from pagerstatus.errors import UpstreamError
from pagerstatus.http import Deadline, RetryPolicy, TokenBucket, make_session
from pagerstatus.models import Component, IncidentWrite, SpIncident
from pagerstatus.ownership import LEGACY_WATERMARK, METADATA_KEY
from pagerstatus.statuspage import MAX_PAGES, StatuspageClient
from tests.harness.clock import FakeClock
from tests.harness.reference import spec_checked_responses, statuspage_spec, validate_response

BASE = "https://api.statuspage.io/v1"
PAGE = "kctbh9vrtdwd"
COMPONENTS = f"{BASE}/pages/{PAGE}/components"
INCIDENTS = f"{BASE}/pages/{PAGE}/incidents"
UNRESOLVED = f"{INCIDENTS}/unresolved"
KEY = "89a229ce1a8dbcf9ff30430fbe35eb4c0426574bca932061892cefd2138aa4b1"  # the spec's example shape


@pytest.fixture
def api():
    """The fake API; on teardown, every request sent must match the spec."""
    with spec_checked_responses(statuspage_spec) as mock:
        yield mock


@pytest.fixture
def bucket(api) -> SimpleNamespace:
    """A bucket that never waits; taken_after notes how many requests preceded each take."""
    taken_after: list[int] = []
    return SimpleNamespace(take=lambda deadline=None: taken_after.append(len(api.calls)) or True,
                           taken_after=taken_after)


@pytest.fixture
def client(bucket) -> StatuspageClient:
    # No waiting in tests: the backoff is asserted in test_http.py.
    session = make_session(RetryPolicy(sleep=lambda seconds: None))
    return StatuspageClient(PAGE, KEY, session=session, bucket=bucket)


# --- realistic fakes, after the spec and what the real API returns ---

def component(component_id: str, name: str = "API", status: str = "operational", group: bool = False,
              group_id: str | None = None) -> dict:
    return {
        "id": component_id,
        "page_id": PAGE,
        "group_id": group_id,  # the real API: null outside a group
        "created_at": "2025-06-01T10:00:00.000Z",
        "updated_at": "2026-01-05T10:00:00.000Z",
        "group": group,
        "name": name,
        "description": None,  # the real API: null when unset
        "position": 1,
        "status": status,
        "showcase": True,
        "only_show_if_degraded": False,
        "automation_email": f"component+{component_id}@notifications.statuspage.io",
        "start_date": "2025-06-01",
    }


def sp_incident(incident_id: str, component_ids=("abc123",), metadata=None, body: str = "We are investigating.",
                status: str = "investigating", later: tuple[str, ...] = (), monitoring_at: str | None = None) -> dict:
    """An incident whose first update has `body`, followed by one update per `later` body (a minute apart)."""
    first = {
        "id": f"u{incident_id}",
        "incident_id": incident_id,
        "affected_components": [{"code": c, "name": "API", "old_status": "operational",
                                 "new_status": "partial_outage"} for c in component_ids],
        "body": body,
        "created_at": "2026-01-05T10:01:00.000Z",
        "deliver_notifications": True,
        "display_at": "2026-01-05T10:01:00.000Z",
        "status": status,
        "updated_at": "2026-01-05T10:01:00.000Z",
    }
    updates = [first, *({**first, "id": f"u{incident_id}{n}", "body": text, "affected_components": [],
                         "created_at": f"2026-01-05T10:0{n + 2}:00.000Z"} for n, text in enumerate(later))]
    return {
        "id": incident_id,
        "components": [component(c, status="partial_outage") for c in component_ids],
        "created_at": "2026-01-05T10:01:00.000Z",
        "impact": "minor",
        "incident_updates": updates[::-1],  # newest first, as Statuspage lists them
        "metadata": metadata if metadata is not None else {},
        "monitoring_at": monitoring_at,  # the real API: null until the incident enters monitoring
        "name": f"Investigating errors in API ({incident_id})",
        "page_id": PAGE,
        "resolved_at": None,  # the real API: null while unresolved
        "shortlink": f"https://stspg.io/{incident_id}",
        "status": status,
        "updated_at": "2026-01-05T10:01:00.000Z",
    }


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def sent_json(call) -> dict:
    return json.loads(call.request.body)


def page_matcher(page: int):
    return responses.matchers.query_param_matcher({"page": str(page)}, strict_match=False)


def test_fake_bodies_match_the_spec():
    spec = statuspage_spec()
    validate_response(spec, "GET", COMPONENTS, 200,
                      [component("abc123", group_id="grp1"), component("grp1", group=True)])
    validate_response(spec, "GET", UNRESOLVED, 200, [sp_incident("p31zjtct2jer", metadata={METADATA_KEY: {}})])
    validate_response(spec, "POST", INCIDENTS, 201, sp_incident("p31zjtct2jer"))


# --- reading ---

def test_components_reads_every_page_with_groups_and_their_members(api, client):
    first = [component(f"c{n:03d}", name=f"C{n}") for n in range(99)] + [component("grp1", "Group", group=True)]
    api.get(COMPONENTS, match=[page_matcher(1)], json=first)
    api.get(COMPONENTS, match=[page_matcher(2)],
            json=[component("last", "Last", status="major_outage", group_id="grp1")])
    found = client.components()
    assert len(found) == 101
    assert found["c007"] == Component("c007", "C7", "operational")
    assert found["grp1"] == Component("grp1", "Group", "operational", group=True)
    assert found["last"] == Component("last", "Last", "major_outage", group_id="grp1")
    assert [query(c) for c in api.calls] == [{"page": ["1"], "per_page": ["100"]}, {"page": ["2"], "per_page": ["100"]}]
    assert api.calls[0].request.headers["Authorization"] == f"OAuth {KEY}"


def test_component_cache_lists_the_page_once_per_ttl(api, bucket):
    api.get(COMPONENTS, json=[component("abc123")])
    now = [0.0]
    cache = statuspage.ComponentCache(ttl_seconds=300, clock=lambda: now[0])
    session = make_session(RetryPolicy(sleep=lambda seconds: None))

    def client() -> StatuspageClient:  # a new client per sync, as the Runtime makes them
        return StatuspageClient(PAGE, KEY, session=session, bucket=bucket, component_cache=cache)

    assert client().components() == client().components() == {"abc123": Component("abc123", "API")}
    assert len(api.calls) == 1
    now[0] = 300.0
    client().components()
    assert len(api.calls) == 2
    cache.clear()
    client().components()
    assert len(api.calls) == 3
    client().components(max_age=0)  # within the TTL, yet read again
    assert len(api.calls) == 4
    now[0] = 305.0
    client().components(max_age=10)  # read 5 s ago: young enough
    assert len(api.calls) == 4
    now[0] = 315.0
    client().components(max_age=10)
    assert len(api.calls) == 5


@pytest.mark.parametrize("count", [250, 100], ids=["short-last-page", "full-last-page-then-an-empty-one"])
def test_unresolved_incidents_reads_pages_until_a_short_one(api, client, bucket, count):
    everything = [sp_incident(f"inc{n:04d}") for n in range(count)]
    pages = range(1, count // 100 + 2)
    for page in pages:
        api.get(UNRESOLVED, match=[page_matcher(page)], json=everything[(page - 1) * 100:page * 100])
    assert [i.id for i in client.unresolved_incidents()] == [i["id"] for i in everything]
    assert [query(c) for c in api.calls] == [{"page": [str(p)], "per_page": ["100"]} for p in pages]
    assert bucket.taken_after == list(range(len(pages)))  # a token before each read: Statuspage counts them too


def test_unresolved_incidents_maps_each_incident_its_ownership_and_its_times(api, client):
    api.get(UNRESOLVED, json=[
        sp_incident("ours", component_ids=("abc123", "def456"), metadata={METADATA_KEY: {"component_id": "grp1"}},
                    status="monitoring", later=("A fix is in.",), monitoring_at="2026-01-05T10:02:00Z"),
        sp_incident("theirs", component_ids=(), metadata={"jira": {"issue_id": "OPS-1"}}, status="identified"),
    ])
    found = {i.id: i for i in client.unresolved_incidents()}
    assert found["ours"] == SpIncident("ours", "Investigating errors in API (ours)", "monitoring",
                                       "2026-01-05T10:01:00.000000+00:00", frozenset({"abc123", "def456"}), owned=True,
                                       components=(Component("abc123", "API", "partial_outage"),
                                                   Component("def456", "API", "partial_outage")),
                                       opened_for="grp1", monitoring_at=datetime(2026, 1, 5, 10, 2, tzinfo=UTC),
                                       last_update_at=datetime(2026, 1, 5, 10, 2, tzinfo=UTC))
    assert not found["theirs"].owned and found["theirs"].opened_for is None and not found["theirs"].legacy
    assert found["theirs"].status == "identified" and found["theirs"].component_ids == frozenset()
    assert found["theirs"].monitoring_at is None


@pytest.mark.parametrize(("first", "later", "legacy"), [
    (f"Investigating.\n\n{LEGACY_WATERMARK}", (), True),
    (f"Investigating.\n{LEGACY_WATERMARK}  \n\n", (), True),
    (LEGACY_WATERMARK, (), True),
    (f"{LEGACY_WATERMARK} Investigating.", (), False),  # not a line of its own
    (f"Investigating.\n{LEGACY_WATERMARK}\nMore.", (), False),  # not the last line
    ("Investigating.", (f"Update.\n{LEGACY_WATERMARK}",), False),  # not the first update
    (f"Investigating.\n{LEGACY_WATERMARK}", ("Resolved.",), True),
    ("The earlier notice (via pagerstatus) was premature.", (), False),
], ids=["last-line", "trailing-space-and-blank-lines", "alone", "inline", "not-last", "later-update",
        "first-of-two", "mentions-pagerstatus"])
def test_body_text_never_makes_an_incident_ours_only_the_legacy_watermark_line_marks_it(api, client, first, later,
                                                                                       legacy):
    api.get(UNRESOLVED, json=[sp_incident("inc1", body=first, later=later)])
    [found] = client.unresolved_incidents()
    assert (found.owned, found.legacy, found.opened_for) == (False, legacy, None)


def test_a_list_that_never_ends_is_refused(api, client):
    # An API ignoring `page` would answer the same full page forever.
    api.get(UNRESOLVED, json=[sp_incident(f"inc{n:04d}") for n in range(100)])
    with pytest.raises(UpstreamError, match=f"more than {MAX_PAGES} pages"):
        client.unresolved_incidents()
    assert len(api.calls) == MAX_PAGES


# --- writing ---

@pytest.mark.parametrize("notify", [True, False])
def test_create_incident_posts_the_incident_and_returns_its_id(api, client, bucket, notify):
    api.post(INCIDENTS, status=201, json=sp_incident("newinc123"))
    write = IncidentWrite(name="Investigating errors in API", status="investigating",
                          body="We are investigating errors affecting API.",
                          components={"abc123": "partial_outage"}, component_ids=("abc123",),
                          metadata={METADATA_KEY: {"component_id": "abc123"}}, deliver_notifications=notify)
    assert client.create_incident(write) == "newinc123"
    [call] = api.calls
    assert call.request.headers["Authorization"] == f"OAuth {KEY}"
    assert sent_json(call) == {"incident": {
        "name": "Investigating errors in API",
        "status": "investigating",
        "body": "We are investigating errors affecting API.",
        "components": {"abc123": "partial_outage"},
        "component_ids": ["abc123"],
        "metadata": {METADATA_KEY: {"component_id": "abc123"}},
        "deliver_notifications": notify,
    }}
    assert bucket.taken_after == [0]  # a token before the request


def test_update_incident_sends_only_the_fields_set_and_always_whether_to_notify(api, client, bucket):
    api.patch(f"{INCIDENTS}/inc1", json=sp_incident("inc1"))
    api.patch(f"{INCIDENTS}/inc2", json=sp_incident("inc2", status="resolved"))
    api.patch(f"{INCIDENTS}/inc3", json=sp_incident("inc3"))
    client.update_incident("inc1", IncidentWrite(components={"def456": "major_outage", "abc123": "partial_outage"},
                                                 deliver_notifications=True))
    client.update_incident("inc2", IncidentWrite(status="resolved", body="This incident has been resolved.",
                                                 deliver_notifications=False))
    client.update_incident("inc3", IncidentWrite(components={"ghi789": "major_outage"},
                                                 component_ids=("abc123", "ghi789"), deliver_notifications=False))
    assert [sent_json(c) for c in api.calls] == [
        # No component_ids unless the write adds to the list: it would replace the incident's list.
        {"incident": {"components": {"def456": "major_outage", "abc123": "partial_outage"},
                      "deliver_notifications": True}},
        {"incident": {"status": "resolved", "body": "This incident has been resolved.",
                      "deliver_notifications": False}},
        {"incident": {"components": {"ghi789": "major_outage"}, "component_ids": ["abc123", "ghi789"],
                      "deliver_notifications": False}},
    ]
    assert bucket.taken_after == [0, 1, 2]


def test_created_at_in_one_format_so_oldest_first_compares_strings(api, client):
    a, b = sp_incident("a"), sp_incident("b")
    a["created_at"], b["created_at"] = "2026-01-05T10:01:00.5Z", "2026-01-05T11:01:00+01:00"
    api.get(UNRESOLVED, json=[a, b])
    found = {i.id: i.created_at for i in client.unresolved_incidents()}
    assert found == {"a": "2026-01-05T10:01:00.500000+00:00", "b": "2026-01-05T10:01:00.000000+00:00"}
    assert found["b"] < found["a"]


# --- retries: a POST only when the server refused it ---

@pytest.mark.parametrize("status", [420, 429])
def test_a_rate_limited_create_is_retried(api, client, status):
    api.post(INCIDENTS, status=status, headers={"ratelimit-reset": "1"}, json={"error": "Rate limit exceeded"})
    api.post(INCIDENTS, status=201, json=sp_incident("newinc123"))
    assert client.create_incident(IncidentWrite(name="x", status="investigating", deliver_notifications=False)) \
        == "newinc123"
    assert len(api.calls) == 2


@pytest.mark.parametrize(("refusal", "problem"), [
    # The incident may exist already; the next sync sees it instead of opening a second.
    ({"status": 503, "body": "Service Unavailable"}, "POST /v1/pages/kctbh9vrtdwd/incidents answered 503"),
    # Asked to wait past the cap: fails at once.
    ({"status": 420, "headers": {"ratelimit-reset": "50"}, "json": {"error": "Rate limit exceeded"}}, "answered 420"),
    ({"status": 201, "json": {"name": "x"}}, "no incident id"),
], ids=["server-error", "wait-past-the-cap", "created-without-an-id"])
def test_a_failed_create_is_not_retried(api, client, refusal, problem):
    api.post(INCIDENTS, **refusal)
    api.post(INCIDENTS, status=201, json=sp_incident("newinc123"))
    with pytest.raises(UpstreamError, match=problem):
        client.create_incident(IncidentWrite(name="x", deliver_notifications=False))
    assert len(api.calls) == 1


def test_a_read_is_retried_on_a_server_error(api, client):
    api.get(COMPONENTS, status=503, body="Service Unavailable")
    api.get(COMPONENTS, json=[component("abc123")])
    assert list(client.components()) == ["abc123"]


# --- failures ---

@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"status": 401, "json": {"error": f"Could not authenticate with OAuth {KEY}"}}, "answered 401"),
        ({"body": requests.ConnectionError("connection reset")}, "ConnectionError: connection reset"),
        ({"body": "<html>Down for maintenance</html>"}, "not JSON"),
        ({"json": {"error": "unexpected"}}, "not a list"),
        ({"json": [{"name": "no id"}]}, "not a list of objects with ids"),
    ],
)
def test_a_failed_read_raises_upstream_error_without_the_key(api, client, answer, problem):
    api.get(UNRESOLVED, **answer)
    with pytest.raises(UpstreamError, match=problem) as caught:
        client.unresolved_incidents()
    assert caught.value.service == "statuspage"
    assert KEY not in str(caught.value) and KEY not in repr(client)


def test_a_read_that_would_wait_for_the_rate_limit_past_its_deadline_fails_unsent(api):
    clock = FakeClock()
    bucket = TokenBucket(capacity=1, rate=1.0, clock=clock, sleep=clock.sleep)
    bucket.take()  # the bucket is empty: the next token comes in a second
    session = make_session(RetryPolicy(sleep=clock.sleep)).until(Deadline(0.5, clock))
    with pytest.raises(UpstreamError, match="no time left to wait for Statuspage's rate limit"):
        StatuspageClient(PAGE, KEY, session=session, bucket=bucket).unresolved_incidents()
    assert len(api.calls) == 0 and clock.sleeps == []
