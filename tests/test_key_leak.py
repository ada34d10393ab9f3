"""No key in the logs or the answers: syncs with known keys, succeeding and failing
in every way the upstreams can make them fail, including an upstream that echoes
the request's key back in its error, as it is and encoded. Everything the function
processes wrote (stdout and stderr) and every answer they gave is searched for
each key, as is and URL- or JSON-encoded, and inside anything that decodes as base64.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus

import requests
from werkzeug.wrappers import Request, Response

from pagerstatus.http import DETAIL_BODY_CHARS
from sandbox.server import BackgroundServer
from tests.harness.function import running_function
from tests.harness.sandbox import running_sandbox
from tests.harness.world import API, COMPONENTS, PAGE_ID, WEB

# Keys with the characters that encodings change.
PD_KEYS = {"alpha": "pdkey+alpha/0123456789=Secret", "beta": "pdkey+beta/9876543210=Secret"}
SP_KEY = "spkey+page/0123456789=Secret"
WEBHOOK_SECRET = "whsec+alpha/0123456789=Secret"
WEBHOOK_TOKEN = "whtok+alpha/0123456789=Secret"
KEYS = [*PD_KEYS.values(), SP_KEY, WEBHOOK_SECRET, WEBHOOK_TOKEN]
ACK = json.dumps({"event": {"event_type": "incident.acknowledged"}}).encode()


# Runs of base64 characters (either alphabet) long enough to hide a piece of a key.
BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}")


def base64_decodings(text: str) -> Iterable[str]:
    """Every run of base64 characters in text, decoded from each of its first four offsets."""
    for run in BASE64_RUN.findall(text):
        standard = run.replace("-", "+").replace("_", "/")
        for start in range(4):
            chunk = standard[start:]
            try:
                yield base64.b64decode(chunk[:len(chunk) - len(chunk) % 4]).decode("latin-1")
            except (binascii.Error, ValueError):
                continue


def leaks(text: str) -> list[str]:
    """Every key, or a long piece of one, found in text in any encoding."""
    found = []
    decoded = "\n".join(base64_decodings(text))
    for key in KEYS:
        pieces = {key[i:i + 10] for i in range(len(key) - 9)}  # also a key cut short by a trimmed message
        for piece in pieces:
            escaped = json.dumps(piece)[1:-1]
            for form in {piece, quote(piece, safe=""), quote_plus(piece), escaped, escaped.replace("/", "\\/")}:
                if form in text:
                    found.append(f"{form!r} (of {key[:6]}...)")
            if piece in decoded:
                found.append(f"{piece!r} in base64 (of {key[:6]}...)")
    return found


# How an upstream may echo a key: each of these is masked by the function's log.
ENCODINGS: dict[str, Callable[[str], str]] = {
    "url-encoded": lambda key: quote(key, safe=""),
    "form-encoded": quote_plus,
    "json-escaped": lambda key: json.dumps(key)[1:-1].replace("/", "\\/"),
    "base64": lambda key: base64.b64encode(key.encode()).decode(),
    "url-safe-base64": lambda key: base64.urlsafe_b64encode(key.encode()).decode(),
    "http-basic": lambda key: base64.b64encode(f"pagerstatus:{key}".encode()).decode(),
}


class Echo:
    """An upstream refusing the key (401, not retried) with the key in the body: the whole
    Authorization header (`full`), placed so that the cut of the body for an error message
    falls 16 characters into the key (`straddle`), or the key in one of ENCODINGS."""

    mode = "full"

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        auth = Request(environ).headers.get("Authorization", "")
        key = max((k for k in KEYS if auth.endswith(k)), key=len, default="")
        if self.mode == "full":
            body = json.dumps({"error": "denied", "you_sent": {"Authorization": auth}})
        elif self.mode == "straddle":
            scheme = auth[:len(auth) - len(key)]
            body = "E" * (DETAIL_BODY_CHARS - 16 - len(scheme)) + auth
        else:  # written out, not json.dumps'd: "\/" must reach the function as it is
            body = '{"error": "denied", "you_sent": "' + ENCODINGS[self.mode](key) + '"}'
        return Response(body, status=401, mimetype="application/json")(environ, start_response)


def signed(body: bytes) -> dict[str, str]:
    return {"X-PagerDuty-Signature": "v1=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()}


def test_no_key_in_logs_or_answers():
    answers: list[requests.Response] = []
    outputs: list[str] = []
    echo = Echo()
    with running_sandbox() as sandbox, BackgroundServer(echo) as echo_server:
        sandbox.add_page(PAGE_ID, SP_KEY, components=COMPONENTS)
        for account, key in PD_KEYS.items():
            sandbox.add_account(account, key)
        env = {"STATUSPAGE_PAGE": PAGE_ID, "STATUSPAGE_KEY": SP_KEY,
               "STATUSPAGE_API_URL": sandbox.statuspage_url, "PAGERDUTY_API_URL": sandbox.pagerduty_url,
               "PD_WEBHOOK_SECRET_ALPHA": WEBHOOK_SECRET, "PD_WEBHOOK_TOKEN_ALPHA": WEBHOOK_TOKEN,
               **{f"PD_ACCOUNT_{a.upper()}": k for a, k in PD_KEYS.items()}}

        with running_function(env) as function:
            def post(body: bytes = ACK, headers=None, account: str = "alpha") -> requests.Response:
                answers.append(function.post(f"/{account}", data=body, headers=headers or signed(body)))
                return answers[-1]

            sandbox.trigger("alpha", tags=f"component:{API}", status="acknowledged", deliver=False)
            assert post().json() == ["Performed sync"]
            assert post(headers={"X-Pagerstatus-Token": WEBHOOK_TOKEN}).json() == ["Performed sync"]
            # Wrong credentials, near the right ones.
            assert post(headers={"X-Pagerstatus-Token": WEBHOOK_TOKEN[:-1]}).status_code == 401
            assert post(headers=signed(ACK + b" ")).status_code == 401
            assert post(headers={"Authorization": f"Token token={PD_KEYS['alpha']}"}).status_code == 401

            failures = [
                ("pagerduty", "/incidents", {"status": 500}),
                ("pagerduty", "/incidents", {"drop": True}),
                ("statuspage", "", {"retry_after": 30}),  # longer than the function waits
                ("statuspage", "/pages/[^/]+/incidents$", {"method": "POST", "status": 500}),
            ]
            sandbox.trigger("beta", tags=f"component:{WEB}", status="acknowledged", deliver=False)
            for api, path, fault in failures:
                sandbox.fault(api, path, **fault)
                assert post().status_code == 503
                sandbox.clear_faults()
            sandbox.add_account("beta", "a-key-the-function-does-not-have")  # PagerDuty answers 401
            assert post().status_code == 503
            sandbox.add_account("beta", PD_KEYS["beta"])
            outputs.append(function.output())

        # Upstreams that echo the key back: PagerDuty's, then Statuspage's.
        for api_variable in ("PAGERDUTY_API_URL", "STATUSPAGE_API_URL"):
            with running_function({**env, api_variable: echo_server.url}) as function:
                for echo.mode in ("full", "straddle", *ENCODINGS):
                    answers.append(function.post("/alpha", data=ACK, headers=signed(ACK)))
                    assert answers[-1].status_code == 503
                outputs.append(function.output())

    assert leaks("\n".join(outputs)) == []
    assert leaks("\n".join(f"{a.status_code} {dict(a.headers)} {a.text}" for a in answers)) == []
    errors = [line for output in outputs for line in output.splitlines() if '"severity": "ERROR"' in line]
    assert len(errors) >= 5 + 2 * (2 + len(ENCODINGS)), errors  # every failure above was logged...
    assert sum("********" in line for line in errors) >= 2 * (2 + len(ENCODINGS)), errors  # ...echoes masked
