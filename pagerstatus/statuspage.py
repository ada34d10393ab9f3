"""Statuspage REST API v1: one page's components and unresolved incidents, and writes to them."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests

from .endpoints import STATUSPAGE_API_URL
from .http import KeyedClient, TokenBucket
from .models import Component, IncidentWrite, SpIncident
from .ownership import is_owned

SERVICE = "statuspage"
PER_PAGE = 100  # Statuspage's maximum
# A page count no real status page reaches; beyond it the API is taken to ignore `page`.
MAX_PAGES = 100

# How long an instance reuses the page's component list. The list changes when
# someone edits the page, not with incidents (and sync.observe lists it afresh for a new one).
COMPONENTS_TTL_SECONDS = 300.0


class ComponentCache:
    """The page's component list, read at most once per TTL by the syncs of an instance.

    Only names and membership are taken from it: statuses come from the unresolved
    incidents, read on each sync (sync.with_current_statuses says why that suffices).
    """

    def __init__(self, ttl_seconds: float = COMPONENTS_TTL_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._components: dict[str, Component] | None = None
        self._read_at = 0.0
        # Held during a read, so that syncs starting together list the page once.
        self._lock = threading.Lock()

    def get(self, read: Callable[[], dict[str, Component]]) -> dict[str, Component]:
        with self._lock:
            if self._components is None or self._clock() - self._read_at >= self.ttl_seconds:
                read_at = self._clock()
                self._components = read()
                self._read_at = read_at
            return self._components

    def clear(self) -> None:
        with self._lock:
            self._components = None


class StatuspageClient(KeyedClient):
    """Reads and writes one page. Every failure raises UpstreamError("statuspage", ...)."""

    def __init__(self, page_id: str, api_key: str, base_url: str = STATUSPAGE_API_URL,
                 session: requests.Session | None = None, bucket: TokenBucket | None = None,
                 component_cache: ComponentCache | None = None) -> None:
        """bucket: Statuspage limits requests (reads too) per API key, not per client,
        so every client using one key must share one bucket (the Runtime's)."""
        super().__init__(SERVICE, base_url, api_key, {"Authorization": f"OAuth {api_key}"}, session)
        self.page_id = page_id
        self.bucket = bucket if bucket is not None else TokenBucket()
        self._component_cache = component_cache

    def __repr__(self) -> str:
        return f"StatuspageClient(page_id={self.page_id!r}, base_url={self.base_url!r})"

    def components(self, fresh: bool = False) -> dict[str, Component]:
        """The page's components by id, without groups: a group only gathers
        components, its status follows theirs, so a tag naming it means nothing.
        From the component cache when the client has one, unless fresh."""
        if self._component_cache is None:
            return self._read_components()
        if fresh:
            self._component_cache.clear()
        return self._component_cache.get(self._read_components)

    def _read_components(self) -> dict[str, Component]:
        return {raw["id"]: _component(raw) for raw in self._list("components") if not raw.get("group")}

    def unresolved_incidents(self) -> list[SpIncident]:
        return [_sp_incident(raw) for raw in self._list("incidents/unresolved")]

    def create_incident(self, write: IncidentWrite) -> str:
        """Open an incident, notifying subscribers; returns its id."""
        url = self._url("incidents")
        fields = {**_incident_fields(write, creating=True), "deliver_notifications": True}
        created = self._write("POST", url, fields)
        if not (isinstance(created, dict) and isinstance(created.get("id"), str)):
            raise self._unusable("POST", url, "malformed response: no incident id")
        return created["id"]

    def update_incident(self, incident_id: str, write: IncidentWrite) -> None:
        """Change the fields set in `write`, and only those."""
        self._write("PATCH", self._url(f"incidents/{incident_id}"), _incident_fields(write))

    def _url(self, path: str) -> str:
        return f"{self.base_url}/pages/{self.page_id}/{path}"

    def _write(self, method: str, url: str, fields: dict[str, Any]) -> Any:
        self.bucket.take()
        return self._send(method, url, json={"incident": fields})

    def _list(self, path: str) -> list[dict[str, Any]]:
        """All items of a list paginated by `page` / `per_page`: until a short page."""
        url = self._url(path)
        items: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            # A session with a deadline (http.ReadDeadlineSession): the wait for a token counts too.
            if not self.bucket.take(getattr(self._session, "deadline", None)):
                raise self._unusable("GET", url, "no time left to wait for Statuspage's rate limit")
            body = self._send("GET", url, params={"page": page, "per_page": PER_PAGE})
            if not (isinstance(body, list) and all(isinstance(item, dict) and isinstance(item.get("id"), str)
                                                   for item in body)):
                raise self._unusable("GET", url, "malformed response: not a list of objects with ids")
            items.extend(body)
            if len(body) < PER_PAGE:
                return items
        raise self._unusable("GET", url, f"more than {MAX_PAGES} pages of {PER_PAGE}: the list would be incomplete")


def _timestamp(value: Any) -> str:
    """ISO 8601 in UTC, one format, so that "oldest first" can compare strings."""
    try:
        return datetime.fromisoformat(value).astimezone(UTC).isoformat(timespec="microseconds")
    except (TypeError, ValueError):
        return value if isinstance(value, str) else ""


def _incident_fields(write: IncidentWrite, creating: bool = False) -> dict[str, Any]:
    fields = {name: value for name in ("name", "status", "body", "metadata")
              if (value := getattr(write, name)) is not None}
    if write.components:
        # The map sets each component's status.
        fields["components"] = dict(write.components)
        if creating:
            # component_ids is the whole list of affected components: sent on
            # create only, since on an update it would replace the incident's
            # list with just the components whose status changes.
            fields["component_ids"] = sorted(write.components)
    return fields


def _component(raw: dict[str, Any]) -> Component:
    return Component(raw["id"], raw.get("name") or "", raw.get("status") or "operational")


def _sp_incident(raw: dict[str, Any]) -> SpIncident:
    components = tuple(_component(c) for c in raw.get("components") or []
                       if isinstance(c, dict) and isinstance(c.get("id"), str))
    return SpIncident(id=raw["id"], name=raw.get("name") or "", status=raw.get("status") or "",
                      created_at=_timestamp(raw.get("created_at")), component_ids=frozenset(c.id for c in components),
                      owned=is_owned(raw), components=components)
