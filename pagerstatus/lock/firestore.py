"""FirestoreLock: the lease in one Firestore document per page, shared by every function instance.

Clocks: a step compares the stored expiry with the wall clock (UTC) of
whichever instance runs it, between its read and its write (a Firestore TTL
policy deletes late and is no expiry). That assumes the instances' clocks agree
to well within lease_seconds (Google's hosts are NTP-synced to milliseconds;
lease_seconds is 60). Firestore errors become UpstreamError("firestore", ...)
within a few seconds (short timeouts, bounded retries), so the webhook answers
503 and PagerDuty retries; no sync ever runs without the lock.

This module loads google.cloud.firestore (and google-api-core, gRPC); only
make_lock imports it, when the Firestore lock is made, so `import main` stays
free of them.
"""
from __future__ import annotations

import random
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from google.auth import exceptions as auth_exceptions
from google.cloud import firestore

from .. import log
from ..errors import ConfigError, LeaseLost, UpstreamError
from .state import (DEFAULT_LEASE_SECONDS, Lease, Outcome, State, decide_abandon, decide_acquire, decide_check,
                    decide_release, log_lost, log_outcome, new_holder_id)

DEFAULT_COLLECTION = "pagerstatus-locks"
SERVICE = "firestore"


def utc_now() -> datetime:
    """The wall clock shared, within NTP skew, by all function instances."""
    return datetime.now(timezone.utc)


def connect(page: str, project: str | None, database: str) -> FirestoreLock:
    """The lock on `page` in this project's Firestore database, with a client of its own."""
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
    return FirestoreLock(client, page)


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
        client: firestore.Client,
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
        return self._step(lambda s, now: decide_acquire(s, now, now + self.lease, holder, self.page_id), "acquire")

    def release(self, lease: Lease) -> bool:
        return self._step(lambda s, now: decide_release(s, lease, now + self.lease), "release")

    def abandon(self, lease: Lease) -> None:
        try:
            self._step(lambda s, now: decide_abandon(s, lease), "abandon")
        except UpstreamError as exc:
            # Best effort: the lease expires by itself, and the caller is already
            # reporting a failure that must not be replaced by this one.
            log.warning("could not free the sync lease; it will expire", action="abandon",
                        page=self.page_id, holder=lease.holder, error=str(exc))

    def check(self, lease: Lease) -> None:
        self._step(lambda s, now: decide_check(s, now, lease, now + self.lease), "check")

    def snapshot(self) -> dict[str, Any]:
        """The stored state (a plain read), for tests and diagnostics."""
        return self._decode(self._read()).as_dict()

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

    def _step(self, decide: Callable[[State, datetime], Outcome], step: str) -> Any:
        """Read, decide, and write the decision only if the document is still the one read."""
        from google.cloud.firestore_v1 import types

        for attempt in range(1, self._max_attempts + 1):
            document = self._read()
            try:
                outcome = decide(self._decode(document), self._now())
            except LeaseLost as exc:
                log_lost(exc, self.page_id, "firestore")
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
            log_outcome(outcome, self.page_id, "firestore")
            return outcome.result
        raise _Contended(SERVICE, f"{step}: the lock document kept changing for {self._max_attempts} attempts")

    def _encode(self, state: State) -> Any:
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
    def _decode(document: Any) -> State:
        if document is None:
            return State()
        fields = document.fields

        def field(name: str, kind: str) -> Any:
            value = fields.get(name)
            if value is None or type(value).pb(value).WhichOneof("value_type") != kind:
                return None
            return getattr(value, kind)

        return State(
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
