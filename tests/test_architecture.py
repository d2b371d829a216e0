"""The layout's rules, checked over the real import graph of geoseek/ (every import statement,
including those inside functions and under TYPE_CHECKING)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "geoseek"

# Which top-level parts of geoseek each part may import (besides itself). Data flows one way:
# datasets/views -> indexer -> index -> search -> API -> ui; schemas is shared by all.
ALLOWED = {
    "schemas": set(),
    "extras": {"schemas"},
    "metrics": {"schemas"},
    "datasets": {"schemas"},
    "views": {"schemas", "datasets", "models"},
    "models": {"schemas", "datasets", "metrics"},
    "index": {"schemas", "extras"},
    "indexer": {"schemas", "datasets", "views", "models", "index", "extras"},
    "search": {"schemas", "datasets", "views", "models", "index", "extras"},
    "client": set(),
    "ui": {"schemas", "client"},
    "bench": {"schemas", "metrics", "datasets", "views", "models", "index", "indexer", "search", "extras"},
    "cli": {"schemas", "metrics", "datasets", "views", "models", "index", "indexer", "search", "ui", "bench", "extras", "client"},
}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """geoseek module -> the geoseek modules it imports (``from a import b`` counts a.b when that is a module)."""
    modules = {module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for t in targets:
                while t and t not in modules:
                    t = t.rsplit(".", 1)[0] if "." in t else ""
                if t and t != name and t != "geoseek":
                    deps.add(t)
        graph[name] = deps
    return graph


def part(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_arrows_point_one_way():
    wrong = sorted(f"{m} -> {d}" for m, deps in import_graph().items() for d in deps
                   if part(d) != part(m) and part(d) not in ALLOWED.get(part(m), set()))
    assert wrong == []


def test_search_ui_and_models_never_import_the_indexer():
    graph = import_graph()
    assert graph, "no modules found"
    bad = sorted(f"{m} -> {d}" for m, deps in graph.items() if part(m) in ("search", "ui", "models")
                 for d in deps if part(d) == "indexer")
    assert bad == []


@pytest.mark.slow
def test_importing_the_engine_loads_no_indexer_module():
    code = ("import geoseek.search.engine, sys; "
            "print(sorted(m for m in sys.modules if m.startswith('geoseek.indexer')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_no_module_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}
