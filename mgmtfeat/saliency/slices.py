"""Occlusion saliency of a slice model (the slice pathway): mask each ROI slice patch by patch.

For each ROI slice (:func:`~mgmtfeat.clips.slices.roi_slices`) the chosen modality's channel(s) of the
three-channel image are masked one in-plane patch at a time (the patch grid of
:func:`~mgmtfeat.saliency.occlusion.patch_boxes`; ``fill="mean"``: the slice's mean grey value of
that channel), the image network recomputes the slice's embedding and the model's fold models
their mean slice probability. A patch's drop is the slice's probability minus the masked one; it
lands on that slice's voxels under the patch (:func:`~mgmtfeat.saliency.occlusion.to_volume`), so the
map resolves the slice axis too. Cost: one 2D forward per (slice, patch position), batched.
"""

from __future__ import annotations

import time

import numpy as np

from mgmtfeat.bundle.record import ModelRecord
from mgmtfeat.clips import ClipSettings, make_clips
from mgmtfeat.clips.placement import Placement
from mgmtfeat.clips.slices import SliceSettings, roi_slices
from mgmtfeat.data.volumes import Case
from mgmtfeat.saliency.occlusion import CaseSaliency, OcclusionSettings, PatchBox, patch_boxes, to_volume

__all__ = ["slice_settings_of", "slice_case_saliency"]


def slice_settings_of(record: ModelRecord) -> SliceSettings:
    """The slice settings a slice model's features were made with (from its record's provenance)."""
    (provenance,) = record.provenance.values()
    values = provenance["slices"]
    return SliceSettings(channels=tuple(values["channels"]), n_slices=values["n_slices"])


def _masked_copies(image: np.ndarray, channels: np.ndarray, boxes: list[PatchBox], fill: str) -> np.ndarray:
    """Copies of a ``(3, H, W)`` uint8 image, one per box, with ``channels`` masked in the box."""
    out = np.repeat(image[None], len(boxes), axis=0)
    values = [np.uint8(round(float(image[c].mean()))) if fill == "mean" else np.uint8(0) for c in channels]
    for k, b in enumerate(boxes):
        for c, value in zip(channels, values):
            out[k, c, b.r0:b.r1, b.c0:b.c1] = value
    return out


def slice_case_saliency(case: Case, record: ModelRecord, estimators: list, backbone, modality: str,
                        clip_settings: ClipSettings, settings: OcclusionSettings = OcclusionSettings(), boxes=None):
    """Occlusion map of one case for a slice model (see the module docstring).

    Returns
    -------
    CaseSaliency
        ``p0`` is the mean over the ROI slices of the slice probability (the model's fold models
        averaged); ``drops`` has one value per (slice, patch), slices outermost.
    """
    start = time.perf_counter()
    slice_settings = slice_settings_of(record)
    channels = np.flatnonzero([c == modality for c in slice_settings.channels])
    case_clips = make_clips(case, clip_settings, boxes)
    images, slice_index = roi_slices(case_clips, slice_settings)

    def proba(batch: np.ndarray) -> np.ndarray:
        embeddings = backbone.extract(batch, return_embedding=True)
        return np.mean([e.predict_proba(embeddings)[:, 1] for e in estimators], axis=0)

    p = proba(images)  # (n_slices,)
    grid = patch_boxes(1, images.shape[-1], settings)
    placement = Placement.from_dict(case_clips.meta["clips"][modality])
    step = settings.batch or len(grid)
    drops, patch_list = [], []
    for k, image in enumerate(images):
        masked = _masked_copies(image, channels, grid, settings.fill)
        probs = np.concatenate([proba(masked[i:i + step]) for i in range(0, len(masked), step)])
        drops.append(p[k] - probs)
        frame = int(slice_index[k]) - placement.slice_start
        patch_list += [PatchBox(frame, frame + 1, b.r0, b.r1, b.c0, b.c1) for b in grid]
    drops = np.concatenate(drops).astype(np.float32)
    grid_volume = case.volumes["t1ce" if modality == "delta_t1" else modality]
    saliency = to_volume(drops, patch_list, placement, clip_settings.box_size, grid_volume.shape)
    return CaseSaliency(case.case_id, modality, float(p.mean()), drops, patch_list, placement, saliency,
                        grid_volume.affine, time.perf_counter() - start)
