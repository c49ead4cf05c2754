"""Turn a case's volumes into five 150-frame, 128x128 uint8 clips (the networks' input).

Conventions
-----------
Frames are axial slices of the canonical RAS+ volume, inferior to superior. A frame is
displayed as radiologists do: rows run anterior (top) to posterior, columns run from
the patient's right (left of the image) to the patient's left, i.e.
``frame[r, c] = volume[X - 1 - c, Y - 1 - r, z]``. Rows and columns ("frame
coordinates") always mean this display.

One job per module, in the order a clip is made: :mod:`~mgmtfeat.clips.placement` (the
box and the frames), :mod:`~mgmtfeat.clips.intensity` (percentile scaling),
:mod:`~mgmtfeat.clips.delta` (delta-T1 on one grid); :mod:`~mgmtfeat.clips.files` saves
the result.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from mgmtfeat import MODALITIES
from mgmtfeat.clips.delta import delta_inputs
from mgmtfeat.clips.intensity import percentile_cut, sample_voxels, scale_to_uint8
from mgmtfeat.clips.placement import Placement, crop, place, resize_frames
from mgmtfeat.clips.settings import BoxSpec, ClipSettings
from mgmtfeat.data.volumes import Case

__all__ = ["CaseClips", "make_clips", "modalities_of", "stack", "to_frames"]


@dataclass(eq=False)
class CaseClips:
    """The five clips of one case.

    Attributes
    ----------
    case_id : str
    clips : dict
        Each name in :data:`mgmtfeat.MODALITIES` -> uint8 ``(n_frames, box, box)``
        (frames, height, width).
    meta : dict
        JSON-able provenance: ``box`` ``[row0, col0, side]`` in frame coordinates and
        ``frames`` ``[slice_start, slice_stop)`` in canonical slice indices (outside
        ``0..Z-1`` = zero padding), both None when clips were placed differently (series
        on different grids); ``box_source`` (sources used: ``seg``, ``csv``,
        ``brain_extent``); ``tumour`` (inclusive extent in frame coordinates) and
        ``tumour_fits``; ``clips`` (each clip's :meth:`Placement.as_dict
        <mgmtfeat.clips.placement.Placement.as_dict>` plus ``grid_shape``); ``delta_t1``
        (grid handling); ``notes`` (warnings: a user box clamped into the image, a tumour
        larger than the box); ``settings``.
    label : int or None
    """

    case_id: str
    clips: dict[str, np.ndarray]
    meta: dict = field(default_factory=dict)
    label: int | None = None


def to_frames(data: np.ndarray) -> np.ndarray:
    """View a canonical ``(X, Y, Z)`` volume as display frames ``(Z, rows, columns)`` (no copy)."""
    return data[::-1, ::-1, :].transpose(2, 1, 0)


def _to_uint8(frames: np.ndarray, brain: np.ndarray, cut: tuple[float, float], s: ClipSettings) -> np.ndarray:
    """A cropped ``(n, side, side)`` window resized to the box (when resized) and scaled to uint8."""
    if frames.shape[1] != s.box_size:
        frames, brain = resize_frames(frames, s.box_size), resize_frames(brain.astype(np.float32), s.box_size) > 0.5
    return scale_to_uint8(frames, *cut, brain)


def make_clips(case: Case, settings: ClipSettings = ClipSettings(),
               boxes: Mapping[tuple[str, str | None], BoxSpec] | None = None) -> CaseClips:
    """Make the five clips of one case.

    Parameters
    ----------
    case : Case
        From :func:`mgmtfeat.data.volumes.load_case`.
    settings : ClipSettings
    boxes : mapping, optional
        User boxes from :func:`~mgmtfeat.clips.settings.read_box_csv`.

    Returns
    -------
    CaseClips
        ``clips[name]`` uint8 ``(settings.n_frames, settings.box_size, settings.box_size)``
        for each name in ``settings.modalities`` (by default all of :data:`mgmtfeat.MODALITIES`).

    Raises
    ------
    CaseError
        Empty segmentation, grids that differ, no contrast, tumour too large with
        ``large_tumour="error"``, a user box that misses the image or whose slice is
        outside the volume.
    """
    s = settings
    clips, places, notes, cache = {}, {}, [], {}
    moved: dict[str, list[str]] = {}  # note -> the series it applies to (one box often serves all four)
    for modality in s.images:  # a series read only for delta-T1 is placed (delta-T1 follows T1wCE), not clipped
        vol = case.volumes[modality]
        placed: list[str] = []
        p = places[modality] = place(case, vol, modality, s, boxes, cache, placed)
        for msg in placed:
            moved.setdefault(msg, []).append(modality)
        if modality not in s.modalities:
            continue

        def sample(n, data=vol.data):
            values = sample_voxels(data, n)
            return values, values != 0

        cut = percentile_cut(sample, s, case.case_id, modality, vol.path)
        window = crop(to_frames(vol.data), p)
        clips[modality] = _to_uint8(window, window != 0, cut, s)
    how = {}
    if "delta_t1" in s.modalities:
        how = _delta_clip(case, s, places, clips, notes)
    for msg, modalities in moved.items():
        notes.append(f"{', '.join(modalities)}: {msg}")
        warnings.warn(f"case {case.case_id}: {notes[-1]}", stacklevel=2)
    too_large = [p for p in places.values() if p.source == "seg" and not p.fits]
    if too_large:
        e = too_large[0].extent
        msg = (f"tumour is {e.height}x{e.width} voxels, larger than the {s.box_size}x{s.box_size} box; "
               f"rule {too_large[0].rule}")
        notes.append(msg)
        warnings.warn(f"case {case.case_id}: {msg}", stacklevel=2)
    meta = _meta(case, places, s, how, notes)
    return CaseClips(case.case_id, {m: clips[m] for m in s.modalities}, meta, case.label)


def _delta_clip(case: Case, s: ClipSettings, places: dict, clips: dict, notes: list) -> dict:
    """Add the delta-T1 clip (placed like T1wCE) to ``clips``; returns how T1 reached the T1wCE grid."""
    t1ce, t1, how = delta_inputs(case, s)
    if "note" in how:  # e.g. the registration of T1 onto T1wCE: its transform and metric
        notes.append(how["note"])
    p = places["delta_t1"] = places["t1ce"]

    def delta_sample(n):
        a, b = sample_voxels(t1ce, n), sample_voxels(t1, n)
        return a - b, (a != 0) | (b != 0)

    cut = percentile_cut(delta_sample, s, case.case_id, "delta_t1", case.volumes["t1ce"].path)
    a, b = crop(to_frames(t1ce), p), crop(to_frames(t1), p)
    clips["delta_t1"] = _to_uint8(a - b, (a != 0) | (b != 0), cut, s)
    return how


def _meta(case: Case, places: dict[str, Placement], s: ClipSettings, how: dict, notes: list) -> dict:
    per = {m: p.as_dict() | {"grid_shape": list(case.volumes["t1ce" if m == "delta_t1" else m].shape)}
           for m, p in places.items()}
    key = next(m for m in ("t1ce", "t1", "t2", "flair") if m in places)  # T1wCE unless left out
    first = places[key]
    shared = all((p.row0, p.col0, p.slice_start) == (first.row0, first.col0, first.slice_start)
                 for p in places.values())
    tumour = first.source == "seg"
    return {
        "case_id": case.case_id,
        "layout": case.ref.layout,
        "label": case.label,
        "box_source": sorted({p.source for p in places.values()}),
        "box": [first.row0, first.col0, first.side] if shared else None,
        "frames": [first.slice_start, first.slice_stop] if shared else None,
        "tumour": per[key]["extent"] if tumour else None,
        "tumour_fits": first.fits if tumour else None,
        "clips": per,
        "delta_t1": how,
        "notes": notes,
        "settings": s.as_dict(),
    }


def stack(case_clips: CaseClips) -> np.ndarray:
    """The clips as one uint8 ``(n_clips, n_frames, box, box)`` array in :data:`mgmtfeat.MODALITIES` order.

    ``n_clips`` is 5, or fewer when the clip settings left modalities out (``modalities_of`` names them).
    """
    names = modalities_of(case_clips)
    if not names:
        raise ValueError(f"case {case_clips.case_id} has no clip; expected some of {MODALITIES}")
    return np.stack([case_clips.clips[m] for m in names])


def modalities_of(case_clips: CaseClips) -> tuple[str, ...]:
    """The clips a case has, in :data:`mgmtfeat.MODALITIES` order (the rows of :func:`stack`)."""
    return tuple(m for m in MODALITIES if m in case_clips.clips)
