"""Faults on demand: latency, error statuses, 429 with Retry-After and dropped
connections, per API, path, method and query string.

Not locked itself: SandboxState.lock guards it like all other state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

APIS = ("pagerduty", "statuspage")


@dataclass
class Fault:
    id: int
    api: str
    # Regex matched at the start of the path below the API's base URL, so a plain
    # prefix such as "/incidents" works too ("/pages/[^/]+/incidents$" is a regex).
    path: str
    method: str | None  # None matches every method
    # Regex searched in the raw query string, e.g. "offset=100" for the second
    # page of a PagerDuty list; "" matches every query.
    query: str
    status: int | None  # None with latency only: delay, then answer normally
    count: int | None  # requests left to hit; None until the faults are cleared
    retry_after: int | None
    latency: float
    drop: bool
    hits: int = 0

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

    def add(
        self,
        api: str,
        path: str = "",
        method: str | None = None,
        status: int | None = None,
        count: int | None = None,
        retry_after: int | None = None,
        latency: float = 0.0,
        drop: bool = False,
        query: str = "",
    ) -> Fault:
        if api not in APIS:
            raise ValueError(f"api must be one of {APIS}")
        for name, pattern in (("path", path), ("query", query)):
            try:
                re.compile(pattern)  # a bad regex fails here, not on the next request
            except re.error as invalid:
                raise ValueError(f"{name} is not a valid regex: {invalid}") from None
        if retry_after is not None and status is None:
            status = 429
        if status is not None and not 400 <= status <= 599:
            raise ValueError("status must be a 4xx or 5xx")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1 (omit it for a fault that lasts until cleared)")
        if status is None and not drop and not latency:
            raise ValueError("a fault needs a status, retry_after, latency or drop")
        fault = Fault(
            id=self._next_id,
            api=api,
            path=path,
            method=method.upper() if method else None,
            query=query,
            status=status,
            count=count,
            retry_after=retry_after,
            latency=latency,
            drop=drop,
        )
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
