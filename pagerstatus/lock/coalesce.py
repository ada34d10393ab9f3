"""run_coalesced: a sync under the lock, run again while changes keep arriving."""
from __future__ import annotations

from collections.abc import Callable

from .. import log
from ..errors import StillChanging, UpstreamError
from .state import Lease, SyncLock


def run_coalesced(lock: SyncLock, sync_once: Callable[[Callable[[], None]], None], max_rounds: int = 5) -> str:
    """Sync under the lock, again while changes keep arriving: "performed" or "queued".

    sync_once(guard) must call guard() before each write; guard raises LeaseLost
    once the lease is no longer ours. After max_rounds syncs the lease is freed
    with any pending marker left set, and StillChanging raised.
    """
    if max_rounds < 1:
        raise ValueError("max_rounds must be at least 1")
    lease = lock.acquire()
    if lease is None:
        return "queued"

    def guard() -> None:
        lock.check(lease)

    for _ in range(max_rounds):
        try:
            sync_once(guard)
        except BaseException:
            _abandon_quietly(lock, lease)
            raise
        try:
            released = lock.release(lease)
        except UpstreamError:
            # Free the lease if Firestore lets us, so that PagerDuty's redelivery
            # of this webhook finds it free instead of queueing behind us.
            _abandon_quietly(lock, lease)
            raise
        if released:
            return "performed"
    # Changes keep arriving: rather than sync forever (or answer 200 and leave
    # the last queued change to chance), free the lease and answer 503, so that
    # PagerDuty redelivers this webhook and its sync covers what came since.
    _abandon_quietly(lock, lease)
    log.warning("sync round limit reached with changes still arriving; asking for a redelivery",
                action="resync-limit", holder=lease.holder, page=lease.page, rounds=max_rounds)
    raise StillChanging(f"changes still arriving after {max_rounds} syncs; redeliver to sync again")


def _abandon_quietly(lock: SyncLock, lease: Lease) -> None:
    """abandon() that never replaces the exception being reported."""
    try:
        lock.abandon(lease)
    except Exception as exc:
        log.warning("could not free the sync lease; it will expire", action="abandon",
                    page=lease.page, holder=lease.holder, error=str(exc))
