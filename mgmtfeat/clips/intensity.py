"""Intensity: each volume scaled linearly to uint8 between two percentiles of its brain voxels.

Each volume is scaled linearly so that its 1st and 99th percentiles over brain voxels
(non-zero voxels: the public data are skull-stripped with a zero background) become 0
and 255, clipped, rounded to uint8; voxels outside the brain stay 0. Percentiles are
estimated on a regular subsample of at most ``percentile_sample`` voxels (0: all
voxels), which keeps a BraTS-size case fast.
"""

from __future__ import annotations

import numpy as np

from mgmtfeat.clips.settings import ClipSettings
from mgmtfeat.data.errors import CaseError

__all__ = ["percentile_cut", "sample_voxels", "scale_to_uint8"]


def sample_voxels(data: np.ndarray, n: int) -> np.ndarray:
    """A regular subsample of about ``n`` voxels (all voxels when n == 0)."""
    flat = np.ravel(data, order="K")  # a view for C- or F-contiguous volumes
    if n == 0 or flat.size <= n:
        return flat
    return flat[:: flat.size // n]


def _percentiles(values: np.ndarray, mask: np.ndarray, s: ClipSettings, case_id: str, what: str,
                 path) -> tuple[float, float] | None:
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


def percentile_cut(sample_fn, s: ClipSettings, case_id: str, what: str, path) -> tuple[float, float]:
    """The ``s.percentiles`` of the brain voxels, from ``sample_fn(n) -> (values, brain_mask)``.

    ``sample_fn(n)`` returns about ``n`` voxels (all when ``n == 0``) and their brain mask, both
    1-D; the sample is retried on all voxels when it holds too few brain voxels.

    Parameters
    ----------
    sample_fn : callable
        ``sample_fn(n) -> (values, brain)``: float32 ``(m,)`` voxels and bool ``(m,)`` mask.
    s : ClipSettings
        ``percentiles`` and ``percentile_sample``.
    case_id, what, path
        The case, the volume's name and its file, for error messages.

    Returns
    -------
    tuple of float
        ``(lo, hi)`` for :func:`scale_to_uint8`.

    Raises
    ------
    CaseError
        No brain voxel, or no contrast (both percentiles equal).
    """
    cut = _percentiles(*sample_fn(s.percentile_sample), s, case_id, what, path)
    if cut is None:
        cut = _percentiles(*sample_fn(0), s, case_id, what, path)
    return cut
