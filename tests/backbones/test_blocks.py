"""The registry's scan for families leaves the torch building blocks (``backbones/blocks/``) alone.

It imports every public module of ``mgmtfeat/backbones/``; a helper module there must stay light, and the
blocks, which import torch at the top, must not be taken for families.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_listing_backbones_imports_neither_torch_nor_the_blocks():
    code = ("import json, sys; from mgmtfeat.backbones import list_backbones; list_backbones(kind=None); "
            "print(json.dumps(sorted(m for m in sys.modules if m == 'torch' or m.startswith('mgmtfeat.backbones'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    loaded = json.loads(result.stdout)
    assert "mgmtfeat.backbones.i3d" in loaded and "mgmtfeat.backbones.registry" in loaded  # the scan ran
    assert "torch" not in loaded, "a public module of mgmtfeat/backbones/ imports torch at the top: import it inside"
    blocks = [m for m in loaded if m.startswith("mgmtfeat.backbones.blocks")]
    assert not blocks, f"the family scan imported {blocks}: the registry must skip the blocks subpackage"
