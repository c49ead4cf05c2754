"""Step 5, dataset -> clips -> backbone -> feature store, resumable, in-process or on a cluster.

>>> from mgmtfeat.extraction import ExtractionSettings, extract_features
>>> report = extract_features(ExtractionSettings(data="data/brats", out="features/brats", net="i3d"))
"""

from mgmtfeat.extraction.run import ExtractionReport, ExtractionSettings, case_features, extract_features

__all__ = ["ExtractionReport", "ExtractionSettings", "case_features", "extract_features"]
