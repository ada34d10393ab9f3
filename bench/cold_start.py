"""Figure 4: cold start. `import main` in a fresh interpreter (what a new
instance pays before it can answer), then a whole functions-framework process
from spawn to its first `GET /` answer, and its first webhook after that.

The Google client libraries load only when used (pagerstatus.lock,
pagerstatus.runtime); "eager" imports them with main, as they would be without
that, to show what the lazy imports save.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from bench.report import REPO
from bench.world import ACCOUNT, acknowledge, add_page_and_accounts, firestore_env
from tests.harness.function import running_function
from tests.harness.sandbox import Sandbox
from tests.harness.world import ACK_V2

IMPORT_TARGET_S = 0.300
IMPORTS = {
    "import main": "import main",
    "  of which functions_framework": "import functions_framework",
    "import main + Google clients (eager)": "import main, google.cloud.firestore, google.cloud.secretmanager",
}


def import_seconds(statement: str) -> float:
    """One fresh interpreter's time for `statement`, interpreter start-up excluded."""
    probe = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class ColdStart:
    imports: dict[str, list[float]]
    first_get: list[float]  # spawn -> first GET / answered (polled every 10 ms)
    first_webhook: list[float]  # the first webhook's answer, right after


def measure(sandbox: Sandbox, reps: int) -> ColdStart:
    # Interleaved, so that a slow spell of the machine hits every statement alike.
    imports: dict[str, list[float]] = {name: [] for name in IMPORTS}
    for _ in range(reps):
        for name, statement in IMPORTS.items():
            imports[name].append(import_seconds(statement))
    add_page_and_accounts(sandbox, 1, 1)
    acknowledge(sandbox, ACCOUNT, 0)
    first_get: list[float] = []
    first_webhook: list[float] = []
    for _ in range(max(3, reps // 3)):
        env = firestore_env(sandbox, 1)
        started = time.perf_counter()
        with running_function(env) as function:  # returns once GET / answered
            first_get.append(time.perf_counter() - started)
            started = time.perf_counter()
            function.post(f"/{ACCOUNT}", ACK_V2).raise_for_status()
            first_webhook.append(time.perf_counter() - started)
    return ColdStart(imports, first_get, first_webhook)


HEADERS = ["measure", "n", "median s", "min s", "max s", "target"]


def rows(result: ColdStart) -> list[list[str]]:
    def line(name: str, values: list[float], target: str = "") -> list[str]:
        return [name, str(len(values)), f"{statistics.median(values):.3f}", f"{min(values):.3f}",
                f"{max(values):.3f}", target]

    out = [line(name, values, f"< {IMPORT_TARGET_S:g} s" if name == "import main" else "")
           for name, values in result.imports.items()]
    out.append(line("spawn to first GET / answered", result.first_get))
    out.append(line("then first webhook (Runtime, Firestore client, sync)", result.first_webhook))
    return out
