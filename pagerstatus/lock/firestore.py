"""FirestoreLock: the lease in one Firestore document per page, shared by every function instance.

Clocks: a step compares the stored expiry with the wall clock (UTC) of
whichever instance runs it, between its read and its write (a Firestore TTL
policy deletes late and is no expiry). That assumes the instances' clocks agree
to well within lease_seconds (Google's hosts are NTP-synced to milliseconds;
lease_seconds is 60).

Firestore errors become UpstreamError("firestore", ...) within a few seconds
(pagerstatus.gcp: short timeouts, bounded retries, and every call here passes them:
the library's own defaults retry for up to 300 s), so the webhook answers 503 and
PagerDuty retries; no sync ever runs without the lock. Only make_locks imports this
module (it loads google.cloud.firestore and gRPC): `import main` stays free of them.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.cloud import firestore

from .. import log
from ..errors import ConfigError, UpstreamError
from ..gcp import call_options, upstream_errors
from .state import DEFAULT_LEASE_SECONDS, Lease, Outcome, State, SteppedLock

DEFAULT_COLLECTION = "pagerstatus-locks"
SERVICE = "firestore"

#: A commit refused because the document is no longer as the step read it:
#: FAILED_PRECONDITION, its update time moved (or it was deleted); ALREADY_EXISTS,
#: it appeared; ABORTED, Firestore gave the commit up for contention.
LOST_RACE = (api_exceptions.FailedPrecondition, api_exceptions.AlreadyExists, api_exceptions.Aborted)


def utc_now() -> datetime:
    """The wall clock shared, within NTP skew, by all function instances."""
    return datetime.now(UTC)


def connect(project: str | None, database: str) -> firestore.Client:
    """A client of this project's Firestore database, for the locks of every page."""
    if not project:
        raise ConfigError("GOOGLE_CLOUD_PROJECT: must be set when PAGERSTATUS_LOCK=firestore")
    try:
        client = firestore.Client(project=project, database=database)
    except auth_exceptions.DefaultCredentialsError as exc:
        raise ConfigError(
            "Firestore lock: no Google credentials found; run `gcloud auth application-default login`, "
            "set FIRESTORE_EMULATOR_HOST, or set PAGERSTATUS_LOCK=memory for a local run"
            f" ({exc})"
        ) from None
    return client


class FirestoreLock(SteppedLock):
    """The lease in document <collection>/<page_id>, one optimistic transaction per step.

    Each step reads the document (a strong read) and, when it changes the state,
    writes it with a precondition: created only if still absent, or updated only
    if its update time is still the one read. That is how Firestore's mobile and
    web SDKs run every transaction: the server applies the commit atomically only
    if nothing it read has changed. A step that lost a race reads again and
    decides again. Unlike a server SDK's read-write transaction, no lock is held
    between the read and the commit: racing instances never wait on each other's
    locks (the emulator settles such a wait with a 2 s timeout), the loser re-reads.

    Fields: holder (string or null), expires (timestamp or null), pending (bool),
    generation (int), updated (timestamp, diagnostics only).

    rpc_timeout: the most one Firestore call may take, retries included.
    max_attempts: attempts of a step whose write loses a race.
    """

    backend = "firestore"

    def __init__(self, client: firestore.Client, page_id: str, lease_seconds: float = DEFAULT_LEASE_SECONDS,
                 collection: str = DEFAULT_COLLECTION, clock: Callable[[], datetime] = utc_now, *,
                 rpc_timeout: float = 3.0, max_attempts: int = 5):
        if not page_id or "/" in page_id or not collection or "/" in collection:
            raise ConfigError(f"Firestore lock: invalid page id {page_id!r} or collection {collection!r}")
        self.client = client
        self.page_id = page_id
        self.lease = timedelta(seconds=lease_seconds)
        self._clock = clock
        self._rpc_timeout = rpc_timeout
        self._max_attempts = max_attempts
        self._document = client.collection(collection).document(page_id)

    def abandon(self, lease: Lease) -> None:
        try:
            super().abandon(lease)
        except UpstreamError as exc:
            # Best effort: the lease expires by itself, and the caller is already
            # reporting a failure that must not be replaced by this one.
            log.warning("could not free the sync lease; it will expire", action="abandon",
                        page=self.page_id, holder=lease.holder, error=str(exc))

    def snapshot(self) -> dict[str, Any]:
        """The stored state (a plain read), for tests and diagnostics."""
        return _decode(self._read().to_dict()).as_dict()

    def _now(self) -> datetime:
        now = self._clock()
        return now if now.tzinfo is not None else now.replace(tzinfo=UTC)

    def _step(self, decide: Callable[[State, datetime], Outcome], step: str) -> Any:
        """Read, decide, and write the decision only if the document is still the one read."""
        for attempt in range(1, self._max_attempts + 1):
            read = self._read()
            now = self._now()  # after the read, just before the write it decides
            outcome = self.decided(decide, _decode(read.to_dict()), now)
            if outcome.write is not None and not self._write(read, outcome.write, now, step):
                # Another instance wrote first: read its state and decide again.
                # A little jitter keeps two retrying instances from meeting again.
                time.sleep(random.uniform(0, 0.02 * attempt))
                continue
            return self.logged(outcome)
        raise UpstreamError(SERVICE, f"{step}: the lock document kept changing for {self._max_attempts} attempts")

    def _read(self) -> firestore.DocumentSnapshot:
        # No transaction and no read time: Firestore reads the latest committed version.
        with upstream_errors(SERVICE, "reading the lock document"):
            return self._document.get(**call_options(self._rpc_timeout))

    def _write(self, read: firestore.DocumentSnapshot, state: State, now: datetime, step: str) -> bool:
        """Commit `state` if the document is still as read: True; False if another instance wrote first."""
        data = {"holder": state.holder, "expires": state.expires, "pending": state.pending,
                "generation": state.generation, "updated": now}
        # Never retried blindly: a commit that may have applied is reported (503,
        # PagerDuty redelivers) rather than guessed at.
        options = call_options(self._rpc_timeout, retry=False)
        with upstream_errors(SERVICE, f"{step}: committing"):
            try:
                if read.exists:
                    unchanged = self.client.write_option(last_update_time=read.update_time)
                    self._document.update(data, option=unchanged, **options)
                else:
                    self._document.create(data, **options)
            except LOST_RACE:
                return False
        return True


def _decode(stored: dict[str, Any] | None) -> State:
    """The stored lease; a missing document, or a field of another type (edited by hand), reads as unset."""
    stored = stored or {}
    holder, expires, generation = stored.get("holder"), stored.get("expires"), stored.get("generation")
    return State(
        holder=holder if isinstance(holder, str) and holder else None,
        expires=expires if isinstance(expires, datetime) else None,
        pending=stored.get("pending") is True,
        generation=generation if type(generation) is int else 0,  # not a bool
    )
