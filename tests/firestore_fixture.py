"""Firestore emulator access for tests.

The emulator is started and stopped around the whole run by
scripts/with-firestore-emulator.sh (`make test`), which exports
FIRESTORE_EMULATOR_HOST; the client library picks it up from there. Without it
these tests FAIL, never skip: a green run must mean the lock was tested.

Each test gets a project id of its own (the emulator keeps data per project),
so tests never see each other's documents.

Use: `from tests.firestore_fixture import firestore_project, firestore_clients`
in a test module (pytest then finds the fixtures there).
"""
from __future__ import annotations

import os
import uuid
from typing import Callable, Iterator

import pytest

EMULATOR_VARIABLE = "FIRESTORE_EMULATOR_HOST"


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
