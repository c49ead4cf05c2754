"""The experiment protocol of ``mgmtfeat.experiments.base``: its worked example is the real code of an
experiment and of its registry entry, in the docstring and on the documentation page.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

import mgmtfeat.experiments.base as base

EXPERIMENTS_DIR = Path(__file__).resolve().parents[2] / "mgmtfeat" / "experiments"


def _literal_block(text: str, marker: str) -> str:
    """The indented block after the first ``::`` line at or after the first line of ``text`` naming ``marker``."""
    lines = text.splitlines()
    named = next(i for i, line in enumerate(lines) if marker in line)
    start = next(i for i in range(named, len(lines)) if lines[i].rstrip().endswith("::"))
    block = []
    for line in lines[start + 1:]:
        if line.strip() and not line.startswith("    "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block)).strip("\n")


def _without_docstrings(tree: ast.AST) -> str:
    """``ast.dump`` of ``tree`` with the docstrings of the module and its functions and classes removed."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node) is not None:
            node.body = node.body[1:]
    return ast.dump(tree)


def _registry_entry(tree: ast.AST, name: str) -> str:
    """``ast.dump`` of the value of key ``name`` in the ``EXPERIMENTS = {...}`` literal of ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Dict):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "EXPERIMENTS" for t in targets):
                for key, value in zip(node.value.keys, node.value.values):
                    if isinstance(key, ast.Constant) and key.value == name:
                        return ast.dump(value)
    raise AssertionError(f"no EXPERIMENTS entry {name!r}")


def test_the_worked_example_is_the_code_of_its_experiment():
    example = _literal_block(base.__doc__, "mgmtfeat/experiments/decision_curves.py")
    module = (EXPERIMENTS_DIR / "decision_curves.py").read_text(encoding="utf-8")
    assert "def decision_curve_analysis(" in example
    assert _without_docstrings(ast.parse(example)) == _without_docstrings(ast.parse(module)), (
        "the worked example in the docstring of mgmtfeat/experiments/base.py is no longer the code of "
        "mgmtfeat/experiments/decision_curves.py: copy the module, its docstrings left out, into the docstring")


def test_the_worked_example_shows_the_real_registry_entry():
    example = ast.parse(_literal_block(base.__doc__, "mgmtfeat/experiments/__init__.py"))
    registry = ast.parse((EXPERIMENTS_DIR / "__init__.py").read_text(encoding="utf-8"))
    assert _registry_entry(example, "decision-curves") == _registry_entry(registry, "decision-curves")
    imports = [ast.dump(n) for n in example.body if isinstance(n, ast.ImportFrom)]
    assert imports and all(line in {ast.dump(n) for n in registry.body} for line in imports)


def test_the_docs_page_shows_the_real_registry_entry():
    page = (EXPERIMENTS_DIR.parents[1] / "docs" / "studies" / "adding-an-experiment.md").read_text(encoding="utf-8")
    blocks = [b.split("\n", 1)[1] for b in page.split("```")[1::2] if b.startswith("python")]
    [entry] = [b for b in blocks if '"decision-curves": Experiment(' in b]
    registry = ast.parse((EXPERIMENTS_DIR / "__init__.py").read_text(encoding="utf-8"))
    assert _registry_entry(ast.parse(entry), "decision-curves") == _registry_entry(registry, "decision-curves"), (
        "docs/studies/adding-an-experiment.md shows another registry entry than mgmtfeat/experiments/__init__.py")


def test_the_example_checks_can_fail():
    changed = ast.parse("def f(settings):\n    '''doc'''\n    return 1\n")
    same = ast.parse("def f(settings):\n    return 1\n")
    other = ast.parse("def f(settings):\n    return 2\n")
    assert _without_docstrings(changed) == _without_docstrings(same) != _without_docstrings(other)
    with pytest.raises(AssertionError, match="no EXPERIMENTS entry 'nothing'"):
        _registry_entry(same, "nothing")

