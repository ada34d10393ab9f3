"""Wires settings, keys, clients and the lock together, once per process.

A warm function instance reuses one Runtime across requests: HTTP connection
pools, the tag cache, the component list and the key cache survive between
webhooks.
"""
from __future__ import annotations

import os
import threading
from typing import Callable, Mapping

from .config import KeySource, Settings, load_key_source, load_settings
from .errors import UpstreamError
from .http import RetryPolicy, make_session
from .lock import SyncLock, make_lock, run_coalesced
from .pagerduty import PagerDutyClient, TagCache
from .reconcile import Plan
from .statuspage import ComponentCache, StatuspageClient
from .sync import sync_once


class Runtime:
    def __init__(self, settings: Settings, keys: KeySource, lock: SyncLock):
        self.settings = settings
        self.keys = keys
        self.lock = lock
        self.policy = settings.policy
        self._tag_cache = TagCache()
        self._components = ComponentCache()
        self._pagerduty_session = make_session(RetryPolicy())
        self._statuspage_session = make_session(RetryPolicy())
        # Fetches Google's public keys to check the periodic sync's ID token (pagerstatus.oidc).
        self.certs_session = make_session(RetryPolicy())

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "Runtime":
        settings = load_settings(environ)
        return cls(settings, load_key_source(settings, environ), make_lock(settings))

    def sources(self) -> list[PagerDutyClient]:
        return [
            PagerDutyClient(account.name, account.api_key, self.settings.pagerduty_api_url_for(account.name),
                            session=self._pagerduty_session, tag_cache=self._tag_cache)
            for account in self.keys.accounts().values()
        ]

    def page(self) -> StatuspageClient:
        return StatuspageClient(self.settings.statuspage_page, self.keys.statuspage_key(),
                                self.settings.statuspage_api_url, session=self._statuspage_session,
                                component_cache=self._components)

    def plan(self) -> Plan:
        """What a sync would do now; writes nothing and takes no lock."""
        return self._sync_once(guard=lambda: None, dry_run=True)

    def sync(self) -> str:
        """Sync under the lock: "performed", or "queued" when another holder will."""
        return run_coalesced(self.lock, lambda guard: self._sync_once(guard, self.settings.dry_run))

    def _sync_once(self, guard: Callable[[], None], dry_run: bool) -> Plan:
        try:
            return sync_once(self.sources(), self.page(), self.policy, guard, dry_run)
        except UpstreamError:
            # A write may have been refused for a component deleted from the page
            # since the cached listing: the redelivery's sync lists it afresh.
            self._components.clear()
            raise


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The process' Runtime, built on first use; a configuration error is retried next time."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime.from_environment()
        return _runtime
