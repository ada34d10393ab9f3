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

FirestoreLock keeps the lease in one Firestore document per page and does each
step as an optimistic transaction (read, then a commit that applies only if the
document is unchanged); MemoryLock gives the same semantics within
one process (local runs, `make run`). Both share the transition functions
below, so they cannot drift apart.

Clocks: FirestoreLock compares the stored expiry with the wall clock (UTC) of
whichever instance runs the step, between its read and its write (a Firestore
TTL policy deletes late and is no expiry). That assumes the instances' clocks
agree to well within lease_seconds (Google's hosts are NTP-synced to
milliseconds; lease_seconds is 60). Firestore errors become
UpstreamError("firestore", ...) within a few seconds (short timeouts, bounded
retries), so the webhook answers 503 and PagerDuty retries; no sync ever runs
without the lock.
"""
from __future__ import annotations

import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Generic, Protocol, TypeVar

from . import log
from .errors import ConfigError, LeaseLost, StillChanging, UpstreamError

if TYPE_CHECKING:  # pragma: no cover - typing only; google.cloud.firestore loads on first use
    from google.cloud import firestore

DEFAULT_LEASE_SECONDS = 60.0
DEFAULT_COLLECTION = "pagerstatus-locks"
SERVICE = "firestore"

Now = TypeVar("Now")  # float seconds (MemoryLock) or an aware datetime (FirestoreLock)


def utc_now() -> datetime:
    """The wall clock shared, within NTP skew, by all function instances."""
    return datetime.now(timezone.utc)


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
        ...

    def release(self, lease: Lease) -> bool:
        """One atomic step: pending set -> clear it, renew, False (sync again); else free, True.

        Raises LeaseLost if the lease is no longer ours.
        """
        ...

    def abandon(self, lease: Lease) -> None:
        """Free the lease if still ours, leaving pending as is; never raises LeaseLost."""
        ...

    def check(self, lease: Lease) -> None:
        """Raise LeaseLost unless still ours and unexpired; renew the expiry."""
        ...


# -- The state machine, shared by both implementations -------------------------


@dataclass(frozen=True)
class _State(Generic[Now]):
    holder: str | None = None
    expires: Now | None = None
    pending: bool = False
    generation: int = 0

    def live(self, now: Now) -> bool:
        return self.holder is not None and self.expires is not None and now < self.expires  # type: ignore[operator]

    def held_by(self, lease: Lease) -> bool:
        return self.holder == lease.holder and self.generation == lease.generation


@dataclass(frozen=True)
class _Outcome:
    """What a step decided: its result, the state to write (None: write nothing), what to log."""

    result: Any
    write: _State | None
    action: str | None = None
    fields: dict[str, Any] | None = None


def _acquire(state: _State, now: Any, expires: Any, holder: str, page: str) -> _Outcome:
    if state.live(now):
        if state.pending:
            return _Outcome(None, None, "queued", {"holder": state.holder, "already_pending": True})
        return _Outcome(None, replace(state, pending=True), "queued", {"holder": state.holder})
    generation = state.generation + 1
    lease = Lease(holder=holder, page=page, generation=generation, expires=expires)
    new = _State(holder=holder, expires=expires, pending=False, generation=generation)
    if state.holder is not None:
        # The previous holder died or stalled past its expiry.
        return _Outcome(lease, new, "takeover", {"holder": holder, "previous": state.holder,
                                                  "previous_pending": state.pending})
    return _Outcome(lease, new, "acquire", {"holder": holder, "was_pending": state.pending})


def _release(state: _State, lease: Lease, expires: Any) -> _Outcome:
    # Ours while the document still names us, even a little past the expiry:
    # nobody else can have taken over without replacing the holder.
    if not state.held_by(lease):
        raise LeaseLost(f"lease on page {lease.page} was taken over by {state.holder or 'nobody'} "
                        f"(ours: {lease.holder})")
    if state.pending:
        return _Outcome(False, replace(state, pending=False, expires=expires), "resync", {"holder": lease.holder})
    return _Outcome(True, _State(generation=state.generation), "release", {"holder": lease.holder})


def _abandon(state: _State, lease: Lease) -> _Outcome:
    if not state.held_by(lease):
        return _Outcome(None, None, "abandon", {"holder": lease.holder, "lost": True})
    free = _State(pending=state.pending, generation=state.generation)
    return _Outcome(None, free, "abandon", {"holder": lease.holder, "pending": state.pending})


def _check(state: _State, now: Any, lease: Lease, expires: Any) -> _Outcome:
    if not state.held_by(lease):
        raise LeaseLost(f"lease on page {lease.page} was taken over by {state.holder or 'nobody'} "
                        f"(ours: {lease.holder}); stopping before the next write")
    if not state.live(now):
        raise LeaseLost(f"lease on page {lease.page} held by {lease.holder} expired; stopping before the next write")
    return _Outcome(None, replace(state, expires=expires))


def _log(outcome: _Outcome, page: str, lock: str) -> None:
    if outcome.action is None:
        return
    fields = dict(outcome.fields or {})
    messages = {
        "acquire": "sync lease acquired",
        "takeover": "sync lease taken over from an expired holder",
        "queued": "sync lease held; sync queued for the holder",
        "resync": "changes arrived during the sync; syncing again",
        "release": "sync lease released",
        "abandon": "sync lease freed with any pending sync left for the next webhook",
    }
    write = log.warning if outcome.action == "takeover" else log.info
    write(messages.get(outcome.action, outcome.action), action=outcome.action, page=page, lock=lock, **fields)


def _log_lost(exc: LeaseLost, page: str, lock: str) -> None:
    log.warning(str(exc), action="lost", page=page, lock=lock)


# -- In-process lock -------------------------------------------------------------


class MemoryLock:
    """The same semantics within one process, for local runs without Google Cloud."""

    def __init__(self, page_id: str = "local", lease_seconds: float = DEFAULT_LEASE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.page_id = page_id
        self.lease_seconds = lease_seconds
        self._clock = clock
        self._mutex = threading.Lock()
        self._state: _State[float] = _State()

    def _step(self, decide: Callable[[_State, float], _Outcome]) -> Any:
        with self._mutex:
            try:
                outcome = decide(self._state, self._clock())
            except LeaseLost as exc:
                _log_lost(exc, self.page_id, "memory")
                raise
            if outcome.write is not None:
                self._state = outcome.write
        _log(outcome, self.page_id, "memory")
        return outcome.result

    def acquire(self) -> Lease | None:
        holder = new_holder_id()
        return self._step(lambda s, now: _acquire(s, now, now + self.lease_seconds, holder, self.page_id))

    def release(self, lease: Lease) -> bool:
        return self._step(lambda s, now: _release(s, lease, now + self.lease_seconds))

    def abandon(self, lease: Lease) -> None:
        self._step(lambda s, now: _abandon(s, lease))

    def check(self, lease: Lease) -> None:
        self._step(lambda s, now: _check(s, now, lease, now + self.lease_seconds))

    def snapshot(self) -> dict[str, Any]:
        """The current state, for tests and diagnostics."""
        with self._mutex:
            state = self._state
        return {"holder": state.holder, "expires": state.expires, "pending": state.pending,
                "generation": state.generation}


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


# -- Firestore lock ----------------------------------------------------------------


class FirestoreLock:
    """The lease in Firestore: document <collection>/<page_id>, one optimistic transaction per step.

    Each step reads the document and, when it changes the state, commits a write
    with a precondition: the document's update time as read (or its absence).
    That is how Firestore's mobile and web SDKs run every transaction: the
    server applies the commit atomically only if nothing it read has changed. A
    step that lost a race gets FAILED_PRECONDITION, reads again and decides
    again. Unlike a server SDK's read-write transaction, no lock is held between
    the read and the commit: racing instances never wait on each other's locks
    (the emulator settles such a wait with a 2 s timeout), the loser re-reads.

    Fields: holder (string or null), expires (timestamp or null), pending (bool),
    generation (int), updated (timestamp, diagnostics only).

    The calls go through the client's GAPIC layer so that every one carries a
    short timeout and bounded retries: the high-level helpers use the library
    defaults, which retry an unreachable Firestore for 60 s, far past
    PagerDuty's 5 s deadline.

    rpc_timeout: the most one Firestore call may take, retries included.
    max_attempts: attempts of a step whose write loses a race.
    """

    def __init__(
        self,
        client: "firestore.Client",
        page_id: str,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        collection: str = DEFAULT_COLLECTION,
        clock: Callable[[], datetime] = utc_now,
        *,
        rpc_timeout: float = 3.0,
        max_attempts: int = 5,
    ):
        if not page_id or "/" in page_id or not collection or "/" in collection:
            raise ConfigError(f"Firestore lock: invalid page id {page_id!r} or collection {collection!r}")
        self.client = client
        self.page_id = page_id
        self.collection = collection
        self.lease = timedelta(seconds=lease_seconds)
        self._clock = clock
        self._rpc_timeout = rpc_timeout
        self._max_attempts = max_attempts

    # -- SyncLock

    def acquire(self) -> Lease | None:
        # When the lease is live and a sync already pending, _acquire writes
        # nothing: in a burst, the requests that lose the race to the one that
        # set pending answer "queued" after one read.
        holder = new_holder_id()
        return self._step(lambda s, now: _acquire(s, now, now + self.lease, holder, self.page_id), "acquire")

    def release(self, lease: Lease) -> bool:
        return self._step(lambda s, now: _release(s, lease, now + self.lease), "release")

    def abandon(self, lease: Lease) -> None:
        try:
            self._step(lambda s, now: _abandon(s, lease), "abandon")
        except UpstreamError as exc:
            # Best effort: the lease expires by itself, and the caller is already
            # reporting a failure that must not be replaced by this one.
            log.warning("could not free the sync lease; it will expire", action="abandon",
                        page=self.page_id, holder=lease.holder, error=str(exc))

    def check(self, lease: Lease) -> None:
        self._step(lambda s, now: _check(s, now, lease, now + self.lease), "check")

    def snapshot(self) -> dict[str, Any]:
        """The stored state (a plain read), for tests and diagnostics."""
        state = self._decode(self._read())
        return {"holder": state.holder, "expires": state.expires, "pending": state.pending,
                "generation": state.generation}

    # -- internals

    def _now(self) -> datetime:
        now = self._clock()
        return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)

    @property
    def _document_name(self) -> str:
        # The client's private names are the library's own way to address the
        # database (they carry the emulator's metadata too); used only here.
        return f"{self.client._database_string}/documents/{self.collection}/{self.page_id}"

    def _options(self, retry: bool = True) -> dict[str, Any]:
        from google.api_core import exceptions as api_exceptions
        from google.api_core import retry as api_retry

        options: dict[str, Any] = {"timeout": self._rpc_timeout, "metadata": self.client._rpc_metadata}
        if retry:
            options["retry"] = api_retry.Retry(
                initial=0.05, maximum=0.5, multiplier=2.0, timeout=self._rpc_timeout,
                predicate=api_retry.if_exception_type(
                    api_exceptions.ServiceUnavailable,
                    api_exceptions.InternalServerError,
                    api_exceptions.ResourceExhausted,
                    api_exceptions.DeadlineExceeded,
                ),
            )
        else:
            options["retry"] = None
        return options

    def _read(self) -> Any:
        """The lock document (a firestore_v1.types.Document) or None when missing; a strong read."""
        request: dict[str, Any] = {"database": self.client._database_string, "documents": [self._document_name]}
        with _firestore_errors("reading the lock document"):
            for response in self.client._firestore_api.batch_get_documents(request=request, **self._options()):
                if response._pb.WhichOneof("result") == "found":
                    return response.found
            return None

    def _step(self, decide: Callable[[_State, datetime], _Outcome], step: str) -> Any:
        """Read, decide, and write the decision only if the document is still the one read."""
        from google.cloud.firestore_v1 import types

        for attempt in range(1, self._max_attempts + 1):
            document = self._read()
            try:
                outcome = decide(self._decode(document), self._now())
            except LeaseLost as exc:
                _log_lost(exc, self.page_id, "firestore")
                raise
            if outcome.write is not None:
                unchanged = (types.Precondition(exists=False) if document is None
                             else types.Precondition(update_time=document.update_time))
                write = types.Write(update=self._encode(outcome.write), current_document=unchanged)
                try:
                    with _firestore_errors(f"{step}: committing"):
                        # Never retried blindly: a commit that may have applied is
                        # reported (503, PagerDuty redelivers) rather than guessed at.
                        self.client._firestore_api.commit(
                            request={"database": self.client._database_string, "writes": [write]},
                            **self._options(retry=False))
                except _Changed:
                    # Another instance wrote first: read its state and decide again.
                    # A little jitter keeps two retrying instances from meeting again.
                    time.sleep(random.uniform(0, 0.02 * attempt))
                    continue
            _log(outcome, self.page_id, "firestore")
            return outcome.result
        raise _Contended(SERVICE, f"{step}: the lock document kept changing for {self._max_attempts} attempts")

    def _encode(self, state: _State) -> Any:
        from google.cloud.firestore_v1 import types

        def timestamp(value: datetime | None) -> Any:
            return types.Value(null_value=0) if value is None else types.Value(timestamp_value=value)

        return types.Document(
            name=self._document_name,
            fields={
                "holder": types.Value(null_value=0) if state.holder is None else types.Value(string_value=state.holder),
                "expires": timestamp(state.expires),
                "pending": types.Value(boolean_value=state.pending),
                "generation": types.Value(integer_value=state.generation),
                "updated": timestamp(self._now()),
            },
        )

    @staticmethod
    def _decode(document: Any) -> _State:
        if document is None:
            return _State()
        fields = document.fields

        def field(name: str, kind: str) -> Any:
            value = fields.get(name)
            if value is None or type(value).pb(value).WhichOneof("value_type") != kind:
                return None
            return getattr(value, kind)

        return _State(
            holder=field("holder", "string_value") or None,
            expires=field("expires", "timestamp_value"),
            pending=bool(field("pending", "boolean_value")),
            generation=int(field("generation", "integer_value") or 0),
        )


class _Changed(Exception):
    """The lock document changed between a step's read and its write; the step is retried."""


class _Contended(UpstreamError):
    """Every attempt of a step lost its race to another instance's write."""


class _firestore_errors:
    """Map Firestore client failures to UpstreamError; a failed precondition to _Changed, for a retry."""

    def __init__(self, doing: str):
        self.doing = doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if exc is None:
            return False
        from google.api_core import exceptions as api_exceptions
        from google.auth import exceptions as auth_exceptions

        # FAILED_PRECONDITION: the update time moved; ALREADY_EXISTS: the document
        # appeared; ABORTED: Firestore gave up the commit for contention.
        if isinstance(exc, (api_exceptions.FailedPrecondition, api_exceptions.AlreadyExists, api_exceptions.Aborted)):
            raise _Changed(str(exc)) from exc
        if isinstance(exc, (api_exceptions.GoogleAPICallError, api_exceptions.RetryError,
                            auth_exceptions.TransportError, auth_exceptions.RefreshError)):
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            raise UpstreamError(SERVICE, f"{self.doing}: {message}") from exc
        return False


# -- Running a sync under the lock ---------------------------------------------------


def run_coalesced(lock: SyncLock, sync_once: Callable[[Callable[[], None]], None], max_rounds: int = 5) -> str:
    """Sync under the lock, again while changes keep arriving: "performed" or "queued".

    sync_once(guard) must call guard() before each write; guard raises LeaseLost
    once the lease is no longer ours. After max_rounds syncs the lease is freed
    with any pending marker left set, so the next webhook syncs.
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
    except Exception as exc:  # noqa: BLE001 - the lease expires anyway
        log.warning("could not free the sync lease; it will expire", action="abandon",
                    page=lease.page, holder=lease.holder, error=str(exc))


# -- Choosing the lock ---------------------------------------------------------------

_locks: dict[tuple[str, ...], SyncLock] = {}
_locks_mutex = threading.Lock()


def make_lock(settings: Any) -> SyncLock:
    """The lock for these settings, one per process and page (a MemoryLock must be shared)."""
    page = settings.statuspage_page
    if settings.lock == "firestore":
        database = settings.firestore_database
        key = ("firestore", settings.project or "", database, page)
    else:
        key = ("memory", page)
    with _locks_mutex:
        lock = _locks.get(key)
        if lock is None:
            if key[0] == "firestore":
                lock = ProcessGate(_firestore_lock(settings.project, database, page))
            else:
                lock = MemoryLock(page)
            _locks[key] = lock
        return lock


def _firestore_lock(project: str | None, database: str, page: str) -> FirestoreLock:
    if not project:
        raise ConfigError("GOOGLE_CLOUD_PROJECT: must be set when PAGERSTATUS_LOCK=firestore")
    from google.auth import exceptions as auth_exceptions
    from google.cloud import firestore

    try:
        client = firestore.Client(project=project, database=database)
    except auth_exceptions.DefaultCredentialsError as exc:
        raise ConfigError(
            "Firestore lock: no Google credentials found; run `gcloud auth application-default login`, "
            "set FIRESTORE_EMULATOR_HOST, or set PAGERSTATUS_LOCK=memory for a local run"
            f" ({exc})"
        ) from None
    return FirestoreLock(client, page)
