"""Firestore emulator access for tests.

The emulator is started and stopped around the whole run by
scripts/with-firestore-emulator.sh (`make test`), which exports
FIRESTORE_EMULATOR_HOST; the client library picks it up from there. Without it
these tests FAIL, never skip: a green run must mean the lock was tested.

Each test gets a project id of its own (the emulator keeps data per project),
so tests never see each other's documents.

Use: `from tests.firestore_fixture import firestore_project, firestore_clients`
in a test module (pytest then finds the fixtures there).

A test that stops Firestore starts an emulator of its own (OwnEmulator), never
stopping the suite's.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests

from tests.function_fixture import free_port

EMULATOR_VARIABLE = "FIRESTORE_EMULATOR_HOST"
INSTALL_HINT = ("install it with: apt-get install google-cloud-cli google-cloud-cli-firestore-emulator "
                "(Google's Cloud SDK apt repository; it needs a Java runtime, 11 or newer)")


def require_emulator() -> str:
    """The emulator's host:port, or a test failure that says how to get one."""
    host = os.environ.get(EMULATOR_VARIABLE, "").strip()
    if not host:
        pytest.fail(
            f"{EMULATOR_VARIABLE} is not set: this test needs the Firestore emulator. Run the suite with "
            "`make test`, which wraps pytest in scripts/with-firestore-emulator.sh (or run "
            "`scripts/with-firestore-emulator.sh .venv/bin/python -m pytest ...` yourself).",
            pytrace=False,
        )
    return host


def unique_project() -> str:
    return f"test-{uuid.uuid4().hex[:16]}"


@contextmanager
def emulator_environment(host: str) -> Iterator[None]:
    """Point clients made inside at this emulator (the library reads only the variable)."""
    previous = os.environ.get(EMULATOR_VARIABLE)
    os.environ[EMULATOR_VARIABLE] = host
    try:
        yield
    finally:
        if previous is None:
            del os.environ[EMULATOR_VARIABLE]
        else:
            os.environ[EMULATOR_VARIABLE] = previous


class OwnEmulator:
    """A Firestore emulator of one test's own, which the test may stop and start again
    (on the same port, empty). It runs in its own process group, which stop() ends
    whole: gcloud leaves a Java child behind otherwise (as scripts/with-firestore-emulator.sh does)."""

    def __init__(self) -> None:
        self.host = f"127.0.0.1:{free_port()}"
        self._process: subprocess.Popen | None = None
        self._log = Path(tempfile.mkstemp(prefix="firestore-emulator-", suffix=".log")[1])

    def start(self, timeout: float = 120) -> None:
        gcloud = shutil.which("gcloud")
        if gcloud is None or shutil.which("java") is None:
            pytest.fail(f"gcloud or java not found: this test runs a Firestore emulator; {INSTALL_HINT}", pytrace=False)
        env = {**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
               "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1"}
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [gcloud, "emulators", "firestore", "start", f"--host-port={self.host}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the Firestore emulator did not answer on {self.host}; {INSTALL_HINT}; "
                            f"its log:\n{self._log.read_text(errors='replace')}", pytrace=False)
            time.sleep(0.2)
        warm_up(self.host)

    def _answers(self) -> bool:
        try:
            return "Ok" in requests.get(f"http://{self.host}/", timeout=2).text
        except requests.RequestException:
            return False

    def stop(self) -> None:
        """End the whole process group, as abruptly as an outage."""
        if self._process is None:
            return
        group = self._process.pid
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._process.wait()
        # Its Java child, reparented, goes too; wait until nothing of the group is left.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        self._process = None
        _warm.discard(self.host)

    def close(self) -> None:
        self.stop()
        self._log.unlink(missing_ok=True)


@pytest.fixture
def own_emulator() -> Iterator[OwnEmulator]:
    """A started emulator of this test's own; stopped after it."""
    emulator = OwnEmulator()
    try:
        emulator.start()
        yield emulator
    finally:
        emulator.close()


def expire_lease(host: str, project: str, page: str) -> None:
    """Set the page's sync lease to expire now: what 60 s without a heartbeat would do,
    without a test waiting for it. The holder and the pending marker are left as they are."""
    from google.cloud import firestore

    from pagerstatus.lock.firestore import DEFAULT_COLLECTION

    with emulator_environment(host):
        client = firestore.Client(project=project)
    try:
        client.collection(DEFAULT_COLLECTION).document(page).update({"expires": datetime.now(timezone.utc)},
                                                                     timeout=30)
    finally:
        client.close()


_warm: set[str] = set()


def warm_up(host: str) -> None:
    """One read and one transactional write with generous timeouts, once per emulator.

    A freshly started emulator (a JVM) answers its first calls in seconds; the
    code under test rightly allows Firestore only a few, so the first test
    would otherwise fail on the emulator's warm-up rather than on its own merits.
    """
    if host in _warm:
        return
    from google.cloud import firestore

    with emulator_environment(host):
        client = firestore.Client(project="warm-up")
    document = client.collection("warm-up").document("warm-up")
    document.get(timeout=60)
    transaction = client.transaction()

    @firestore.transactional
    def touch(transaction: firestore.Transaction) -> None:
        document.get(transaction=transaction, timeout=60)
        transaction.set(document, {"warm": True})

    touch(transaction)
    client._firestore_api.transport.close()
    _warm.add(host)


@pytest.fixture
def firestore_project() -> str:
    """A fresh emulator project id; fails the test when the emulator is not running."""
    warm_up(require_emulator())
    return unique_project()


@pytest.fixture
def firestore_clients(firestore_project: str) -> Iterator[Callable[[], "object"]]:
    """A factory of Firestore clients on this test's project.

    Each call returns a new client with its own channel, as separate function
    instances would have; all are closed after the test.
    """
    from google.cloud import firestore

    made: list[firestore.Client] = []

    def make() -> firestore.Client:
        client = firestore.Client(project=firestore_project)
        made.append(client)
        return client

    yield make
    for client in made:
        api = getattr(client, "_firestore_api_internal", None)  # the gRPC channel, if one was opened
        if api is not None:
            api.transport.close()
        client.close()
