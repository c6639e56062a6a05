"""The package's import structure: imports point down the layers, and no module imports in a circle.

Layers, top to bottom (DESIGN.md): cli -> api -> training | reports -> presets -> config -> algos ->
replay, sumtree, nets, envs, ledger, values, errors. Imports inside ``if TYPE_CHECKING:`` are
annotations only and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import marlbench

ROOT = Path(marlbench.__file__).parent

# For each top-level part of the package: the parts it must never import.
FORBIDDEN: dict[str, set[str]] = {
    "api": {"cli"},
    "training": {"cli", "api", "reports"},
    "reports": {"cli", "api", "training"},
    "presets": {"cli", "api", "training", "reports"},
    "config": {"cli", "api", "training", "reports", "presets"},
    "algos": {"cli", "api", "training", "reports", "presets", "config"},
}
BOTTOM = {"replay", "sumtree", "nets", "envs", "ledger", "values", "errors", "paths"}
ABOVE_BOTTOM = {"cli", "api", "training", "reports", "presets", "config", "algos"}


def _module_name(path: Path) -> str:
    parts = ("marlbench", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """marlbench modules imported by ``path`` (at any depth), leaving out TYPE_CHECKING blocks."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for child in node.body for n in ast.walk(child)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("marlbench"):
            found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("marlbench")}
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for module, targets in _graph().items():
        part = _part(module)
        banned = FORBIDDEN.get(part, ABOVE_BOTTOM if part in BOTTOM else set())
        wrong += [f"{module} -> {t}" for t in targets if _part(t) in banned]
    assert wrong == []


def test_no_module_imports_in_a_circle() -> None:
    graph = _graph()
    # a package's __init__ re-exporting its own submodules is not a circle of the layout
    edges = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert cycles == []


def test_the_checks_see_a_violation(tmp_path: Path) -> None:
    """The parser finds both plain and function-level imports and skips TYPE_CHECKING ones."""
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from marlbench.training import runner\n"
        "def f():\n    import marlbench.cli\n"
        "if TYPE_CHECKING:\n    from marlbench.reports import data\n"
    )
    found = _imports(source)
    assert {"marlbench.training.runner", "marlbench.cli"} <= found
    assert not any(m.startswith("marlbench.reports") for m in found)


def test_no_module_is_over_about_400_lines() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in ROOT.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 420} == {}
