"""Feature sets (what a classifier takes) and the check every stored feature vector passes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mgmtfeat import N_FEATURES
from mgmtfeat.store.errors import StoreError

__all__ = ["FeatureSet", "check_vector"]


def check_vector(values, *, where: str) -> np.ndarray:
    """Return ``values`` as a float32 vector of 400 finite values, or raise naming ``where``."""
    vector = np.asarray(values, dtype=np.float32)
    if vector.shape != (N_FEATURES,):
        raise StoreError(
            f"{where}: expected {N_FEATURES} feature values, got shape {vector.shape}; "
            "features must be the 400 Kinetics-400 outputs of one clip."
        )
    if not np.all(np.isfinite(vector)):
        bad = int(np.sum(~np.isfinite(vector)))
        raise StoreError(f"{where}: {bad} NaN or infinite values; re-extract this case.")
    return vector


@dataclass(frozen=True)
class FeatureSet:
    """Features of labelled cases, ready for a classifier.

    Attributes
    ----------
    X : np.ndarray, float32, shape (n_cases, n_inputs, 400)
        One row of 400 features per case and input.
    y : np.ndarray, int64, shape (n_cases,)
        Labels, 0 or 1 (MGMT unmethylated / methylated).
    case_ids : tuple of str, length n_cases
        Sorted case ids, the row order of ``X`` and ``y``.
    inputs : tuple of str, length n_inputs
        ``"net:modality"`` names of the inputs, the column order of ``X``.
    """

    X: np.ndarray
    y: np.ndarray
    case_ids: tuple[str, ...]
    inputs: tuple[str, ...]

    @property
    def X2d(self) -> np.ndarray:
        """``X`` flattened to shape (n_cases, n_inputs * 400), as the estimators take it."""
        return self.X.reshape(len(self.X), -1)

    def select(self, inputs: Sequence[str]) -> "FeatureSet":
        """Keep only ``inputs`` (``"net:modality"`` or, for one net, bare modality names)."""
        index = [self._input_index(name) for name in inputs]
        return FeatureSet(self.X[:, index], self.y, self.case_ids, tuple(self.inputs[i] for i in index))

    def subset(self, rows: np.ndarray) -> "FeatureSet":
        """Keep the cases at positions ``rows``."""
        return FeatureSet(self.X[rows], self.y[rows], tuple(np.asarray(self.case_ids)[rows]), self.inputs)

    def _input_index(self, name: str) -> int:
        matches = [i for i, full in enumerate(self.inputs) if full == name or full.split(":", 1)[1] == name]
        if len(matches) != 1:
            raise StoreError(
                f"input {name!r} {'is ambiguous' if matches else 'is not in this feature set'}; "
                f"available: {', '.join(self.inputs)}"
            )
        return matches[0]
