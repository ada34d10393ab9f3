"""MemoryLock: the lease within one process, for local runs without Google Cloud (`make run`)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import LeaseLost
from .state import (
    DEFAULT_LEASE_SECONDS,
    Lease,
    Outcome,
    State,
    decide_abandon,
    decide_acquire,
    decide_check,
    decide_release,
    log_lost,
    log_outcome,
    new_holder_id,
)


class MemoryLock:
    """The same semantics as FirestoreLock, each step under one mutex.

    clock: seconds on any monotonic scale; tests pass a fake one to move time.
    """

    def __init__(self, page_id: str = "local", lease_seconds: float = DEFAULT_LEASE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.page_id = page_id
        self.lease_seconds = lease_seconds
        self._clock = clock
        self._mutex = threading.Lock()
        self._state: State[float] = State()

    def _step(self, decide: Callable[[State, float], Outcome]) -> Any:
        with self._mutex:
            try:
                outcome = decide(self._state, self._clock())
            except LeaseLost as exc:
                log_lost(exc, self.page_id, "memory")
                raise
            if outcome.write is not None:
                self._state = outcome.write
        log_outcome(outcome, self.page_id, "memory")
        return outcome.result

    def acquire(self) -> Lease | None:
        holder = new_holder_id()
        return self._step(lambda s, now: decide_acquire(s, now, now + self.lease_seconds, holder, self.page_id))

    def release(self, lease: Lease) -> bool:
        return self._step(lambda s, now: decide_release(s, lease, now + self.lease_seconds))

    def abandon(self, lease: Lease) -> None:
        self._step(lambda s, now: decide_abandon(s, lease))

    def check(self, lease: Lease) -> None:
        self._step(lambda s, now: decide_check(s, now, lease, now + self.lease_seconds))

    def snapshot(self) -> dict[str, Any]:
        """The current state, for tests and diagnostics."""
        with self._mutex:
            return self._state.as_dict()
