"""The sandbox's memory: PagerDuty (pagerduty_state.py), Statuspage (statuspage_state.py),
and what tests steer and watch it with: faults, the Statuspage rate limit, the request log.

One lock guards all of it. The HTTP layer (server.py) holds it for a whole request and
steps out only to wait out a latency fault or to deliver a webhook (pagerstatus calls
back into this server meanwhile); code outside a request takes it itself. Nothing in
the state takes it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sandbox.base import Ids
from sandbox.faults import FaultTable
from sandbox.pagerduty_state import PagerDutyState
from sandbox.ratelimit import RateLimit, RateLimiter
from sandbox.statuspage_state import StatuspageState


@dataclass
class RequestRecord:
    api: str  # pagerduty | statuspage
    method: str
    path: str
    query: dict[str, list[str]]
    status: int | None  # None when the connection was dropped on purpose
    at: datetime
    # A write's JSON body as sent (e.g. whether it stated deliver_notifications); None for reads.
    body: Any = None


class SandboxState:
    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        """clock (monotonic seconds) drives the rate limit, sleep waits out latency faults;
        tests give fakes of both to make those exact."""
        self.lock = threading.Lock()
        self.sleep = sleep
        self.ids = Ids()
        self.faults = FaultTable()
        self.rate_limiter = RateLimiter(clock)
        self.reset()

    def reset(self) -> None:
        """Empty, without faults or rate limit; ids are never issued again."""
        self.pagerduty = PagerDutyState(self.ids)
        self.statuspage = StatuspageState(self.ids)
        self.requests: list[RequestRecord] = []
        self.faults.clear()
        self.rate_limiter.configure(RateLimit())

    @contextmanager
    def unlocked(self) -> Iterator[None]:
        """Let other requests in for a while, from a request holding the lock."""
        self.lock.release()
        try:
            yield
        finally:
            self.lock.acquire()
