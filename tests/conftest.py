"""Fixtures over tests/harness/, and the markers of every test module.

Markers (pyproject.toml): `unit` runs in this process and quickly (an in-process sandbox
counts); `e2e` starts processes (functions-framework, terraform, python) or needs the
Firestore emulator; `slow` is the long end of e2e. `pytest -m unit` is the quick loop.
A module takes its markers from MODULE_MARKERS, unless a test is marked unit or e2e
itself (a module mixing both kinds marks its exceptions).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pagerstatus import log
from tests.harness.firestore import require_emulator, unique_project
from tests.harness.sandbox import Sandbox, running_sandbox

UNIT, E2E, SLOW = ("unit",), ("e2e",), ("e2e", "slow")
MODULE_MARKERS = {
    **dict.fromkeys(["test_config", "test_gcp", "test_http", "test_keys", "test_log", "test_pagerduty_client",
                     "test_layers", "test_reconcile", "test_reference", "test_runtime", "test_sandbox_contract",
                     "test_sandbox_faults", "test_sandbox_page", "test_sandbox_pagerduty", "test_sandbox_statuspage",
                     "test_sandbox_webhooks", "test_scheduled_sync", "test_secretmanager", "test_statuspage_client",
                     "test_steady_state_calls", "test_sync", "test_tags", "test_terraform_schema", "test_webhook"],
                    UNIT),
    # test_lock: its Firestore cases need the emulator.
    **dict.fromkeys(["test_check", "test_customers_e2e", "test_docs", "test_firestore_e2e", "test_function_e2e",
                     "test_lazy_imports", "test_lock", "test_pages_e2e", "test_terraform"], E2E),
    # test_fail_closed: its in-process case is marked unit.
    **dict.fromkeys(["test_fail_closed"], E2E),
    "test_parallel_e2e": E2E,
    **dict.fromkeys(["test_faults", "test_fuzz_webhook", "test_key_leak", "test_launcher", "test_soak"], SLOW),
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
def firestore_clients(firestore_project: str) -> Callable[[], Any]:
    """A factory of Firestore clients on this test's project. Each call returns a new client
    with its own channel, as separate function instances would have (tests/harness/firestore.py:
    a channel closes when the test lets its client go)."""
    from google.cloud import firestore

    return functools.partial(firestore.Client, project=firestore_project)
