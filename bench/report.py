"""Output shared by the benchmarks: tables, percentiles, what machine ran them."""
from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: a value that was actually observed."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))]


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table padded to line up in a terminal too: text left, numbers right."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def numeric(cell: str) -> bool:
        return cell.replace(".", "").replace("-", "").replace(",", "").replace(" ", "").isdigit()

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.rjust(width) if numeric(cell) else cell.ljust(width)
                                 for cell, width in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def _cpu_model() -> str:
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """Date, hardware, OS, Python and revision, on one line."""
    revision = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True,
                              text=True).stdout.strip() or "?"
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return (f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC}, {_cpu_model()} x {os.cpu_count()} CPUs, "
            f"{memory / 2**30:.0f} GiB RAM, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, git {revision}")
