"""python -m pagerstatus.sandbox [--host H] [--port P] [--seed demo] [--webhook-url URL]"""

from __future__ import annotations

import argparse
import json
import sys

from pagerstatus.sandbox.seed import seed_demo
from pagerstatus.sandbox.server import SandboxServer
from pagerstatus.sandbox.state import SandboxState


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pagerstatus.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--seed", choices=("demo", "none"), default="none")
    parser.add_argument("--webhook-url", help="where the demo account delivers its webhooks (pagerstatus)")
    args = parser.parse_args(argv)

    state = SandboxState()
    seeded = seed_demo(state, webhook_url=args.webhook_url) if args.seed == "demo" else None
    server = SandboxServer(state, args.host, args.port).start()
    print(f"status page  {server.url}/")
    print(f"PagerDuty    {server.pagerduty_url}")
    print(f"Statuspage   {server.statuspage_url}")
    print(f"control      {server.url}/_sandbox/state")
    if seeded:
        print("seeded:", json.dumps(seeded, indent=2))
    sys.stdout.flush()  # a launcher reading through a pipe sees the URLs at once
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
