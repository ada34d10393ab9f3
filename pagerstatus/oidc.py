"""The periodic sync's caller check: a Google-signed OIDC ID token.

Cloud Scheduler calls POST /_sync with `Authorization: Bearer <ID token>`,
minted by Google for the scheduler's service account (terraform/scheduler.tf).
The function is publicly invocable, so Cloud Run does not check that token;
this module does: Google's signature, expiry, issuer, the configured audience
and the scheduler's service account email.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import requests
from werkzeug.exceptions import Unauthorized

from .config import SchedulerIdentity
from .errors import UpstreamError

GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
# Scheduler's clock and ours may differ a little; Google's own libraries allow seconds, not minutes.
CLOCK_SKEW_SECONDS = 30
CERTS_TIMEOUT_SECONDS = 5


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("expected an Authorization: Bearer <Google ID token> header")
    return token.strip()


def verify_caller(authorization: str | None, identity: SchedulerIdentity,
                  session: requests.Session) -> Mapping[str, Any]:
    """The token's claims when it proves the call comes from the scheduler; Unauthorized otherwise.

    A failure to fetch Google's certificates is an UpstreamError (503, Scheduler
    retries), not a 401: the caller may well be genuine.
    """
    token = bearer_token(authorization)
    # Imported here: google.auth pulls in cryptography, which only this path needs.
    from google.auth import exceptions as auth_exceptions
    from google.auth.transport.requests import Request
    from google.oauth2 import id_token

    # verify_token fetches certificates without a timeout of its own; give it a short one.
    fetch = functools.partial(Request(session), timeout=CERTS_TIMEOUT_SECONDS)
    try:
        claims = id_token.verify_token(token, fetch, audience=identity.audience, certs_url=identity.certs_url,
                                       clock_skew_in_seconds=CLOCK_SKEW_SECONDS)
    except auth_exceptions.TransportError as exc:
        raise UpstreamError("google-certs", f"could not fetch {identity.certs_url}: {exc}") from None
    except (ValueError, auth_exceptions.GoogleAuthError) as exc:
        raise Unauthorized(f"ID token rejected: {_first_line(exc)}") from None
    _expect(claims, "iss", GOOGLE_ISSUERS)
    _expect(claims, "email", (identity.service_account,))
    if claims.get("email_verified") is not True:
        raise Unauthorized("ID token rejected: expected email_verified true")
    return claims


def _expect(claims: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> None:
    if claims.get(name) not in allowed:
        raise Unauthorized(f"ID token rejected: expected {name} {' or '.join(allowed)}, found {claims.get(name)!r}")


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
