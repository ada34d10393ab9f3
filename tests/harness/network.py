"""A local port that refuses connections (a stand-in server is sandbox.server.BackgroundServer)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def refusing() -> Iterator[str]:
    """A base URL whose port is held without listening: every connection to it is refused,
    and no other server can take the port meanwhile."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"
