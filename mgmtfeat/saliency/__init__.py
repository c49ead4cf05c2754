"""Step 11, saliency: which part of a clip a fitted model's probability depends on (occlusion maps).

Comes after the model folders (:mod:`mgmtfeat.bundle`): it rebuilds the backbone a model folder
records, occludes one modality's clip patch by patch and maps the drop in the probability of the
positive class back onto the MRI (a NIfTI on the input's grid and PNG overlays).

>>> from mgmtfeat.saliency import OcclusionSettings, run_saliency
"""

from mgmtfeat.saliency.occlusion import OcclusionSettings, occlusion_drops, patch_boxes, to_volume
from mgmtfeat.saliency.run import CaseSaliency, SaliencyError, case_saliency, run_saliency

__all__ = ["CaseSaliency", "OcclusionSettings", "SaliencyError", "case_saliency", "occlusion_drops", "patch_boxes",
           "run_saliency", "to_volume"]
