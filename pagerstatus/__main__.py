"""Command line: `python -m pagerstatus plan` shows what a sync would do now;
`python -m pagerstatus sync` does it. Same configuration as the function.
"""
from __future__ import annotations

import argparse
import sys

from . import log
from .errors import ConfigError, PagerstatusError
from .reconcile import Plan
from .runtime import Runtime


def describe(plan: Plan) -> str:
    """A plan for people: one line per action, then a line per PagerDuty incident behind it."""

    def behind(incidents) -> str:
        return "".join(f"\n           {i.account}/{i.id} {i.status}: {i.title} {i.html_url}".rstrip()
                       for i in incidents)

    lines = []
    for action in plan.opens:
        lines.append(f"open     {action.component_id}: {action.status} '{action.name}'{behind(action.pd_incidents)}")
    for action in plan.updates:
        changes = ", ".join(f"{cid}={status}" for cid, status in action.components.items())
        lines.append(f"update   {action.incident_id}: {changes}{behind(action.pd_incidents)}")
    for action in plan.resolves:
        lines.append(f"resolve  {action.incident_id} '{action.name}': {action.reason}")
    for skip in plan.skips:
        lines.append(f"skip     {skip.component_id}: {skip.reason}{behind(skip.pd_incidents)}")
    if not lines:
        lines.append("nothing to do")
    for cid, wanted in plan.wanted.items():
        lines.append(f"wanted   {cid}: {wanted.status}{behind(wanted.pd_incidents)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pagerstatus", description=__doc__)
    parser.add_argument("command", choices=["plan", "sync"])
    args = parser.parse_args(argv)
    redactor = log.configure(sys.stderr)  # stdout is the command's own output
    try:
        runtime = Runtime.from_environment(redactor=redactor)
        if args.command == "plan":
            print(describe(runtime.plan()))
        else:
            print(f"sync {runtime.sync()}")
    except PagerstatusError as exc:
        print(f"error: {redactor.redact(str(exc))}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
