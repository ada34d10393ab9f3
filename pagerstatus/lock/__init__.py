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

Several pages: each page has a lease of its own (a document of its own in Firestore).
run_coalesced takes the lease of every page it can, syncs those pages together in
rounds (one round reads PagerDuty once for all of them) and lets each go as soon as
no change is pending for it. A page whose lease someone else holds is "queued": that
holder syncs it again. A page that fails is let go at once and reported; the other
pages go on.

Modules: state (the protocol, Lease and the transitions both backends share),
memory (MemoryLock, one process), firestore (FirestoreLock, every instance;
imported only by make_locks, as it loads the Google client libraries), gate
(ProcessGate, one process' front for FirestoreLock); run_coalesced is here.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from .. import log
from ..errors import PagerstatusError, StillChanging
from .gate import ProcessGate
from .memory import MemoryLock
from .state import Lease, SyncLock

__all__ = ["Guard", "Lease", "MemoryLock", "Outcome", "ProcessGate", "SyncLock", "make_locks", "run_coalesced"]

# Seconds a holder waits before a follow-up round (run_coalesced). A burst of webhooks
# arrives over a second or two; each one during a round asks for one more. Waiting this long
# lets the burst pile onto one pending marker: docs/PERFORMANCE.md measured the choice.
RESYNC_SETTLE_SECONDS = 0.5

#: Called before each write to a page; raises LeaseLost once the page's lease is no longer ours.
Guard = Callable[[], None]
#: What became of a page: "performed", "queued" (its lease's holder syncs it again), or what stopped it.
Outcome = str | PagerstatusError
T = TypeVar("T")


def make_locks(kind: str, pages: Iterable[str], project: str | None = None,
               database: str = "(default)") -> dict[str, SyncLock]:
    """A new lock on each page: kind "memory" or "firestore" (in `project`'s `database`,
    through one client).

    Every call builds fresh locks; their owner (the Runtime) keeps them for the
    process, since a MemoryLock only guards what shares it, and a ProcessGate
    only coalesces the webhooks that pass through it.
    """
    if kind == "memory":
        return {page: MemoryLock(page) for page in pages}
    if kind == "firestore":
        from .firestore import FirestoreLock, connect

        client = connect(project, database)
        return {page: ProcessGate(FirestoreLock(client, page)) for page in pages}
    raise ValueError(f"unknown lock kind {kind!r}: expected memory or firestore")


def run_coalesced(locks: Mapping[str, SyncLock],
                  sync_round: Callable[[Mapping[str, Guard]], Mapping[str, PagerstatusError]],
                  max_rounds: int = 5, settle: float = RESYNC_SETTLE_SECONDS,
                  sleep: Callable[[float], None] = time.sleep) -> dict[str, Outcome]:
    """Sync each page of `locks` under its lease, again while changes keep arriving for it;
    every page's Outcome.

    sync_round(guards) syncs the pages of `guards` once, calling guards[page]() before each
    write to that page, and answers the errors of the pages it could not sync (their leases
    are freed at once). An exception it raises stops every page and is raised here. A page
    still changing after max_rounds syncs is freed with its pending marker left set, and its
    outcome is StillChanging.

    settle: seconds to wait before a follow-up round, so that the rest of a burst of webhooks
    is covered by it rather than asking for one more; the round then starts by clearing the
    pending markers set meanwhile (restart), since it reads after all of them. 0: no wait.
    """
    if max_rounds < 1:
        raise ValueError("max_rounds must be at least 1")
    outcomes: dict[str, Outcome] = {}
    leases: dict[str, Lease] = {}
    for page, acquired in _each(locks, lambda page: locks[page].acquire()).items():
        if isinstance(acquired, Lease):
            leases[page] = acquired
        else:
            outcomes[page] = "queued" if acquired is None else acquired

    for round_number in range(max_rounds):
        if round_number and settle > 0 and leases:
            sleep(settle)
            for page, restarted in _each(leases, lambda page: locks[page].restart(leases[page])).items():
                if isinstance(restarted, PagerstatusError):
                    _abandon_quietly(locks[page], leases.pop(page))
                    outcomes[page] = restarted
        if not leases:
            return outcomes
        guards = {page: functools.partial(locks[page].check, lease) for page, lease in leases.items()}
        try:
            failed = sync_round(guards)
        except BaseException:
            for page, lease in leases.items():
                _abandon_quietly(locks[page], lease)
            raise
        for page, error in failed.items():
            _abandon_quietly(locks[page], leases.pop(page))
            outcomes[page] = error
        for page, released in _each(leases, lambda page: locks[page].release(leases[page])).items():
            if released is False:
                continue  # changes arrived during the sync: this page syncs again
            if isinstance(released, PagerstatusError):
                # Free the lease if Firestore lets us, so that PagerDuty's redelivery
                # of this webhook finds it free instead of queueing behind us.
                _abandon_quietly(locks[page], leases[page])
            outcomes[page] = "performed" if released is True else released
            del leases[page]
    # Changes keep arriving: rather than sync forever (or answer 200 and leave
    # the last queued change to chance), free the lease and answer 503, so that
    # PagerDuty redelivers this webhook and its sync covers what came since.
    for page, lease in leases.items():
        _abandon_quietly(locks[page], lease)
        log.warning("sync round limit reached with changes still arriving; asking for a redelivery",
                    action="resync-limit", holder=lease.holder, page=page, rounds=max_rounds)
        outcomes[page] = StillChanging(f"changes still arriving after {max_rounds} syncs; redeliver to sync again")
    return outcomes


def _each(pages: Iterable[str], step: Callable[[str], T]) -> dict[str, T | PagerstatusError]:
    """step(page) for every page, in parallel (each may be a round trip to Firestore);
    a PagerstatusError it raises is that page's answer."""

    def run(page: str) -> T | PagerstatusError:
        try:
            return step(page)
        except PagerstatusError as exc:
            return exc

    pages = list(pages)
    if len(pages) <= 1:  # no thread for the one page of most deployments
        return {page: run(page) for page in pages}
    with ThreadPoolExecutor(max_workers=len(pages)) as pool:
        return dict(zip(pages, pool.map(run, pages), strict=True))


def _abandon_quietly(lock: SyncLock, lease: Lease) -> None:
    """abandon() that never replaces the exception being reported."""
    try:
        lock.abandon(lease)
    except Exception as exc:
        log.warning("could not free the sync lease; it will expire", action="abandon",
                    page=lease.page, holder=lease.holder, error=str(exc))
