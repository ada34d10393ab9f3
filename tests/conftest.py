"""Fixtures over tests/harness/, and the markers of every test module.

Markers (pyproject.toml): `unit` runs in this process and quickly (an in-process sandbox
counts); `e2e` starts processes (functions-framework, terraform, python) or needs the
Firestore emulator; `slow` is the long end of e2e. `pytest -m unit` is the quick loop.
A module takes its markers from MODULE_MARKERS, unless a test is marked unit or e2e
itself (a module mixing both kinds marks its exceptions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pagerstatus import log
from tests.harness.firestore import close_client, require_emulator, unique_project
from tests.harness.sandbox import Sandbox, running_sandbox

MODULE_MARKERS = {
    "test_config": ("unit",),
    "test_faults": ("e2e", "slow"),
    "test_firestore_e2e": ("e2e",),
    "test_function_e2e": ("e2e",),
    "test_fuzz_webhook": ("e2e", "slow"),
    "test_gcp": ("unit",),
    "test_http": ("unit",),
    "test_key_leak": ("e2e", "slow"),
    "test_keys": ("unit",),
    "test_launcher": ("e2e", "slow"),
    "test_lazy_imports": ("e2e",),
    "test_lock": ("e2e",),  # its Firestore cases need the emulator
    "test_log": ("unit",),
    "test_pagerduty_client": ("unit",),
    "test_reconcile": ("unit",),
    "test_reference": ("unit",),
    "test_runtime": ("unit",),
    "test_sandbox_contract": ("unit",),
    "test_sandbox_faults": ("unit",),
    "test_sandbox_page": ("unit",),
    "test_sandbox_pagerduty": ("unit",),
    "test_sandbox_statuspage": ("unit",),
    "test_sandbox_webhooks": ("unit",),
    "test_scheduled_sync": ("unit",),
    "test_secretmanager": ("unit",),
    "test_soak": ("e2e", "slow"),
    "test_statuspage_client": ("unit",),
    "test_steady_state_calls": ("unit",),
    "test_sync": ("unit",),
    "test_tags": ("unit",),
    "test_terraform": ("e2e",),
    "test_webhook": ("unit",),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unlisted = sorted({item.path.name for item in items if item.path.stem not in MODULE_MARKERS})
    if unlisted:
        raise pytest.UsageError(f"tests/conftest.py: add {', '.join(unlisted)} to MODULE_MARKERS")
    for item in items:
        if not (item.get_closest_marker("unit") or item.get_closest_marker("e2e")):
            for name in MODULE_MARKERS[item.path.stem]:
                item.add_marker(name)


@pytest.fixture(autouse=True, scope="session")
def json_logs_on_stdout() -> None:
    """Log records go, as in the function, through the JSON handler to stdout (capsys reads them)."""
    log.configure(None)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """An empty running sandbox."""
    with running_sandbox() as running:
        yield running


@pytest.fixture
def firestore_project() -> str:
    """A fresh emulator project id; fails the test when the emulator is not running."""
    require_emulator()
    return unique_project()


@pytest.fixture
def firestore_clients(firestore_project: str) -> Iterator[Callable[[], Any]]:
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
        close_client(client)
