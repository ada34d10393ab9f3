"""Command line: `python -m pagerstatus plan` shows what a sync would do now, page by
page; `python -m pagerstatus sync` does it; `python -m pagerstatus check` checks every key,
page, the lock and the periodic sync's identity, writing nothing. Same configuration as the function.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

from . import log
from .check import check, report
from .demand import NOT_ON_PAGE
from .errors import ConfigError, PagerstatusError
from .models import PdIncident
from .reconcile import Plan
from .runtime import Runtime
from .sync import Round


def behind(incidents: Iterable[PdIncident]) -> str:
    """A line per PagerDuty incident behind an action."""
    return "".join(f"\n           {i.account}/{i.id} {i.status}: {i.title} {i.html_url}".rstrip()
                   for i in incidents)


def describe_round(result: Round, now: datetime | None = None) -> str:
    """Each page's plan under its id, then the tags naming something on no page."""
    sections = [f"page {page}\n{describe(plan, now)}" for page, plan in result.plans.items()]
    if result.skips:
        sections.append("on no configured page\n" + "\n".join(
            f"skip     {skip.component_id}: {skip.reason}{behind(skip.pd_incidents)}" for skip in result.skips))
    return "\n\n".join(sections)


def describe(plan: Plan, now: datetime | None = None) -> str:
    """A page's plan for people: one line per action with the notification it sends, then a
    line per PagerDuty incident behind it; pending opens and resolves with their due times.
    Its skips are those particular to this page; describe_round lists the tags on no page."""

    def statuses(components: dict[str, str]) -> str:
        return ", ".join(f"{cid}={status}" for cid, status in components.items()) or "no component changes"

    def notice(notify: bool) -> str:
        return "notifies subscribers" if notify else "no notification"

    def due(moment: datetime) -> str:
        left = f" (in {int((moment - now).total_seconds())}s)" if now is not None and moment > now else ""
        return f"due {moment.isoformat(timespec='seconds')}{left}"

    lines = []
    for action in plan.opens:
        lines.append(f"open     {action.target_id} '{action.name}': {statuses(action.components)}; "
                     f"{notice(action.notify)}{behind(action.pd_incidents)}")
    for action in plan.updates:
        moves = f" (status {action.status})" if action.status else ""
        lines.append(f"update   {action.incident_id} '{action.name}': {action.reason}{moves}: "
                     f"{statuses(action.components)}; {notice(action.notify)}{behind(action.pd_incidents)}")
    for action in plan.resolves:
        lines.append(f"resolve  {action.incident_id} '{action.name}': {action.reason}; {notice(action.notify)}")
    for skip in plan.skips:
        if skip.reason != NOT_ON_PAGE:
            lines.append(f"skip     {skip.component_id}: {skip.reason}{behind(skip.pd_incidents)}")
    if not lines:
        lines.append("nothing to do")
    for pending in plan.pending:
        lines.append(f"pending  {pending.action} {pending.target} '{pending.name}': {due(pending.due)}"
                     f"{behind(pending.pd_incidents)}")
    for cid, wanted in plan.wanted.items():
        through = f" (through {wanted.via})" if wanted.via != cid else ""
        lines.append(f"wanted   {cid}: {wanted.status}{through}{behind(wanted.pd_incidents)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pagerstatus", description=__doc__)
    parser.add_argument("command", choices=["plan", "sync", "check"])
    args = parser.parse_args(argv)
    redactor = log.configure(sys.stderr)  # stdout is the command's own output
    if args.command == "check":
        return report(check(redactor=redactor), lambda line: print(redactor.redact(line), flush=True))
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
        print(describe_round(result, datetime.now(UTC)))
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
