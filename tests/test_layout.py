"""The package layout follows the data flow: a step imports only earlier steps, no circle, short modules."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from mgmtfeat import STEPS  # the one statement of the step order (docstrings name it)

PACKAGE = Path(__file__).resolve().parents[1] / "mgmtfeat"
#: Private helpers that every step may use; they import no step themselves.
BASE_HELPERS = ("_io", "_parallel")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(("mgmtfeat", *path.relative_to(PACKAGE).with_suffix("").parts))
        out[name.removesuffix(".__init__")] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of the package that ``name`` imports anywhere in its file (function bodies included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            module = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            # ``from pkg import submodule`` imports the submodule, not (only) the package's own names
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


MODULES = _modules()
GRAPH = {name: _imports(name, path, set(MODULES)) for name, path in MODULES.items()}


def _part(name: str) -> str:
    """The top-level part of the package a module belongs to: a step, a command, a helper, or the root."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_import_circle():
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert circles == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_steps_import_only_earlier_steps(module):
    part = _part(module)
    imported = {_part(m) for m in GRAPH[module]} - {part, ""}
    commands = {p for p in imported if p not in STEPS and not p.startswith("_")}
    if part in STEPS:
        allowed = set(STEPS[: STEPS.index(part)]) | set(BASE_HELPERS) | {"_config"}
        assert imported <= allowed, f"{module} imports later steps or commands: {sorted(imported - allowed)}"
    elif part in BASE_HELPERS:
        assert not imported & set(STEPS), f"{module} is a base helper but imports steps {sorted(imported)}"
    assert not commands or part in ("", "__main__"), f"{module} imports command module(s) {sorted(commands)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_are_short(module):
    n_lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert n_lines <= MAX_LINES, f"{module} has {n_lines} lines; split it by job (limit {MAX_LINES})"


def test_top_level_modules_are_commands_or_private_helpers():
    for path in PACKAGE.glob("*.py"):
        if path.stem.startswith("_"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert {"_parser", "main"} <= names, f"mgmtfeat/{path.name} is top-level but not a command (_parser + main)"


@pytest.mark.parametrize("number, step", list(enumerate(STEPS, start=1)))
def test_step_docstrings_give_the_one_step_order(number, step):
    doc = importlib.import_module(f"mgmtfeat.{step}").__doc__ or ""
    assert doc.startswith(f"Step {number}, "), (f"mgmtfeat/{step}/__init__.py: its docstring must open with "
                                                f"'Step {number}, ' (its place in mgmtfeat.STEPS)")
