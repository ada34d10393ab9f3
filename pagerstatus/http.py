"""HTTP plumbing shared by the API clients: retries, timeouts, write pacing, errors."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util import Retry, Timeout

from .errors import UpstreamError
from .log import Redactor

# (connect, read) seconds. requests waits forever unless told otherwise.
DEFAULT_TIMEOUT = (3.05, 10.0)
DEFAULT_USER_AGENT = "pagerstatus"
# Characters of a response body kept in an error's detail.
DETAIL_BODY_CHARS = 200
# The methods a Deadline bounds: reads. A write, once begun, runs to its own timeout.
READ_METHODS = frozenset({"GET", "HEAD"})
# Seconds an attempt needs at least: with less left before the deadline, none is begun.
MIN_ATTEMPT_SECONDS = 0.1
# Seconds from a request's start by which every read of its sync has ended (its retries
# too): PagerDuty waits 5 s for an answer, and a 503 it gets in time it redelivers.
# PAGERSTATUS_READ_BUDGET_SECONDS changes it.
READ_BUDGET_SECONDS = 4


class Deadline:
    """The moment by which a request's reads, and their retries, must have ended:
    `seconds` after `start` (default: when it is made), on `clock`."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic, start: float | None = None) -> None:
        self.seconds = seconds
        self._clock = clock
        self.at = (clock() if start is None else start) + seconds

    def remaining(self) -> float:
        return self.at - self._clock()


class DeadlineTimeout(Timeout):
    """A urllib3 Timeout whose every attempt ends by the deadline.

    urllib3 clones the timeout at the start of each attempt, retries included; the
    clone's total is the time left then, so no attempt outlasts the deadline.
    """

    def __init__(self, timeout: float | tuple[float, float], deadline: Deadline) -> None:
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        super().__init__(connect=connect, read=read)
        self.deadline = deadline

    def clone(self) -> Timeout:
        return Timeout(connect=self._connect, read=self._read, total=max(self.deadline.remaining(), 0.001))


class RetryPolicy(Retry):
    """When and how long to retry, for urllib3 under a requests HTTPAdapter.

    Retried: 420 and 429 (rate limited) for every method, since the server refused
    the request without acting on it; 500, 502, 503, 504 and read errors only for
    idempotent methods (urllib3's default list, without POST and PATCH: repeating
    a Statuspage POST may open a second incident, repeating a PATCH may notify
    subscribers twice); connect errors for every method, since nothing was sent.

    Between attempts it waits what the server asks: Retry-After (seconds or an HTTP
    date) or, on a 420/429 without it, Statuspage's and PagerDuty's ratelimit-reset
    (seconds until the limit's window resets); otherwise an exponential backoff.

    A server asking for more than MAX_RETRY_AFTER seconds is not retried: the failed
    response is returned at once (the clients turn it into an UpstreamError). The
    webhook caller, PagerDuty, waits 5 s for an answer and redelivers the webhook
    after a 503, later than this process could afford to wait.

    Retries exhausted on a status also return the last response rather than raise,
    so the error names the status and what the server said.
    """

    MAX_RETRIES = 3  # after the first attempt
    BACKOFF_FACTOR = 0.25  # urllib3's: no wait before the first retry, then 2, 4, ... times this
    BACKOFF_MAX = 2.0
    MAX_RETRY_AFTER = 3.0
    RATE_LIMIT_STATUSES = frozenset({420, 429})
    SERVER_ERROR_STATUSES = frozenset({500, 502, 503, 504})

    def __init__(self, total: bool | int | None = MAX_RETRIES, *, max_retry_after: float = MAX_RETRY_AFTER,
                 sleep: Callable[[float], None] = time.sleep, deadline: Deadline | None = None,
                 **kwargs: Any) -> None:
        """deadline: no retry, and no wait before one, past it (until() sets it per request)."""
        kwargs.setdefault("status_forcelist", self.RATE_LIMIT_STATUSES | self.SERVER_ERROR_STATUSES)
        kwargs.setdefault("backoff_factor", self.BACKOFF_FACTOR)
        kwargs.setdefault("backoff_max", self.BACKOFF_MAX)
        kwargs.setdefault("raise_on_status", False)
        # Errors that are neither connect nor read errors (TLS, proxy) may strike
        # after the request went out; not retried, for any method.
        kwargs.setdefault("other", 0)
        super().__init__(total, **kwargs)
        self.max_retry_after = max_retry_after
        self.sleep_func = sleep
        self.deadline = deadline

    def new(self, **kw: Any) -> RetryPolicy:
        # urllib3 builds a fresh instance on every attempt; keep our own parameters.
        kw.setdefault("max_retry_after", self.max_retry_after)
        kw.setdefault("sleep", self.sleep_func)
        kw.setdefault("deadline", self.deadline)
        return super().new(**kw)

    def until(self, deadline: Deadline) -> RetryPolicy:
        """This policy, retrying only while the next attempt can begin before `deadline`."""
        return self.new(deadline=deadline)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code in self.RATE_LIMIT_STATUSES:
            return True
        # Anything else only for methods in allowed_methods (idempotent ones).
        return super().is_retry(method, status_code, has_retry_after)

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        """Seconds the server asked to wait, or None when it did not say (or garbled it)."""
        try:
            seconds = super().get_retry_after(response)
            # ratelimit-reset comes with every answer; only a rate-limit answer asks to wait for it.
            reset = response.headers.get("ratelimit-reset")
            if seconds is None and reset is not None and response.status in self.RATE_LIMIT_STATUSES:
                seconds = self.parse_retry_after(reset)
        except InvalidHeader:
            return None
        return seconds

    def _requested_wait(self, response: BaseHTTPResponse | None) -> float | None:
        if response is None or not self.respect_retry_after_header:
            return None
        return self.get_retry_after(response)

    def increment(self, method: str | None = None, url: str | None = None, response: BaseHTTPResponse | None = None,
                  error: Exception | None = None, _pool: ConnectionPool | None = None,
                  _stacktrace: TracebackType | None = None) -> RetryPolicy:
        wait = self._requested_wait(response)
        if wait is not None and wait > self.max_retry_after:
            # Give up now; urllib3 returns the response since raise_on_status is off.
            reason = ResponseError(f"server asked to wait {wait:.0f} s, more than {self.max_retry_after:g} s")
            raise MaxRetryError(_pool, url, reason)  # type: ignore[arg-type]
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if self.deadline is not None and \
                retry.wait_before_retry(response) + MIN_ATTEMPT_SECONDS >= self.deadline.remaining():
            # The next attempt would begin past the deadline: the last answer (or error) stands.
            raise MaxRetryError(_pool, url, error or ResponseError("no time left for another attempt"))  # type: ignore[arg-type]
        return retry

    def wait_before_retry(self, response: BaseHTTPResponse | None = None) -> float:
        """Seconds to wait before the next attempt: what the server asked, else the backoff."""
        return self._requested_wait(response) or self.get_backoff_time()

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        wait = self.wait_before_retry(response)
        if wait > 0:
            self.sleep_func(wait)


class TimeoutSession(requests.Session):
    """A Session whose requests time out by default: requests has no session-wide timeout."""

    #: When reads must end; None: each read has only its own timeout and retries.
    deadline: Deadline | None = None

    def __init__(self, timeout: float | tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any,  # type: ignore[override]
                **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)

    def until(self, deadline: Deadline) -> ReadDeadlineSession:
        """A view of this session whose reads end by `deadline` (its connection pools are this one's)."""
        return ReadDeadlineSession(self, deadline)


class _SharedPoolAdapter(HTTPAdapter):
    """An adapter with its own retry policy over another adapter's connection pools."""

    def __init__(self, pools_of: HTTPAdapter, retry: Retry) -> None:
        self._pools_of = pools_of
        super().__init__(max_retries=retry)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        self.poolmanager = self._pools_of.poolmanager


class ReadDeadlineSession(TimeoutSession):
    """A session for one request's sync: its reads (GET, HEAD) and their retries end by the
    deadline, each attempt's timeout cut to the time left and no retry or wait past it;
    a read that would outlast it fails as a timeout. Writes go through the parent session
    as they would without a deadline: once planned, they run to completion.

    Made per request and dropped after it, never closed: the pools are the parent's.
    """

    def __init__(self, parent: TimeoutSession, deadline: Deadline) -> None:
        super().__init__(parent.timeout)
        self.parent = parent
        self.deadline = deadline
        self.headers = parent.headers.copy()
        for prefix, adapter in parent.adapters.items():
            retry = adapter.max_retries
            if not isinstance(retry, RetryPolicy):
                raise TypeError(f"a deadline needs a RetryPolicy, found {type(retry).__name__}")
            self.mount(prefix, _SharedPoolAdapter(adapter, retry.until(deadline)))

    def request(self, method: str | bytes, url: str | bytes, *args: Any,  # type: ignore[override]
                **kwargs: Any) -> requests.Response:
        verb = method.decode() if isinstance(method, bytes) else method
        if verb.upper() not in READ_METHODS:
            return self.parent.request(method, url, *args, **kwargs)
        if self.deadline.remaining() < MIN_ATTEMPT_SECONDS:
            raise requests.Timeout(f"no time left for a read (the budget was {self.deadline.seconds:g} s)")
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = DeadlineTimeout(self.timeout, self.deadline)
        return super().request(method, url, *args, **kwargs)


def make_session(retry: Retry | None = None, user_agent: str = DEFAULT_USER_AGENT,
                 timeout: float | tuple[float, float] = DEFAULT_TIMEOUT) -> TimeoutSession:
    """A session that retries with `retry` (default RetryPolicy()) and times out.

    It carries no credentials, so several clients (accounts) can share its
    connection pools; each client sends its key with every request.
    """
    session = TimeoutSession(timeout)
    adapter = HTTPAdapter(max_retries=retry if retry is not None else RetryPolicy())
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


class TokenBucket:
    """Paces calls to a rate limit measured over a rolling window.

    Holds up to `capacity` tokens and gains `rate` tokens a second; take() spends
    one, waiting when none is left. Statuspage allows 1 request/s per key averaged
    over 60 s: a 60-deep bucket at 1/s lets a sync's few writes go out at once
    instead of one a second, which would overrun PagerDuty's 5 s webhook deadline.
    """

    def __init__(self, capacity: int = 60, rate: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.capacity = capacity
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        # Full at start: a new process assumes the key's recent window was quiet.
        self._tokens = float(capacity)
        self._refilled_at = clock()
        self._lock = threading.Lock()

    def take(self, deadline: Deadline | None = None) -> bool:
        """Spend one token, blocking until it is available; True once spent.

        deadline: False at once, spending nothing, if the token would come after it.
        """
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._refilled_at) * self.rate)
            self._refilled_at = now
            wait = (1 - self._tokens) / self.rate
            if deadline is not None and wait > deadline.remaining():
                return False
            # Reserve the token now, even if it is not there yet: a negative balance
            # queues the waiters, each sleeping until its own token has accrued.
            self._tokens -= 1
        if wait > 0:
            self._sleep(wait)
        return True


def send_json(session: requests.Session, service: str, method: str, url: str,
              redact: Callable[[str], str] = str, **kwargs: Any) -> Any:
    """Send one request and return its decoded JSON body.

    Raises UpstreamError(service, ...) when the request fails, the answer is not
    a success (after the session's retries) or its body is not JSON. redact
    masks the caller's key in the error's detail (an upstream may echo it).
    """
    try:
        response = session.request(method, url, **kwargs)
    except requests.RequestException as exc:
        # from None: a chained exception could carry a header value.
        raise upstream_error(service, exc, redact=redact) from None
    if not response.ok:
        raise upstream_error(service, response, redact=redact)
    try:
        return response.json()
    except ValueError:
        raise upstream_error(service, response, "malformed response: not JSON", redact) from None


def upstream_error(service: str, failure: requests.Response | requests.RequestException,
                   problem: str | None = None, redact: Callable[[str], str] = str) -> UpstreamError:
    """An UpstreamError with a short detail: method, path, then the status and a
    trimmed body (or `problem`), or the exception. Never headers: keys travel in them.
    Keys are masked before trimming: a cut through a key would leave its start unmasked."""
    if isinstance(failure, requests.Response):
        body = problem or _trim(redact(failure.text))
        detail = f"{_request_line(failure.request)} answered {failure.status_code}: {body}"
        return UpstreamError(service, redact(detail), status=failure.status_code)
    detail = f"{_request_line(failure.request)} failed: {type(failure).__name__}: {_trim(redact(_reason(failure)))}"
    return UpstreamError(service, redact(detail))


def request_error(service: str, method: str, url: str, problem: str) -> UpstreamError:
    """A successful answer the client cannot use, e.g. not of the documented shape."""
    return UpstreamError(service, f"{method} {urlsplit(url).path}: {problem}")


class KeyedClient:
    """A client of one JSON API called with one key; every failure raises UpstreamError(service, ...).

    The key travels in each request's headers, not on the session, which clients of
    several accounts share; it is masked in error details, should the API echo it.
    """

    def __init__(self, service: str, base_url: str, key: str, headers: dict[str, str],
                 session: requests.Session | None) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self._session = session if session is not None else make_session()
        self._headers = headers
        self._redactor = Redactor()
        self._redactor.add(key)

    def _send(self, method: str, url: str, **kwargs: Any) -> Any:
        return send_json(self._session, self.service, method, url, self._redactor.redact,
                         headers=self._headers, **kwargs)

    def _unusable(self, method: str, url: str, problem: str) -> UpstreamError:
        return request_error(self.service, method, url, problem)


def _request_line(request: requests.PreparedRequest | None) -> str:
    # The path without the query string: short, and enough to tell the calls apart.
    if request is None or request.url is None:
        return "request"
    return f"{request.method} {urlsplit(request.url).path}"


def _reason(exc: requests.RequestException) -> str:
    # requests wraps urllib3's MaxRetryError, whose reason is the useful part.
    wrapped = exc.args[0] if exc.args else exc
    return str(getattr(wrapped, "reason", None) or wrapped)


def _trim(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_BODY_CHARS else text[:DETAIL_BODY_CHARS] + "..."
