"""The package layout follows the data flow: a step imports only earlier steps, no circle, short modules."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from mgmtfeat import STEPS  # the one statement of the step order (docstrings name it)

PACKAGE = Path(__file__).resolve().parents[2] / "mgmtfeat"
#: Private helpers that every step may use; they import no step themselves.
BASE_HELPERS = ("_io", "_parallel")
#: The commands: the top layer, above every step; it may import any step, and no step imports it.
COMMANDS = "cli"
#: The modules of a step allowed to import the command layer, each with the one module it imports.
EXEMPT = {"mgmtfeat.saliency.__main__": "mgmtfeat.cli.saliency"}  # `python -m mgmtfeat.saliency` runs the command
#: The root modules besides the packages: the entry point, the base helpers and one shim per command module.
ROOT_MODULES = ("__init__", "__main__", *BASE_HELPERS)
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
    """The top-level part of the package a module belongs to: a step, ``cli``, a helper, or the root."""
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
    imported = {_part(m) for m in GRAPH[module] if m != EXEMPT.get(module)} - {part, ""}
    if part in STEPS:
        allowed = set(STEPS[: STEPS.index(part)]) | set(BASE_HELPERS)
        assert imported <= allowed, f"{module} imports later steps or the commands: {sorted(imported - allowed)}"
    elif part in BASE_HELPERS:
        assert not imported & set(STEPS), f"{module} is a base helper but imports steps {sorted(imported)}"
    elif part == COMMANDS:
        allowed = set(STEPS) | set(BASE_HELPERS)
        assert imported <= allowed, f"{module} imports {sorted(imported - allowed)}, neither a step nor a helper"
    else:  # the root: the entry point and the shims reach the steps only through the commands
        assert imported <= {COMMANDS}, f"{module} sits at the root but imports {sorted(imported - {COMMANDS})}"


def test_exempt_imports_are_still_needed():
    for module, target in EXEMPT.items():
        assert target in GRAPH[module], f"{module} no longer imports {target}: drop it from EXEMPT"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_are_short(module):
    n_lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert n_lines <= MAX_LINES, f"{module} has {n_lines} lines; split it by job (limit {MAX_LINES})"


def test_root_holds_the_entry_point_helpers_and_command_shims():
    """Beside the packages, mgmtfeat/ holds __init__, __main__, the base helpers and ``python -m mgmtfeat.X`` shims."""
    for path in PACKAGE.glob("*.py"):
        if path.stem in ROOT_MODULES:
            continue
        assert (PACKAGE / COMMANDS / path.name).is_file(), (
            f"mgmtfeat/{path.name} sits at the root: move it into its step, or into cli/ if it is a command")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
        shim = f"mgmtfeat.{COMMANDS}.{path.stem}"
        assert any(isinstance(n, ast.ImportFrom) and n.module == shim and [a.name for a in n.names] == ["main"]
                   for n in imports), f"mgmtfeat/{path.name} must be a shim: `from {shim} import main`"
        defined = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Assign))]
        assert not defined, f"mgmtfeat/{path.name} is a shim: its command belongs in {shim}"


def test_every_command_module_is_a_subcommand():
    """A module of cli/ with ``main(argv)`` is a command: ``mgmtfeat`` must list it (mgmtfeat/__main__.py COMMANDS)."""
    from mgmtfeat.__main__ import COMMANDS as LISTED

    listed = {module for _, module, _ in LISTED}
    for module, path in MODULES.items():
        if _part(module) != COMMANDS:
            continue
        names = {n.name for n in ast.parse(path.read_text(encoding="utf-8")).body if isinstance(n, ast.FunctionDef)}
        if "main" in names:
            assert module in listed, f"{module} has main(): add it to COMMANDS in mgmtfeat/__main__.py"
            assert "_parser" in names, f"{module} is a command: give it _parser() beside main(argv)"
    assert listed <= set(MODULES), f"COMMANDS lists modules that do not exist: {sorted(listed - set(MODULES))}"


@pytest.mark.parametrize("number, step", list(enumerate(STEPS, start=1)))
def test_step_docstrings_give_the_one_step_order(number, step):
    doc = importlib.import_module(f"mgmtfeat.{step}").__doc__ or ""
    assert doc.startswith(f"Step {number}, "), (f"mgmtfeat/{step}/__init__.py: its docstring must open with "
                                                f"'Step {number}, ' (its place in mgmtfeat.STEPS)")


def test_tests_mirror_the_steps():
    """tests/<step>/ for every step and for the commands; no test file left at the top of tests/."""
    tests = Path(__file__).resolve().parents[1]
    missing = [name for name in (*STEPS, "cli") if not any((tests / name).glob("test_*.py"))]
    assert not missing, f"add the tests of each step under tests/<step>/: none for {missing}"
    loose = sorted(p.name for p in tests.glob("test_*.py"))
    assert not loose, f"move {loose} into the tests/<step>/ folder of the module they test"
