"""The package's structure, checked from its source with `ast` (imports inside functions included).

ARCHITECTURE is the documented layering, top to bottom. A module imports only modules of
its own group or of a lower row, never one beside it or above it; no import cycle; no
module over MAX_LINES; the core imports nothing but itself and the standard library; no
module that imports a Google client library touches a private attribute it did not define.
"""
from __future__ import annotations

import ast
import graphlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400
# Rows top to bottom; " | " separates groups side by side. Names are modules under pagerstatus/
# (__init__ is the package's own), but main is main.py.
ARCHITECTURE = """
main __main__ check
app webhook oidc
runtime
sync | config keys secretmanager
http pagerduty statuspage | lock lock.state lock.memory lock.gate lock.firestore
models tags ownership policy demand reconcile | gcp
__init__ errors log endpoints diagnosis
"""
CORE = {"pagerstatus.models", "pagerstatus.tags", "pagerstatus.ownership", "pagerstatus.policy", "pagerstatus.demand",
        "pagerstatus.reconcile"}
# namedtuple's public methods start with an underscore so as not to clash with field names.
NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_make"}


def placed() -> dict[str, tuple[int, int]]:
    """Module -> (row, column) of its group in ARCHITECTURE."""
    rows = [line.split(" | ") for line in ARCHITECTURE.strip().splitlines()]
    return {{"main": "main", "__init__": "pagerstatus"}.get(name, f"pagerstatus.{name}"): (row, column)
            for row, groups in enumerate(rows) for column, group in enumerate(groups) for name in group.split()}


def sources() -> dict[str, str]:
    """Module name -> source, for main.py and every module of pagerstatus/."""
    found = {"main": (ROOT / "main.py").read_text()}
    for path in sorted((ROOT / "pagerstatus").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path.read_text()
    return found


def imports(name: str, source: str, ours: set[str]) -> set[str]:
    """What module `name` imports: modules of ours by full name, anything else by its top-level package."""
    package = name if any(other.startswith(name + ".") for other in ours) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name if alias.name in ours else alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[:len(parts) - node.level + 1], *([node.module] if node.module else [])])
            for alias in node.names:  # `from . import log` imports a module; `from .log import Redactor`, .log
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in ours else base if base in ours else base.split(".")[0])
    return found - {name}


def graph(modules: dict[str, str]) -> dict[str, set[str]]:
    return {name: imports(name, source, set(modules)) for name, source in modules.items()}


def cycles(modules: dict[str, str]) -> list[str]:
    """One import cycle, as a path; [] when there is none."""
    try:
        graphlib.TopologicalSorter(graph(modules)).prepare()
    except graphlib.CycleError as exc:
        return exc.args[1]
    return []


def against_the_layers(modules: dict[str, str]) -> list[str]:
    """Imports of a module beside or above the importer's group."""
    place = placed()
    return [f"{a} -> {b}" for a, targets in graph(modules).items() for b in sorted(targets)
            if b in place and place[b] != place[a] and place[b][0] <= place[a][0]]


def core_dependencies(modules: dict[str, str]) -> list[str]:
    """What the core imports besides itself and the standard library."""
    return [f"{a} -> {b}" for a, targets in graph(modules).items() if a in CORE
            for b in sorted(targets - CORE) if b not in sys.stdlib_module_names]


def google_privates(modules: dict[str, str]) -> list[str]:
    """Private attributes used, not defined, by a module that imports google.*."""
    found = []
    for name, source in modules.items():
        if "google" in imports(name, source, set()):
            nodes = list(ast.walk(ast.parse(source)))
            own = {n.name for n in nodes if isinstance(n, ast.FunctionDef | ast.ClassDef)}
            own |= {n.attr for n in nodes if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)}
            found += [f"{name}: .{n.attr}" for n in nodes if isinstance(n, ast.Attribute)
                      and n.attr.startswith("_") and not n.attr.startswith("__") and n.attr not in own | NAMEDTUPLE_API]
    return found


def too_long(modules: dict[str, str]) -> list[str]:
    return [f"{name}: {len(source.splitlines())} lines" for name, source in modules.items()
            if name != "main" and len(source.splitlines()) > MAX_LINES]


def test_every_module_has_one_place():
    names = [name for name in ARCHITECTURE.split() if name != "|"]
    assert len(names) == len(set(names))
    assert sorted(placed()) == sorted(sources())
    assert {placed()[name] for name in CORE} == {placed()["pagerstatus.reconcile"]}  # one group


@pytest.mark.parametrize("check", [cycles, against_the_layers, core_dependencies, google_privates, too_long])
def test_the_structure_holds(check):
    assert check(sources()) == []


@pytest.mark.parametrize(("module", "line", "check", "reported"), [
    ("pagerstatus.errors", "from . import runtime", cycles, "pagerstatus.errors"),
    ("pagerstatus.sync", "def later():\n    from .runtime import Runtime", against_the_layers,
     "pagerstatus.sync -> pagerstatus.runtime"),  # upwards, from inside a function
    ("pagerstatus.config", "from .sync import observe", against_the_layers, "pagerstatus.config -> pagerstatus.sync"),
    ("pagerstatus.tags", "import requests", core_dependencies, "pagerstatus.tags -> requests"),
    ("pagerstatus.reconcile", "from .errors import ConfigError", core_dependencies, "-> pagerstatus.errors"),
    ("pagerstatus.lock.firestore", "firestore.Client()._firestore_api", google_privates, "._firestore_api"),
    ("pagerstatus.keys", "\n" * MAX_LINES, too_long, "pagerstatus.keys"),
], ids=["cycle", "upwards-in-a-function", "beside", "core-third-party", "core-errors", "google-private", "too-long"])
def test_each_check_reports_a_violation(module, line, check, reported):
    modules = sources()
    modules[module] += "\n" + line + "\n"
    assert reported in " ".join(check(modules))
