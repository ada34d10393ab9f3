"""The lease's state machine, shared by MemoryLock and FirestoreLock so they cannot drift apart.

Each step of a lock reads the lease's State, asks one of the decide_* functions
below what to do, writes the Outcome's state (if any) atomically, logs it and
returns its result. The functions are pure: the time comes in as `now` and the
new expiry as `expires`, both in the backend's own clock.
"""
from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

from .. import log
from ..errors import LeaseLost

DEFAULT_LEASE_SECONDS = 60.0

Now = TypeVar("Now")  # float seconds (MemoryLock) or an aware datetime (FirestoreLock)

_INSTANCE = f"{socket.gethostname()}-{os.getpid()}"


def new_holder_id() -> str:
    """Unique per acquisition, readable in logs: host-pid-random."""
    return f"{_INSTANCE}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Lease:
    """A taken lease. `expires` is as of acquisition; check() pushes it further in the store."""

    holder: str
    page: str
    generation: int  # increases with every acquisition of the page's lease
    expires: Any = None


class SyncLock(Protocol):
    def acquire(self) -> Lease | None:
        """Take the lease (free or expired) and clear pending; None after setting pending if held."""

    def release(self, lease: Lease) -> bool:
        """One atomic step: pending set -> clear it, renew, False (sync again); else free, True.

        Raises LeaseLost if the lease is no longer ours.
        """

    def abandon(self, lease: Lease) -> None:
        """Free the lease if still ours, leaving pending as is; never raises LeaseLost."""

    def check(self, lease: Lease) -> None:
        """Raise LeaseLost unless still ours and unexpired; renew the expiry."""

    def restart(self, lease: Lease) -> None:
        """Right before a follow-up round: check(), and clear pending in the same step (the
        round reads after every webhook that set it)."""


@dataclass(frozen=True)
class State(Generic[Now]):
    holder: str | None = None
    expires: Now | None = None
    pending: bool = False
    generation: int = 0

    def live(self, now: Now) -> bool:
        return self.holder is not None and self.expires is not None and now < self.expires  # type: ignore[operator]

    def held_by(self, lease: Lease) -> bool:
        return self.holder == lease.holder and self.generation == lease.generation

    def as_dict(self) -> dict[str, Any]:
        """What a lock's snapshot() shows, for tests and diagnostics."""
        return {"holder": self.holder, "expires": self.expires, "pending": self.pending,
                "generation": self.generation}


@dataclass(frozen=True)
class Outcome:
    """What a step decided: its result, the state to write (None: write nothing), what to log."""

    result: Any
    write: State | None
    action: str | None = None
    fields: dict[str, Any] | None = None


def decide_acquire(state: State, now: Any, expires: Any, holder: str, page: str) -> Outcome:
    if state.live(now):
        # Live and a sync already pending: nothing to write. In a burst, the requests that
        # lose the race to the one that set pending answer "queued" after one read.
        if state.pending:
            return Outcome(None, None, "queued", {"holder": state.holder, "already_pending": True})
        return Outcome(None, replace(state, pending=True), "queued", {"holder": state.holder})
    generation = state.generation + 1
    lease = Lease(holder=holder, page=page, generation=generation, expires=expires)
    new = State(holder=holder, expires=expires, pending=False, generation=generation)
    if state.holder is not None:
        # The previous holder died or stalled past its expiry.
        return Outcome(lease, new, "takeover", {"holder": holder, "previous": state.holder,
                                                 "previous_pending": state.pending})
    return Outcome(lease, new, "acquire", {"holder": holder, "was_pending": state.pending})


def decide_release(state: State, lease: Lease, expires: Any) -> Outcome:
    # Ours while the document still names us, even a little past the expiry:
    # nobody else can have taken over without replacing the holder.
    if not state.held_by(lease):
        raise LeaseLost(f"lease on page {lease.page} was taken over by {state.holder or 'nobody'} "
                        f"(ours: {lease.holder})")
    if state.pending:
        return Outcome(False, replace(state, pending=False, expires=expires), "resync", {"holder": lease.holder})
    return Outcome(True, State(generation=state.generation), "release", {"holder": lease.holder})


def decide_abandon(state: State, lease: Lease) -> Outcome:
    if not state.held_by(lease):
        return Outcome(None, None, "abandon", {"holder": lease.holder, "lost": True})
    free = State(pending=state.pending, generation=state.generation)
    return Outcome(None, free, "abandon", {"holder": lease.holder, "pending": state.pending})


def decide_check(state: State, now: Any, lease: Lease, expires: Any) -> Outcome:
    if not state.held_by(lease):
        raise LeaseLost(f"lease on page {lease.page} was taken over by {state.holder or 'nobody'} "
                        f"(ours: {lease.holder}); stopping before the next write")
    if not state.live(now):
        raise LeaseLost(f"lease on page {lease.page} held by {lease.holder} expired; stopping before the next write")
    return Outcome(None, replace(state, expires=expires))


def decide_restart(state: State, now: Any, lease: Lease, expires: Any) -> Outcome:
    decide_check(state, now, lease, expires)  # raises LeaseLost unless ours and unexpired
    return Outcome(None, replace(state, expires=expires, pending=False), "restart",
                   {"holder": lease.holder, "pending": state.pending})


_MESSAGES = {
    "acquire": "sync lease acquired",
    "takeover": "sync lease taken over from an expired holder",
    "queued": "sync lease held; sync queued for the holder",
    "resync": "changes arrived during the sync; syncing again",
    "release": "sync lease released",
    "restart": "follow-up sync starting; webhooks queued so far are covered by it",
    "abandon": "sync lease freed with any pending sync left for the next webhook",
}


class SteppedLock:
    """The SyncLock steps of a backend, each one decide_* function run atomically by the backend's _step.

    A backend sets page_id, lease (added to its clock's `now` for a new expiry: seconds, or
    a timedelta) and backend (its name in the logs), and implements _step: read the State,
    call decided(), write the Outcome's state atomically, call logged(), return the result.
    """

    page_id: str
    lease: Any
    backend: str

    def _step(self, decide: Callable[[State, Any], Outcome], step: str) -> Any:
        raise NotImplementedError

    def acquire(self) -> Lease | None:
        holder = new_holder_id()
        return self._step(lambda s, now: decide_acquire(s, now, now + self.lease, holder, self.page_id), "acquire")

    def release(self, lease: Lease) -> bool:
        return self._step(lambda s, now: decide_release(s, lease, now + self.lease), "release")

    def abandon(self, lease: Lease) -> None:
        self._step(lambda s, now: decide_abandon(s, lease), "abandon")

    def check(self, lease: Lease) -> None:
        self._step(lambda s, now: decide_check(s, now, lease, now + self.lease), "check")

    def restart(self, lease: Lease) -> None:
        self._step(lambda s, now: decide_restart(s, now, lease, now + self.lease), "restart")

    def decided(self, decide: Callable[[State, Any], Outcome], state: State, now: Any) -> Outcome:
        """decide(state, now), with a LeaseLost logged on its way to the caller."""
        try:
            return decide(state, now)
        except LeaseLost as exc:
            log.warning(str(exc), action="lost", page=self.page_id, lock=self.backend)
            raise

    def logged(self, outcome: Outcome) -> Any:
        """The outcome's result, once its action (if any) is logged."""
        if outcome.action is not None:
            write = log.warning if outcome.action == "takeover" else log.info
            write(_MESSAGES[outcome.action], action=outcome.action, page=self.page_id, lock=self.backend,
                  **(outcome.fields or {}))
        return outcome.result
