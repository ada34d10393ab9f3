"""The sync lock: one holder at a time, no webhook lost, a taken-over holder stops writing.

The behavioural tests run against MemoryLock and against FirestoreLock on the
real Firestore emulator (FIRESTORE_EMULATOR_HOST, set by
scripts/with-firestore-emulator.sh; without it the Firestore cases fail).
Several FirestoreLock objects, each with its own client, stand for function
instances; they share a fake clock, so that expiry, takeover and fencing happen
by moving it: no test sleeps for a lease or depends on how fast a step runs.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pagerstatus.errors import LeaseLost, PagerstatusError, StillChanging, UpstreamError
from pagerstatus.lock import Lease, MemoryLock, ProcessGate, SyncLock, make_locks, run_coalesced
from pagerstatus.lock.firestore import FirestoreLock, utc_now
from pagerstatus.runtime import Runtime
from tests.harness.clock import FakeClock, wait_for
from tests.harness.network import refusing

LEASE = 60.0
PAGE = "page1"


@dataclass
class Backend:
    kind: str
    clock: FakeClock
    instance: Callable[[], SyncLock]  # another function instance on the same page's lease
    snapshot: Callable[[], dict[str, Any]]


@pytest.fixture(params=["memory", "firestore"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        clock = FakeClock(1000.0)
        shared = MemoryLock(PAGE, lease_seconds=LEASE, clock=clock)  # one per process, as the Runtime keeps it
        return Backend("memory", clock, lambda: shared, shared.snapshot)
    clients = request.getfixturevalue("firestore_clients")
    clock = FakeClock(datetime.now(UTC))

    def instance() -> FirestoreLock:
        # A roomier timeout than production's: a loaded machine's slow emulator
        # must not fail a test about the lease's behaviour.
        return FirestoreLock(clients(), PAGE, lease_seconds=LEASE, clock=clock, rpc_timeout=10)

    return Backend("firestore", clock, instance, instance().snapshot)


def actions(out: str) -> list[str]:
    return [json.loads(line).get("action") for line in out.splitlines() if line.startswith("{")]


def coalesced(lock: SyncLock, sync_once: Callable[[Callable[[], None]], None], **options: Any) -> str:
    """run_coalesced with one page: the page's outcome, its error raised. No settle before a
    follow-up round unless asked for (test_a_burst_settles_before_the_follow_up_round)."""
    options.setdefault("settle", 0)

    def sync_round(guards):
        sync_once(guards[PAGE])
        return {}

    outcome = run_coalesced({PAGE: lock}, sync_round, **options)[PAGE]
    if isinstance(outcome, PagerstatusError):
        raise outcome
    return outcome


# -- Behaviour, both implementations ---------------------------------------------------


def test_a_held_lease_queues_and_release_reports_the_pending_sync(backend: Backend, capsys):
    a, b = backend.instance(), backend.instance()
    lease = a.acquire()
    assert isinstance(lease, Lease) and lease.page == PAGE
    assert b.acquire() is None
    assert b.acquire() is None  # already pending: nothing more to record
    assert backend.snapshot()["pending"] is True
    assert a.release(lease) is False  # pending cleared, lease renewed: sync again
    state = backend.snapshot()
    assert state["holder"] == lease.holder and state["pending"] is False
    assert a.release(lease) is True
    state = backend.snapshot()
    assert state["holder"] is None and state["pending"] is False
    assert actions(capsys.readouterr().out) == ["acquire", "queued", "queued", "resync", "release"]


def test_two_acquirers_race_and_exactly_one_wins(backend: Backend):
    # Four Firestore racers meet on both preconditions: creating the document,
    # then setting pending on it (the last ones to read find pending set and write nothing).
    rounds, racers = (3, 4) if backend.kind == "firestore" else (100, 8)
    locks = [backend.instance() for _ in range(racers)]
    for _ in range(rounds):
        barrier = threading.Barrier(racers)

        def contend(lock: SyncLock, barrier: threading.Barrier = barrier) -> Lease | None:
            barrier.wait()
            return lock.acquire()

        with ThreadPoolExecutor(racers) as pool:
            results = list(pool.map(contend, locks))
        winners = [(lock, lease) for lock, lease in zip(locks, results, strict=True) if lease is not None]
        assert len(winners) == 1, results
        lock, lease = winners[0]
        assert lock.release(lease) is False  # the losers asked for a sync
        assert lock.release(lease) is True
    assert backend.snapshot()["holder"] is None


def test_webhooks_during_a_sync_are_coalesced_into_one_more_sync(backend: Backend, capsys):
    holder = backend.instance()
    queued = [backend.instance() for _ in range(4 if backend.kind == "firestore" else 20)]
    rounds: list[int] = []

    def sync_once(guard: Callable[[], None]) -> None:
        rounds.append(len(rounds) + 1)
        if len(rounds) == 1:  # a burst of webhooks arrives during the first sync: "Sync queued" for each
            with ThreadPoolExecutor(len(queued)) as pool:
                assert list(pool.map(lambda lock: lock.acquire(), queued)) == [None] * len(queued)
        guard()

    assert coalesced(holder, sync_once) == "performed"
    assert rounds == [1, 2]
    state = backend.snapshot()
    assert state["holder"] is None and state["pending"] is False
    assert actions(capsys.readouterr().out) == ["acquire", *["queued"] * len(queued), "resync", "release"]
    assert coalesced(queued[0], lambda guard: None) == "performed"  # free again


def test_a_burst_settles_before_the_follow_up_round_which_covers_it_all(backend: Backend, capsys):
    holder, other = backend.instance(), backend.instance()
    rounds: list[int] = []
    settles: list[float] = []

    def sync_once(guard: Callable[[], None]) -> None:
        rounds.append(1)
        if len(rounds) == 1:
            assert other.acquire() is None  # a webhook during the first round asks for a follow-up
        guard()

    def settle(seconds: float) -> None:
        # The rest of the burst arrives while the holder settles: queued, and covered by the
        # follow-up round, which starts after them; no third round.
        settles.append(seconds)
        assert [other.acquire() for _ in range(3)] == [None] * 3

    assert coalesced(holder, sync_once, settle=0.5, sleep=settle) == "performed"
    assert len(rounds) == 2 and settles == [0.5]
    assert backend.snapshot()["holder"] is None and backend.snapshot()["pending"] is False
    assert actions(capsys.readouterr().out) == ["acquire", "queued", "resync", "queued", "queued", "queued",
                                                "restart", "release"]


def test_a_holder_that_lost_its_lease_while_settling_does_not_sync_again(backend: Backend):
    holder, other = backend.instance(), backend.instance()
    rounds: list[int] = []

    def sync_once(guard: Callable[[], None]) -> None:
        rounds.append(1)
        if len(rounds) == 1:
            assert other.acquire() is None

    def stall(seconds: float) -> None:
        backend.clock.advance(LEASE + 1)  # the holder stalls past its lease: another takes over
        assert other.acquire() is not None

    with pytest.raises(LeaseLost):
        coalesced(holder, sync_once, settle=0.5, sleep=stall)
    assert rounds == [1]


def test_a_webhook_finding_the_lease_held_is_queued_without_syncing(backend: Backend):
    holder, other = backend.instance(), backend.instance()
    lease = holder.acquire()
    synced: list[int] = []
    assert coalesced(other, lambda guard: synced.append(1)) == "queued"
    assert synced == []
    assert holder.release(lease) is False


def test_an_expired_lease_is_taken_over_and_the_old_holder_is_fenced(backend: Backend, capsys):
    a, b = backend.instance(), backend.instance()
    old = a.acquire()
    backend.clock.advance(LEASE - 1)
    assert b.acquire() is None  # still live
    backend.clock.advance(2)  # the holder died: no heartbeat for longer than the lease
    new = b.acquire()
    assert new is not None and new.holder != old.holder and new.generation == old.generation + 1
    state = backend.snapshot()
    assert state["holder"] == new.holder and state["pending"] is False  # the new holder syncs afresh
    with pytest.raises(LeaseLost):
        a.check(old)
    with pytest.raises(LeaseLost):
        a.release(old)
    a.abandon(old)  # never raises, and frees nothing of the new holder's
    assert backend.snapshot()["holder"] == new.holder
    b.check(new)
    assert b.release(new) is True
    out = capsys.readouterr().out
    assert "takeover" in actions(out) and "lost" in actions(out)
    takeover = next(json.loads(line) for line in out.splitlines() if '"takeover"' in line)
    assert takeover["previous"] == old.holder and takeover["holder"] == new.holder


def test_check_renews_the_lease(backend: Backend):
    a, b = backend.instance(), backend.instance()
    lease = a.acquire()
    for _ in range(3):  # 120 s in all, never 60 s without a heartbeat
        backend.clock.advance(40)
        a.check(lease)
        assert b.acquire() is None
    backend.clock.advance(LEASE + 1)
    with pytest.raises(LeaseLost):
        a.check(lease)  # expired: no write, even before anyone took over


def test_a_holder_that_lost_its_lease_stops_before_writing(backend: Backend):
    a, b = backend.instance(), backend.instance()
    writes: list[str] = []
    takeover: list[Lease] = []

    def sync_once(guard: Callable[[], None]) -> None:
        guard()
        writes.append("first")
        backend.clock.advance(LEASE + 1)  # a long stall: the lease expires ...
        lease = b.acquire()  # ... and another instance takes over
        assert lease is not None
        takeover.append(lease)
        guard()
        writes.append("second")  # must not happen

    with pytest.raises(LeaseLost):
        coalesced(a, sync_once)
    assert writes == ["first"]
    assert backend.snapshot()["holder"] == takeover[0].holder  # abandon left the new lease alone
    assert b.release(takeover[0]) is True


def test_a_failed_sync_frees_the_lease_and_keeps_pending(backend: Backend):
    holder, other = backend.instance(), backend.instance()

    def sync_once(guard: Callable[[], None]) -> None:
        assert other.acquire() is None
        raise RuntimeError("statuspage exploded")

    with pytest.raises(RuntimeError, match="exploded"):
        coalesced(holder, sync_once)
    state = backend.snapshot()
    assert state["holder"] is None and state["pending"] is True
    lease = other.acquire()  # PagerDuty's redelivery syncs, and that covers the queued change
    assert lease is not None and backend.snapshot()["pending"] is False
    assert other.release(lease) is True


def test_syncs_stop_after_max_rounds_and_ask_for_a_redelivery(backend: Backend, capsys):
    holder, other = backend.instance(), backend.instance()
    rounds: list[int] = []

    def sync_once(guard: Callable[[], None]) -> None:
        rounds.append(1)
        assert other.acquire() is None  # changes keep arriving
        guard()

    with pytest.raises(StillChanging, match="still arriving"):  # 503: PagerDuty redelivers, that sync covers it
        coalesced(holder, sync_once, max_rounds=3)
    assert len(rounds) == 3
    assert backend.snapshot()["holder"] is None  # the redelivery finds the lease free
    assert "resync-limit" in actions(capsys.readouterr().out)
    with pytest.raises(ValueError):  # not even one round
        coalesced(holder, sync_once, max_rounds=0)


# -- Firestore specifics ------------------------------------------------------------------


def test_the_lease_is_one_document_per_page(firestore_clients):
    client = firestore_clients()
    clock = FakeClock(datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    lock = FirestoreLock(client, "pageA", clock=clock)
    lease = lock.acquire()
    assert FirestoreLock(client, "pageB", clock=clock).acquire() is not None  # another page, another lease
    stored = client.collection("pagerstatus-locks").document("pageA").get().to_dict()
    assert stored["holder"] == lease.holder
    assert stored["expires"] == datetime(2030, 1, 2, 3, 5, 5, tzinfo=UTC)
    assert stored["pending"] is False and stored["generation"] == 1
    assert lock.release(lease) is True
    stored = client.collection("pagerstatus-locks").document("pageA").get().to_dict()
    assert stored["holder"] is None and stored["expires"] is None and stored["generation"] == 1


def test_a_write_between_a_steps_read_and_its_write_makes_the_step_decide_again(firestore_clients):
    # No lock is held between a step's read and its write (a compare-and-set, not
    # a transaction): another instance can take the lease in between, and the
    # step, its write refused, reads again and queues behind it. Holding a
    # transaction's read lock there would block the other instance's write.
    clock = FakeClock(datetime.now(UTC))
    early = FirestoreLock(firestore_clients(), PAGE, clock=clock, rpc_timeout=10)
    taken: list[Lease | None] = []
    decisions: list[datetime] = []

    def read_then_lose_the_race() -> datetime:
        # A step reads the time once per decision, between its read and its write.
        if not taken:
            taken.append(early.acquire())
        decisions.append(clock())
        return decisions[-1]

    late = FirestoreLock(firestore_clients(), PAGE, clock=read_then_lose_the_race, rpc_timeout=10)
    assert late.acquire() is None
    assert len(decisions) == 2  # on the empty document it read, then on early's lease
    state = late.snapshot()
    assert taken[0] is not None and state["holder"] == taken[0].holder and state["pending"] is True


def test_the_default_clocks_put_the_expiry_one_lease_from_now(firestore_clients):
    memory = MemoryLock(PAGE)
    before = time.monotonic()
    lease = memory.acquire()
    assert lease is not None and before + LEASE <= lease.expires <= time.monotonic() + LEASE

    stored = FirestoreLock(firestore_clients(), PAGE, rpc_timeout=10)
    before_utc = utc_now()
    lease = stored.acquire()
    assert lease is not None and before_utc + timedelta(seconds=LEASE) <= lease.expires
    assert lease.expires <= utc_now() + timedelta(seconds=LEASE)
    assert stored.snapshot()["expires"] == lease.expires


#: The property of the next two tests is the timeout itself: a failing Firestore
#: is given up on within the lock's budget (3 s by default), not the library's
#: (300 s for a read, 60 s for a commit). A bound this loose holds on any machine.
GIVES_UP_WITHIN_S = 20.0


def client_at(monkeypatch: pytest.MonkeyPatch, url: str) -> Any:
    """A Firestore client that talks to url as it would to the emulator."""
    from google.cloud import firestore

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", url.removeprefix("http://"))
    return firestore.Client(project="unreachable")


def test_unreachable_firestore_fails_fast_and_nothing_syncs(monkeypatch):
    with refusing() as url:
        client = client_at(monkeypatch, url)
        lock = FirestoreLock(client, PAGE)  # the default timeouts
        started = time.monotonic()
        with pytest.raises(UpstreamError) as info:
            lock.acquire()
        assert time.monotonic() - started < GIVES_UP_WITHIN_S
        assert info.value.service == "firestore" and info.value.detail.startswith("reading the lock document")

        fast = FirestoreLock(client, PAGE, rpc_timeout=0.3)
        synced: list[int] = []
        with pytest.raises(UpstreamError) as info:
            coalesced(fast, lambda guard: synced.append(1))
        assert info.value.service == "firestore"
        assert synced == []  # never a sync without the lock
        lease = Lease(holder="someone", page=PAGE, generation=1)
        for step in (fast.check, fast.release):
            with pytest.raises(UpstreamError) as info:
                step(lease)
            assert info.value.service == "firestore"
        fast.abandon(lease)  # best effort: logs, never raises


def test_a_silent_firestore_times_out_and_nothing_syncs(monkeypatch):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        client = client_at(monkeypatch, f"127.0.0.1:{silent.getsockname()[1]}")
        lock = FirestoreLock(client, PAGE, rpc_timeout=1.0)  # the test above covers the default
        synced: list[int] = []
        started = time.monotonic()
        with pytest.raises(UpstreamError) as info:
            coalesced(lock, lambda guard: synced.append(1))
        assert time.monotonic() - started < GIVES_UP_WITHIN_S
        assert info.value.service == "firestore" and synced == []


# -- make_locks and who keeps the locks ----------------------------------------------------

ENV = {"STATUSPAGE_PAGE": "pg1", "STATUSPAGE_KEY": "sp-key-123456", "PD_ACCOUNT_MAIN": "pd-key-123456"}


def test_make_locks_builds_new_locks_every_time_one_per_page():
    first, second = make_locks("memory", ["pg1", "pg2"]), make_locks("memory", ["pg1"])
    assert {page: (type(lock), lock.page_id) for page, lock in first.items()} == {
        "pg1": (MemoryLock, "pg1"), "pg2": (MemoryLock, "pg2")}
    lease = first["pg1"].acquire()
    assert first["pg2"].acquire() is not None  # another page, another lease
    assert second["pg1"].acquire() is not None  # no registry behind it: keeping the locks is their owner's job
    assert first["pg1"].release(lease) is True
    with pytest.raises(ValueError, match="unknown lock kind"):
        make_locks("firestor", ["pg1"])


def test_the_runtime_keeps_one_lock_per_page_and_every_sync_goes_through_them():
    runtime = Runtime.from_environment({**ENV, "STATUSPAGE_PAGE": "pg1,pg2"})
    assert {page: lock.page_id for page, lock in runtime.locks.items()} == {"pg1": "pg1", "pg2": "pg2"}
    assert all(isinstance(lock, MemoryLock) for lock in runtime.locks.values())
    leases = {page: lock.acquire() for page, lock in runtime.locks.items()}
    assert runtime.sync() == {"pg1": "queued", "pg2": "queued"}  # behind held leases: nothing read, nothing written
    assert all(runtime.locks[page].release(lease) is False for page, lease in leases.items())  # their holders resync
    assert Runtime.from_environment(ENV).locks["pg1"] is not runtime.locks["pg1"]


def test_make_locks_firestore_are_gates_on_the_projects_database_through_one_client(firestore_project,
                                                                                     firestore_clients):
    from google.cloud import firestore

    locks = make_locks("firestore", ["pg1", "pg2"], firestore_project, "lockdb")
    assert all(isinstance(lock, ProcessGate) and isinstance(lock.shared, FirestoreLock) for lock in locks.values())
    assert locks["pg1"].shared.client is locks["pg2"].shared.client
    assert locks["pg1"].shared.client.project == firestore_project
    lease = locks["pg1"].acquire()
    assert lease is not None and lease.page == "pg1"
    in_lockdb = FirestoreLock(firestore.Client(project=firestore_project, database="lockdb"), "pg1")
    assert in_lockdb.snapshot()["holder"] == lease.holder
    assert FirestoreLock(firestore_clients(), "pg1").snapshot()["holder"] is None  # not in (default)
    assert locks["pg2"].shared.snapshot()["holder"] is None  # a document of its own
    assert locks["pg1"].release(lease) is True


# -- run_coalesced over several pages ---------------------------------------------------------


def pages(*names: str) -> dict[str, MemoryLock]:
    return {name: MemoryLock(name, lease_seconds=LEASE, clock=FakeClock(1000.0)) for name in names}


def test_each_page_is_synced_under_its_own_lease_and_a_held_one_is_queued():
    locks = pages("pa", "pb", "pc")
    other = locks["pb"].acquire()  # another holder has pb
    rounds: list[set[str]] = []

    def sync_round(guards):
        rounds.append(set(guards))
        for guard in guards.values():
            guard()  # each lease is ours
        return {}

    assert run_coalesced(locks, sync_round) == {"pa": "performed", "pb": "queued", "pc": "performed"}
    assert rounds == [{"pa", "pc"}]
    assert locks["pa"].snapshot()["holder"] is None and locks["pc"].snapshot()["holder"] is None
    assert locks["pb"].release(other) is False  # pb's holder syncs again for the queued webhook


def test_only_the_pages_with_changes_pending_sync_again():
    locks = pages("pa", "pb")
    rounds: list[set[str]] = []

    def sync_round(guards):
        rounds.append(set(guards))
        if len(rounds) == 1:
            assert locks["pb"].acquire() is None  # a webhook during the round, queued on pb only
        return {}

    assert run_coalesced(locks, sync_round) == {"pa": "performed", "pb": "performed"}
    assert rounds == [{"pa", "pb"}, {"pb"}]


def test_a_page_that_fails_is_freed_with_its_error_and_the_others_go_on():
    locks = pages("pa", "pb")
    error = UpstreamError("statuspage", "503 after retries")
    rounds: list[set[str]] = []

    def sync_round(guards):
        rounds.append(set(guards))
        if len(rounds) == 1:
            assert locks["pa"].acquire() is None  # a change for pa arrives: pa syncs again
            assert locks["pb"].acquire() is None  # and for pb, which fails: its redelivery covers it
            return {"pb": error}
        return {}

    assert run_coalesced(locks, sync_round) == {"pa": "performed", "pb": error}
    assert rounds == [{"pa", "pb"}, {"pa"}]
    state = locks["pb"].snapshot()
    assert state["holder"] is None and state["pending"] is True  # freed, its queued change kept


def test_a_round_that_raises_frees_every_page_and_raises():
    locks = pages("pa", "pb")

    def sync_round(guards):
        raise UpstreamError("pagerduty", "503 after retries")

    with pytest.raises(UpstreamError, match="pagerduty"):
        run_coalesced(locks, sync_round)
    assert all(lock.snapshot()["holder"] is None for lock in locks.values())


def test_a_page_whose_lease_cannot_be_taken_or_freed_is_that_pages_failure(monkeypatch):
    locks = pages("pa", "pb", "pc")
    down = UpstreamError("firestore", "unreachable")

    def fail(*args: Any) -> Any:
        raise down

    monkeypatch.setattr(locks["pa"], "acquire", fail)
    monkeypatch.setattr(locks["pb"], "release", fail)
    synced: list[set[str]] = []
    assert run_coalesced(locks, lambda guards: synced.append(set(guards)) or {}) == {
        "pa": down, "pb": down, "pc": "performed"}
    assert synced == [{"pb", "pc"}]  # never a sync without the lease
    assert locks["pb"].snapshot()["holder"] is None  # abandoned, so the redelivery finds it free


def test_a_page_still_changing_after_max_rounds_asks_for_a_redelivery_alone():
    locks = pages("pa", "pb")

    def sync_round(guards):
        assert locks["pb"].acquire() is None  # pb's changes keep arriving
        return {}

    outcomes = run_coalesced(locks, sync_round, max_rounds=3)
    assert outcomes["pa"] == "performed" and isinstance(outcomes["pb"], StillChanging)
    assert locks["pb"].snapshot()["holder"] is None


# -- ProcessGate: one instance's own webhooks never contend in Firestore -----------------


class CountingLock(MemoryLock):
    """A MemoryLock that counts the acquires reaching it."""

    acquires = 0

    def acquire(self):
        self.acquires += 1
        return super().acquire()


def test_gate_queues_locally_while_this_process_holds_the_lease():
    shared = CountingLock(PAGE)
    gate = ProcessGate(shared)
    lease = gate.acquire()
    assert lease is not None
    assert gate.acquire() is None and gate.acquire() is None
    assert shared.acquires == 1  # the queued webhooks never reached the shared lock
    assert gate.release(lease) is False  # a local marker: sync again, lease renewed
    assert shared.snapshot()["holder"] == lease.holder
    assert gate.release(lease) is True
    assert shared.snapshot()["holder"] is None
    assert gate.acquire() is not None and shared.acquires == 2


def test_gate_reopens_when_release_fails(monkeypatch):
    shared = MemoryLock(PAGE)
    gate = ProcessGate(shared)
    lease = gate.acquire()

    def fail(lease: Lease) -> bool:
        raise UpstreamError("firestore", "release failed")

    monkeypatch.setattr(shared, "release", fail)
    with pytest.raises(UpstreamError):
        gate.release(lease)
    shared.abandon(lease)
    assert gate.acquire() is not None  # not shut forever behind the failed lease


def test_gate_run_coalesced_resyncs_for_a_webhook_during_the_sync():
    gate = ProcessGate(MemoryLock(PAGE))
    rounds = []

    def sync(guard):
        rounds.append(1)
        if len(rounds) == 1:
            assert coalesced(gate, lambda g: None) == "queued"

    assert coalesced(gate, sync) == "performed"
    assert len(rounds) == 2



class SteppedByTest(MemoryLock):
    """A MemoryLock that counts the acquires and checks reaching it; the first of each waits
    until the test sets `go`, and the first acquire then runs `after_first_acquire`."""

    def __init__(self, after_first_acquire: Callable[[], None] = lambda: None):
        super().__init__(PAGE)
        self.acquires = self.checks = 0
        self.go = threading.Event()
        self._after_first_acquire = after_first_acquire

    def acquire(self):
        self.acquires += 1
        if self.acquires > 1:
            return super().acquire()
        self.go.wait(30)
        try:
            return super().acquire()
        finally:
            self._after_first_acquire()

    def check(self, lease):
        self.checks += 1
        if self.checks == 1:
            self.go.wait(30)
        return super().check(lease)


def burst_during_first_step(gate: ProcessGate, shared: SteppedByTest, size: int) -> tuple[Any, list[Any]]:
    """The first acquire's answer and those of `size` more that arrive while its step waits."""
    with ThreadPoolExecutor(max_workers=size + 1) as pool:
        first = pool.submit(gate.acquire)
        wait_for(lambda: shared.acquires == 1, what="the first step to start")
        burst = [pool.submit(gate.acquire) for _ in range(size)]
        wait_for(lambda: gate._acquiring.waiting == size, what="the burst to wait")
        shared.go.set()
        return first.result(), [f.result() for f in burst]


def test_gate_webhooks_arriving_during_a_step_share_the_next_one():
    shared = SteppedByTest()
    elsewhere = MemoryLock.acquire(shared)  # another instance holds the lease (the step is not counted)
    first, burst = burst_during_first_step(ProcessGate(shared), shared, 20)
    assert first is None and burst == [None] * 20  # all queued for the other instance
    assert shared.acquires == 2  # the first step, then one step for the 20
    assert shared.snapshot()["pending"] is True and shared.snapshot()["holder"] == elsewhere.holder


def test_gate_webhooks_sharing_a_step_that_takes_the_lease_answer_queued_and_one_syncs():
    shared = SteppedByTest(after_first_acquire=lambda: MemoryLock.abandon(shared, elsewhere))
    elsewhere = MemoryLock.acquire(shared)  # held elsewhere during the first step, freed right after it
    first, burst = burst_during_first_step(ProcessGate(shared), shared, 5)
    assert first is None and shared.acquires == 2
    # The burst's one step took the lease: one of the five syncs, the others are queued behind it.
    [lease] = [answer for answer in burst if answer is not None]
    assert shared.snapshot()["holder"] == lease.holder


def test_gate_checks_from_parallel_writes_share_steps_and_each_waits_for_one_begun_after_it():
    shared = SteppedByTest()
    shared.go.set()
    gate = ProcessGate(shared)
    lease = gate.acquire()
    shared.go.clear()
    with ThreadPoolExecutor(max_workers=9) as pool:
        first = pool.submit(gate.check, lease)
        wait_for(lambda: shared.checks == 1, what="the first check to start")
        others = [pool.submit(gate.check, lease) for _ in range(8)]
        wait_for(lambda: gate._checks[lease].waiting == 8, what="the writes to wait")
        assert not any(f.done() for f in others)  # none goes on a check that began before it asked
        shared.go.set()
        for f in [first, *others]:
            f.result()
    assert shared.checks == 2


def test_gate_a_lost_lease_stops_every_write_sharing_the_check():
    clock = FakeClock(1000.0)
    shared = MemoryLock(PAGE, lease_seconds=LEASE, clock=clock)
    gate = ProcessGate(shared)
    lease = gate.acquire()
    clock.advance(LEASE + 1)  # expired, and taken over by another instance
    assert MemoryLock.acquire(shared) is not None
    with ThreadPoolExecutor(max_workers=8) as pool:
        checks = [pool.submit(gate.check, lease) for _ in range(8)]
        assert all(isinstance(f.exception(), LeaseLost) for f in checks)
