"""Step 5, the feature store: one file per (net, case), provenance, failures and saved folds; the published features.

>>> from mgmtfeat.store import FeatureStore
>>> data = FeatureStore("features/brats").load(["i3d"])   # X of shape (n_cases, n_inputs, n_features)

Per-slice embeddings of the slice pathway: :func:`mgmtfeat.store.slices.load_slices`.
"""

from mgmtfeat.store.store import FeatureSet, FeatureStore, StoreError, atomic_write_bytes, atomic_write_text

__all__ = ["FeatureSet", "FeatureStore", "StoreError", "atomic_write_bytes", "atomic_write_text"]
