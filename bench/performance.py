"""The performance benchmark: each figure against its floor or target.

1. API calls per sync against the minimum     (bench/api_calls.py)
2. bursts of webhooks over two processes      (bench/bursts.py)
3. webhook to Statuspage incident latency     (bench/webhook_latency.py)
4. cold start                                 (bench/cold_start.py)
5. scale: plan time and memory                (bench/scale.py)
6. writes at once, next to one after another  (bench/parallel.py)
7. PagerDuty pages at once, likewise          (bench/parallel.py)

Runs the real function (functions-framework processes) against the sandbox and
the Firestore emulator, so it needs FIRESTORE_EMULATOR_HOST: `make bench` wraps
it in scripts/with-firestore-emulator.sh. Prints the tables; the full run also
writes them into docs/PERFORMANCE.md between its result markers. Asserts
nothing: speed goals live here, never in tests.

    make bench                                                            # full, writes docs/PERFORMANCE.md
    scripts/with-firestore-emulator.sh .venv/bin/python -m bench.performance --quick   # prints only
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence

from bench import api_calls, bursts, cold_start, parallel, scale, webhook_latency
from bench.report import REPO, machine, table
from tests.harness.sandbox import running_sandbox

DOC = REPO / "docs" / "PERFORMANCE.md"
BEGIN = "<!-- bench:results:begin (written by bench/performance.py) -->"
END = "<!-- bench:results:end -->"


def progress(started: float, message: str) -> None:
    print(f"{time.monotonic() - started:5.0f} s  {message}", file=sys.stderr, flush=True)


def run(quick: bool) -> str:
    started = time.monotonic()
    sections = []
    with running_sandbox() as sandbox:
        rows = []
        for case in api_calls.QUICK_CASES if quick else api_calls.CASES:
            progress(started, f"1. API calls  {case.label()}")
            rows += api_calls.rows(case, *api_calls.measure(sandbox, case, lambda m: progress(started, m)))
        sections.append(("1. API calls per sync against the floor", table(api_calls.HEADERS, rows)))

        rows = []
        for webhooks in bursts.BURSTS[:2] if quick else bursts.BURSTS:
            for settle_ms in (0, None):  # no settle before a follow-up round, then the default
                progress(started, f"2. burst of {webhooks}, settle {settle_ms if settle_ms is not None else 'default'}")
                rows.append(bursts.row(bursts.run(sandbox, webhooks, settle_ms)))
        sections.append(("2. Bursts over two function processes (Firestore emulator lock)",
                         table(bursts.HEADERS, rows)))

        progress(started, "3. webhook to Statuspage")
        latency = webhook_latency.measure(sandbox, 3 if quick else 10)
        sections.append(("3. Webhook to Statuspage incident", table(webhook_latency.HEADERS,
                                                                    [webhook_latency.row(latency)])))

        progress(started, "6. writes at once")
        side_by_side = [parallel.opens(sandbox)]
        for incidents in parallel.INCIDENT_COUNTS[:1] if quick else parallel.INCIDENT_COUNTS:
            progress(started, f"7. {incidents:,} incidents, pages at once")
            side_by_side.append(parallel.incident_pages(sandbox, incidents))
        parallel_table = table(parallel.HEADERS, parallel.rows(side_by_side))

        progress(started, "4. cold start")
        cold = cold_start.measure(sandbox, 5 if quick else 15)
        sections.append(("4. Cold start", table(cold_start.HEADERS, cold_start.rows(cold))))

    progress(started, "5. scale")
    sections.append(("5. Scale", table(scale.HEADERS, scale.rows(scale.measure(3 if quick else 10)))))
    sections.append(("6-7. At once, next to one after another (same run)", parallel_table))
    command = "make bench" if not quick else "scripts/with-firestore-emulator.sh .venv/bin/python -m " + \
        " ".join(shlex.quote(a) for a in ["bench.performance", *sys.argv[1:]])
    head = f"Measured {machine()}.\nCommand: `{command}` ({time.monotonic() - started:.0f} s).\n"
    return head + "".join(f"\n### {title}\n\n{body}\n" for title, body in sections)


def write_doc(results: str) -> None:
    """Replace what lies between the markers; the analysis around them is kept."""
    text = DOC.read_text() if DOC.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC}: the result markers are missing; put {BEGIN!r} and {END!r} back")
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(f"{before}{BEGIN}\n{results}\n{END}{after}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer cases and repetitions (about 1.5 minutes); prints only")
    args = parser.parse_args(argv)
    results = run(args.quick)
    print(results)
    if not args.quick:
        write_doc(results)
        print(f"written to {DOC.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
