"""Where a clip is cut: the tumour box and the frame range, as a frozen :class:`Placement`.

Coordinates are frame coordinates (see :mod:`mgmtfeat.clips.make`): rows anterior to
posterior, columns patient's right to left, slices the canonical Z index.

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
    :func:`~mgmtfeat.clips.settings.read_box_csv`), clamped into the image like the
    segmentation's box (rule ``user_corner_clamped``, with a note); a box that misses the
    image, or a slice outside the volume, refuses the case; ``"brain"``: a box and frames centred
    on the brain's extent (non-zero voxels) of each volume (a ``box_size`` window at full
    resolution, cut where the brain is larger); ``"whole-brain"`` (segmentation-free mode): the
    square over the brain's whole in-plane extent (its larger side, centred on the extent) cut
    and resampled to ``box_size`` (rule ``resized_brain_square``), frames centred on the brain's
    slice range by the same ``n_frames`` rule, so nothing of the brain is cut in-plane; ``"auto"``: the segmentation
    when present, else the CSV entry when given, else the brain. The source used is
    recorded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Mapping

import numpy as np

from mgmtfeat.clips.settings import BoxSpec, ClipSettings, box_for
from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.volumes import Case, Volume, same_grid

__all__ = ["Extent", "Placement", "crop", "extent_of", "place", "resize_frames"]


@dataclass(frozen=True)
class Extent:
    """Inclusive bounding box of a mask in frame coordinates."""

    row_min: int
    row_max: int
    col_min: int
    col_max: int
    slice_min: int
    slice_max: int

    @property
    def height(self) -> int:
        return self.row_max - self.row_min + 1

    @property
    def width(self) -> int:
        return self.col_max - self.col_min + 1

    @property
    def centre_slice(self) -> int:
        return (self.slice_min + self.slice_max) // 2

    def centred_corner(self, side: int) -> tuple[int, int]:
        """Upper-left corner of a ``side`` square centred on the extent (before clamping)."""
        return (self.row_min + self.row_max + 1) // 2 - side // 2, (self.col_min + self.col_max + 1) // 2 - side // 2


@dataclass(frozen=True)
class Placement:
    """Where one clip is cut from its volume's frames.

    Attributes
    ----------
    source : str
        ``seg``, ``csv``, ``brain_extent`` (``box="brain"``) or ``whole_brain``: what the box was placed on.
    rule : str
        ``paper_corner``, ``centred_on_tumour``, ``resized_tumour_square``, ``centred_on_extent``,
        ``resized_brain_square`` (whole brain resampled into the box),
        ``user_corner`` or ``user_corner_clamped`` (a user box partly outside the image, moved in).
    row0, col0 : int
        Upper-left corner of the box (after clamping; negative or beyond the image = zero padding).
    side : int
        Side of the square cut (``box_size``, or the tumour's square when resized to the box).
    slice_start, slice_stop : int
        Frame range ``[slice_start, slice_stop)`` in canonical slice indices (outside
        ``0..Z-1`` = zero padding).
    extent : Extent or None
        The tumour's (``seg``) or brain's (``brain_extent``, ``whole_brain``) extent; None for ``csv``.
    fits : bool or None
        Whether the extent fits in the box; None for ``csv``.
    """

    source: str
    rule: str
    row0: int
    col0: int
    side: int
    slice_start: int
    slice_stop: int
    extent: Extent | None
    fits: bool | None

    def as_dict(self) -> dict:
        """JSON-able form, the keys of the clip files' ``meta["clips"][modality]``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping) -> "Placement":
        """Inverse of :meth:`as_dict`; other keys (``grid_shape``) are ignored."""
        args = {f.name: values[f.name] for f in fields(cls)}
        if args["extent"] is not None:
            args["extent"] = Extent(**args["extent"])
        return cls(**args)


def extent_of(mask: np.ndarray) -> Extent | None:
    """Bounding box of a ``(X, Y, Z)`` mask in frame coordinates (inclusive), or None if empty."""
    xs = np.flatnonzero(mask.any(axis=(1, 2)))
    if xs.size == 0:
        return None
    ys = np.flatnonzero(mask.any(axis=(0, 2)))
    zs = np.flatnonzero(mask.any(axis=(0, 1)))
    nx, ny = mask.shape[:2]
    return Extent(int(ny - 1 - ys[-1]), int(ny - 1 - ys[0]), int(nx - 1 - xs[-1]), int(nx - 1 - xs[0]),
                  int(zs[0]), int(zs[-1]))


def _clamp(start: int, length: int, window: int) -> int:
    """Clamp a window start so the window stays in ``[0, length)`` (or covers it when longer)."""
    lo, hi = min(0, length - window), max(0, length - window)
    return int(min(max(start, lo), hi))


def _frame_start(centre: int, n_slices: int, n_frames: int) -> int:
    return _clamp(centre - n_frames // 2, n_slices, n_frames)


def _on_extent(extent: Extent, shape: tuple[int, int, int], s: ClipSettings, source: str,
               case_id: str, centre_box: bool) -> Placement:
    """Box corner, window side and slice range for one ``(X, Y, Z)`` grid."""
    nz, nrows, ncols = shape[2], shape[1], shape[0]
    b = s.box_size
    fits = extent.height <= b and extent.width <= b
    side, rule = b, "paper_corner"
    if centre_box:
        rule = "centred_on_extent"
        row0, col0 = extent.centred_corner(b)
    else:
        row0, col0 = extent.row_min, extent.col_min
    if source == "seg" and not fits:
        if s.large_tumour == "error":
            raise CaseError(case_id, None, f"tumour is {extent.height}x{extent.width} voxels, larger than the "
                            f"{b}x{b} box; choose large_tumour corner, centre or resize")
        if s.large_tumour == "centre":
            rule = "centred_on_tumour"
            row0, col0 = extent.centred_corner(b)
        elif s.large_tumour == "resize":
            rule, side = "resized_tumour_square", max(extent.height, extent.width)
    start = _frame_start(extent.centre_slice, nz, s.n_frames)
    return Placement(source, rule, _clamp(row0, nrows, side), _clamp(col0, ncols, side), side,
                     start, start + s.n_frames, extent, bool(fits))


def _on_seg(case: Case, vol: Volume, modality: str, s: ClipSettings, cache: dict) -> Placement:
    if not same_grid(case.seg, vol):
        raise CaseError(case.case_id, case.seg.path, f"segmentation grid {case.seg.shape} differs from the "
                        f"{modality} grid {vol.shape} (shape or affine); the box needs co-registered volumes")
    if "seg" not in cache:  # one pass over the segmentation per case, not per modality
        cache["seg"] = extent_of(case.seg.data > 0)
    extent = cache["seg"]
    if extent is None:
        raise CaseError(case.case_id, case.seg.path, "segmentation is empty (no tumour voxel); "
                        "use box='brain' or a box CSV")
    return _on_extent(extent, vol.shape, s, "seg", case.case_id, centre_box=False)


def _on_csv(vol: Volume, modality: str, spec: BoxSpec, s: ClipSettings, case_id: str,
            notes: list | None) -> Placement:
    """The user's box, checked against ``vol`` and clamped into it (see the module docstring)."""
    nrows, ncols, nz = vol.shape[1], vol.shape[0], vol.shape[2]
    b = s.box_size
    size = f"the {modality} image of {nrows} rows x {ncols} columns x {nz} slices (grid {tuple(vol.shape)})"
    # A box that misses the image would be cut as zeros and pass for a blank scan downstream.
    if not (-b < spec.row < nrows and -b < spec.col < ncols):
        raise CaseError(case_id, spec.file, f"{spec.describe()}: the {b}x{b} box spans rows {spec.row}.."
                        f"{spec.row + b - 1}, columns {spec.col}..{spec.col + b - 1} and misses {size}; give the "
                        f"upper-left corner in frame coordinates (rows 0..{nrows - 1} anterior to posterior, "
                        f"columns 0..{ncols - 1} patient's right to left) or remove the row to use the brain box")
    if spec.slice is not None and not 0 <= spec.slice < nz:
        raise CaseError(case_id, spec.file, f"{spec.describe()}: slice {spec.slice} is outside {size}; give a "
                        f"canonical slice index in 0..{nz - 1} or leave slice blank to centre on the brain")
    if spec.slice is not None:
        centre = spec.slice
    else:
        brain = extent_of(vol.data != 0)
        if brain is None:
            raise CaseError(case_id, vol.path, f"the {modality} image is all zeros, so the frames cannot be "
                            f"centred on the brain; check the file or give a slice in {spec.describe()}")
        centre = brain.centre_slice
    start = _frame_start(centre, nz, s.n_frames)
    # The paper's rule for the segmentation's box: stay in the image (or cover it when smaller).
    row0, col0 = _clamp(spec.row, nrows, b), _clamp(spec.col, ncols, b)
    rule = "user_corner"
    if (row0, col0) != (spec.row, spec.col):
        rule = "user_corner_clamped"
        if notes is not None:
            notes.append(f"{spec.describe()}: box partly outside the {nrows}x{ncols} image, clamped to "
                         f"row={row0}, col={col0}")
    return Placement("csv", rule, row0, col0, b, start, start + s.n_frames, None, None)


def place(case: Case, vol: Volume, modality: str, s: ClipSettings,
          boxes: Mapping[tuple[str, str | None], BoxSpec] | None, cache: dict,
          notes: list | None = None) -> Placement:
    """The placement of ``modality``'s clip by the rule ``s.box`` (see the module docstring).

    Parameters
    ----------
    case : Case
    vol : Volume
        ``case``'s ``modality`` volume.
    modality : str
    s : ClipSettings
    boxes : mapping, optional
        User boxes from :func:`~mgmtfeat.clips.settings.read_box_csv`.
    cache : dict
        Shared by the calls of one case (the segmentation's extent is computed once).
    notes : list, optional
        Receives a line when the placement departs from what was asked (a user box clamped
        into the image), for the clip's metadata.

    Raises
    ------
    CaseError
        No segmentation or box CSV row where the rule needs one, grids that differ, empty
        segmentation, tumour too large with ``large_tumour="error"``, a user box that misses
        the image or whose slice is outside the volume.
    """
    spec = box_for(boxes, case.case_id, modality)
    mode = s.box
    if mode == "auto":
        mode = "seg" if case.seg is not None else "csv" if spec is not None else "brain"
    if mode == "seg":
        if case.seg is None:
            raise CaseError(case.case_id, None, "tumour segmentation is absent but box='seg' requires it; "
                            "use box='brain' or a box CSV")
        return _on_seg(case, vol, modality, s, cache)
    if mode == "csv":
        if spec is None:
            raise CaseError(case.case_id, None, f"no row for this case ({modality}) in the box CSV; add "
                            "case_id,row,col or use box='brain'")
        return _on_csv(vol, modality, spec, s, case.case_id, notes)
    brain = extent_of(vol.data != 0)
    if brain is None:  # an all-zero series would otherwise give a box at the corner and a blank clip
        raise CaseError(case.case_id, vol.path, f"the {modality} image is all zeros, so there is no brain to "
                        "place the box on; check the file")
    if mode == "whole-brain":
        return _whole_brain(brain, vol.shape, s)
    return _on_extent(brain, vol.shape, s, "brain_extent", case.case_id, centre_box=True)


def _whole_brain(brain: Extent, shape: tuple[int, int, int], s: ClipSettings) -> Placement:
    """The square over the brain's in-plane extent (resampled to the box later), frames on its slices."""
    # A square (not the bounding rectangle) so the resampling keeps the voxels' aspect ratio.
    side = max(brain.height, brain.width)
    row0, col0 = brain.centred_corner(side)
    start = _frame_start(brain.centre_slice, shape[2], s.n_frames)
    return Placement("whole_brain", "resized_brain_square", _clamp(row0, shape[1], side),
                     _clamp(col0, shape[0], side), side, start, start + s.n_frames, brain, True)


def crop(frames: np.ndarray, p: Placement) -> np.ndarray:
    """Cut ``(n_frames, side, side)`` from ``(Z, rows, cols)`` frames, zero-padding outside."""
    side, r0, c0, z0 = p.side, p.row0, p.col0, p.slice_start
    n_frames = p.slice_stop - p.slice_start
    out = np.zeros((n_frames, side, side), dtype=frames.dtype)
    nz, nr, nc = frames.shape
    zs, ze = max(z0, 0), min(z0 + n_frames, nz)
    rs, re = max(r0, 0), min(r0 + side, nr)
    cs, ce = max(c0, 0), min(c0 + side, nc)
    if ze > zs and re > rs and ce > cs:
        out[zs - z0:ze - z0, rs - r0:re - r0, cs - c0:ce - c0] = frames[zs:ze, rs:re, cs:ce]
    return out


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """Resample ``(n, side, side)`` frames to float32 ``(n, size, size)`` (bilinear in-plane)."""
    from scipy.ndimage import zoom

    factor = size / frames.shape[1]
    out = zoom(frames.astype(np.float32), (1, factor, factor), order=1, grid_mode=True, mode="nearest")
    return out[:, :size, :size]
