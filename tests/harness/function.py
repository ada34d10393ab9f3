"""The function as it really runs: a functions-framework process on a port of its own
choosing (port 0), which gunicorn names in its log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import requests

from sandbox.launcher import FUNCTIONS_FRAMEWORK, LISTENING, LOG_LEVEL, REPO, function_command
from tests.harness.clock import wait_for


class RunningFunction:
    def __init__(self, url: str, log_path: Path, pid: int, env: dict[str, str]):
        self.url = url
        self._log_path = log_path
        self.pid = pid  # functions-framework's; gunicorn's worker is its child
        self.env = env  # as given: running_function(function.env) starts a second instance like it

    def post(self, path: str, payload: Any = None, data: bytes | None = None, headers: dict | None = None,
             **kwargs: Any) -> requests.Response:
        if data is None:
            data = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
        return requests.post(self.url + path, data=data, headers=headers, timeout=30, **kwargs)

    def kill(self) -> None:
        """SIGKILL the whole instance, gunicorn's worker included, as a host dying would."""
        os.killpg(self.pid, signal.SIGKILL)  # the process leads its own group (start_new_session)

    def output(self) -> str:
        return self._log_path.read_text(errors="replace")

    def logs(self) -> list[dict]:
        """The JSON log lines the function wrote (other lines are the framework's)."""
        entries = []
        for line in self.output().splitlines():
            if line.startswith("{"):
                with suppress(ValueError):
                    entries.append(json.loads(line))
        return entries


@contextmanager
def running_function(env: dict[str, str]) -> Iterator[RunningFunction]:
    """Start main.py under functions-framework with exactly env (plus PATH), kill it after."""
    assert FUNCTIONS_FRAMEWORK.exists(), f"{FUNCTIONS_FRAMEWORK} missing: run `make install`"
    process_env = {"PATH": os.environ["PATH"], "PYTHONUNBUFFERED": "1", **LOG_LEVEL, **env}
    if "FIRESTORE_EMULATOR_HOST" in os.environ and "FIRESTORE_EMULATOR_HOST" not in env:
        process_env["FIRESTORE_EMULATOR_HOST"] = os.environ["FIRESTORE_EMULATOR_HOST"]
    with tempfile.NamedTemporaryFile(prefix="pagerstatus-function-", suffix=".log") as log_file:
        log_path = Path(log_file.name)
        process = subprocess.Popen(function_command(0), cwd=REPO, env=process_env, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)

        def started(condition: Callable[[], Any]) -> Any:
            if process.poll() is not None:
                raise RuntimeError(f"functions-framework exited {process.returncode}:\n{log_path.read_text()}")
            return condition()

        try:
            listening = wait_for(lambda: started(lambda: LISTENING.search(log_path.read_text())),
                                 what="functions-framework to say where it listens")
            function = RunningFunction(f"http://127.0.0.1:{listening.group(1)}", log_path, process.pid, env)
            # The master listens before its worker has booted; a request waits in the backlog until then.
            wait_for(lambda: started(lambda: _answers(function.url)), what="functions-framework's first answer")
            yield function
        finally:
            with suppress(ProcessLookupError):  # no graceful shutdown: nothing here needs one
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _answers(url: str) -> bool:
    try:
        requests.get(url + "/", timeout=5)
    except requests.RequestException:
        return False
    return True
