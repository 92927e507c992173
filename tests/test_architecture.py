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
