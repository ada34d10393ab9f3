"""The periodic sync's caller check: a Google-signed OIDC ID token.

Cloud Scheduler calls POST /_sync with `Authorization: Bearer <ID token>`,
minted by Google for the scheduler's service account (terraform/scheduler.tf).
The function is publicly invocable, so Cloud Run does not check that token;
this module does: Google's signature, expiry, issuer, the configured audience
and the scheduler's service account email.

Anyone can send a token, so a bad one must cost next to nothing: a token not
shaped like a Google ID token (an RS256 JWT naming its key) is refused before
any fetch; Google's certificates are cached as long as their Cache-Control
allows, and an unknown key id fetches them again at most once a minute. A
refusal answers only "ID token rejected"; what was wrong goes to the log.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from werkzeug.exceptions import Unauthorized

from . import log
from .config import SchedulerIdentity
from .http import Deadline, TimeoutSession, upstream_error

SERVICE = "google-certs"
GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
# Scheduler's clock and ours may differ a little; Google's own libraries allow seconds, not minutes.
CLOCK_SKEW_SECONDS = 30
# Google signs ID tokens with RS256 only.
ALGORITHM = "RS256"
# A key id the cached certificates lack sends for them again at most this often: Google adds
# a key before it signs with it, and a forger must not be able to make us fetch on every call.
UNKNOWN_KEY_REFETCH_SECONDS = 60.0
REJECTED = "ID token rejected"
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)\s*(?:,|$)", re.IGNORECASE)
_NOT_STORED = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)", re.IGNORECASE)


class Rejected(Unauthorized):
    """A 401 whose answer says only that the token was rejected; `reason` is for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(REJECTED)
        self.reason = reason


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("expected an Authorization: Bearer <Google ID token> header")
    return token.strip()


def key_id(token: str) -> str:
    """The key id of a token shaped like a Google ID token: three base64url segments, the
    first a JSON header with alg RS256 and a kid, the second a JSON object, the third not
    empty. Rejected otherwise, having fetched nothing."""
    segments = token.split(".")
    if len(segments) != 3 or not all(segments):
        raise Rejected("not a JWT: expected three non-empty dot-separated segments")
    header, payload = (_json_segment(segment) for segment in segments[:2])
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise Rejected("not a JWT: expected a JSON object in its header and payload")
    if header.get("alg") != ALGORITHM:
        raise Rejected(f"expected alg {ALGORITHM}, found {str(header.get('alg'))[:20]!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Rejected("expected a key id (kid) in the token's header")
    return kid


def _json_segment(segment: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None


class GoogleCertificates:
    """Google's public certificates ({key id: PEM}) from `url`, cached per Cache-Control.

    One fetch at a time; requests arriving meanwhile wait for it and use its answer.
    A failed fetch, or an answer that is not such a map of loadable certificates, is an
    UpstreamError (503): the caller may well be genuine, Scheduler retries.
    """

    def __init__(self, url: str, session: TimeoutSession, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self._session = session
        self._clock = clock
        self._lock = threading.Lock()
        self._certs: dict[str, str] = {}
        self._fetched_at = float("-inf")
        self._fresh_until = float("-inf")

    def for_key(self, kid: str, deadline: Deadline | None = None) -> dict[str, str]:
        """Certificates that include kid's if Google publishes it; fetched only when the
        cached ones have expired, or lack kid and were fetched over a minute ago."""
        with self._lock:
            now = self._clock()
            expired = now >= self._fresh_until
            may_refetch = now - self._fetched_at >= UNKNOWN_KEY_REFETCH_SECONDS
            if expired or (kid not in self._certs and may_refetch):
                self._fetch(deadline)
            return self._certs

    def _fetch(self, deadline: Deadline | None) -> None:
        session = self._session if deadline is None else self._session.until(deadline)
        try:
            response = session.get(self.url)
        except requests.RequestException as exc:
            raise upstream_error(SERVICE, exc) from None
        if not response.ok:
            raise upstream_error(SERVICE, response)
        fetched_at = self._clock()
        self._certs = _certificates(response)
        self._fetched_at = fetched_at
        self._fresh_until = fetched_at + _max_age(response.headers)


def _certificates(response: requests.Response) -> dict[str, str]:
    from google.auth import crypt  # google.auth pulls in cryptography, which only this path needs

    try:
        certs = response.json()
    except ValueError:
        raise upstream_error(SERVICE, response, "malformed response: not JSON") from None
    if not (isinstance(certs, dict) and certs and all(isinstance(k, str) and isinstance(v, str)
                                                      for k, v in certs.items())):
        raise upstream_error(SERVICE, response, "malformed response: expected a map of key ids to certificates")
    for kid, pem in certs.items():
        try:
            crypt.RSAVerifier.from_string(pem)
        except (ValueError, TypeError, IndexError):
            raise upstream_error(SERVICE, response, f"malformed response: no certificate for key {kid[:40]!r}") \
                from None
    return certs


def _max_age(headers: Mapping[str, str]) -> float:
    """Seconds the answer may be reused: Cache-Control's max-age less its Age; 0 if none."""
    cache_control = headers.get("Cache-Control", "")
    match = _MAX_AGE.search(cache_control)
    if match is None or _NOT_STORED.search(cache_control):
        return 0.0
    age = headers.get("Age", "0").strip()
    return max(0.0, float(match.group(1)) - (float(age) if age.isdigit() else 0.0))


def verify_caller(authorization: str | None, identity: SchedulerIdentity, certificates: GoogleCertificates,
                  deadline: Deadline | None = None) -> Mapping[str, Any]:
    """The token's claims when it proves the call comes from the scheduler; Unauthorized otherwise.

    deadline: when the certificates' fetch, if one is needed, must end.
    """
    try:
        token = bearer_token(authorization)
        claims = _verified_claims(token, identity, certificates, deadline)
    except Rejected as rejected:
        log.warning("periodic sync refused: ID token rejected", action="refused", reason=rejected.reason)
        raise
    return claims


def _verified_claims(token: str, identity: SchedulerIdentity, certificates: GoogleCertificates,
                     deadline: Deadline | None) -> Mapping[str, Any]:
    kid = key_id(token)
    certs = certificates.for_key(kid, deadline)
    if kid not in certs:
        raise Rejected(f"no Google certificate for key id {kid[:40]!r}")
    from google.auth import exceptions as auth_exceptions
    from google.auth import jwt

    try:
        claims = jwt.decode(token, certs=certs, audience=identity.audience, clock_skew_in_seconds=CLOCK_SKEW_SECONDS)
    except (ValueError, auth_exceptions.GoogleAuthError) as exc:
        raise Rejected(_first_line(exc)) from None
    _expect(claims, "iss", GOOGLE_ISSUERS)
    _expect(claims, "email", (identity.service_account,))
    if claims.get("email_verified") is not True:
        raise Rejected("expected email_verified true")
    return claims


def _expect(claims: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> None:
    if claims.get(name) not in allowed:
        raise Rejected(f"expected {name} {' or '.join(allowed)}, found {str(claims.get(name))[:100]!r}")


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
