"""Wires settings, keys, clients and the locks together, once per process.

A warm function instance reuses one Runtime across requests: HTTP connection
pools, the tag cache, each page's component list and lock, the Statuspage token
buckets, the key cache survive between webhooks. Everything per process lives
here, so a test builds its own Runtime instead of patching module globals.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping

from . import log
from .config import Settings, load_settings
from .errors import UpstreamError
from .http import Deadline, RetryPolicy, TimeoutSession, TokenBucket, make_session
from .keys import AccountKeys, EnvKeySource, KeySource, check_page_key_variables
from .lock import Guard, Outcome, SyncLock, make_locks, run_coalesced
from .log import Redactor
from .pagerduty import PagerDutyClient, TagCache
from .statuspage import ComponentCache, StatuspageClient
from .sync import Round, sync_round

# (connect, read) seconds for Google's certificates: small and quick to serve.
CERTS_TIMEOUT = (3.05, 3.0)


class Runtime:
    def __init__(self, settings: Settings, keys: KeySource, locks: Mapping[str, SyncLock],
                 make_bucket: Callable[[], TokenBucket] = TokenBucket):
        """locks: one per page of settings.statuspage_pages. make_bucket: a new Statuspage token bucket."""
        if set(locks) != set(settings.statuspage_pages):
            raise ValueError(f"expected a lock for each page of {settings.statuspage_pages}, found {sorted(locks)}")
        self.settings = settings
        self.keys = keys
        self.locks = dict(locks)
        self.policy = settings.policy
        self._make_bucket = make_bucket
        # Statuspage limits requests per API key, not per page: pages read with one key
        # share its bucket. By key, so that a rotated key starts a bucket of its own.
        self._buckets: dict[str, TokenBucket] = {}
        self._buckets_mutex = threading.Lock()
        self._tag_cache = TagCache()
        self._components = {page: ComponentCache() for page in settings.statuspage_pages}
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
        locks = make_locks(settings.lock, settings.statuspage_pages, settings.project, settings.firestore_database)
        return cls(settings, keys, locks, **overrides)

    def sources(self, deadline: Deadline | None = None) -> list[PagerDutyClient]:
        """deadline: when their reads must end (None: each read has only its own timeout)."""
        return [self.source(account, deadline) for account in self.keys.accounts().values()]

    def source(self, account: AccountKeys, deadline: Deadline | None = None) -> PagerDutyClient:
        """The client of one account, read through its region's API."""
        return PagerDutyClient(account.name, account.api_key, self.settings.pagerduty_api_url_for(account.name),
                               session=_until(self._pagerduty_session, deadline), tag_cache=self._tag_cache,
                               readers=self.settings.pagerduty_reads_in_flight)

    def page(self, page_id: str, deadline: Deadline | None = None) -> StatuspageClient:
        """deadline: when its reads must end; its writes are not bounded by it."""
        key = self.keys.statuspage_key(page_id)
        return StatuspageClient(page_id, key, self.settings.statuspage_api_url,
                                session=_until(self._statuspage_session, deadline),
                                bucket=self.bucket(key), component_cache=self._components[page_id])

    def bucket(self, statuspage_key: str) -> TokenBucket:
        """The token bucket of every request made with this Statuspage key."""
        with self._buckets_mutex:
            if statuspage_key not in self._buckets:
                self._buckets[statuspage_key] = self._make_bucket()
            return self._buckets[statuspage_key]

    def plan(self) -> Round:
        """What a sync of every page would do now; writes nothing and takes no lock."""
        return self._round(dict.fromkeys(self.locks, _unguarded), dry_run=True)

    def sync(self, deadline: Deadline | None = None) -> dict[str, Outcome]:
        """Sync every page under its lock: per page "performed", "queued" when another holder
        will sync it again, or the error that stopped it.

        deadline: when the reads of every round this call runs must end, the coalesced
        re-syncs included; a read that would outlast it fails the round before any write.
        """
        return run_coalesced(self.locks, lambda guards: self._round(guards, self.settings.dry_run, deadline).failures,
                             settle=self.settings.resync_settle_seconds)

    def _round(self, guards: Mapping[str, Guard], dry_run: bool, deadline: Deadline | None = None) -> Round:
        try:
            result = sync_round(self.sources(deadline), lambda page_id: self.page(page_id, deadline), guards,
                                self.policy, every_page=len(guards) == len(self.locks), dry_run=dry_run,
                                writes_in_flight=self.settings.writes_in_flight)
        except UpstreamError:
            self._forget_components(guards)
            raise
        self._forget_components(page for page, error in result.failures.items() if isinstance(error, UpstreamError))
        return result

    def _forget_components(self, pages: Iterable[str]) -> None:
        # A write may have been refused for a component deleted from the page
        # since the cached listing: the redelivery's sync lists it afresh.
        for page in pages:
            self._components[page].clear()


def _unguarded() -> None:
    """A plan writes nothing, so nothing needs guarding."""


def _until(session: TimeoutSession, deadline: Deadline | None) -> TimeoutSession:
    return session if deadline is None else session.until(deadline)


def key_source(settings: Settings, environ: Mapping[str, str], on_secret: Callable[[str], None]) -> KeySource:
    """on_secret: called with every key read, so that the logs mask it."""
    if settings.secrets == "secretmanager":
        from .secretmanager import SecretManagerKeySource  # the Google libraries load only when used

        return SecretManagerKeySource(project=settings.project or "", on_secret=on_secret)
    check_page_key_variables(environ, settings.statuspage_pages)
    return EnvKeySource(environ, on_secret)
