"""Step 6, dataset -> clips -> backbone -> feature store, resumable, in-process or on a cluster.

>>> from mgmtfeat.extraction import ExtractionSettings, extract_features
>>> report = extract_features(ExtractionSettings(data="data/brats", out="features/brats", net="i3d"))

The slice pathway (2D networks, one embedding per ROI slice) is :func:`mgmtfeat.extraction.slices.extract_slices`;
the handcrafted baseline :func:`mgmtfeat.extraction.radiomics.extract_radiomics`.
"""

from mgmtfeat.extraction.run import ExtractionReport, ExtractionSettings, case_features, extract_features

__all__ = ["ExtractionReport", "ExtractionSettings", "case_features", "extract_features"]
