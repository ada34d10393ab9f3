"""Retries, timeouts, write pacing and error details.

Retry tests run against a local HTTP server, not `responses`: `responses` emulates
urllib3's retry loop only in part (it never sleeps, never sees read or connect
errors), and the policy's hooks must work inside the real one. Waits are
recorded by an injected sleep and asserted, never slept.
"""
from __future__ import annotations

import email.utils
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator

import pytest
import requests
import responses
from urllib3.response import HTTPResponse
from werkzeug import Request, Response

from pagerstatus.errors import UpstreamError
from pagerstatus.http import (
    DEFAULT_TIMEOUT,
    DETAIL_BODY_CHARS,
    Deadline,
    DeadlineTimeout,
    RetryPolicy,
    TokenBucket,
    make_session,
    request_error,
    send_json,
    upstream_error,
)
from pagerstatus.log import Redactor
from sandbox.server import BackgroundServer
from tests.harness.clock import FakeClock
from tests.harness.network import refusing

KEY = "sk-test-0123456789abcdef"  # long enough for a Redactor to mask
REDACTOR = Redactor()
REDACTOR.add(KEY)

# A scripted answer: (status, headers, body), or DISCONNECT to close the
# connection after reading the request, before any answer (a read error).
DISCONNECT = None


class ScriptedServer:
    """A WSGI app answering from a script, recording what it was sent."""

    def __init__(self) -> None:
        self.script: deque = deque()
        self.requests: list[tuple[str, str]] = []
        self.url = ""

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        request.get_data()
        self.requests.append((request.method, request.path))
        answer = self.script.popleft() if self.script else (200, {}, b"{}")
        if answer is DISCONNECT:  # werkzeug's write of the headers then finds the connection gone
            start_response("200 OK", [])
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            return []
        status, headers, body = answer
        return Response(body, status, {"Content-Type": "application/json", **headers})(environ, start_response)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    with BackgroundServer(scripted) as running:
        scripted.url = running.url
        yield scripted


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def session(waits):
    return make_session(RetryPolicy(sleep=waits.append))


def answer(status: int, headers: dict[str, str] | None = None, body: bytes = b"{}"):
    return (status, headers or {}, body)


# --- RetryPolicy inside urllib3's retry loop ---

RETRIED = [("GET", status) for status in (500, 502, 503, 504, 420, 429)] + [
    (method, status) for method in ("POST", "PATCH") for status in (420, 429)]  # writes: on rate limits only
# A write's server error may have been applied; a client error is the same when repeated.
NOT_RETRIED = [("POST", status) for status in (500, 502, 503, 504)] + [("GET", 404)]


@pytest.mark.parametrize("method,status", RETRIED + NOT_RETRIED)
def test_reads_are_retried_on_server_errors_and_all_requests_on_rate_limits(server, session, method, status):
    server.script.extend([answer(status), answer(200, body=b'{"ok": true}')])
    response = session.request(method, server.url + "/things")
    if (method, status) in RETRIED:
        assert response.status_code == 200 and response.json() == {"ok": True}
        assert server.requests == [(method, "/things")] * 2
    else:
        assert response.status_code == status and server.requests == [(method, "/things")]


@pytest.mark.parametrize("method,status,headers,waits_for", [
    ("GET", 429, {"Retry-After": "2"}, [2]),
    # Without Retry-After, ratelimit-reset (Statuspage's header) says how long.
    ("POST", 420, {"ratelimit-reset": "1"}, [1]),
    ("POST", 429, {"ratelimit-reset": "1"}, [1]),
    # A wait longer than the cap: give up at once, with the answer.
    ("GET", 429, {"Retry-After": f"{RetryPolicy.MAX_RETRY_AFTER + 1:.0f}"}, None),
    ("POST", 429, {"ratelimit-reset": "45"}, None),
    # Statuspage sends ratelimit-reset with every answer; on a 503 it is not a Retry-After.
    ("GET", 503, {"ratelimit-reset": "45"}, []),
])
def test_the_server_sets_the_wait_up_to_a_cap(server, session, waits, method, status, headers, waits_for):
    server.script.extend([answer(status, headers), answer(200)])
    response = session.request(method, server.url + "/things")
    if waits_for is None:
        assert response.status_code == status and len(server.requests) == 1 and waits == []
    else:
        assert response.status_code == 200 and len(server.requests) == 2 and waits == waits_for


def test_backoff_grows_exponentially_and_the_last_answer_is_returned(server, session, waits):
    server.script.extend([answer(503)] * (RetryPolicy.MAX_RETRIES + 2))
    response = session.get(server.url + "/things")
    assert response.status_code == 503
    assert len(server.requests) == RetryPolicy.MAX_RETRIES + 1
    # urllib3 retries the first time at once, then waits 2, 4, ... backoff factors.
    assert waits == [2 * RetryPolicy.BACKOFF_FACTOR, 4 * RetryPolicy.BACKOFF_FACTOR]


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH"])
def test_only_reads_are_retried_on_a_read_error(server, session, method):
    server.script.extend([DISCONNECT, answer(201)])
    if method == "GET":
        assert session.get(server.url + "/things").status_code == 201
    else:  # the write may have been applied before the connection broke
        with pytest.raises(requests.ConnectionError):
            session.request(method, server.url + "/things", json={})
    assert len(server.requests) == (2 if method == "GET" else 1)


def test_post_is_retried_on_a_connect_error(session, waits):
    # Nothing was sent, so even a POST is repeated; the backoff shows each retry.
    with refusing() as url, pytest.raises(requests.ConnectionError):
        session.post(url + "/incidents", json={})
    assert waits == [2 * RetryPolicy.BACKOFF_FACTOR, 4 * RetryPolicy.BACKOFF_FACTOR]


def test_tls_errors_are_not_retried(server, session, waits):
    # A TLS error may strike while the answer is read, after a POST went out.
    with pytest.raises(requests.exceptions.SSLError):
        session.get(server.url.replace("http:", "https:") + "/things")
    assert waits == []


# --- RetryPolicy's hooks on their own ---

def _response(status: int, headers: dict[str, str]) -> HTTPResponse:
    return HTTPResponse(body=b"", headers=headers, status=status)


@pytest.mark.parametrize("headers,wait", [
    ({"Retry-After": "2", "ratelimit-reset": "1"}, 2),  # Retry-After wins
    ({"Retry-After": "soon"}, None),  # garbled: the backoff applies
    ({"ratelimit-reset": "soon"}, None),
])
def test_the_wait_the_server_asks_for(headers, wait):
    assert RetryPolicy().get_retry_after(_response(429, headers)) == wait


def test_retry_after_may_be_an_http_date():
    # urllib3 reads the date against the wall clock; an hour ahead and a past date
    # leave a wide margin for a slow machine (the header's resolution is 1 s).
    in_an_hour = email.utils.formatdate(time.time() + 3600, usegmt=True)
    assert 3000 < RetryPolicy().get_retry_after(_response(503, {"Retry-After": in_an_hour})) <= 3600
    an_hour_ago = email.utils.formatdate(time.time() - 3600, usegmt=True)
    assert RetryPolicy().get_retry_after(_response(503, {"Retry-After": an_hour_ago})) == 0


def test_server_requested_waits_can_be_ignored_as_in_urllib3():
    policy = RetryPolicy(respect_retry_after_header=False, max_retry_after=1)
    asked_long = _response(429, {"Retry-After": "60"})
    assert policy.wait_before_retry(asked_long) == 0  # the backoff, first retry
    assert isinstance(policy.increment("GET", "/things", response=asked_long), RetryPolicy)


def test_the_policy_is_pdpyras_style_configurable_and_a_retry_keeps_the_settings():
    policy = RetryPolicy(total=2, backoff_factor=0, max_retry_after=1.5, sleep=print)
    assert policy.total == 2 and policy.backoff_factor == 0 and policy.max_retry_after == 1.5
    assert policy.backoff_max == RetryPolicy.BACKOFF_MAX
    retried = policy.increment("GET", "/things", response=_response(503, {}))  # urllib3 calls new()
    assert isinstance(retried, RetryPolicy) and retried.total == 1
    assert (retried.backoff_factor, retried.max_retry_after, retried.sleep_func) == (0, 1.5, print)


# --- the session ---

@responses.activate
def test_every_request_gets_the_default_timeout_unless_it_sets_its_own():
    responses.get("https://api.example.com/things", json={})
    session = make_session()
    session.get("https://api.example.com/things")
    session.get("https://api.example.com/things", timeout=1)
    session.get("https://api.example.com/things", timeout=None)
    timeouts = [call.request.req_kwargs["timeout"] for call in responses.calls]
    assert timeouts == [DEFAULT_TIMEOUT, 1, DEFAULT_TIMEOUT]


def test_the_session_retries_with_the_given_policy_over_http_and_https_or_the_default_one():
    policy = RetryPolicy(total=1)
    session = make_session(policy, user_agent="pagerstatus-test")
    assert session.get_adapter("https://api.pagerduty.com").max_retries is policy
    assert session.get_adapter("http://localhost").max_retries is policy
    assert session.headers["User-Agent"] == "pagerstatus-test"
    default = make_session().get_adapter("https://api.statuspage.io").max_retries
    assert isinstance(default, RetryPolicy) and default.total == RetryPolicy.MAX_RETRIES


# --- the read deadline: reads and their retries end by it, writes do not ---

def until(clock: FakeClock, seconds: float) -> requests.Session:
    """A session whose reads end `seconds` from now on clock, which its retries' waits move on."""
    return make_session(RetryPolicy(sleep=clock.sleep)).until(Deadline(seconds, clock))


def test_reads_are_retried_only_while_the_next_attempt_can_begin_before_the_deadline(server):
    clock = FakeClock()
    retries = 6  # more than the deadline allows: the deadline, not the count, ends them
    server.script.extend([answer(503)] * (retries + 1))
    session = make_session(RetryPolicy(retries, sleep=clock.sleep)).until(Deadline(5.0, clock))
    response = session.get(server.url + "/things")
    # At once, then after 0.5, 1 and 2 s (at 3.5 s, with 1.5 s of real time left for the local
    # server to answer); the next wait (2 s) would end past the deadline: the 503 stands.
    assert response.status_code == 503
    assert clock.sleeps == [0.5, 1.0, 2.0] and len(server.requests) == 5


def test_a_wait_the_server_asks_for_past_the_deadline_is_not_waited(server):
    clock = FakeClock()
    server.script.extend([answer(429, {"Retry-After": "2"}), answer(200)])
    assert until(clock, 1.5).get(server.url + "/things").status_code == 429
    assert clock.sleeps == [] and len(server.requests) == 1


def test_a_read_with_no_time_left_fails_unsent(server):
    clock = FakeClock()
    session = until(clock, 1.0)
    clock.advance(1.0)  # earlier reads took all the time there was
    with pytest.raises(requests.Timeout, match="no time left"):
        session.get(server.url + "/things")
    assert server.requests == []


def test_writes_are_not_bounded_by_the_deadline(server):
    clock = FakeClock()
    session = until(clock, 1.0)
    clock.advance(5)
    server.script.extend([answer(429, {"Retry-After": "1"}), answer(201)])
    assert session.post(server.url + "/incidents", json={}).status_code == 201  # retried, as without a deadline
    assert clock.sleeps == [1] and len(server.requests) == 2


def test_each_attempt_gets_at_most_the_time_left():
    clock = FakeClock()
    timeout = DeadlineTimeout(DEFAULT_TIMEOUT, Deadline(4.0, clock))
    assert timeout.clone().connect_timeout == DEFAULT_TIMEOUT[0]
    clock.advance(2.5)
    attempt = timeout.clone()  # urllib3 clones the timeout for every attempt
    attempt.start_connect()
    assert attempt.connect_timeout == 1.5 and 1.4 < attempt.read_timeout <= 1.5


def test_a_session_with_a_deadline_shares_its_parents_connections():
    parent = make_session()
    child = parent.until(Deadline(4.0))
    for url in ("http://x", "https://x"):
        assert child.get_adapter(url).poolmanager is parent.get_adapter(url).poolmanager
        assert child.get_adapter(url).max_retries.deadline is child.deadline
        assert parent.get_adapter(url).max_retries.deadline is None
    assert child.headers == parent.headers


# --- TokenBucket ---

def test_a_token_that_would_come_after_the_deadline_is_neither_waited_for_nor_spent():
    clock = FakeClock()
    bucket = TokenBucket(capacity=1, rate=1.0, clock=clock, sleep=clock.sleep)
    assert bucket.take() is True
    assert bucket.take(Deadline(0.5, clock)) is False and clock.sleeps == []
    assert bucket.take(Deadline(1.0, clock)) is True and clock.sleeps == [1.0]


def test_a_full_bucket_lets_a_burst_through_then_refills_at_its_rate_up_to_its_capacity():
    clock = FakeClock()
    bucket = TokenBucket(capacity=60, rate=1.0, clock=clock, sleep=clock.sleep)
    for _ in range(60):
        bucket.take()
    assert clock.sleeps == []
    bucket.take()
    assert clock.sleeps == [1.0]  # empty: one token a second
    clock.advance(10)
    for _ in range(10):
        bucket.take()
    assert clock.sleeps == [1.0]
    bucket.take()
    assert clock.sleeps == [1.0, 1.0]
    clock.advance(1000)  # idle for longer than a refill: a full bucket, no more
    for _ in range(61):
        bucket.take()
    assert clock.sleeps == [1.0, 1.0, 1.0]


class CrowdedClock:
    """A clock that stands still, is slow to read, and notes how many threads read it at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reading = 0
        self.most_at_once = 0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            self._reading += 1
            self.most_at_once = max(self.most_at_once, self._reading)
        time.sleep(0.005)  # let other threads run into the bucket meanwhile
        with self._lock:
            self._reading -= 1
        return 1000.0

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)


def test_concurrent_takers_queue_for_their_own_tokens():
    clock = CrowdedClock()
    bucket = TokenBucket(capacity=2, rate=0.5, clock=clock, sleep=clock.sleep)
    threads = [threading.Thread(target=bucket.take) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # One taker at a time updates the bucket; each waits for its own token.
    assert clock.most_at_once == 1
    assert sorted(clock.sleeps) == [2.0, 4.0, 6.0, 8.0]


# --- errors ---

@responses.activate
def test_a_failed_answer_becomes_a_short_upstream_error_without_headers():
    responses.get("https://api.example.com/v1/things", status=502, body="x" * 1000)
    response = requests.get("https://api.example.com/v1/things?page=2", headers={"Authorization": f"OAuth {KEY}"})
    error = upstream_error("statuspage", response)
    assert error.service == "statuspage"
    assert error.detail == f"GET /v1/things answered 502: {'x' * DETAIL_BODY_CHARS}..."
    assert KEY not in str(error) and "Authorization" not in str(error)


@responses.activate
@pytest.mark.parametrize("body,masked", [
    (f'{{"error": "bad key {KEY}"}}', "********" + KEY[-4:]),
    # Regression (tests/test_key_leak.py): trimming first left the key's start unmasked.
    ("E" * (DETAIL_BODY_CHARS - 8) + KEY, "********"),
])
def test_a_key_in_a_body_is_masked_whole(body, masked):
    responses.get("https://api.example.com/things", status=401, body=body)
    error = upstream_error("pagerduty:main", requests.get("https://api.example.com/things"), redact=REDACTOR.redact)
    assert KEY[:8] not in str(error) and masked in str(error)


def test_a_request_exception_becomes_an_upstream_error_naming_the_cause():
    with refusing() as url, pytest.raises(requests.ConnectionError) as caught:
        requests.get(url + "/things", timeout=1)
    error = upstream_error("pagerduty:main", caught.value)
    assert error.detail.startswith("GET /things failed: ConnectionError: ")
    assert "refused" in error.detail.lower()


@responses.activate
def test_send_json_returns_the_body_or_raises_upstream_error():
    session = make_session()
    responses.get("https://api.example.com/ok", json={"a": 1})
    responses.get("https://api.example.com/html", body="<html>maintenance</html>")
    responses.get("https://api.example.com/gone", status=404, json={"error": "not found"})
    assert send_json(session, "svc", "GET", "https://api.example.com/ok") == {"a": 1}
    with pytest.raises(UpstreamError, match=r"^svc: GET /html answered 200: malformed response: not JSON$"):
        send_json(session, "svc", "GET", "https://api.example.com/html")
    with pytest.raises(UpstreamError, match=r"^svc: GET /gone answered 404: .*not found"):
        send_json(session, "svc", "GET", "https://api.example.com/gone")


def test_send_json_drops_the_requests_exception_chain():
    # A chained exception's message could carry a header value (requests' InvalidHeader does).
    session = make_session(RetryPolicy(total=0))
    with pytest.raises(UpstreamError) as caught:
        send_json(session, "svc", "GET", "https://api.example.com/x", REDACTOR.redact,
                  headers={"Authorization": f"OAuth {KEY}\n"})
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert KEY not in str(caught.value)


def test_request_error_names_the_call_and_the_problem():
    error = request_error("statuspage", "GET", "https://api.example.com/v1/pages/p/components?page=1", "bad shape")
    assert str(error) == "statuspage: GET /v1/pages/p/components: bad shape"
