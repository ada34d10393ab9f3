"""Google Cloud client calls (Secret Manager, Firestore): one retry policy and one error mapping.

Every call carries a short total timeout and a bounded retry of transient
failures, so that an unreachable service fails a webhook (503, PagerDuty
redelivers) within PagerDuty's 5 s deadline instead of after the client
libraries' default 60 s or more. Imported only by the modules that make those
clients, which load on first use: `import main` stays free of google-api-core.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from google.api_core import exceptions as api_exceptions
from google.api_core import retry as api_retry
from google.auth import exceptions as auth_exceptions

from .errors import UpstreamError

#: Failures a repeated call may get past: the service was unavailable, overloaded or slow.
TRANSIENT = (api_exceptions.ServiceUnavailable, api_exceptions.InternalServerError,
             api_exceptions.ResourceExhausted, api_exceptions.DeadlineExceeded)
#: Failures of the call itself, not of our code: the service answered an error, or could not be reached.
CALL_FAILURES = (api_exceptions.GoogleAPICallError, api_exceptions.RetryError, auth_exceptions.TransportError,
                 auth_exceptions.RefreshError, requests.RequestException)


def call_options(timeout: float, retry: bool = True) -> dict[str, Any]:
    """retry= and timeout= for one client call: transient failures retried with
    backoff until `timeout` seconds have passed in all; retry=False for a call
    that must not be repeated blindly (a commit that may have applied)."""
    if not retry:
        return {"retry": None, "timeout": timeout}
    policy = api_retry.Retry(initial=0.05, maximum=0.5, multiplier=2.0, timeout=timeout,
                             predicate=api_retry.if_exception_type(*TRANSIENT))
    return {"retry": policy, "timeout": timeout}


def message(exc: BaseException) -> str:
    """The client error's own message, without the exception chain."""
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


@contextmanager
def upstream_errors(service: str, doing: str) -> Iterator[None]:
    """Turn a failed call into UpstreamError(service, "<doing>: <message>"); anything
    else (a bug) propagates as it is, so that it is not reported as an outage."""
    try:
        yield
    except CALL_FAILURES as exc:
        raise UpstreamError(service, f"{doing}: {message(exc)}") from exc
