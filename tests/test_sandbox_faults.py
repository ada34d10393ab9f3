"""Faults on demand, Statuspage's rate limit, and the request log. The rate limit and
latency run on a fake clock: their answers are exact, whatever the machine's load."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.harness.clock import FakeClock
from tests.harness.sandbox import Sandbox, running_sandbox

PD_KEY = {"Authorization": "Token token=acme-pd-key"}
SP_KEY = {"Authorization": "OAuth sp-key"}
PAGE = "page00000001"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ready(clock: FakeClock) -> Iterator[Sandbox]:
    with running_sandbox(clock=clock, sleep=clock.sleep) as sandbox:
        sandbox.add_account()
        sandbox.add_page(PAGE, "sp-key", [{"name": "API"}])
        yield sandbox


def pd(sandbox: Sandbox, path: str = "/incidents") -> requests.Response:
    return requests.get(sandbox.pagerduty_url + path, headers=PD_KEY, timeout=10)


def sp(sandbox: Sandbox, path: str = f"/pages/{PAGE}/incidents/unresolved") -> requests.Response:
    return requests.get(sandbox.statuspage_url + path, headers=SP_KEY, timeout=10)


def test_n_errors_then_normal_answers_in_the_apis_error_shape(ready: Sandbox) -> None:
    ready.fault("pagerduty", "/incidents", status=503, count=2)

    assert [pd(ready).status_code for _ in range(3)] == [503, 503, 200]
    ready.fault("statuspage", "/pages", status=500, count=1)
    failed = sp(ready)
    assert failed.status_code == 500 and isinstance(failed.json()["error"], str)
    ready.fault("pagerduty", "/incidents", status=502, count=1)
    assert isinstance(pd(ready).json()["error"]["message"], str)


def test_faults_match_api_path_regex_and_method(ready: Sandbox) -> None:
    ready.fault("statuspage", r"/pages/[^/]+/incidents$", method="post", status=503)

    assert pd(ready).status_code == 200  # other API
    assert sp(ready).status_code == 200  # other path

    def post() -> int:
        return requests.post(f"{ready.statuspage_url}/pages/{PAGE}/incidents", json={"incident": {"name": "x"}},
                             headers=SP_KEY, timeout=10).status_code

    assert [post(), post()] == [503, 503]  # without a count the fault lasts until cleared
    ready.clear_faults()
    assert post() == 201


def test_faults_match_the_query_string(ready: Sandbox) -> None:
    # The second page of a list, say, and not the first.
    ready.fault("pagerduty", "/incidents$", query=r"(^|&)offset=100(&|$)", status=500)

    def page(offset: int) -> int:
        return requests.get(f"{ready.pagerduty_url}/incidents", params={"offset": offset},
                            headers=PD_KEY, timeout=10).status_code

    assert [page(0), page(100), page(1000)] == [200, 500, 200]


def test_429_with_retry_after(ready: Sandbox) -> None:
    fault = ready.fault("pagerduty", "/incidents", retry_after=7, count=1)
    assert fault["status"] == 429
    limited = pd(ready)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")


def test_latency_delays_then_answers(ready: Sandbox, clock: FakeClock) -> None:
    ready.fault("statuspage", "/pages", latency=0.15, count=1)
    assert sp(ready).status_code == 200
    assert sp(ready).status_code == 200
    assert clock.sleeps == [0.15]  # the first request waited, the second did not


def test_dropped_connection_reaches_the_client_as_connection_error(ready: Sandbox) -> None:
    ready.fault("pagerduty", "/incidents", drop=True, count=1)
    with pytest.raises(requests.ConnectionError):
        pd(ready)
    assert pd(ready).status_code == 200
    assert [r["status"] for r in ready.requests(api="pagerduty")] == [None, 200]


def test_bad_fault_definitions_are_refused(ready: Sandbox) -> None:
    for body in (
        {"api": "github", "status": 500},
        {"api": "pagerduty", "path": "(", "status": 500},
        {"api": "pagerduty", "status": 200},
        {"api": "pagerduty"},
        {"api": "pagerduty", "status": 500, "count": 0},
        {"api": "pagerduty", "query": "[", "status": 500},
    ):
        response = requests.post(f"{ready.url}/_sandbox/faults", json=body, timeout=10)
        assert response.status_code == 400, body
    assert ready.control("GET", "/faults")["faults"] == []


def test_rate_limit_is_a_token_bucket_per_token_switchable(ready: Sandbox, clock: FakeClock) -> None:
    assert [sp(ready).status_code for _ in range(5)] == [200] * 5  # off by default

    ready.rate_limit(capacity=3, refill_per_second=0.5)
    assert [sp(ready).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert sp(ready).headers["Retry-After"] == "2"  # one token at 0.5/s
    clock.advance(1.9)
    assert sp(ready).status_code == 429
    clock.advance(0.1)
    assert sp(ready).status_code == 200
    ready.add_page("page00000002", "other-key")
    other = requests.get(f"{ready.statuspage_url}/pages/page00000002/components",
                         headers={"Authorization": "OAuth other-key"}, timeout=10)
    assert other.status_code == 200  # its own bucket
    assert pd(ready).status_code == 200  # PagerDuty is not limited

    ready.rate_limit(capacity=1, status=420)
    assert [sp(ready).status_code for _ in range(2)] == [200, 420]
    ready.rate_limit(enabled=False)
    assert sp(ready).status_code == 200


def test_request_log_counts_api_calls_and_clears(ready: Sandbox) -> None:
    requests.get(f"{ready.pagerduty_url}/incidents", params={"date_range": "all"}, headers=PD_KEY, timeout=10)
    body = {"incident": {"name": "x"}}
    requests.post(f"{ready.statuspage_url}/pages/{PAGE}/incidents", json=body, headers=SP_KEY, timeout=10)
    requests.get(f"{ready.url}/", timeout=10)  # not an API call

    logged = ready.requests()
    assert [(r["api"], r["method"], r["path"], r["status"]) for r in logged] == [
        ("pagerduty", "GET", "/incidents", 200),
        ("statuspage", "POST", f"/pages/{PAGE}/incidents", 201),
    ]
    assert logged[0]["query"] == {"date_range": ["all"]}
    assert len(ready.requests(api="statuspage", method="post")) == 1
    ready.clear_requests()
    assert ready.requests() == []
