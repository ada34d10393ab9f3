"""The function as it really runs: a functions-framework process on a free port."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import requests

REPO = Path(__file__).resolve().parent.parent
FUNCTIONS_FRAMEWORK = Path(sys.executable).parent / "functions-framework"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningFunction:
    def __init__(self, url: str, log_path: Path):
        self.url = url
        self._log_path = log_path

    def post(self, path: str, payload=None, data: bytes | None = None, headers=None, **kwargs) -> requests.Response:
        if data is None:
            data = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
        return requests.post(self.url + path, data=data, headers=headers, timeout=30, **kwargs)

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
        cwd=REPO, env=process_env, stdout=log_file, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    function = RunningFunction(url, Path(log_file.name))
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
