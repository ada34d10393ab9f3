"""The one way tests reach the official reference material: the OpenAPI specs of
PagerDuty REST and Statuspage, PagerDuty's webhook examples and a V3 signature vector.

Where: $PAGERSTATUS_REFERENCE_DIR (relative to the repository, or absolute), else
../shared/reference next to the repository, else .reference/ in it, where `make
reference` puts it (tests/harness/fetch_reference.py). Nothing is copied into the repo.
Without any of these, the tests that validate against the material are skipped with a
reason naming `make reference`; PAGERSTATUS_REQUIRE_REFERENCE=1 (CI) makes that a failure.

Specs are loaded as openapi-core `OpenAPI` objects without the strict spec check
(neither spec passes it) and with these in-memory fixes of the specs' own defects:
- Statuspage `Incident.metadata` is declared type "Object"; fixed to "object".
- PagerDuty `Channel` lists its shapes under oneOf, but they are not mutually
  exclusive (none has a distinguishing required field), so every channel matches
  several and fails; treated as anyOf.
- Both get an extra server, the sandbox's base URL (http://HOST:PORT/pagerduty and
  http://HOST:PORT/statuspage/v1), so URLs of the real API and of the sandbox validate.

Responses: the real APIs return null for a few fields the specs declare non-nullable.
validate_response tolerates null in exactly those (TOLERATED_NULLS) and nothing else.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

REPO = Path(__file__).resolve().parents[2]
DIR_VARIABLE = "PAGERSTATUS_REFERENCE_DIR"
REQUIRED_VARIABLE = "PAGERSTATUS_REQUIRE_REFERENCE"
MISSING = f"no official specs and examples here: `make reference` fetches them (or set {DIR_VARIABLE})"

# Fields the real APIs return as null although the specs declare them non-nullable.
TOLERATED_NULLS = {
    # priority: null without priorities; resolved_at: null while open (the spec's own
    # listIncidents example shows it).
    "pagerduty": frozenset({"priority", "resolved_at"}),
    # Component description / group_id: null when unset; Incident resolved_at: null
    # while unresolved, monitoring_at until it enters monitoring.
    "statuspage": frozenset({"description", "group_id", "resolved_at", "monitoring_at"}),
}
_tolerated_by_spec: dict[int, frozenset[str]] = {}


def reference_dir() -> Path | None:
    """The reference directory, or None when there is none."""
    configured = os.environ.get(DIR_VARIABLE)
    if configured:
        path = REPO / configured  # an absolute value stands as it is
        if not path.is_dir():
            raise FileNotFoundError(f"{DIR_VARIABLE}={configured}, but {path} is not a directory")
        return path
    return next((d for d in (REPO.parent / "shared" / "reference", REPO / ".reference") if d.is_dir()), None)


def require_reference() -> Path:
    """The reference directory; without one the test is skipped, or fails under
    PAGERSTATUS_REQUIRE_REFERENCE=1."""
    found = reference_dir()
    if found is None:
        if os.environ.get(REQUIRED_VARIABLE) == "1":
            pytest.fail(f"{MISSING}; {REQUIRED_VARIABLE}=1 requires them", pytrace=False)
        pytest.skip(MISSING)
    return found


def load_json(relpath: str) -> Any:
    """A JSON file of the reference directory, by its path there, e.g.
    load_json("pagerduty-webhooks/v3-signature-vector.json")."""
    return json.loads((require_reference() / relpath).read_text(encoding="utf-8"))


@functools.cache
def pagerduty_spec() -> OpenAPI:
    spec = load_json("pagerduty-rest-openapiv3.json")
    channel = spec["components"]["schemas"]["Channel"]
    channel["anyOf"] = channel.pop("oneOf")
    return _loaded(spec, "pagerduty", "/pagerduty")


@functools.cache
def statuspage_spec() -> OpenAPI:
    spec = load_json("statuspage-openapiv3.json")
    spec["components"]["schemas"]["Incident"]["properties"]["metadata"]["type"] = "object"
    return _loaded(spec, "statuspage", "/statuspage/v1")


def _loaded(spec: dict, api: str, sandbox_base: str) -> OpenAPI:
    sandbox = {"url": "http://{sandbox}" + sandbox_base, "variables": {"sandbox": {"default": "127.0.0.1"}}}
    loaded = OpenAPI.from_dict({**spec, "servers": [*spec["servers"], sandbox]},
                               config=Config(spec_validator_cls=None))
    _tolerated_by_spec[id(loaded)] = TOLERATED_NULLS[api]
    return loaded


def _encode(body: Any) -> bytes | None:
    if body is None or isinstance(body, bytes):
        return body
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()


def _content_type(headers: dict[str, str]) -> str:
    return next((v for k, v in headers.items() if k.lower() == "content-type"), "application/json")


def _mock_request(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> MockRequest:
    parts = urlsplit(url)
    headers = dict(headers or {})
    return MockRequest(host_url=f"{parts.scheme}://{parts.netloc}", method=method, path=parts.path,
                       args=parse_qsl(parts.query, keep_blank_values=True), headers=headers, data=_encode(body),
                       content_type=_content_type(headers))


def _describe(error: Exception) -> str:
    schema_errors = getattr(error.__cause__, "schema_errors", None)
    if not schema_errors:
        return f"{type(error).__name__}: {error}"
    return "; ".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in schema_errors)


def validate_request(spec: OpenAPI, method: str, url: str, body: Any = None,
                     headers: dict[str, str] | None = None) -> None:
    """Assert that this request is valid for the spec: path, parameters (query in
    the url), headers and body (a dict/list is sent as JSON)."""
    result = spec.unmarshal_request(_mock_request(method, url, body, headers))
    if result.errors:
        raise AssertionError(f"{method.upper()} {url} violates the spec: " + " | ".join(map(_describe, result.errors)))


def validate_response(spec: OpenAPI, method: str, url: str, status: int, body: Any,
                      headers: dict[str, str] | None = None) -> None:
    """Assert that this response to method + url is valid for the spec, tolerating
    null only in the fields the real API returns null (TOLERATED_NULLS)."""
    headers = dict(headers or {})
    response = MockResponse(data=_encode(body) or b"", status_code=status, headers=headers,
                            content_type=_content_type(headers))
    result = spec.unmarshal_response(_mock_request(method, url), response)
    tolerated = _tolerated_by_spec[id(spec)]
    errors = [e for e in result.errors if not _only_tolerated_nulls(e, tolerated)]
    if errors:
        raise AssertionError(f"response {status} to {method.upper()} {url} violates the spec: "
                             + " | ".join(map(_describe, errors)))


def _only_tolerated_nulls(error: Exception, tolerated: frozenset[str]) -> bool:
    schema_errors = getattr(error.__cause__, "schema_errors", None)
    return bool(schema_errors) and all(
        e.instance is None and e.absolute_path and e.absolute_path[-1] in tolerated for e in schema_errors
    )


def validate_exchange(spec: OpenAPI, response: Any) -> None:
    """validate_request and validate_response for a `requests` response, using the
    exact request that was sent (response.request)."""
    sent = response.request
    validate_request(spec, sent.method, sent.url, sent.body, dict(sent.headers))
    validate_response(spec, sent.method, sent.url, response.status_code, response.content, dict(response.headers))


@contextmanager
def spec_checked_responses(spec: Callable[[], OpenAPI]) -> Iterator[responses.RequestsMock]:
    """A `responses` mock for one client's unit tests; on exit every request sent must match
    spec(). Without the reference material that last check alone is skipped (require_reference)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
        loaded = spec()
        for call in mock.calls:
            request = call.request
            validate_request(loaded, request.method, request.url, body=request.body, headers=dict(request.headers))
