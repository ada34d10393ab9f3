"""Local endpoints for tests: a WSGI app served on a port of its own (a stand-in for
pagerstatus or for an upstream API), and a port that refuses connections."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from werkzeug.serving import make_server

from sandbox.server import QuietHandler


@contextmanager
def serving(app: Callable) -> Iterator[str]:
    """The app's base URL while it is served."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def refusing() -> Iterator[str]:
    """A base URL whose port is held without listening: every connection to it is refused,
    and no other server can take the port meanwhile."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"
