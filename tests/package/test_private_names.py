"""No module imports an underscore name from another module: what other modules use is public and documented.

An underscore name is a private module anywhere in the import path (``mgmtfeat.backbones._weights``) or a
private object (``from mgmtfeat.store.store import _DAMAGED``). Dunders (``__version__``) are not private,
and the base helpers ``mgmtfeat._io`` and ``mgmtfeat._parallel`` serve every step by design. Tests are exempt.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mgmtfeat"
#: Private helper modules every module may import (tests/package/test_layout.py: they import no step).
BASE_HELPERS = ("_io", "_parallel")


def _private(part: str) -> bool:
    """An underscore name that is neither a dunder nor a base helper."""
    return part.startswith("_") and not part.startswith("__") and part not in BASE_HELPERS


def _module_name(path: Path) -> str:
    return ".".join(("mgmtfeat", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")


def _offences(path: Path) -> list[str]:
    """``file:line imports NAME from MODULE`` for each underscore name the module imports from another."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    where = path.relative_to(ROOT)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "mgmtfeat" and any(_private(p) for p in parts[1:]):
                    found.append(f"{where}:{node.lineno} imports {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            module = (f"{base}.{node.module}" if node.module else base) if node.level else (node.module or "")
            parts = module.split(".")
            if parts[0] != "mgmtfeat":
                continue
            if any(_private(p) for p in parts[1:]):
                found.append(f"{where}:{node.lineno} imports {', '.join(a.name for a in node.names)} from {module}")
                continue
            found += [f"{where}:{node.lineno} imports {a.name} from {module}" for a in node.names if _private(a.name)]
    return found


def test_the_scan_sees_private_imports(tmp_path, monkeypatch):
    """The check below must catch each form, or its pass means nothing."""
    folder = tmp_path / "mgmtfeat" / "step"
    folder.mkdir(parents=True)
    module = folder / "user.py"
    module.write_text("from mgmtfeat.step._helpers import tool\nfrom mgmtfeat.step.other import _secret, public\n"
                      "from ._helpers import tool\nimport mgmtfeat.step._helpers\nfrom mgmtfeat import __version__\n"
                      "from mgmtfeat._io import atomic_path\nfrom mgmtfeat._parallel import run\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    monkeypatch.setattr(f"{__name__}.PACKAGE", tmp_path / "mgmtfeat")
    assert _offences(module) == [
        "mgmtfeat/step/user.py:1 imports tool from mgmtfeat.step._helpers",
        "mgmtfeat/step/user.py:2 imports _secret from mgmtfeat.step.other",
        "mgmtfeat/step/user.py:3 imports tool from mgmtfeat.step._helpers",
        "mgmtfeat/step/user.py:4 imports mgmtfeat.step._helpers",
    ]


def test_no_module_imports_an_underscore_name_from_another_module():
    offences = [line for path in sorted(PACKAGE.rglob("*.py")) for line in _offences(path)]
    assert not offences, (
        f"{len(offences)} import(s) of an underscore name from another module; a name another module uses is "
        "public: give it a public name (and a docstring) or move it to the module that uses it "
        f"({', '.join(BASE_HELPERS)} and dunders excepted):\n" + "\n".join(offences))
