"""Shared pytest setup."""
import pytest

from pagerstatus import log


@pytest.fixture(autouse=True, scope="session")
def json_logs_on_stdout():
    """Log records go, as in the function, through the JSON handler to stdout (capsys reads them)."""
    log.configure(None)
