"""Time in tests: a clock that moves only when told, and waiting for a condition."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

T = TypeVar("T")


class FakeClock:
    """A settable clock, safe across threads: float seconds, or an aware datetime. sleep()
    records what it was asked and moves the clock on instead of waiting."""

    def __init__(self, start: Any = 1000.0):
        self._now = start
        self._mutex = threading.Lock()
        self.sleeps: list[float] = []

    def __call__(self) -> Any:
        with self._mutex:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._mutex:
            self._now += timedelta(seconds=seconds) if isinstance(self._now, datetime) else seconds

    def sleep(self, seconds: float) -> None:
        with self._mutex:
            self.sleeps.append(seconds)
        self.advance(seconds)


def wait_for(condition: Callable[[], T], timeout: float = 60, what: str = "the condition") -> T:
    """Poll until condition() is truthy and return it; fail after timeout (generous: a
    loaded 2-core machine). A bound on a hang, never a measure of speed."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)
    return result


class Gate:
    """A sleep() that lasts until the test opens the gate, for a sandbox's latency faults:
    a request held exactly as long as the test needs, not for a guessed time."""

    def __init__(self) -> None:
        self._sleeping = threading.Event()
        self._open = threading.Event()

    def sleep(self, seconds: float) -> None:
        self._sleeping.set()
        self._open.wait(timeout=120)  # a bound on a hang: the test opens it long before

    def wait_for_a_sleeper(self) -> None:
        wait_for(self._sleeping.is_set, what="a request held at the gate")

    def open(self) -> None:
        self._open.set()
