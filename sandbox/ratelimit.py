"""Statuspage's rate limit: 1 request/second per API token over a 60 s rolling
window, emulated as a token bucket per token (60 deep, 1 token/s).

Not locked itself: SandboxState.lock guards it like all other state.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """The limit's settings; status is 429, or 420 as Statuspage also answers."""

    enabled: bool = False
    capacity: float = 60
    refill_per_second: float = 1.0
    status: int = 429

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.refill_per_second <= 0:
            raise ValueError("capacity must be >= 1 and refill_per_second > 0")
        if self.status not in (420, 429):
            raise ValueError("status must be 420 or 429")


@dataclass
class _Bucket:
    tokens: float
    refilled_at: float


class RateLimiter:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock  # monotonic seconds
        self.configure(RateLimit())

    def configure(self, limit: RateLimit) -> None:
        """(Re)start limiting with full buckets."""
        self.limit = limit
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> int | None:
        """Spend one token for this key: None when allowed, else the whole seconds
        to wait (the Retry-After value)."""
        if not self.limit.enabled:
            return None
        clock, capacity, refill = self._clock(), self.limit.capacity, self.limit.refill_per_second
        bucket = self._buckets.setdefault(key, _Bucket(capacity, clock))
        bucket.tokens = min(capacity, bucket.tokens + (clock - bucket.refilled_at) * refill)
        bucket.refilled_at = clock
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return max(1, math.ceil((1 - bucket.tokens) / refill))
