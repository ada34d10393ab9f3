"""Faults on demand: latency, error statuses, 429 with Retry-After and dropped
connections, per API, path, method and query string.

Not locked itself: SandboxState.lock guards it like all other state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

APIS = ("pagerduty", "statuspage")


@dataclass(kw_only=True)
class Fault:
    """One fault; a definition that cannot work raises ValueError."""

    id: int
    api: str
    # Regex matched at the start of the path below the API's base URL, so a plain
    # prefix such as "/incidents" works too ("/pages/[^/]+/incidents$" is a regex).
    path: str = ""
    method: str | None = None  # None matches every method
    # Regex searched in the raw query string, e.g. "offset=100" for the second
    # page of a PagerDuty list; "" matches every query.
    query: str = ""
    status: int | None = None  # None with latency only: delay, then answer normally
    count: int | None = None  # requests left to hit; None until the faults are cleared
    retry_after: int | None = None
    latency: float = 0.0
    drop: bool = False
    hits: int = 0

    def __post_init__(self) -> None:
        if self.api not in APIS:
            raise ValueError(f"api must be one of {APIS}")
        for name in ("path", "query"):
            try:
                re.compile(getattr(self, name))  # a bad regex fails here, not on the next request
            except re.error as invalid:
                raise ValueError(f"{name} is not a valid regex: {invalid}") from None
        if self.retry_after is not None and self.status is None:
            self.status = 429
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError("status must be a 4xx or 5xx")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1 (omit it for a fault that lasts until cleared)")
        if self.status is None and not self.drop and not self.latency:
            raise ValueError("a fault needs a status, retry_after, latency or drop")
        self.method = self.method.upper() if self.method else None

    def matches(self, api: str, method: str, path: str, query: str) -> bool:
        return (
            self.api == api
            and (self.method is None or self.method == method)
            and re.match(self.path, path) is not None
            and re.search(self.query, query) is not None
        )


class FaultTable:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._next_id = 1

    def add(self, **definition: Any) -> Fault:
        """A new fault of Fault's fields, matched after the ones added before it."""
        fault = Fault(id=self._next_id, **definition)
        self._next_id += 1
        self._faults.append(fault)
        return fault

    def take(self, api: str, method: str, path: str, query: str = "") -> Fault | None:
        """The first fault matching this request, counted as hit once."""
        for fault in self._faults:
            if fault.matches(api, method, path, query):
                fault.hits += 1
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                return fault
        return None

    def all(self) -> list[Fault]:
        return list(self._faults)

    def clear(self) -> None:
        self._faults.clear()
