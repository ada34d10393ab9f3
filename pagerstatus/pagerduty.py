"""PagerDuty REST API v2: the open incidents of one account, with their component ids."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from .endpoints import PAGERDUTY_API_URL
from .errors import UpstreamError
from .http import KeyedClient
from .models import OPEN_PD_STATUSES, PdIncident, moment
from .tags import component_ids_from_tags, tags_from_alerts, tags_from_log_entry

PAGE_LIMIT = 100  # PagerDuty's maximum
# PagerDuty refuses offset + limit beyond this: a longer list cannot be read whole.
MAX_OFFSET_PLUS_LIMIT = 10_000
# Concurrent alert reads per account: enough to read a hundred incidents' alerts
# in about a second, far below PagerDuty's 960 requests/minute per key.
ALERT_READERS = 8
# Pages of the incident list read at once per account, once the first has told the total
# (PAGERSTATUS_PAGERDUTY_READS_IN_FLIGHT): 10,000 open incidents, 100 pages, at 200 ms a call
# take about 2.6 s instead of 20 s. A list is at most 100 pages (the offset cap), so one sync
# stays far below PagerDuty's 960 requests/minute per key; a 429 is retried as it asks.
READS_IN_FLIGHT = 8

_OPEN_INCIDENTS_QUERY = {
    "statuses[]": OPEN_PD_STATUSES,
    "include[]": ("first_trigger_log_entries",),
    # Without it PagerDuty lists only the last month: a long-running incident would vanish.
    "date_range": "all",
}

TagCacheKey = tuple[str, str]  # (account, incident id)


class TagCache:
    """Component ids read from an incident's alerts, by (account, incident id).

    Thread-safe, so one cache serves every client of a warm function instance:
    an incident's alerts are read once, not on every webhook. After each complete
    read of an account, entries of incidents no longer open are dropped, which
    bounds the cache by the open incidents without ever evicting one still
    needed (a size-capped LRU thrashes once the open incidents outnumber it,
    since every sync walks them in the same order). Alerts grouped into an
    incident later are not seen; its trigger, which named the components, does
    not change.
    """

    def __init__(self) -> None:
        self._entries: dict[TagCacheKey, frozenset[str]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: TagCacheKey) -> frozenset[str] | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: TagCacheKey, ids: frozenset[str]) -> None:
        with self._lock:
            self._entries[key] = ids

    def retain(self, account: str, open_ids: set[str]) -> None:
        """Forget the account's incidents that are not open any more."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == account and k[1] not in open_ids]:
                del self._entries[key]


class PagerDutyClient(KeyedClient):
    """Reads one PagerDuty account. Every failure raises UpstreamError("pagerduty:<account>", ...)."""

    def __init__(self, account: str, api_key: str, base_url: str = PAGERDUTY_API_URL,
                 session: requests.Session | None = None, tag_cache: TagCache | None = None,
                 readers: int = READS_IN_FLIGHT) -> None:
        """readers: pages of a list read at once (1: one after another)."""
        headers = {"Authorization": f"Token token={api_key}", "Accept": "application/vnd.pagerduty+json;version=2"}
        super().__init__(f"pagerduty:{account}", base_url, api_key, headers, session)
        self.account = account
        self.readers = readers
        self._tag_cache = tag_cache if tag_cache is not None else TagCache()

    def __repr__(self) -> str:
        return f"PagerDutyClient(account={self.account!r}, base_url={self.base_url!r})"

    def open_incidents(self) -> list[PdIncident]:
        """Every triggered or acknowledged incident. All or nothing: never a partial list."""
        raws = self._list("/incidents", "incidents", _OPEN_INCIDENTS_QUERY)
        for raw in raws:
            if not (isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw.get("status") in OPEN_PD_STATUSES):
                raise self._unusable("GET", self.base_url + "/incidents",
                                     "malformed response: an incident without an id or an open status")
        from_trigger = {raw["id"]: component_ids_from_tags(
                            tags_from_log_entry(raw.get("first_trigger_log_entry") or {}))
                        for raw in raws}
        from_alerts = self._alert_component_ids([i for i, ids in from_trigger.items() if not ids])
        self._tag_cache.retain(self.account, set(from_trigger))
        return [self._incident(raw, from_trigger[raw["id"]] or from_alerts[raw["id"]]) for raw in raws]

    def _incident(self, raw: dict[str, Any], component_ids: frozenset[str]) -> PdIncident:
        priority = raw.get("priority")  # null when the incident has none
        return PdIncident(account=self.account, id=raw["id"], status=raw["status"], title=raw.get("title") or "",
                          urgency=raw.get("urgency") or "high",
                          priority=priority.get("summary") if isinstance(priority, dict) else None,
                          component_ids=component_ids, html_url=raw.get("html_url") or "",
                          created_at=moment(raw.get("created_at")), acknowledged_at=_acknowledged_at(raw))

    def _alert_component_ids(self, incident_ids: list[str]) -> dict[str, frozenset[str]]:
        # The trigger's details may lack the tags (e.g. an Events API v2 trigger
        # keeps them in the alert body): read the alerts, once per incident, a few
        # incidents at a time so that a cold instance stays within the webhook's
        # deadline. The first failure propagates: the read is all or nothing.
        found = {i: ids for i in incident_ids if (ids := self._tag_cache.get((self.account, i))) is not None}
        missing = [i for i in incident_ids if i not in found]
        if missing:
            with ThreadPoolExecutor(max_workers=min(ALERT_READERS, len(missing))) as pool:
                for incident_id, ids in zip(missing, pool.map(self._read_alert_component_ids, missing), strict=True):
                    self._tag_cache.put((self.account, incident_id), ids)
                    found[incident_id] = ids
        return found

    def _read_alert_component_ids(self, incident_id: str) -> frozenset[str]:
        return component_ids_from_tags(tags_from_alerts(self._list(f"/incidents/{incident_id}/alerts", "alerts", {})))

    def _list(self, path: str, key: str, query: dict[str, Any]) -> list[Any]:
        """All items of a paginated list (`limit` / `offset` / `more` / `total`), or an error.

        The first page asks for the total; the pages after it are read together, at most
        `readers` at once, and the first failure stops the read (no page after it starts).
        A list that grew meanwhile, or an API that did not count, is read on page by page."""
        url = self.base_url + path
        first = self._page(url, key, {**query, "total": "true"}, 0, PAGE_LIMIT)
        items, last = list(first.items), first
        if first.more and first.total is not None:
            if first.total > MAX_OFFSET_PLUS_LIMIT:
                raise self._too_long(url, key)
            step = first.limit if 0 < first.limit <= PAGE_LIMIT else PAGE_LIMIT
            pages = self._pages(url, key, query, [(offset, min(step, first.total - offset))
                                                  for offset in range(len(items), first.total, step)])
            for page in pages:
                items.extend(page.items)
            last = pages[-1] if pages else first
        while last.more:  # the list grew while it was read, or the API did not count it
            if not last.items:
                raise self._unusable("GET", url, "malformed response: an empty page with more to come")
            limit = min(PAGE_LIMIT, MAX_OFFSET_PLUS_LIMIT - len(items))
            if limit <= 0:
                raise self._too_long(url, key)
            last = self._page(url, key, query, len(items), limit)
            items.extend(last.items)
        return items

    def _pages(self, url: str, key: str, query: dict[str, Any], wanted: list[tuple[int, int]]) -> list[_Page]:
        """The pages at these (offset, limit), read at most `readers` at once; all or an error."""
        if not wanted:
            return []
        with ThreadPoolExecutor(max_workers=min(self.readers, len(wanted))) as pool:
            futures = [pool.submit(self._page, url, key, query, offset, limit) for offset, limit in wanted]
            try:
                return [future.result() for future in futures]
            except BaseException:
                pool.shutdown(cancel_futures=True)  # the read has failed: start no further page
                raise

    def _page(self, url: str, key: str, query: dict[str, Any], offset: int, limit: int) -> _Page:
        body = self._send("GET", url, params={**query, "limit": limit, "offset": offset})
        items = body.get(key) if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise self._unusable("GET", url, f"malformed response: no {key!r} list")
        total, answered_limit = body.get("total"), body.get("limit")
        return _Page(items, body.get("more") is True,
                     total if type(total) is int and total >= 0 else None,
                     answered_limit if type(answered_limit) is int else limit)

    def _too_long(self, url: str, key: str) -> UpstreamError:
        return self._unusable("GET", url, f"more than {MAX_OFFSET_PLUS_LIMIT} {key}: "
                              "PagerDuty lists no further, the list would be incomplete")


@dataclass(frozen=True)
class _Page:
    """One answer of a paginated list: its items, whether more follow, the total (when asked
    for and given) and the page size the API applied."""

    items: list[Any]
    more: bool
    total: int | None
    limit: int


def _acknowledged_at(raw: dict[str, Any]) -> datetime | None:
    """When an acknowledged incident was first acknowledged: the earliest of its
    acknowledgements (PagerDuty empties the list when it leaves that status), else
    when its status last changed. None unless acknowledged."""
    if raw.get("status") != "acknowledged":
        return None
    acknowledgements = raw.get("acknowledgements")
    if not isinstance(acknowledgements, list):
        acknowledgements = []
    times = [t for a in acknowledgements if isinstance(a, dict) and (t := moment(a.get("at"))) is not None]
    return min(times, default=None) or moment(raw.get("last_status_change_at"))
