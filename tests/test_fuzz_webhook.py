"""Fuzzing the webhook endpoint: whatever arrives, never a 5xx, never a stack
trace in the answer, and never a sync for a request that fails authentication.

The bulk runs in-process through the real functions-framework app (Flask's test
client, fed WSGI environs as gunicorn builds them), a smaller batch over real HTTP
to a functions-framework process; both sync against the sandbox. The spy is the
sandbox's request log: a request that starts a sync reads PagerDuty, one that does
not leaves the log as it was.
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import io
import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes, urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder, run_wsgi_app

from pagerstatus import log
from pagerstatus.app import MAX_BODY_BYTES, Service
from pagerstatus.http import TokenBucket
from pagerstatus.runtime import Runtime
from sandbox.launcher import REPO
from tests.harness.function import running_function
from tests.harness.sandbox import Sandbox, running_sandbox
from tests.harness.world import API, COMPONENTS, PAGE_ID, SP_KEY, function_env, pd_key

SECRET = "whsec-fuzz-0123456789"
TOKEN = "token-fuzz-0123456789"
# The account with a secret and a token; one without either, open to anyone
# (PAGERSTATUS_ALLOW_UNAUTHENTICATED); and one without either, not open: closed to all.
LOCKED, OPEN, CLOSED = "locked", "open", "closed"
FUZZ = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))


def signature(body: bytes) -> str:
    """The locked account's V3 signature of body."""
    return "v1=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


# --- what a request can be ---------------------------------------------------

@dataclass(frozen=True)
class Fuzzed:
    method: str
    path: str  # percent-encoded where it must be, invalid escapes left as they are
    body: bytes
    headers: tuple[tuple[str, str], ...]

    @property
    def authenticated(self) -> bool:
        """Carries the locked account's token or a signature of this body, in any header."""
        valid = signature(self.body)
        return any(valid in value or TOKEN in value for _, value in self.headers)

    @property
    def account(self) -> str | None:
        path = urlsplit(self.path).path.strip("/").lower()
        return path if path in (LOCKED, OPEN, CLOSED) else None


SYNC_EVENTS = ["incident.acknowledge", "incident.triggered", "incident.resolved", "pagerstatus.resync"]
OTHER_EVENTS = ["incident.assign", "service.updated", "pagey.ping", "", "x" * 300]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
event_names = st.sampled_from(SYNC_EVENTS + OTHER_EVENTS) | st.text(max_size=30)
payloads = st.one_of(
    st.builds(lambda events: {"messages": [{"event": e} for e in events]}, st.lists(event_names, max_size=5)),
    st.builds(lambda e: {"event": {"event_type": e}}, event_names),
    # Right keys, wrong types.
    st.builds(lambda v: {"messages": v}, json_values),
    st.builds(lambda v: {"event": v}, json_values),
    st.builds(lambda v: {"event": {"event_type": v}}, json_values),
    st.builds(lambda v: {"messages": [{"event": v}]}, json_values),
    json_values,
)


def _nested(depth: int, kind: str) -> bytes:
    opening, closing = {"list": ("[", "]"), "dict": ('{"a":', "}"), "v3": ('{"event":', "}")}[kind]
    return (opening * depth + "1" + closing * depth).encode()


sync_payloads = st.one_of(st.builds(lambda e: {"messages": [{"event": e}]}, st.sampled_from(SYNC_EVENTS)),
                          st.builds(lambda e: {"event": {"event_type": e}}, st.sampled_from(SYNC_EVENTS)))
bodies = st.one_of(
    sync_payloads.map(lambda p: json.dumps(p).encode()),
    payloads.map(lambda p: json.dumps(p).encode()),
    payloads.map(lambda p: json.dumps(p, ensure_ascii=False).encode("utf-16")),
    st.binary(max_size=200),  # invalid UTF-8 mostly
    st.builds(lambda p, junk: json.dumps(p).encode()[:-1] + junk, payloads, st.binary(min_size=1, max_size=8)),
    # Deep nesting, open or balanced.
    st.builds(_nested, st.integers(1, 200_000), st.sampled_from(["list", "dict", "v3"])),
    st.integers(1, 200_000).map(lambda n: b"[" * n),
    # Huge: up to two megabytes, of padding around a valid payload or of one long string.
    st.integers(1, 2_000_000).map(lambda n: b" " * n + b'{"event": {"event_type": "incident.triggered"}}'),
    st.integers(1, 2_000_000).map(lambda n: b'{"messages": [{"event": "' + b"a" * n + b'"}]}'),
    st.integers(4_301, 20_000).map(lambda n: b'{"event": {"event_type": ' + b"9" * n + b"}}"),
)

# Weighted towards what can start a sync: a POST to an account with a sync event.
METHODS = ["POST"] * 8 + ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND", "BREW"]
path_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
paths = st.one_of(
    st.sampled_from([f"/{LOCKED}", f"/{OPEN}", "/LoCkEd", f"/{CLOSED}"]),
    st.sampled_from([f"/{LOCKED}", f"/{OPEN}", "/LoCkEd", f"/{LOCKED}/", f"//{LOCKED}", f"/{LOCKED}/x",
                     "/", "/_sync", "/robots.txt", "/nobody", f"/{LOCKED}%00", "/%ff%fe", f"/{LOCKED}?a=%ff",
                     "/.." + f"/{LOCKED}", "/" + "a" * 70, "/" + "a" * 10_000]),
    # Anything, percent-encoded as a client would; "%" kept raw makes invalid escapes.
    path_text.map(lambda t: "/" + quote(t.encode("utf-8", "surrogatepass"), safe="/%?&=;")),
)
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
                        max_size=60).map(str.strip)


@st.composite
def requests_(draw: st.DrawFn) -> Fuzzed:
    body = draw(bodies)
    valid = signature(body)
    credentials = draw(st.sampled_from(["none", "wrong", "signature", "token", "both", "rotation"]))
    headers: list[tuple[str, str]] = []
    if credentials == "wrong":
        headers += [("X-PagerDuty-Signature", draw(st.sampled_from([
            "v1=" + hmac.new(b"other-secret", body, hashlib.sha256).hexdigest(),  # right shape, wrong key
            "v1=" + hmac.new(SECRET.encode(), body + b" ", hashlib.sha256).hexdigest(),  # right key, other body
            valid[:-1], "v0=" + valid[3:], valid.upper(), "", ",", "v1=" + "0" * 64,
        ]) | header_values)), ("X-Pagerstatus-Token", draw(st.sampled_from([TOKEN[:-1], "x" + TOKEN[1:], TOKEN.upper()])
                                                          | header_values))]
    if credentials in ("signature", "both"):
        headers.append(("X-PagerDuty-Signature", valid))
    if credentials == "rotation":
        headers.append(("X-PagerDuty-Signature", f"v1={'0' * 64}, {valid}"))
    if credentials in ("token", "both"):
        headers.append(("X-Pagerstatus-Token", TOKEN))
    # Repeated webhook ids, other headers, a stray Content-Type.
    headers += [("X-Webhook-Id", value) for value in draw(st.lists(header_values, max_size=4))]
    headers += draw(st.lists(st.tuples(st.sampled_from(["Content-Type", "X-Webhook-Subscription", "User-Agent",
                                                         "Authorization", "Accept", "X-Forwarded-For"]),
                                       header_values), max_size=3))
    headers = draw(st.permutations(headers))
    return Fuzzed(draw(st.sampled_from(METHODS)), draw(paths), body, tuple(headers))


# --- the properties ----------------------------------------------------------

def server_answered(status: int, text: str) -> bool:
    """Answers of the layers below the app: werkzeug's redirect of "//x" to "/x", and
    gunicorn's 400 page for a request it will not parse (a repeated Content-Type)."""
    return 300 <= status < 400 or (status == 400 and "<title>Bad Request</title>" in text)


def check(request: Fuzzed, status: int, text: str, content_type: str, upstream_calls: int, seen: Counter) -> None:
    assert status < 500, f"{status} {text[:300]}"
    assert "Traceback" not in text and 'File "' not in text, text[:500]
    if request.method != "HEAD" and not server_answered(status, text):
        assert content_type.startswith("application/json"), (status, content_type, text[:200])
        if status >= 400:
            answer = json.loads(text)
            assert set(answer) == {"error"} and isinstance(answer["error"], str)
    if status >= 400:
        assert upstream_calls == 0, f"{status} yet a sync ran ({upstream_calls} API calls)"
    refused = (401, 413)  # 413: a body over the limit is refused before anything else
    if request.account == LOCKED and request.method == "POST" and not request.authenticated:
        assert upstream_calls == 0 and (status in refused or server_answered(status, text)), (status, text[:200])
    if request.account == CLOSED and request.method == "POST":  # whatever it carries
        assert upstream_calls == 0 and (status in refused or server_answered(status, text)), (status, text[:200])
    if len(request.body) > MAX_BODY_BYTES:
        assert status != 200 and upstream_calls == 0, (status, text[:200])
    if status == 200 and text == '["Performed sync"]':
        assert upstream_calls > 0  # the spy sees syncs: a quiet log above means none ran
    seen[status] += 1
    seen["synced"] += upstream_calls > 0


@pytest.fixture(scope="module")
def upstream() -> Iterator[Sandbox]:
    with running_sandbox() as sandbox:
        sandbox.add_page(PAGE_ID, SP_KEY, components=COMPONENTS)
        for account in (LOCKED, OPEN, CLOSED):
            sandbox.add_account(account, pd_key(account))
        sandbox.trigger(OPEN, tags=f"component:{API}", status="acknowledged", deliver=False)
        yield sandbox


def upstream_calls(sandbox: Sandbox) -> int:
    with sandbox.state.lock:
        return len(sandbox.state.requests)


@pytest.fixture(scope="module")
def env(upstream: Sandbox) -> dict[str, str]:
    return function_env(upstream, [LOCKED, OPEN, CLOSED], PD_WEBHOOK_SECRET_LOCKED=SECRET,
                        PD_WEBHOOK_TOKEN_LOCKED=TOKEN, PAGERSTATUS_ALLOW_UNAUTHENTICATED=OPEN)


@pytest.fixture(scope="module")
def app_in_process(env: dict[str, str]):
    """The functions-framework app in this process, configured for the sandbox, and the
    buffer its log lines go to."""
    import functions_framework

    app = functions_framework.create_app(target="pagerstatus", source=str(REPO / "main.py"))
    main = sys.modules["main"]  # the module functions-framework just loaded
    # Thousands of syncs in a minute: Statuspage's pacing would make this an hour.
    main.service = Service(lambda: Runtime.from_environment(env, redactor=main.redactor,
                                                            make_bucket=lambda: TokenBucket(capacity=1_000_000)))
    logs = io.StringIO()
    log.configure(logs)
    try:
        yield app, logs
    finally:
        log.configure(None)


RESYNC = b'{"event": {"event_type": "pagerstatus.resync"}}'
# Regressions and corners worth keeping whatever hypothesis draws.
REGRESSIONS = [
    # Authenticated syncs, each way: the spy must see them.
    Fuzzed("POST", f"/{LOCKED}", RESYNC, (("X-PagerDuty-Signature", signature(RESYNC)),)),
    Fuzzed("POST", f"/{LOCKED}", RESYNC, (("X-Pagerstatus-Token", TOKEN),)),
    Fuzzed("POST", f"/{OPEN}", RESYNC, ()),
    Fuzzed("POST", f"/{CLOSED}", RESYNC, ()),
    # The locked account's credentials open no other account.
    Fuzzed("POST", f"/{CLOSED}", RESYNC, (("X-Pagerstatus-Token", TOKEN),
                                          ("X-PagerDuty-Signature", signature(RESYNC)))),
    Fuzzed("POST", f"/{OPEN}", b" " * 300_000 + RESYNC, ()),
    Fuzzed("POST", f"/{LOCKED}", b'{"event": {"event_type": "incident.triggered"}}',
           (("X-PagerDuty-Signature", f"v1={'0' * 64}"), ("X-Webhook-Id", "a"), ("X-Webhook-Id", "a"))),
    Fuzzed("POST", f"/{OPEN}", b"\xff\xfe\xfd", ()),
    Fuzzed("POST", f"/{OPEN}", _nested(100_000, "v3"), ()),
    Fuzzed("POST", "/%ff%fe", b"{}", ()),
    # functions-framework's router answered these with an HTML 404 (main.py now makes it JSON).
    Fuzzed("POST", "/0%0A", b"{}", ()),
    Fuzzed("GET", "/robots.txt", b"", ()),
    # Flask's test client took "//..." for a URL with a host and failed on it (see wsgi_environ).
    Fuzzed("POST", "//0%3A%3A%C2%80", b'{"messages": []}', ()),
    Fuzzed("POST", "//%5B", b'{"messages": [{"event": "incident.acknowledge"}]}', ()),
]


def wsgi_environ(request: Fuzzed) -> dict:
    """The request as gunicorn hands it to the app: PATH_INFO percent-decoded to bytes, as
    latin-1. It is run as it is (run_wsgi_app): Flask's test client would parse a path such
    as "//x" again, as a URL with a host, and fail on "//[" before the app saw it."""
    path, _, query = request.path.partition("?")
    builder = EnvironBuilder(method=request.method, data=request.body, headers=list(request.headers))
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    environ.update(PATH_INFO=unquote_to_bytes(path).decode("latin-1"), QUERY_STRING=query,
                   REQUEST_URI=request.path, RAW_URI=request.path)
    return environ


def fuzz(max_examples: int):
    """@given over fuzzed requests, with the regressions as explicit examples."""
    def decorate(test):
        for regression in REGRESSIONS:
            test = example(regression)(test)
        return settings(FUZZ, max_examples=max_examples)(given(requests_())(test))
    return decorate


def test_fuzzed_requests_in_process(app_in_process, upstream: Sandbox) -> None:
    app, logs = app_in_process
    seen: Counter = Counter()

    @fuzz(max_examples=2000)
    def in_process(request: Fuzzed) -> None:
        before = upstream_calls(upstream)
        body, status, headers = run_wsgi_app(app, wsgi_environ(request), buffered=True)
        check(request, int(status.split()[0]), b"".join(body).decode(errors="replace"),
              headers.get("Content-Type", ""), upstream_calls(upstream) - before, seen)

    in_process()
    # The fuzz reached every kind of answer, so the properties above were tested.
    assert min(seen[401], seen[400], seen[404], seen[405]) > 50 and seen["synced"] > 10 and seen[413] > 10, seen
    # Nothing went wrong behind a 4xx either.
    assert '"severity": "ERROR"' not in logs.getvalue(), logs.getvalue()[-2000:]


def send(url: str, request: Fuzzed) -> tuple[int, str, str]:
    """One request as bytes on the wire, headers repeated as drawn (requests would merge them)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.putrequest(request.method, request.path, skip_accept_encoding=True)
        for name, value in request.headers:
            connection.putheader(name, value.encode("latin-1"))
        connection.putheader("Content-Length", str(len(request.body)))
        connection.endheaders(request.body)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace"), response.getheader("Content-Type", "")
    finally:
        connection.close()


def test_fuzzed_requests_over_http(upstream: Sandbox, env: dict[str, str]) -> None:
    seen: Counter = Counter()
    with running_function(env) as function:
        @fuzz(max_examples=300)
        def over_http(request: Fuzzed) -> None:
            before = upstream_calls(upstream)
            status, text, content_type = send(function.url, request)
            check(request, status, text, content_type, upstream_calls(upstream) - before, seen)

        over_http()
        # Nothing went wrong behind a 4xx either.
        assert not [e for e in function.logs() if e.get("severity") == "ERROR"], function.output()[-2000:]
    assert seen[401] > 10 and seen["synced"] > 0, seen
