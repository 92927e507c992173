"""Import direction: experiments -> backends -> sim -> synergai, and synergai imports no backend library."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["synergai", "sim", "backends", "experiments"]  # each may import only those before it


def imported_top_levels(pkg: str) -> set[tuple[str, str]]:
    out = set()
    for f in (ROOT / pkg).rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                out |= {(str(f.relative_to(ROOT)), a.name.split(".")[0]) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                out.add((str(f.relative_to(ROOT)), node.module.split(".")[0]))
    return out


@pytest.mark.parametrize("pkg", ORDER)
def test_imports_point_one_way(pkg):
    forbidden = set(ORDER[ORDER.index(pkg) + 1:])
    if pkg == "synergai":
        forbidden |= {"simpy", "kubernetes"}
    bad = [(f, m) for f, m in imported_top_levels(pkg) if m in forbidden]
    assert not bad, bad


def test_importing_the_core_loads_no_backend_library():
    code = ("import sys, synergai, synergai.policies; "
            "assert synergai.available_policies(); "
            "print(sorted(m for m in ('simpy', 'kubernetes', 'sim', 'backends') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def _module_imports(pkg: str) -> dict[str, set[str]]:
    """Every import (module level or inside functions) between the modules of ``pkg``, relative ones resolved."""
    graph: dict[str, set[str]] = {}
    for f in sorted((ROOT / pkg).glob("*.py")):
        name = f"{pkg}.{f.stem}" if f.stem != "__init__" else pkg
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom):
                mod = f"{pkg}.{node.module}" if node.level == 1 and node.module else node.module or ""
                if node.level == 1 and not node.module:  # from . import x
                    deps |= {f"{pkg}.{a.name}" for a in node.names}
                else:
                    deps.add(mod)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
        graph[name] = {d for d in deps if d.startswith(pkg + ".") and d != name}
    return graph


@pytest.mark.parametrize("pkg", ["sim", "backends"])
def test_no_import_cycles_between_modules(pkg):
    """sim.engine <-> sim.faults and backends.base <-> the backend modules used to import each other inside
    functions; the shared code now has its own module (sim.shared) and the registry imports no backend."""
    graph = _module_imports(pkg)
    state: dict[str, int] = {}

    def visit(m, path):
        if state.get(m) == 1:
            raise AssertionError(f"import cycle: {' -> '.join(path + [m])}")
        if state.get(m) == 2:
            return
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            visit(d, path + [m])
        state[m] = 2

    for m in sorted(graph):
        if m != pkg:  # the package __init__ imports its modules by design
            visit(m, [])
