"""Command line: `python -m pagerstatus plan` shows what a sync would do now, page by
page; `python -m pagerstatus sync` does it. Same configuration as the function.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from . import log
from .errors import ConfigError, PagerstatusError
from .models import PdIncident
from .reconcile import Plan
from .runtime import Runtime
from .sync import Round


def behind(incidents: Iterable[PdIncident]) -> str:
    """A line per PagerDuty incident behind an action."""
    return "".join(f"\n           {i.account}/{i.id} {i.status}: {i.title} {i.html_url}".rstrip()
                   for i in incidents)


def describe_round(result: Round) -> str:
    """Each page's plan under its id, then the tags naming something on no page."""
    sections = [f"page {page}\n{describe(plan)}" for page, plan in result.plans.items()]
    if result.skips:
        sections.append("on no configured page\n" + "\n".join(
            f"skip     {skip.component_id}: {skip.reason}{behind(skip.pd_incidents)}" for skip in result.skips))
    return "\n\n".join(sections)


def describe(plan: Plan) -> str:
    """A page's plan for people: one line per action, then a line per PagerDuty incident behind it.
    Its skips are the tags naming something not on this page; describe_round lists those on no page."""
    lines = []
    for action in plan.opens:
        lines.append(f"open     {action.component_id}: {action.status} '{action.name}'{behind(action.pd_incidents)}")
    for action in plan.updates:
        changes = ", ".join(f"{cid}={status}" for cid, status in action.components.items())
        lines.append(f"update   {action.incident_id}: {changes}{behind(action.pd_incidents)}")
    for action in plan.resolves:
        lines.append(f"resolve  {action.incident_id} '{action.name}': {action.reason}")
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
        failures = _plan(runtime) if args.command == "plan" else _sync(runtime)
    except PagerstatusError as exc:
        print(f"error: {redactor.redact(str(exc))}", file=sys.stderr)
        return _status(exc)
    for page, error in failures.items():
        print(f"error: page {page}: {redactor.redact(str(error))}", file=sys.stderr)
    return max(map(_status, failures.values()), default=0)


def _plan(runtime: Runtime) -> dict[str, PagerstatusError]:
    result = runtime.plan()
    if result.plans or result.skips:
        print(describe_round(result))
    return result.failures


def _sync(runtime: Runtime) -> dict[str, PagerstatusError]:
    outcomes = runtime.sync()
    for page, outcome in outcomes.items():
        if isinstance(outcome, str):
            print(f"page {page}: sync {outcome}")
    return {page: outcome for page, outcome in outcomes.items() if isinstance(outcome, PagerstatusError)}


def _status(error: PagerstatusError) -> int:
    return 2 if isinstance(error, ConfigError) else 1


if __name__ == "__main__":
    sys.exit(main())
