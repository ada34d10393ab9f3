"""ProcessGate: one process' own webhooks never contend for the shared lock."""
from __future__ import annotations

import threading

from .. import log
from .state import Lease, SyncLock


class ProcessGate:
    """An in-process front for a shared lock: coalesces this process' own webhooks.

    An instance that serves many requests at once would otherwise send one
    Firestore step per webhook on the same document; they race each other and
    the holder's heartbeats, re-reading after every lost race. The
    gate lets one request per process talk to the shared lock at a time, and
    queues a webhook locally while this process holds the lease: the holder sees
    the local marker before it releases and syncs again, renewing the lease.
    """

    def __init__(self, shared: SyncLock):
        self.shared = shared
        self._mutex = threading.Lock()
        self._held: Lease | None = None
        self._pending = False

    def acquire(self) -> Lease | None:
        with self._mutex:
            if self._held is not None:
                self._pending = True
                log.info("sync running in this instance; sync queued for it", action="queued", page=self._held.page,
                         lock="process", holder=self._held.holder)
                return None
            self._held = self.shared.acquire()
            return self._held

    def release(self, lease: Lease) -> bool:
        with self._mutex:
            try:
                if self._pending:
                    self._pending = False
                    self.shared.check(lease)  # renews the shared lease for the next round
                    log.info("webhook arrived during the sync; syncing again", action="resync", page=lease.page,
                             lock="process", holder=lease.holder)
                    return False
                released = self.shared.release(lease)
            except BaseException:
                self._forget()  # never leave the gate shut behind a lease that is gone
                raise
            if released:
                self._held = None
            return released

    def abandon(self, lease: Lease) -> None:
        # Webhooks queued here are covered by the redelivery of the one that
        # failed (it answers 503): any sync reads everything. The mutex is held
        # throughout, so no webhook is queued behind a holder that is leaving.
        with self._mutex:
            self._forget()
            self.shared.abandon(lease)

    def _forget(self) -> None:
        self._held = None
        self._pending = False

    def check(self, lease: Lease) -> None:
        self.shared.check(lease)
