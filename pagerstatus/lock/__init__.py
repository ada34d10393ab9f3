"""The sync lock: one sync at a time per Statuspage page, and no webhook lost.

A lease has a holder id, an expiry and, next to it, a *pending* marker:

* acquire(): a free or expired lease is taken (clearing pending: the sync that
  follows reads everything afresh). A live lease held by someone else gets
  pending set instead, and the webhook answers 202 "Sync queued".
* release(): in the same atomic step that would free the lease, a set pending
  marker is cleared and the lease renewed instead; the holder syncs again. So a
  change that arrives during a sync is always reflected, and a burst of
  webhooks costs a couple of syncs, not one each.
* check(): before every write the holder confirms, in an atomic step, that the
  lease is still its own and unexpired, and renews it (heartbeat). A holder
  whose lease expired and was taken over gets LeaseLost and stops writing.
* abandon(): after a failed sync the lease is freed and the webhook answers
  503; PagerDuty's redelivery syncs, and any sync reads everything, so the
  webhooks queued behind the failed one are covered too.

Modules: state (the protocol, Lease and the transitions both backends share),
memory (MemoryLock, one process), firestore (FirestoreLock, every instance;
imported only by make_lock, as it loads the Google client libraries), gate
(ProcessGate, one process' front for FirestoreLock); run_coalesced is here.
"""
from __future__ import annotations

from collections.abc import Callable

from .. import log
from ..errors import StillChanging, UpstreamError
from .gate import ProcessGate
from .memory import MemoryLock
from .state import Lease, SyncLock

__all__ = ["Lease", "MemoryLock", "ProcessGate", "SyncLock", "make_lock", "run_coalesced"]


def make_lock(kind: str, page: str, project: str | None = None, database: str = "(default)") -> SyncLock:
    """A new lock on `page`: kind "memory" or "firestore" (in `project`'s `database`).

    Every call builds a fresh lock; its owner (the Runtime) keeps it for the
    process, since a MemoryLock only guards what shares it, and a ProcessGate
    only coalesces the webhooks that pass through it.
    """
    if kind == "memory":
        return MemoryLock(page)
    if kind == "firestore":
        from .firestore import connect

        return ProcessGate(connect(page, project, database))
    raise ValueError(f"unknown lock kind {kind!r}: expected memory or firestore")


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
