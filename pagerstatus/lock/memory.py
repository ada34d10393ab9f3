"""MemoryLock: the lease within one process, for local runs without Google Cloud (`make run`)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .state import DEFAULT_LEASE_SECONDS, Outcome, State, SteppedLock


class MemoryLock(SteppedLock):
    """The same semantics as FirestoreLock, each step under one mutex.

    clock: seconds on any monotonic scale; tests pass a fake one to move time.
    """

    backend = "memory"

    def __init__(self, page_id: str = "local", lease_seconds: float = DEFAULT_LEASE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.page_id = page_id
        self.lease = lease_seconds
        self._clock = clock
        self._mutex = threading.Lock()
        self._state: State[float] = State()

    def _step(self, decide: Callable[[State, float], Outcome], step: str) -> Any:
        with self._mutex:
            outcome = self.decided(decide, self._state, self._clock())
            if outcome.write is not None:
                self._state = outcome.write
        return self.logged(outcome)

    def snapshot(self) -> dict[str, Any]:
        """The current state, for tests and diagnostics."""
        with self._mutex:
            return self._state.as_dict()
