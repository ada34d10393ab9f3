"""Wires settings, keys, clients and the lock together, once per process.

A warm function instance reuses one Runtime across requests: HTTP connection
pools, the tag cache, the component list, the Statuspage token bucket, the key
cache and the lock survive between webhooks. Everything per process lives here,
so a test builds its own Runtime instead of patching module globals.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from . import log
from .config import Settings, load_settings
from .errors import UpstreamError
from .http import Deadline, RetryPolicy, TimeoutSession, TokenBucket, make_session
from .keys import EnvKeySource, KeySource
from .lock import SyncLock, make_lock, run_coalesced
from .log import Redactor
from .pagerduty import PagerDutyClient, TagCache
from .reconcile import Plan
from .statuspage import ComponentCache, StatuspageClient
from .sync import sync_once

# (connect, read) seconds for Google's certificates: small and quick to serve.
CERTS_TIMEOUT = (3.05, 3.0)


class Runtime:
    def __init__(self, settings: Settings, keys: KeySource, lock: SyncLock,
                 statuspage_bucket: TokenBucket | None = None):
        self.settings = settings
        self.keys = keys
        self.lock = lock
        self.policy = settings.policy
        # Statuspage limits requests per API key: every client of the page shares one bucket.
        self.statuspage_bucket = statuspage_bucket if statuspage_bucket is not None else TokenBucket()
        self._tag_cache = TagCache()
        self._components = ComponentCache()
        self._pagerduty_session = make_session()
        self._statuspage_session = make_session()
        # Fetches Google's public keys to check the periodic sync's ID token (pagerstatus.oidc).
        # A read timeout is not retried: a slow endpoint would hold the request once per attempt.
        self.certs_session = make_session(RetryPolicy(read=0), timeout=CERTS_TIMEOUT)
        for account in sorted(settings.allow_unauthenticated):
            log.warning("account accepts webhooks from anyone while it has no webhook secret or token "
                        "(PAGERSTATUS_ALLOW_UNAUTHENTICATED)", action="unauthenticated", account=account)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ, redactor: Redactor | None = None,
                         **overrides: object) -> Runtime:
        """redactor: the log's, so that every key read is masked in the logs."""
        settings = load_settings(environ)
        on_secret = redactor.add if redactor is not None else (lambda value: None)
        keys = key_source(settings, environ, on_secret)
        lock = make_lock(settings.lock, settings.statuspage_page, settings.project, settings.firestore_database)
        return cls(settings, keys, lock, **overrides)

    def sources(self, deadline: Deadline | None = None) -> list[PagerDutyClient]:
        """deadline: when their reads must end (None: each read has only its own timeout)."""
        session = _until(self._pagerduty_session, deadline)
        return [
            PagerDutyClient(account.name, account.api_key, self.settings.pagerduty_api_url_for(account.name),
                            session=session, tag_cache=self._tag_cache)
            for account in self.keys.accounts().values()
        ]

    def page(self, deadline: Deadline | None = None) -> StatuspageClient:
        """deadline: when its reads must end; its writes are not bounded by it."""
        return StatuspageClient(self.settings.statuspage_page, self.keys.statuspage_key(),
                                self.settings.statuspage_api_url,
                                session=_until(self._statuspage_session, deadline),
                                bucket=self.statuspage_bucket, component_cache=self._components)

    def plan(self) -> Plan:
        """What a sync would do now; writes nothing and takes no lock."""
        return self._sync_once(guard=lambda: None, dry_run=True)

    def sync(self, deadline: Deadline | None = None) -> str:
        """Sync under the lock: "performed", or "queued" when another holder will.

        deadline: when the reads of every sync this call runs must end, the coalesced
        re-syncs included; a read that would outlast it fails the sync before any write.
        """
        return run_coalesced(self.lock, lambda guard: self._sync_once(guard, self.settings.dry_run, deadline))

    def _sync_once(self, guard: Callable[[], None], dry_run: bool, deadline: Deadline | None = None) -> Plan:
        try:
            return sync_once(self.sources(deadline), self.page(deadline), self.policy, guard, dry_run)
        except UpstreamError:
            # A write may have been refused for a component deleted from the page
            # since the cached listing: the redelivery's sync lists it afresh.
            self._components.clear()
            raise


def _until(session: TimeoutSession, deadline: Deadline | None) -> TimeoutSession:
    return session if deadline is None else session.until(deadline)


def key_source(settings: Settings, environ: Mapping[str, str], on_secret: Callable[[str], None]) -> KeySource:
    """on_secret: called with every key read, so that the logs mask it."""
    if settings.secrets == "secretmanager":
        from .secretmanager import SecretManagerKeySource  # the Google libraries load only when used

        return SecretManagerKeySource(project=settings.project or "", on_secret=on_secret)
    return EnvKeySource(environ, on_secret)
