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
from .models import Component, IncidentWrite, SpIncident, moment
from .ownership import carries_legacy_watermark, has_our_metadata, opened_for

SERVICE = "statuspage"
PER_PAGE = 100  # Statuspage's maximum
# A page count no real status page reaches; beyond it the API is taken to ignore `page`.
MAX_PAGES = 100

# Writes under way at once in a sync, over all its pages (PAGERSTATUS_WRITES_IN_FLIGHT). Each
# still takes a token of the key's bucket, 60 deep: 8 at 250 ms a write open 40 components in
# about 1.3 s instead of 10 s one after another, and a full bucket lets them go at once.
WRITES_IN_FLIGHT = 8

# How long an instance reuses the page's component list. The list changes when
# someone edits the page, not with incidents (and sync.observe lists it afresh for a new one).
COMPONENTS_TTL_SECONDS = 300.0


class ComponentCache:
    """The page's component list, read at most once per TTL by the syncs of an instance.

    Names, groups and membership are taken from it; statuses come from the unresolved
    incidents, read on each sync (sync.with_current_statuses says why that suffices),
    except where an open needs a status no incident shows (sync.sync_once asks for a
    younger copy then).
    """

    def __init__(self, ttl_seconds: float = COMPONENTS_TTL_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._components: dict[str, Component] | None = None
        self._read_at = 0.0
        # Held during a read, so that syncs starting together list the page once.
        self._lock = threading.Lock()

    def get(self, read: Callable[[], dict[str, Component]], max_age: float | None = None) -> dict[str, Component]:
        """max_age: seconds; a copy older than that, or than the TTL, is read again (0: always)."""
        with self._lock:
            limit = self.ttl_seconds if max_age is None else min(max_age, self.ttl_seconds)
            if self._components is None or self._clock() - self._read_at >= limit:
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

    def components(self, max_age: float | None = None) -> dict[str, Component]:
        """The page's components and component groups by id: "known on this page" is one
        lookup for either; a group is marked group=True, its members carry its group_id.
        From the component cache when the client has one, unless its copy is older than
        max_age seconds (0: read now; None: the cache's TTL)."""
        if self._component_cache is None:
            return self._read_components()
        return self._component_cache.get(self._read_components, max_age)

    def _read_components(self) -> dict[str, Component]:
        return {raw["id"]: _component(raw) for raw in self._list("components")}

    def unresolved_incidents(self) -> list[SpIncident]:
        return [_sp_incident(raw) for raw in self._list("incidents/unresolved")]

    def create_incident(self, write: IncidentWrite) -> str:
        """Open an incident; returns its id."""
        url = self._url("incidents")
        created = self._write("POST", url, _incident_fields(write))
        if not (isinstance(created, dict) and isinstance(created.get("id"), str)):
            raise self._unusable("POST", url, "malformed response: no incident id")
        return created["id"]

    def update_incident(self, incident_id: str, write: IncidentWrite) -> None:
        """Change the fields set in `write`, and only those (deliver_notifications is always set)."""
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


def _incident_fields(write: IncidentWrite) -> dict[str, Any]:
    fields = {name: value for name in ("name", "status", "body", "metadata")
              if (value := getattr(write, name)) is not None}
    if write.components:
        # The map sets each component's status.
        fields["components"] = dict(write.components)
    if write.component_ids is not None:
        # The whole list of affected components: it replaces the incident's list.
        fields["component_ids"] = list(write.component_ids)
    # Statuspage's default is true, on a create and on an update alike: always say which.
    fields["deliver_notifications"] = write.deliver_notifications
    return fields


def _component(raw: dict[str, Any]) -> Component:
    group_id = raw.get("group_id")
    return Component(raw["id"], raw.get("name") or "", raw.get("status") or "operational",
                     group=raw.get("group") is True, group_id=group_id if isinstance(group_id, str) else None)


def _sp_incident(raw: dict[str, Any]) -> SpIncident:
    components = tuple(_component(c) for c in raw.get("components") or []
                       if isinstance(c, dict) and isinstance(c.get("id"), str))
    updates = [u for u in raw.get("incident_updates") or [] if isinstance(u, dict)]
    update_times = [t for u in updates if (t := moment(u.get("created_at"))) is not None]
    return SpIncident(id=raw["id"], name=raw.get("name") or "", status=raw.get("status") or "",
                      created_at=_timestamp(raw.get("created_at")), component_ids=frozenset(c.id for c in components),
                      owned=has_our_metadata(raw), components=components, opened_for=opened_for(raw),
                      legacy=carries_legacy_watermark(raw), monitoring_at=moment(raw.get("monitoring_at")),
                      last_update_at=max(update_times, default=None))
