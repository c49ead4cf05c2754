"""Occlusion saliency of one clip: mask patches, score the masked clips, map the drops onto the MRI.

Patches
    Square ``patch`` x ``patch`` windows of the clip's box, every ``stride`` pixels in-plane (the
    last window is moved in to end on the box's edge, so the whole box is covered). By default a
    patch runs through all the clip's frames (a tube): one network forward per position. The
    defaults (patch 32, stride 16 on a 128 box) give 49 positions, each voxel averaged over up to
    four patches: 49 s for a case with I3D on two CPU cores, measured (``benchmarks/bench_slices.py``;
    stride 32: 16 positions, about a third of that). ``frame_patch`` > 0 also cuts the frames into blocks (3D patches): finer along
    the slice axis, but ``ceil(n_frames / frame_patch)`` times the forwards. With tubes the map cannot say which
    slice of the clip's range mattered; it is constant along the slices the tube covers.
Fill
    ``"mean"`` (default): the masked voxels take the clip's mean grey value, so a patch removes
    structure without making the clip darker overall (a black hole on a bright brain is itself an
    edge the network may react to); ``"zero"``: black, as the zero padding outside the brain.
Drop
    ``p(clip) - p(masked clip)``: positive where masking lowers the probability of the positive
    class (the region supports it), negative where masking raises it.
Back onto the MRI
    A clip pixel ``(frame k, row i, col j)`` comes from the canonical slice ``slice_start + k`` and,
    in frame coordinates, rows ``row0 + i * side / box`` and columns ``col0 + j * side / box`` of
    its :class:`~mgmtfeat.clips.placement.Placement` (``side`` = ``box`` unless the box was resampled:
    whole-brain mode, resized tumour). Each patch's drop is put into the voxels its box covered
    and overlapping patches are averaged; voxels no patch covered (outside the box or the frame
    range, or padding) are 0. The network's own frame sampling picks some clip frames; a 3D patch
    that covers none of them has a drop of exactly 0, which is what the network saw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from mgmtfeat.clips.placement import Placement

__all__ = ["FILLS", "CaseSaliency", "OcclusionSettings", "PatchBox", "patch_boxes", "occlude", "occlusion_drops",
           "to_volume"]

FILLS = ("mean", "zero")


@dataclass(frozen=True)
class OcclusionSettings:
    """How a clip is occluded (see the module docstring).

    Attributes
    ----------
    patch, stride : int
        In-plane side of the patch and step between patches, in box pixels.
    frame_patch : int
        Frames per patch along the clip; 0 = all frames (tubes).
    fill : {"mean", "zero"}
        Value of the masked voxels.
    batch : int
        Masked clips per network forward; 0 = all positions of a case in one batch.
    """

    patch: int = 32
    stride: int = 16
    frame_patch: int = 0
    fill: str = "mean"
    batch: int = 16  # about 2.5 GB of activations with I3D; all 49 default positions at once would be about 7.5 GB

    def __post_init__(self):
        for name in ("patch", "stride"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"--{name} {value!r}: must be a positive integer (box pixels)")
        for name in ("frame_patch", "batch"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"--{name.replace('_', '-')} {value!r}: must be an integer >= 0 (0 = all)")
        if self.fill not in FILLS:
            raise ValueError(f"--fill {self.fill!r}: choose from {', '.join(FILLS)}")


@dataclass(frozen=True)
class PatchBox:
    """One patch in clip coordinates, half-open: frames ``[f0, f1)``, rows ``[r0, r1)``, columns ``[c0, c1)``."""

    f0: int
    f1: int
    r0: int
    r1: int
    c0: int
    c1: int


def _starts(length: int, window: int, step: int) -> list[int]:
    """Window starts every ``step`` that cover ``[0, length)``; the last one ends on the edge."""
    if window >= length:
        return [0]
    starts = list(range(0, length - window + 1, step))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


def patch_boxes(n_frames: int, box_size: int, s: OcclusionSettings) -> list[PatchBox]:
    """The patches of a ``(n_frames, box_size, box_size)`` clip, frames outermost then rows, columns."""
    if s.patch > box_size:
        raise ValueError(f"--patch {s.patch} is larger than the {box_size}x{box_size} box; choose <= {box_size}")
    depth = s.frame_patch or n_frames
    spots = _starts(box_size, s.patch, s.stride)
    return [PatchBox(f, min(f + depth, n_frames), r, r + s.patch, c, c + s.patch)
            for f in range(0, n_frames, depth) for r in spots for c in spots]


def occlude(clip: np.ndarray, boxes: list[PatchBox], fill: str = "mean") -> np.ndarray:
    """Copies of a uint8 ``(F, H, W)`` clip, one per box with the box masked -> ``(len(boxes), F, H, W)``."""
    value = np.uint8(round(float(clip.mean()))) if fill == "mean" else np.uint8(0)
    out = np.repeat(clip[None], len(boxes), axis=0)
    for k, b in enumerate(boxes):
        out[k, b.f0:b.f1, b.r0:b.r1, b.c0:b.c1] = value
    return out


def occlusion_drops(clip: np.ndarray, score: Callable[[np.ndarray], np.ndarray], s: OcclusionSettings,
                    p0: float | None = None) -> tuple[float, np.ndarray, list[PatchBox]]:
    """Score a clip and each of its occluded copies.

    Parameters
    ----------
    clip : np.ndarray of uint8, shape (F, H, W)
    score : callable
        uint8 clips ``(n, F, H, W)`` -> probabilities of the positive class ``(n,)``.
    s : OcclusionSettings
    p0 : float, optional
        The unmasked clip's probability when already known (saves a forward).

    Returns
    -------
    p0 : float
        Probability of the unmasked clip.
    drops : np.ndarray of float32, shape (n_patches,)
        ``p0`` minus the probability with each patch masked.
    boxes : list of PatchBox
    """
    boxes = patch_boxes(clip.shape[0], clip.shape[1], s)
    if p0 is None:
        p0 = float(np.asarray(score(clip[None]))[0])
    step = s.batch or len(boxes)
    probs = []
    for start in range(0, len(boxes), step):  # masked copies are made per batch to bound memory
        chunk = boxes[start:start + step]
        probs.append(np.asarray(score(occlude(clip, chunk, s.fill)), np.float64))
    return p0, (p0 - np.concatenate(probs)).astype(np.float32), boxes


def _span(start: int, stop: int, origin: int, scale: float, limit: int) -> tuple[int, int]:
    """Voxel range ``[a, b)`` of clip pixels ``[start, stop)``, clipped to ``[0, limit)``."""
    a = origin + math.floor(start * scale + 1e-9)
    b = origin + math.ceil(stop * scale - 1e-9)
    return max(a, 0), min(max(b, a + 1), limit)


def to_volume(values: np.ndarray, boxes: list[PatchBox], placement: Placement, box_size: int,
              grid_shape: tuple[int, int, int]) -> np.ndarray:
    """Average each patch's value into the voxels its box covered.

    Parameters
    ----------
    values : np.ndarray, shape (n_patches,)
    boxes : list of PatchBox
        Clip coordinates of each value.
    placement : Placement
        Where the clip was cut from the volume.
    box_size : int
        Side of the clip's frames.
    grid_shape : tuple of int
        ``(X, Y, Z)`` of the volume the clip was cut from.

    Returns
    -------
    np.ndarray of float32, shape grid_shape
        Canonical ``(X, Y, Z)`` voxels; 0 where no patch reached.
    """
    nx, ny, nz = grid_shape
    total = np.zeros((nz, ny, nx), np.float64)  # frame coordinates (slices, rows, columns)
    count = np.zeros((nz, ny, nx), np.int32)
    scale = placement.side / box_size  # box pixel -> frame pixel (1 unless resampled)
    for value, b in zip(np.asarray(values, np.float64), boxes):
        z0, z1 = max(placement.slice_start + b.f0, 0), min(placement.slice_start + b.f1, nz)
        r0, r1 = _span(b.r0, b.r1, placement.row0, scale, ny)
        c0, c1 = _span(b.c0, b.c1, placement.col0, scale, nx)
        if z1 <= z0 or r1 <= r0 or c1 <= c0:  # the patch lies in the clip's zero padding
            continue
        total[z0:z1, r0:r1, c0:c1] += value
        count[z0:z1, r0:r1, c0:c1] += 1
    frames = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    # inverse of clips.make.to_frames: frame[z, r, c] = volume[X - 1 - c, Y - 1 - r, z]
    return np.ascontiguousarray(frames.transpose(2, 1, 0)[::-1, ::-1, :], dtype=np.float32)


@dataclass(eq=False)
class CaseSaliency:
    """The occlusion map of one case.

    Attributes
    ----------
    case_id, modality : str
    p0 : float
        The model's probability of the positive class without occlusion.
    drops : np.ndarray of float32, shape (n_patches,)
        ``p0`` minus the probability with each patch masked.
    boxes : list of PatchBox
    placement : Placement
        Where the occluded clip was cut.
    saliency : np.ndarray of float32, shape (X, Y, Z)
        The drops on the occluded series' grid.
    affine : np.ndarray, shape (4, 4)
    seconds : float
    """

    case_id: str
    modality: str
    p0: float
    drops: np.ndarray
    boxes: list[PatchBox]
    placement: Placement
    saliency: np.ndarray
    affine: np.ndarray
    seconds: float
