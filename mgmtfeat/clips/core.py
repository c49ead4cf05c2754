"""Turn a case's volumes into five 150-frame, 128x128 uint8 clips (the networks' input).

Conventions
-----------
Frames are axial slices of the canonical RAS+ volume, inferior to superior. A frame is
displayed as radiologists do: rows run anterior (top) to posterior, columns run from
the patient's right (left of the image) to the patient's left, i.e.
``frame[r, c] = volume[X - 1 - c, Y - 1 - r, z]``. Rows and columns below ("frame
coordinates") always mean this display.

Intensity
    Each volume is scaled linearly so that its 1st and 99th percentiles over brain
    voxels (non-zero voxels: the public data are skull-stripped with a zero
    background) become 0 and 255, clipped, rounded to uint8; voxels outside the brain
    stay 0. Percentiles are estimated on a regular subsample of at most
    ``percentile_sample`` voxels (0: all voxels), which keeps a BraTS-size case fast.
Box
    The paper's rule: a ``box_size`` square whose upper-left corner is the upper and
    left boundary of the whole tumour (segmentation > 0) across all slices, clamped so
    the box stays in the image (an image smaller than the box is zero-padded on the
    bottom/right). The same box is cut from every frame.
Frames
    ``n_frames`` consecutive slices centred on the middle of the tumour's slice range,
    clamped to the volume; a volume with fewer slices is zero-padded, keeping the
    tumour as central as possible.
Tumour larger than the box (``large_tumour``)
    ``"corner"`` keeps the paper's corner (the bottom/right of the tumour is cut),
    ``"centre"`` centres the box on the tumour (cut evenly on both sides),
    ``"resize"`` cuts the tumour's bounding square and resamples it to the box size
    (whole tumour, smaller scale), ``"error"`` refuses the case. The case's metadata
    records ``tumour_fits`` and which rule applied.
No segmentation (``box``)
    ``"csv"``: the corner (and optionally the centre slice) from a user CSV (see
    :func:`read_box_csv`); ``"brain"``: a box and frames centred on the brain's extent
    (non-zero voxels) of each volume; ``"auto"``: the segmentation when present, else
    the CSV entry when given, else the brain. The source used is recorded.
Delta-T1
    T1wCE minus T1 on the original intensities, then scaled like the others over the
    union of both brain masks. Both must share a grid (shape and affine): a mismatch is
    an error unless ``delta_grid="resample"``, which resamples T1 onto the T1wCE grid
    through their affines (trilinear; not a registration) and records it.
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from mgmtfeat import MODALITIES
from mgmtfeat.data.errors import CaseError
from mgmtfeat._io import atomic_write_bytes
from mgmtfeat.data.volumes import Case, Volume, same_grid

__all__ = [
    "BoxSpec",
    "CaseClips",
    "ClipSettings",
    "load_case_clips",
    "make_clips",
    "read_box_csv",
    "save_case_clips",
    "scale_to_uint8",
    "stack",
    "to_frames",
]

_BOX_SOURCES = ("auto", "seg", "csv", "brain")
_LARGE_RULES = ("corner", "centre", "resize", "error")
_DELTA_GRID = ("require", "resample")


@dataclass(frozen=True)
class ClipSettings:
    """How clips are made; ``as_dict()`` goes into every clip file's provenance.

    Attributes
    ----------
    n_frames : int
        Frames per clip (the paper: 150).
    box_size : int
        Side of the square box in voxels (the paper: 128).
    percentiles : tuple of float
        Lower and upper intensity percentiles mapped to 0 and 255 (the paper: 1, 99).
    percentile_sample : int
        Maximum voxels sampled (regularly) to estimate the percentiles; 0 uses all.
    box : {"auto", "seg", "csv", "brain"}
        Where the box comes from (see the module docstring).
    large_tumour : {"corner", "centre", "resize", "error"}
        What to do when the tumour is larger than the box.
    delta_grid : {"require", "resample"}
        Whether T1 and T1wCE must share a grid, or T1 is resampled onto T1wCE.
    """

    n_frames: int = 150
    box_size: int = 128
    percentiles: tuple[float, float] = (1.0, 99.0)
    percentile_sample: int = 262_144
    box: str = "auto"
    large_tumour: str = "corner"
    delta_grid: str = "require"

    def __post_init__(self):
        for name in ("n_frames", "box_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive integer")
        lo, hi = self.percentiles
        if not 0 <= lo < hi <= 100:
            raise ValueError(f"percentiles={self.percentiles!r} must satisfy 0 <= low < high <= 100")
        if self.percentile_sample < 0:
            raise ValueError(f"percentile_sample={self.percentile_sample} must be >= 0 (0 = all voxels)")
        for name, allowed in (("box", _BOX_SOURCES), ("large_tumour", _LARGE_RULES),
                              ("delta_grid", _DELTA_GRID)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r} is not one of {allowed}")

    def as_dict(self) -> dict:
        """JSON-able settings."""
        out = asdict(self)
        out["percentiles"] = list(self.percentiles)
        return out


@dataclass(frozen=True)
class BoxSpec:
    """A user-given box for one case (frame coordinates, see the module docstring).

    Attributes
    ----------
    row, col : int
        Upper-left corner of the box.
    slice : int or None
        Canonical slice index (axis Z) on which to centre the frames; None: brain centre.
    """

    row: int
    col: int
    slice: int | None = None


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
        ``tumour_fits``; ``clips`` (placement of each clip); ``delta_t1`` (grid handling);
        ``notes`` (warnings, e.g. tumour larger than the box); ``settings``.
    label : int or None
    """

    case_id: str
    clips: dict[str, np.ndarray]
    meta: dict = field(default_factory=dict)
    label: int | None = None


# ----------------------------------------------------------------------------- geometry

def to_frames(data: np.ndarray) -> np.ndarray:
    """View a canonical ``(X, Y, Z)`` volume as display frames ``(Z, rows, columns)`` (no copy)."""
    return data[::-1, ::-1, :].transpose(2, 1, 0)


def _extent(mask: np.ndarray) -> dict | None:
    """Bounding box of a ``(X, Y, Z)`` mask in frame coordinates (inclusive), or None if empty."""
    xs = np.flatnonzero(mask.any(axis=(1, 2)))
    if xs.size == 0:
        return None
    ys = np.flatnonzero(mask.any(axis=(0, 2)))
    zs = np.flatnonzero(mask.any(axis=(0, 1)))
    nx, ny = mask.shape[:2]
    return {"row_min": int(ny - 1 - ys[-1]), "row_max": int(ny - 1 - ys[0]),
            "col_min": int(nx - 1 - xs[-1]), "col_max": int(nx - 1 - xs[0]),
            "slice_min": int(zs[0]), "slice_max": int(zs[-1])}


def _clamp(start: int, length: int, window: int) -> int:
    """Clamp a window start so the window stays in ``[0, length)`` (or covers it when longer)."""
    lo, hi = min(0, length - window), max(0, length - window)
    return int(min(max(start, lo), hi))


def _frame_start(centre: int, n_slices: int, n_frames: int) -> int:
    return _clamp(centre - n_frames // 2, n_slices, n_frames)


def _placement(extent: dict, shape: tuple[int, int, int], s: ClipSettings, source: str,
               case_id: str, centre_box: bool) -> dict:
    """Box corner, window side and slice range for one grid."""
    nz, nrows, ncols = shape[2], shape[1], shape[0]
    b = s.box_size
    height = extent["row_max"] - extent["row_min"] + 1
    width = extent["col_max"] - extent["col_min"] + 1
    fits = height <= b and width <= b
    side, rule = b, "paper_corner"
    if centre_box:
        rule = "centred_on_extent"
        row0 = (extent["row_min"] + extent["row_max"] + 1) // 2 - b // 2
        col0 = (extent["col_min"] + extent["col_max"] + 1) // 2 - b // 2
    else:
        row0, col0 = extent["row_min"], extent["col_min"]
    if source == "seg" and not fits:
        if s.large_tumour == "error":
            raise CaseError(case_id, None, f"tumour is {height}x{width} voxels, larger than the "
                            f"{b}x{b} box; choose large_tumour corner, centre or resize")
        if s.large_tumour == "centre":
            rule = "centred_on_tumour"
            row0 = (extent["row_min"] + extent["row_max"] + 1) // 2 - b // 2
            col0 = (extent["col_min"] + extent["col_max"] + 1) // 2 - b // 2
        elif s.large_tumour == "resize":
            rule, side = "resized_tumour_square", max(height, width)
    row0 = _clamp(row0, nrows, side)
    col0 = _clamp(col0, ncols, side)
    centre = (extent["slice_min"] + extent["slice_max"]) // 2
    start = _frame_start(centre, nz, s.n_frames)
    return {"source": source, "rule": rule, "row0": row0, "col0": col0, "side": side,
            "slice_start": start, "slice_stop": start + s.n_frames,
            "extent": extent, "fits": bool(fits)}


def _crop(frames: np.ndarray, p: dict, n_frames: int) -> np.ndarray:
    """Cut ``(n_frames, side, side)`` from ``(Z, rows, cols)`` frames, zero-padding outside."""
    side, r0, c0, z0 = p["side"], p["row0"], p["col0"], p["slice_start"]
    out = np.zeros((n_frames, side, side), dtype=frames.dtype)
    nz, nr, nc = frames.shape
    zs, ze = max(z0, 0), min(z0 + n_frames, nz)
    rs, re = max(r0, 0), min(r0 + side, nr)
    cs, ce = max(c0, 0), min(c0 + side, nc)
    if ze > zs and re > rs and ce > cs:
        out[zs - z0:ze - z0, rs - r0:re - r0, cs - c0:ce - c0] = frames[zs:ze, rs:re, cs:ce]
    return out


# ----------------------------------------------------------------------------- intensity

def _sample(data: np.ndarray, n: int) -> np.ndarray:
    """A regular subsample of about ``n`` voxels (all voxels when n == 0)."""
    flat = np.ravel(data, order="K")  # a view for C- or F-contiguous volumes
    if n == 0 or flat.size <= n:
        return flat
    return flat[:: flat.size // n]


def _percentiles(values: np.ndarray, mask: np.ndarray, s: ClipSettings, case_id: str, what: str,
                 path) -> tuple[float, float]:
    brain = values[mask]
    if brain.size < 100 and s.percentile_sample:
        return None  # too few sampled brain voxels: caller retries on all voxels
    if brain.size == 0:
        raise CaseError(case_id, path, f"{what} has no brain (non-zero) voxel; cannot scale it")
    lo, hi = np.percentile(brain, s.percentiles)
    if not hi > lo:
        raise CaseError(case_id, path, f"{what} has no contrast in the brain: {s.percentiles} "
                        f"percentiles are both {lo:g}; check the image")
    return float(lo), float(hi)


def scale_to_uint8(values: np.ndarray, lo: float, hi: float, brain: np.ndarray | None = None) -> np.ndarray:
    """Map ``lo``..``hi`` linearly to 0..255 (clipped, rounded); zero outside ``brain``.

    Parameters
    ----------
    values : numpy.ndarray
        float32 array of any shape.
    lo, hi : float
        Intensities that become 0 and 255.
    brain : numpy.ndarray of bool, optional
        Same shape as ``values``; False voxels become 0.

    Returns
    -------
    numpy.ndarray
        uint8, same shape.
    """
    gain = np.float32(255.0 / (hi - lo))
    out = values - np.float32(lo)
    out *= gain
    np.clip(out, 0, 255, out=out)
    np.rint(out, out=out)
    if brain is not None:
        out[~brain] = 0
    return out.astype(np.uint8)


def _cut_for(sample_fn, s: ClipSettings, case_id: str, what: str, path) -> tuple[float, float]:
    """Percentiles from ``sample_fn(n) -> (values, brain_mask)``; all voxels if the sample is too sparse."""
    cut = _percentiles(*sample_fn(s.percentile_sample), s, case_id, what, path)
    if cut is None:
        cut = _percentiles(*sample_fn(0), s, case_id, what, path)
    return cut


def _finish_clip(crop: np.ndarray, brain: np.ndarray, cut: tuple[float, float], s: ClipSettings) -> np.ndarray:
    if crop.shape[1] != s.box_size:
        crop, brain = _resize(crop, s.box_size), _resize(brain.astype(np.float32), s.box_size) > 0.5
    return scale_to_uint8(crop, *cut, brain)


def _resize(crop: np.ndarray, size: int) -> np.ndarray:
    """Resample ``(n, side, side)`` frames to ``(n, size, size)`` (bilinear in-plane)."""
    from scipy.ndimage import zoom

    factor = size / crop.shape[1]
    out = zoom(crop.astype(np.float32), (1, factor, factor), order=1, grid_mode=True, mode="nearest")
    return out[:, :size, :size]


# ----------------------------------------------------------------------------- boxes

def read_box_csv(path: str | Path) -> dict[tuple[str, str | None], BoxSpec]:
    """Read user boxes: CSV with columns ``case_id,row,col`` and optional ``slice``, ``modality``.

    ``row``/``col`` are the box's upper-left corner in frame coordinates of the case's
    canonical grid; ``slice`` the canonical slice index on which to centre the frames;
    ``modality`` (blank: all) allows one box per series when series are not co-registered.

    Returns
    -------
    dict
        ``(case_id, modality or None)`` -> :class:`BoxSpec`.
    """
    import pandas as pd

    path = Path(path)
    table = pd.read_csv(path, dtype=str).fillna("")
    missing = {"case_id", "row", "col"} - set(table.columns)
    if missing:
        raise ValueError(f"box file {path} lacks column(s) {sorted(missing)}; "
                         "expected case_id,row,col[,slice][,modality]")
    boxes = {}
    for line, row in enumerate(table.to_dict("records"), start=2):
        try:
            spec = BoxSpec(int(row["row"]), int(row["col"]),
                           int(row["slice"]) if row.get("slice", "") != "" else None)
        except ValueError:
            raise ValueError(f"box file {path}, line {line}: row/col/slice must be integers, got {row}") from None
        modality = row.get("modality", "") or None
        if modality is not None and modality not in MODALITIES:
            raise ValueError(f"box file {path}, line {line}: modality {modality!r} is not one of {MODALITIES}")
        boxes[(str(row["case_id"]).strip(), modality)] = spec
    return boxes


def _box_for(boxes: Mapping | None, case_id: str, modality: str) -> BoxSpec | None:
    if not boxes:
        return None
    return boxes.get((case_id, modality)) or boxes.get((case_id, None))


# ----------------------------------------------------------------------------- clips

def _brain_placement(vol: Volume, s: ClipSettings, case_id: str) -> dict:
    extent = _extent(vol.data != 0)
    return _placement(extent, vol.shape, s, "brain_extent", case_id, centre_box=True)


def _seg_placement(case: Case, vol: Volume, modality: str, s: ClipSettings, cache: dict) -> dict:
    if not same_grid(case.seg, vol):
        raise CaseError(case.case_id, case.seg.path, f"segmentation grid {case.seg.shape} differs from the "
                        f"{modality} grid {vol.shape} (shape or affine); the box needs co-registered volumes")
    if "seg" not in cache:  # one pass over the segmentation per case, not per modality
        cache["seg"] = _extent(case.seg.data > 0)
    extent = cache["seg"]
    if extent is None:
        raise CaseError(case.case_id, case.seg.path, "segmentation is empty (no tumour voxel); "
                        "use box='brain' or a box CSV")
    return _placement(extent, vol.shape, s, "seg", case.case_id, centre_box=False)


def _csv_placement(vol: Volume, spec: BoxSpec, s: ClipSettings, case_id: str) -> dict:
    extent = _extent(vol.data != 0)
    centre = spec.slice if spec.slice is not None else (extent["slice_min"] + extent["slice_max"]) // 2
    if not 0 <= centre < vol.shape[2]:
        raise CaseError(case_id, vol.path, f"box CSV slice {centre} is outside 0..{vol.shape[2] - 1}")
    start = _frame_start(centre, vol.shape[2], s.n_frames)
    return {"source": "csv", "rule": "user_corner", "row0": spec.row, "col0": spec.col,
            "side": s.box_size, "slice_start": start, "slice_stop": start + s.n_frames,
            "extent": None, "fits": None}


def _choose(case: Case, vol: Volume, modality: str, s: ClipSettings, boxes, cache: dict) -> dict:
    spec = _box_for(boxes, case.case_id, modality)
    mode = s.box
    if mode == "auto":
        mode = "seg" if case.seg is not None else "csv" if spec is not None else "brain"
    if mode == "seg":
        if case.seg is None:
            raise CaseError(case.case_id, None, "tumour segmentation is absent but box='seg' requires it; "
                            "use box='brain' or a box CSV")
        return _seg_placement(case, vol, modality, s, cache)
    if mode == "csv":
        if spec is None:
            raise CaseError(case.case_id, None, f"no row for this case ({modality}) in the box CSV; add "
                            "case_id,row,col or use box='brain'")
        return _csv_placement(vol, spec, s, case.case_id)
    return _brain_placement(vol, s, case.case_id)


def _delta_inputs(case: Case, s: ClipSettings) -> tuple[np.ndarray, np.ndarray, dict]:
    """T1wCE and T1 on the same grid, with what was done."""
    t1, t1ce = case.volumes["t1"], case.volumes["t1ce"]
    if same_grid(t1, t1ce):
        return t1ce.data, t1.data, {"delta_grid": "shared"}
    if s.delta_grid == "require":
        raise CaseError(case.case_id, t1.path, f"T1 and T1wCE grids differ: shape {t1.shape} vs {t1ce.shape}, "
                        f"spacing {np.round(t1.spacing, 3).tolist()} vs {np.round(t1ce.spacing, 3).tolist()}; "
                        "delta-T1 needs both on one grid: co-register them or set delta_grid='resample' "
                        "(--delta-grid resample)")
    from scipy.ndimage import affine_transform

    # voxel of T1wCE -> world -> voxel of T1
    matrix = np.linalg.solve(t1.affine, t1ce.affine)
    moved = affine_transform(t1.data, matrix[:3, :3], matrix[:3, 3], output_shape=t1ce.shape,
                             order=1, mode="constant", cval=0.0).astype(np.float32)
    return t1ce.data, moved, {"delta_grid": "t1_resampled_to_t1ce"}


def make_clips(case: Case, settings: ClipSettings = ClipSettings(),
               boxes: Mapping[tuple[str, str | None], BoxSpec] | None = None) -> CaseClips:
    """Make the five clips of one case.

    Parameters
    ----------
    case : Case
        From :func:`mgmtfeat.data.volumes.load_case`.
    settings : ClipSettings
    boxes : mapping, optional
        User boxes from :func:`read_box_csv`.

    Returns
    -------
    CaseClips
        ``clips[name]`` uint8 ``(settings.n_frames, settings.box_size, settings.box_size)``
        for each name in :data:`mgmtfeat.MODALITIES`.

    Raises
    ------
    CaseError
        Empty segmentation, grids that differ, no contrast, tumour too large with
        ``large_tumour="error"``.
    """
    s = settings
    clips, places, notes, cache = {}, {}, [], {}
    for modality in ("flair", "t1", "t1ce", "t2"):
        vol = case.volumes[modality]
        p = _choose(case, vol, modality, s, boxes, cache)
        places[modality] = p

        def sample(n, data=vol.data):
            values = _sample(data, n)
            return values, values != 0

        cut = _cut_for(sample, s, case.case_id, modality, vol.path)
        crop = _crop(to_frames(vol.data), p, s.n_frames)
        clips[modality] = _finish_clip(crop, crop != 0, cut, s)
    t1ce, t1, how = _delta_inputs(case, s)
    p = places["delta_t1"] = dict(places["t1ce"])

    def delta_sample(n):
        a, b = _sample(t1ce, n), _sample(t1, n)
        return a - b, (a != 0) | (b != 0)

    cut = _cut_for(delta_sample, s, case.case_id, "delta_t1", case.volumes["t1ce"].path)
    a, b = _crop(to_frames(t1ce), p, s.n_frames), _crop(to_frames(t1), p, s.n_frames)
    clips["delta_t1"] = _finish_clip(a - b, (a != 0) | (b != 0), cut, s)
    seg_place = [p for p in places.values() if p["source"] == "seg" and not p["fits"]]
    if seg_place:
        e = seg_place[0]["extent"]
        msg = (f"tumour is {e['row_max'] - e['row_min'] + 1}x{e['col_max'] - e['col_min'] + 1} voxels, larger "
               f"than the {s.box_size}x{s.box_size} box; rule {seg_place[0]['rule']}")
        notes.append(msg)
        warnings.warn(f"case {case.case_id}: {msg}", stacklevel=2)
    meta = _meta(case, places, s, how, notes)
    return CaseClips(case.case_id, {m: clips[m] for m in MODALITIES}, meta, case.label)


def _meta(case: Case, places: dict, s: ClipSettings, how: dict, notes: list) -> dict:
    per = {m: {k: v for k, v in p.items()} | {"grid_shape": list(case.volumes.get(m, case.volumes["t1ce"]).shape)}
           for m, p in places.items()}
    first = places["t1ce"]
    shared = all(p["row0"] == first["row0"] and p["col0"] == first["col0"] and
                 p["slice_start"] == first["slice_start"] for p in places.values())
    return {
        "case_id": case.case_id,
        "layout": case.ref.layout,
        "label": case.label,
        "box_source": sorted({p["source"] for p in places.values()}),
        "box": [first["row0"], first["col0"], first["side"]] if shared else None,
        "frames": [first["slice_start"], first["slice_stop"]] if shared else None,
        "tumour": first["extent"] if first["source"] == "seg" else None,
        "tumour_fits": first["fits"] if first["source"] == "seg" else None,
        "clips": per,
        "delta_t1": how,
        "notes": notes,
        "settings": s.as_dict(),
    }


def stack(case_clips: CaseClips) -> np.ndarray:
    """The clips as one uint8 ``(5, n_frames, box, box)`` array in :data:`mgmtfeat.MODALITIES` order."""
    missing = [m for m in MODALITIES if m not in case_clips.clips]
    if missing:
        raise ValueError(f"case {case_clips.case_id} lacks clip(s) {missing}; expected {MODALITIES}")
    return np.stack([case_clips.clips[m] for m in MODALITIES])


# ----------------------------------------------------------------------------- files

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
            clips = {m: data[m] for m in MODALITIES}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"clip file {path} is unreadable or incomplete ({exc}); "
                         "re-run make_clips with --force") from None
    for m, clip in clips.items():
        if clip.dtype != np.uint8 or clip.ndim != 3:
            raise ValueError(f"clip file {path}: {m} is {clip.dtype} {clip.shape}, expected uint8 (frames, h, w)")
    return CaseClips(meta.get("case_id", path.stem), clips, meta, meta.get("label"))
