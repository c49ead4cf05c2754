"""Step 4, handcrafted radiomics features (pyradiomics): the baseline for the video-network features.

A step beside :mod:`mgmtfeat.backbones`: it turns a case's volumes and tumour mask into one
fixed-length vector per input, where a backbone turns clips into logits.
"""

from mgmtfeat.radiomics.features import (
    DEFAULT_PARAMS,
    RadiomicsSettings,
    box_mask,
    feature_names,
    radiomics_features,
)

__all__ = ["DEFAULT_PARAMS", "RadiomicsSettings", "box_mask", "feature_names", "radiomics_features"]
