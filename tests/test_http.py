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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import responses
from urllib3.response import HTTPResponse

from pagerstatus.errors import UpstreamError
from pagerstatus.http import (
    DEFAULT_TIMEOUT,
    DETAIL_BODY_CHARS,
    RetryPolicy,
    TokenBucket,
    make_session,
    request_error,
    send_json,
    upstream_error,
)
from pagerstatus.log import Redactor

KEY = "sk-test-0123456789abcdef"  # long enough for a Redactor to mask
REDACTOR = Redactor()
REDACTOR.add(KEY)

# A scripted answer: (status, headers, body), or DISCONNECT to close the
# connection after reading the request, before any answer (a read error).
DISCONNECT = None


class ScriptedServer:
    """A local HTTP server answering from a script, recording what it was sent."""

    def __init__(self) -> None:
        self.script: deque = deque()
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests.append((self.command, self.path))
                answer = server.script.popleft() if server.script else (200, {}, b"{}")
                if answer is DISCONNECT:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status, headers, body = answer
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = _answer

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def server():
    server = ScriptedServer()
    yield server
    server.close()


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def session(waits):
    return make_session(RetryPolicy(sleep=waits.append))


def answer(status: int, headers: dict[str, str] | None = None, body: bytes = b"{}"):
    return (status, headers or {}, body)


# --- RetryPolicy inside urllib3's retry loop ---

@pytest.mark.parametrize("status", [500, 502, 503, 504, 420, 429])
def test_get_is_retried_on_server_errors_and_rate_limits(server, session, status):
    server.script.extend([answer(status), answer(200, body=b'{"ok": true}')])
    response = session.get(server.url + "/things")
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert server.requests == [("GET", "/things")] * 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_post_is_not_retried_on_server_errors(server, session, status):
    server.script.extend([answer(status), answer(201)])
    response = session.post(server.url + "/incidents", json={})
    assert response.status_code == status
    assert len(server.requests) == 1


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("status", [420, 429])
def test_writes_are_retried_on_rate_limits(server, session, method, status):
    server.script.extend([answer(status), answer(201)])
    response = session.request(method, server.url + "/incidents", json={})
    assert response.status_code == 201
    assert server.requests == [(method, "/incidents")] * 2


def test_client_errors_are_not_retried(server, session):
    server.script.extend([answer(404), answer(200)])
    assert session.get(server.url + "/missing").status_code == 404
    assert len(server.requests) == 1


def test_retry_after_sets_the_wait(server, session, waits):
    server.script.extend([answer(429, {"Retry-After": "2"}), answer(200)])
    assert session.get(server.url + "/things").status_code == 200
    assert waits == [2]


@pytest.mark.parametrize("status", [420, 429])
def test_ratelimit_reset_sets_the_wait_when_retry_after_is_absent(server, session, waits, status):
    server.script.extend([answer(status, {"ratelimit-reset": "1"}), answer(201)])
    assert session.post(server.url + "/incidents", json={}).status_code == 201
    assert waits == [1]


def test_a_wait_longer_than_the_cap_gives_up_at_once(server, session, waits):
    asked = RetryPolicy.MAX_RETRY_AFTER + 1
    server.script.extend([answer(429, {"Retry-After": f"{asked:.0f}"}), answer(200)])
    response = session.get(server.url + "/things")
    assert response.status_code == 429
    assert len(server.requests) == 1 and waits == []


def test_a_long_ratelimit_reset_gives_up_at_once(server, session, waits):
    server.script.extend([answer(429, {"ratelimit-reset": "45"}), answer(201)])
    assert session.post(server.url + "/incidents", json={}).status_code == 429
    assert len(server.requests) == 1 and waits == []


def test_ratelimit_reset_on_a_server_error_is_no_request_to_wait(server, session, waits):
    # Statuspage sends ratelimit-reset with every answer; on a 503 it is not a Retry-After.
    server.script.extend([answer(503, {"ratelimit-reset": "45"}), answer(200)])
    assert session.get(server.url + "/things").status_code == 200
    assert len(server.requests) == 2 and waits == []


def test_backoff_grows_exponentially_and_the_last_answer_is_returned(server, session, waits):
    server.script.extend([answer(503)] * (RetryPolicy.MAX_RETRIES + 2))
    response = session.get(server.url + "/things")
    assert response.status_code == 503
    assert len(server.requests) == RetryPolicy.MAX_RETRIES + 1
    # urllib3 retries the first time at once, then waits 2, 4, ... backoff factors.
    assert waits == [2 * RetryPolicy.BACKOFF_FACTOR, 4 * RetryPolicy.BACKOFF_FACTOR]


def test_get_is_retried_on_a_read_error(server, session):
    server.script.extend([DISCONNECT, answer(200)])
    assert session.get(server.url + "/things").status_code == 200
    assert len(server.requests) == 2


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_writes_are_not_retried_on_a_read_error(server, session, method):
    server.script.extend([DISCONNECT, answer(201)])
    with pytest.raises(requests.ConnectionError):
        session.request(method, server.url + "/incidents", json={})
    assert len(server.requests) == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_post_is_retried_on_a_connect_error(waits):
    # Nothing was sent, so even a POST is repeated; the backoff shows each retry.
    session = make_session(RetryPolicy(sleep=waits.append))
    with pytest.raises(requests.ConnectionError):
        session.post(f"http://127.0.0.1:{_closed_port()}/incidents", json={})
    assert waits == [2 * RetryPolicy.BACKOFF_FACTOR, 4 * RetryPolicy.BACKOFF_FACTOR]


def test_tls_errors_are_not_retried(server, waits):
    # A TLS error may strike while the answer is read, after a POST went out.
    session = make_session(RetryPolicy(sleep=waits.append))
    with pytest.raises(requests.exceptions.SSLError):
        session.get(server.url.replace("http:", "https:") + "/things")
    assert waits == []


# --- RetryPolicy's hooks on their own ---

def _response(status: int, headers: dict[str, str]) -> HTTPResponse:
    return HTTPResponse(body=b"", headers=headers, status=status)


def test_new_keeps_the_cap_and_the_sleep():
    policy = RetryPolicy(max_retry_after=1.5, sleep=print)
    retried = policy.increment("GET", "/things", response=_response(503, {}))
    assert isinstance(retried, RetryPolicy)
    assert (retried.max_retry_after, retried.sleep_func) == (1.5, print)
    assert retried.total == policy.total - 1


def test_retry_after_wins_over_ratelimit_reset():
    policy = RetryPolicy()
    assert policy.get_retry_after(_response(429, {"Retry-After": "2", "ratelimit-reset": "1"})) == 2


def test_retry_after_may_be_an_http_date():
    # urllib3 reads the date against the wall clock; an hour ahead and a past date
    # leave a wide margin for a slow machine (the header's resolution is 1 s).
    in_an_hour = email.utils.formatdate(time.time() + 3600, usegmt=True)
    assert 3000 < RetryPolicy().get_retry_after(_response(503, {"Retry-After": in_an_hour})) <= 3600
    an_hour_ago = email.utils.formatdate(time.time() - 3600, usegmt=True)
    assert RetryPolicy().get_retry_after(_response(503, {"Retry-After": an_hour_ago})) == 0


def test_a_garbled_retry_after_falls_back_to_the_backoff():
    policy = RetryPolicy()
    assert policy.get_retry_after(_response(429, {"Retry-After": "soon"})) is None
    assert policy.get_retry_after(_response(429, {"ratelimit-reset": "soon"})) is None


def test_server_requested_waits_can_be_ignored_as_in_urllib3():
    policy = RetryPolicy(respect_retry_after_header=False, max_retry_after=1)
    asked_long = _response(429, {"Retry-After": "60"})
    assert policy.wait_before_retry(asked_long) == 0  # the backoff, first retry
    assert isinstance(policy.increment("GET", "/things", response=asked_long), RetryPolicy)


def test_the_policy_is_pdpyras_style_configurable():
    policy = RetryPolicy(total=1, backoff_factor=0, max_retry_after=0.5)
    assert policy.total == 1 and policy.backoff_factor == 0 and policy.max_retry_after == 0.5
    assert policy.backoff_max == RetryPolicy.BACKOFF_MAX


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


def test_the_session_retries_with_the_given_policy_over_http_and_https():
    policy = RetryPolicy(total=1)
    session = make_session(policy, user_agent="pagerstatus-test")
    assert session.get_adapter("https://api.pagerduty.com").max_retries is policy
    assert session.get_adapter("http://localhost").max_retries is policy
    assert session.headers["User-Agent"] == "pagerstatus-test"


def test_the_default_session_retries_with_the_default_policy():
    adapter = make_session().get_adapter("https://api.statuspage.io")
    assert isinstance(adapter.max_retries, RetryPolicy)
    assert adapter.max_retries.total == RetryPolicy.MAX_RETRIES


# --- TokenBucket ---

class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_full_bucket_lets_a_burst_through_without_waiting():
    clock = FakeClock()
    bucket = TokenBucket(capacity=60, rate=1.0, clock=clock, sleep=clock.sleep)
    for _ in range(60):
        bucket.take()
    assert clock.sleeps == []
    bucket.take()
    assert clock.sleeps == [1.0]


def test_an_empty_bucket_refills_at_its_rate():
    clock = FakeClock()
    bucket = TokenBucket(capacity=60, rate=1.0, clock=clock, sleep=clock.sleep)
    for _ in range(60):
        bucket.take()
    clock.now += 10
    for _ in range(10):
        bucket.take()
    assert clock.sleeps == []
    bucket.take()
    bucket.take()
    assert clock.sleeps == [1.0, 1.0]


def test_refill_stops_at_the_capacity():
    clock = FakeClock()
    bucket = TokenBucket(capacity=3, rate=1.0, clock=clock, sleep=clock.sleep)
    clock.now += 1000
    for _ in range(4):
        bucket.take()
    assert clock.sleeps == [1.0]


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
    body = "x" * 1000
    responses.get("https://api.example.com/v1/things", status=502, body=body)
    response = requests.get("https://api.example.com/v1/things?page=2", headers={"Authorization": f"OAuth {KEY}"})
    error = upstream_error("statuspage", response)
    assert error.service == "statuspage"
    assert error.detail == f"GET /v1/things answered 502: {'x' * DETAIL_BODY_CHARS}..."
    assert KEY not in str(error) and "Authorization" not in str(error)


@responses.activate
def test_a_key_echoed_in_a_body_is_masked():
    responses.get("https://api.example.com/things", status=401, json={"error": f"bad key {KEY}"})
    error = upstream_error("pagerduty:main", requests.get("https://api.example.com/things"), redact=REDACTOR.redact)
    assert KEY not in str(error) and KEY[-4:] in str(error)


@responses.activate
def test_a_key_cut_by_the_trimmed_body_is_masked_whole():
    # Regression (tests/test_key_leak.py): trimming first left the key's start unmasked.
    responses.get("https://api.example.com/things", status=500, body="E" * (DETAIL_BODY_CHARS - 8) + KEY)
    error = upstream_error("pagerduty:main", requests.get("https://api.example.com/things"), redact=REDACTOR.redact)
    assert KEY[:8] not in str(error)


def test_a_request_exception_becomes_an_upstream_error_naming_the_cause():
    with pytest.raises(requests.ConnectionError) as caught:
        requests.get(f"http://127.0.0.1:{_closed_port()}/things", timeout=1)
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
