"""A local PagerDuty + Statuspage emulator with its state in memory, for tests,
benchmarks and the demo. Run it with `python -m pagerstatus.sandbox --seed demo`."""

from pagerstatus.sandbox.server import SandboxServer, create_app, serve
from pagerstatus.sandbox.state import SandboxState

__all__ = ["SandboxServer", "SandboxState", "create_app", "serve"]
