"""Clip files: one compressed ``.npz`` per case (a uint8 array per modality and the ``meta`` JSON)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from mgmtfeat import MODALITIES
from mgmtfeat._io import atomic_write_bytes
from mgmtfeat.clips.make import CaseClips

__all__ = ["load_case_clips", "save_case_clips"]


def save_case_clips(path: str | Path, case_clips: CaseClips) -> Path:
    """Write a case's clips to a compressed ``.npz`` (one uint8 array per modality, ``meta`` JSON), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **case_clips.clips, meta=np.array(json.dumps(case_clips.meta)))
    atomic_write_bytes(path, buffer.getvalue())
    return path


def load_case_clips(path: str | Path) -> CaseClips:
    """Read a file written by :func:`save_case_clips` (no pickle)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            clips = {m: data[m] for m in MODALITIES if m in data.files}  # --modalities may leave some out
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"clip file {path} is unreadable or incomplete ({exc}); "
                         "re-run make_clips with --force") from None
    for m, clip in clips.items():
        if clip.dtype != np.uint8 or clip.ndim != 3:
            raise ValueError(f"clip file {path}: {m} is {clip.dtype} {clip.shape}, expected uint8 (frames, h, w)")
    return CaseClips(meta.get("case_id", path.stem), clips, meta, meta.get("label"))
