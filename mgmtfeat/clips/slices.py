"""The slice pathway's input: the ROI's axial slices as three-channel images (Shin et al., AJNR 2021).

Each axial slice of the region of interest becomes one image whose three channels are frames of
three of the case's clips at that slice (default T1wCE, T2, T2, as in Shin et al.). The clips are
made exactly as for the video networks (:func:`~mgmtfeat.clips.make.make_clips`: box, percentile
scaling), so the in-plane ROI is the clip box and both pathways see the same pixels.

Which slices
    The slices of the box's extent (:class:`~mgmtfeat.clips.placement.Placement`): with a
    segmentation, every slice from the tumour's first to its last; in whole-brain or brain mode,
    every slice of the brain; with a user box (no extent), ``n_slices`` is required. ``n_slices``
    keeps that many consecutive slices centred on the extent's centre; a ROI with fewer is refused
    (the case is recorded as failed, not padded: a padded slice is not a patient's slice). Slices
    that are blank in every channel (zero padding outside the volume) are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mgmtfeat import MODALITIES
from mgmtfeat.clips.make import CaseClips
from mgmtfeat.clips.placement import Placement
from mgmtfeat.data.errors import CaseError

__all__ = ["SliceSettings", "DEFAULT_CHANNELS", "roi_slices"]

#: Shin et al.'s channels: post-contrast T1 and T2 twice (ImageNet networks take three channels).
DEFAULT_CHANNELS = ("t1ce", "t2", "t2")


@dataclass(frozen=True)
class SliceSettings:
    """Which slices of a case's clips become images, and their channels.

    Attributes
    ----------
    channels : tuple of three str
        Clip names (:data:`mgmtfeat.MODALITIES`) giving the red, green and blue channels.
    n_slices : int or None
        Consecutive slices per case centred on the ROI; None: every slice of the ROI.
    """

    channels: tuple[str, ...] = DEFAULT_CHANNELS
    n_slices: int | None = None

    def __post_init__(self):
        channels = tuple(self.channels)
        object.__setattr__(self, "channels", channels)
        unknown = [c for c in channels if c not in MODALITIES]
        if unknown:
            raise ValueError(f"--channels: unknown modality {', '.join(map(repr, unknown))}; choose three of "
                             f"{', '.join(MODALITIES)} (e.g. t1ce,t2,t2)")
        if len(channels) != 3:
            raise ValueError(f"--channels {','.join(channels)}: give exactly three modalities (the image networks "
                             "take red, green and blue), repeating one if needed, e.g. t1ce,t2,t2")
        if self.n_slices is not None and (not isinstance(self.n_slices, (int, np.integer)) or self.n_slices < 1):
            raise ValueError(f"--slices {self.n_slices!r}: give a positive number of slices per case")

    def as_dict(self) -> dict:
        """JSON-able form, recorded in the store's provenance."""
        return {"channels": list(self.channels), "n_slices": self.n_slices}


def _roi_range(case_clips: CaseClips, placement: Placement, n_slices: int | None) -> range:
    """Canonical slice indices of the ROI (before dropping blank slices)."""
    extent = placement.extent
    if extent is None and n_slices is None:
        raise CaseError(case_clips.case_id, None,
                        "a user box gives no slice range for the slice pathway; pass --slices N (slices centred on "
                        "the box's slice) or give the case a segmentation")
    first, last = (extent.slice_min, extent.slice_max) if extent is not None else \
        ((placement.slice_start + placement.slice_stop) // 2,) * 2
    if n_slices is None:
        return range(first, last + 1)
    available = last - first + 1
    if extent is not None and available < n_slices:
        raise CaseError(case_clips.case_id, None,
                        f"the ROI spans {available} slices ({first}-{last}), fewer than --slices {n_slices}; lower "
                        "--slices or leave it out to take every slice of the ROI")
    start = (first + last + 1) // 2 - n_slices // 2
    return range(start, start + n_slices)


def roi_slices(case_clips: CaseClips, settings: SliceSettings = SliceSettings()) -> tuple[np.ndarray, np.ndarray]:
    """The ROI's slices of one case as three-channel images.

    Parameters
    ----------
    case_clips : CaseClips
        The case's clips (:func:`~mgmtfeat.clips.make.make_clips`), cut on one grid.
    settings : SliceSettings

    Returns
    -------
    images : np.ndarray of uint8, shape (n_slices, 3, box, box)
        Channels in ``settings.channels`` order.
    slice_index : np.ndarray of int64, shape (n_slices,)
        Canonical (RAS+, inferior to superior) slice index of each image.

    Raises
    ------
    CaseError
        Clips placed on different grids, a ROI shorter than ``n_slices``, a user box without
        ``n_slices``, or no non-blank slice left.
    """
    meta = case_clips.meta
    if meta.get("frames") is None:
        raise CaseError(case_clips.case_id, None,
                        "the clips were placed on different grids, so their frames are not the same slices; the "
                        "slice pathway needs the series on one grid (resample them, or use the clip pathway)")
    placement = Placement.from_dict(meta["clips"]["t1ce"])
    wanted = np.asarray(_roi_range(case_clips, placement, settings.n_slices), np.int64)
    in_clip = wanted[(wanted >= placement.slice_start) & (wanted < placement.slice_stop)]
    if settings.n_slices is not None and len(in_clip) < settings.n_slices:
        raise CaseError(case_clips.case_id, None,
                        f"only {len(in_clip)} of the {settings.n_slices} requested slices lie in the clip's "
                        f"{placement.slice_stop - placement.slice_start} frames; lower --slices")
    frames = in_clip - placement.slice_start
    images = np.stack([case_clips.clips[c][frames] for c in settings.channels], axis=1)
    keep = images.reshape(len(images), -1).any(axis=1)
    if settings.n_slices is not None and not keep.all():
        raise CaseError(case_clips.case_id, None,
                        f"{int((~keep).sum())} of the {settings.n_slices} requested slices are blank (outside the "
                        "volume); lower --slices")
    if not keep.any():
        raise CaseError(case_clips.case_id, None,
                        f"no slice of the ROI ({wanted[0]}-{wanted[-1]}) holds image data in channels "
                        f"{','.join(settings.channels)}; check the case's volumes and segmentation")
    return np.ascontiguousarray(images[keep]), in_clip[keep]

