"""The Firestore emulator, for the tests and bench/.

scripts/with-firestore-emulator.sh starts one emulator around the whole run (`make test`)
and exports FIRESTORE_EMULATOR_HOST; the client library picks it up from there. Without
it the tests that need it FAIL, never skip: a green run must mean the lock was tested.

Each test takes a project id of its own (the emulator keeps data per project), so tests
never see each other's documents. A test that needs Firestore to go away puts an
Outage between the function and the emulator.

Clients are let go rather than closed: Client.close() closes only an HTTP session the
gRPC client never opens, and the gRPC channel closes when the client is collected.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from contextlib import suppress
from datetime import UTC, datetime

import pytest

EMULATOR_VARIABLE = "FIRESTORE_EMULATOR_HOST"


def require_emulator() -> str:
    """The emulator's host:port, warmed up, or a test failure that says how to get one."""
    host = os.environ.get(EMULATOR_VARIABLE, "").strip()
    if not host:
        pytest.fail(
            f"{EMULATOR_VARIABLE} is not set: this test needs the Firestore emulator. Run the suite with "
            "`make test`, which wraps pytest in scripts/with-firestore-emulator.sh (or run "
            "`scripts/with-firestore-emulator.sh .venv/bin/python -m pytest ...` yourself).",
            pytrace=False,
        )
    _warm_up(host)
    return host


def unique_project() -> str:
    return f"test-{uuid.uuid4().hex[:16]}"


def expire_lease(project: str, page: str) -> None:
    """Set the page's sync lease to expire now: what 60 s without a heartbeat would do,
    without a test waiting for it. The holder and the pending marker are left as they are."""
    from google.cloud import firestore

    from pagerstatus.lock.firestore import DEFAULT_COLLECTION

    lease = firestore.Client(project=project).collection(DEFAULT_COLLECTION).document(page)
    lease.update({"expires": datetime.now(UTC)}, timeout=30)


_warm: set[str] = set()


def _warm_up(host: str) -> None:
    """One read and one write (the lock's kinds of call) with generous timeouts, once per emulator.

    A freshly started emulator (a JVM) answers its first calls in seconds; the code
    under test rightly allows Firestore only a few, so the first test would otherwise
    fail on the emulator's warm-up rather than on its own merits.
    """
    if host in _warm:
        return
    from google.cloud import firestore

    # On the emulator FIRESTORE_EMULATOR_HOST names.
    document = firestore.Client(project="warm-up").collection("warm-up").document("warm-up")
    document.get(timeout=60)
    document.set({"warm": True}, timeout=60)
    _warm.add(host)


class Outage:
    """A TCP relay to the emulator on a port of its own (`host`), which a test points the
    function at. stop() cuts every connection and refuses new ones, as Firestore going away
    would; start() lets them through again, to the same data."""

    def __init__(self, emulator: str):
        target_host, target_port = emulator.rsplit(":", 1)
        self._target = (target_host, int(target_port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._mutex = threading.Lock()
        self._up = True
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        with self._mutex:
            self._up = False
            for connection in self._open:
                _cut(connection)
            self._open.clear()

    def start(self) -> None:
        with self._mutex:
            self._up = True

    def close(self) -> None:
        self.stop()
        _cut(self._listener)  # wakes the accept() below

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._mutex:
                if not self._up:
                    _cut(client)
                    continue
                upstream = socket.create_connection(self._target)
                self._open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._relay, args=(source, sink), daemon=True).start()

    def _relay(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with self._mutex:
            for connection in (source, sink):
                _cut(connection)
                self._open.discard(connection)


def _cut(connection: socket.socket) -> None:
    with suppress(OSError):  # already closed by the other side
        connection.shutdown(socket.SHUT_RDWR)
    connection.close()
