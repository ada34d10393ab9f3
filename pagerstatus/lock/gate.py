"""ProcessGate: one process' own webhooks never contend for the shared lock."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from .. import log
from .state import Lease, SyncLock

T = TypeVar("T")


class _Run(Generic[T]):
    """One run of a shared step, and its answer to every caller who joined it."""

    def __init__(self) -> None:
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def answer(self) -> T | None:
        if self.error is not None:
            raise self.error
        return self.result


class SharedStep(Generic[T]):
    """A step whose callers share runs: one arriving while a run is under way waits for the
    next run, which answers everyone who arrived before it started.

    A run that starts after a caller arrived answers that caller as well as a run of its own
    would (a lease read then is at least as fresh), so a burst of callers costs one run at
    a time instead of one each. call() answers (the run's result, whether this caller's
    thread made the run); a run's exception is raised to all of its callers.
    """

    def __init__(self, step: Callable[[], T]) -> None:
        self._step = step
        self._changed = threading.Condition()
        self._running = False
        self._next: _Run[T] | None = None  # the run that callers arriving now will share
        self.waiting = 0  # callers waiting for a run to start or end (diagnostics, tests)

    def call(self) -> tuple[T | None, bool]:
        with self._changed:
            if self._next is None:
                self._next = _Run()
            run = self._next
            self.waiting += 1
            while self._running and not run.done:
                self._changed.wait()
            self.waiting -= 1
            if run.done:
                return run.answer(), False
            self._running, self._next = True, None  # later callers wait for the run after this one
        try:
            run.result = self._step()
        except BaseException as exc:
            run.error = exc
        finally:
            with self._changed:
                run.done, self._running = True, False
                self._changed.notify_all()
        return run.answer(), True


class ProcessGate:
    """An in-process front for a shared lock: coalesces this process' own webhooks.

    An instance that serves many requests at once would otherwise send one
    Firestore step per webhook on the same document; they race each other and
    the holder's heartbeats, re-reading after every lost race. The gate queues a
    webhook locally while this process holds the lease: the holder sees the local
    marker before it releases and syncs again, renewing the lease. Otherwise the
    webhooks arriving while one talks to the shared lock share the next step
    (SharedStep): a burst costs a few Firestore steps, not one each in a row.
    The holder's checks before its writes, which go out in parallel, share steps
    the same way: each write still passes a check that started after it asked.
    """

    def __init__(self, shared: SyncLock):
        self.shared = shared
        self._mutex = threading.Lock()
        self._held: Lease | None = None
        self._pending = False
        self._acquiring = SharedStep(self._acquire_once)
        self._checks: dict[Lease, SharedStep[None]] = {}
        self._checks_mutex = threading.Lock()

    def acquire(self) -> Lease | None:
        lease, led = self._acquiring.call()
        if lease is not None and not led:
            # Another webhook of this process took the lease in a step that began after this
            # one arrived: the sync it now starts reads after this webhook's change.
            log.info("sync starting in this instance; sync queued for it", action="queued", page=lease.page,
                     lock="process", holder=lease.holder)
            return None
        return lease

    def _acquire_once(self) -> Lease | None:
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
                self._forget()
            return released

    def restart(self, lease: Lease) -> None:
        with self._mutex:
            self._pending = False  # the follow-up round reads after these webhooks too
            self.shared.restart(lease)

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
        with self._checks_mutex:
            self._checks.clear()

    def check(self, lease: Lease) -> None:
        with self._checks_mutex:
            checks = self._checks.setdefault(lease, SharedStep(lambda: self.shared.check(lease)))
        checks.call()
