"""The sandbox's Flask app and a threaded werkzeug server that tests start and stop
in-process (port 0 picks a free port, `port` tells which).

Layout on one server: PagerDuty under /pagerduty, Statuspage under /statuspage/v1,
the control API under /_sandbox, the status page at /.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Self

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler, make_server

from sandbox import control, gateway, page, pagerduty_api, statuspage_api
from sandbox.state import SandboxState


def create_app(state: SandboxState) -> Flask:
    app = Flask("sandbox")
    app.json.sort_keys = False  # keep the APIs' field order, easier to read
    # Flask renders dataclasses already (dataclasses.asdict); datetimes as ISO 8601, not as HTTP dates.
    default = app.json.default
    app.json.default = lambda value: value.isoformat() if isinstance(value, datetime) else default(value)
    gateway.install(app, state)
    app.register_blueprint(pagerduty_api.create_blueprint(state))
    app.register_blueprint(statuspage_api.create_blueprint(state))
    app.register_blueprint(control.create_blueprint(state))
    app.register_blueprint(page.create_blueprint(state))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response | HTTPException:
        # Unknown routes and methods under an API answer in that API's error shape.
        located = gateway.api_of(request.path)
        if located is None or error.code is None:
            return error
        return gateway.error_response(located[0], error.code, error.name)

    wsgi_app = app.wsgi_app

    def holding_the_lock(environ: dict, start_response: Callable) -> Iterable[bytes]:
        """Each request holds the state's lock until its answer is ready (state.py says why)."""
        with state.lock:
            return wsgi_app(environ, start_response)

    app.wsgi_app = holding_the_lock  # type: ignore[method-assign]
    return app


class _QuietHandler(WSGIRequestHandler):
    """No access log: the request log at /_sandbox/requests says more, on demand."""

    def log_request(self, *args: object) -> None:
        pass


class BackgroundServer:
    """A WSGI app served by werkzeug in a thread of this process while in `with BackgroundServer(app)
    as server:`. Port 0 picks a free port; `port` tells which."""

    def __init__(self, app: Callable, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        # threaded: a control call that delivers a webhook waits for pagerstatus,
        # which meanwhile calls the emulated APIs on this same server.
        self._server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
        self.port = self._server.server_port
        # A short poll interval makes stopping quick, which tests starting a server each feel.
        self._thread = threading.Thread(target=functools.partial(self._server.serve_forever, poll_interval=0.05),
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def serving(self) -> bool:
        """Whether its thread still serves requests."""
        return self._thread.is_alive()

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class SandboxServer(BackgroundServer):
    """A running sandbox."""

    def __init__(self, state: SandboxState, host: str = "127.0.0.1", port: int = 0):
        super().__init__(create_app(state), host, port)
        self.state = state

    @property
    def pagerduty_url(self) -> str:
        return self.url + pagerduty_api.PREFIX

    @property
    def statuspage_url(self) -> str:
        return self.url + statuspage_api.PREFIX
