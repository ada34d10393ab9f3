"""Wires settings, keys, clients and the lock together, once per process.

A warm function instance reuses one Runtime across requests: HTTP connection
pools, the tag cache and the key cache survive between webhooks.
"""
from __future__ import annotations

import os
import threading
from typing import Mapping

from .config import KeySource, Settings, load_key_source, load_settings
from .http import RetryPolicy, make_session
from .lock import SyncLock, make_lock, run_coalesced
from .pagerduty import PagerDutyClient, TagCache
from .reconcile import Plan
from .statuspage import StatuspageClient
from .sync import sync_once


class Runtime:
    def __init__(self, settings: Settings, keys: KeySource, lock: SyncLock):
        self.settings = settings
        self.keys = keys
        self.lock = lock
        self.policy = settings.policy
        self._tag_cache = TagCache()
        self._pagerduty_session = make_session(RetryPolicy())
        self._statuspage_session = make_session(RetryPolicy())

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "Runtime":
        settings = load_settings(environ)
        return cls(settings, load_key_source(settings, environ), make_lock(settings))

    def sources(self) -> list[PagerDutyClient]:
        return [
            PagerDutyClient(account.name, account.api_key, self.settings.pagerduty_api_url,
                            session=self._pagerduty_session, tag_cache=self._tag_cache)
            for account in self.keys.accounts().values()
        ]

    def page(self) -> StatuspageClient:
        return StatuspageClient(self.settings.statuspage_page, self.keys.statuspage_key(),
                                self.settings.statuspage_api_url, session=self._statuspage_session)

    def plan(self) -> Plan:
        """What a sync would do now; writes nothing and takes no lock."""
        return sync_once(self.sources(), self.page(), self.policy, guard=lambda: None, dry_run=True)

    def sync(self) -> str:
        """Sync under the lock: "performed", or "queued" when another holder will."""
        return run_coalesced(
            self.lock,
            lambda guard: sync_once(self.sources(), self.page(), self.policy, guard, self.settings.dry_run),
        )


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The process' Runtime, built on first use; a configuration error is retried next time."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime.from_environment()
        return _runtime
