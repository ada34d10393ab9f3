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
(ProcessGate, one process' front for FirestoreLock), coalesce (run_coalesced).
"""
from __future__ import annotations

from .coalesce import run_coalesced
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
