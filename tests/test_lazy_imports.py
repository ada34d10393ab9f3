"""Cold start: `import main` leaves the Google client libraries out until used.

The Firestore and Secret Manager clients (and gRPC under them) take longer to
import than the function framework itself; they load on the first request
that needs the lock or a key (bench/ measures the import time; no timing here).
"""
from __future__ import annotations

import json
import subprocess
import sys

from sandbox.launcher import REPO

LAZY = ("google.cloud.firestore", "google.cloud.secretmanager", "google.api_core", "grpc")


def test_import_main_leaves_the_google_clients_out():
    probe = f"import json, sys; import main; print(json.dumps(sorted(m for m in {list(LAZY)!r} if m in sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(loaded.stdout.strip().splitlines()[-1]) == []
