"""The function as it really runs: a functions-framework process on a free port."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import requests

REPO = Path(__file__).resolve().parent.parent
FUNCTIONS_FRAMEWORK = Path(sys.executable).parent / "functions-framework"


def wait_for(condition: Callable[[], Any], timeout: float = 60, what: str = "the condition") -> Any:
    """Poll until condition() is truthy and return it; fail after timeout (generous: a loaded 2-CPU machine)."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningFunction:
    def __init__(self, url: str, log_path: Path, pid: int, env: dict[str, str]):
        self.url = url
        self._log_path = log_path
        self.pid = pid  # functions-framework's; gunicorn's worker is its child
        self.env = env  # as given: running_function(function.env) starts a second instance like it

    def post(self, path: str, payload=None, data: bytes | None = None, headers=None, **kwargs) -> requests.Response:
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
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    pass
        return entries


@contextmanager
def running_function(env: dict[str, str], port: int | None = None) -> Iterator[RunningFunction]:
    """Start main.py under functions-framework with exactly env (plus PATH), stop it after."""
    assert FUNCTIONS_FRAMEWORK.exists(), f"{FUNCTIONS_FRAMEWORK} missing: run `make install`"
    port = port or free_port()
    log_file = tempfile.NamedTemporaryFile(prefix="pagerstatus-function-", suffix=".log", delete=False)
    process_env = {"PATH": os.environ["PATH"], "PYTHONUNBUFFERED": "1", **env}
    if "FIRESTORE_EMULATOR_HOST" in os.environ and "FIRESTORE_EMULATOR_HOST" not in env:
        process_env["FIRESTORE_EMULATOR_HOST"] = os.environ["FIRESTORE_EMULATOR_HOST"]
    process = subprocess.Popen(
        [str(FUNCTIONS_FRAMEWORK), "--target", "pagerstatus", "--source", "main.py",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO, env=process_env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    function = RunningFunction(url, Path(log_file.name), process.pid, env)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"functions-framework exited {process.returncode}:\n{function.output()}")
            try:
                requests.get(url + "/", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"functions-framework did not start:\n{function.output()}")
                time.sleep(0.01)  # short: bench/cold_start.py times the first answer
        yield function
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log_file.close()
        os.unlink(log_file.name)
