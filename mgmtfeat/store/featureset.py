"""Feature sets (what a classifier takes) and the checks every stored feature vector and label passes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mgmtfeat import N_FEATURES
from mgmtfeat.store.errors import StoreError

__all__ = ["FeatureSet", "check_vector", "check_label", "STORE_CLASSES", "NO_LABEL"]

#: The classes a store's own labels take: MGMT unmethylated (0) and methylated (1). Other tasks (tumour
#: type, subtype, ...) give their labels in a CSV (``--labels FILE --label-column COLUMN``), not in the store.
STORE_CLASSES = (0, 1)
#: The label an entry without one holds.
NO_LABEL = -1


def check_vector(values, *, where: str, size: int = N_FEATURES) -> np.ndarray:
    """Return ``values`` as a float32 vector of ``size`` finite values, or raise naming ``where``.

    ``size`` is the net's feature count, recorded in its provenance (``n_features``; 400, the
    Kinetics-400 outputs, for the video nets and for stores made before it was recorded).
    """
    vector = np.asarray(values, dtype=np.float32)
    if vector.shape != (size,):
        raise StoreError(
            f"{where}: expected {size} feature values (the net's n_features), got shape {vector.shape}; "
            "re-extract this case with the settings of the net's provenance.json."
        )
    if not np.all(np.isfinite(vector)):
        bad = int(np.sum(~np.isfinite(vector)))
        raise StoreError(f"{where}: {bad} NaN or infinite values; re-extract this case.")
    return vector


def check_label(label, *, where: str, fix: str, stored: bool = False) -> int:
    """Return ``label`` as an int of :data:`STORE_CLASSES`, or raise naming ``where``, the value and ``fix``.

    The same check runs when an entry is written and when it is read (``stored``: the entry's raw
    ``label`` array, where :data:`NO_LABEL` means unlabelled), so a label written by hand or by another
    tool, a non-integer (0.7) or one outside the store's classes (2), is refused instead of being
    truncated to 0 or turning a binary store into a silent three-class task.
    """
    value = np.asarray(label)
    allowed = (NO_LABEL, *STORE_CLASSES) if stored else STORE_CLASSES
    shown = value.item() if value.shape == () else value.tolist()
    if value.shape == () and value.dtype.kind in "iubf" and shown in allowed:
        return int(shown)
    if value.shape == () and value.dtype.kind == "f" and np.isfinite(shown) and not float(shown).is_integer():
        what = "is not an integer: a store's labels are 0 or 1"
    else:
        what = "is not 0 or 1, the store's classes"
    raise StoreError(f"{where}: label {shown!r} {what} (MGMT unmethylated / methylated"
                     f"{'; -1 marks a case without one' if stored else ''}). {fix}")


@dataclass(frozen=True)
class FeatureSet:
    """Features of labelled cases, ready for a classifier.

    Inputs may have different lengths (e.g. 400 I3D logits and 107 radiomics features); the
    features are kept as the concatenation ``X2d`` and ``sizes`` says where each input lies.

    Attributes
    ----------
    values : np.ndarray, float32, shape (n_cases, n_inputs, size) or (n_cases, sum(sizes))
        3-D when every input has the same length, else the 2-D concatenation (then ``sizes`` is needed).
    y : np.ndarray, int64, shape (n_cases,)
        Labels, 0 or 1 (MGMT unmethylated / methylated).
    case_ids : tuple of str, length n_cases
        Sorted case ids, the row order of ``X`` and ``y``.
    inputs : tuple of str, length n_inputs
        ``"net:modality"`` names of the inputs, in column order.
    sizes : tuple of int, optional
        Features per input (default: ``values.shape[2]`` each, for 3-D values).
    """

    values: np.ndarray
    y: np.ndarray
    case_ids: tuple[str, ...]
    inputs: tuple[str, ...]
    sizes: tuple[int, ...] | None = None

    def __post_init__(self):
        if self.values.ndim == 3:
            sizes = (self.values.shape[2],) * self.values.shape[1]
            if self.sizes is not None and tuple(self.sizes) != sizes:
                raise ValueError(f"sizes {self.sizes} disagree with features of shape {self.values.shape}")
            values = self.values
        elif self.values.ndim == 2 and self.sizes is not None:
            sizes = tuple(int(s) for s in self.sizes)
            if sum(sizes) != self.values.shape[1] or len(sizes) != len(self.inputs):
                raise ValueError(f"sizes {sizes} do not split {self.values.shape[1]} columns into "
                                 f"{len(self.inputs)} inputs")
            # one length after all: keep the 3-D layout the video-net code expects
            values = self.values.reshape(len(self.values), len(sizes), sizes[0]) if len(set(sizes)) == 1 else self.values
        else:
            raise ValueError("FeatureSet needs 3-D values, or 2-D values with per-input sizes")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "sizes", sizes)

    @property
    def uniform(self) -> bool:
        """Whether every input has the same number of features (``X`` is then available)."""
        return len(set(self.sizes)) <= 1

    @property
    def X(self) -> np.ndarray:
        """Features as shape (n_cases, n_inputs, size), only when every input has the same length."""
        if not self.uniform:
            lengths = ", ".join(f"{name} {size}" for name, size in zip(self.inputs, self.sizes))
            raise StoreError(f"the inputs have different lengths ({lengths}), so there is no 3-D X; use X2d "
                             "(the concatenation, with sizes) or column(name) for one input")
        return self.values

    @property
    def X2d(self) -> np.ndarray:
        """The inputs concatenated, shape (n_cases, sum(sizes)), as the estimators take them."""
        return self.values.reshape(len(self.values), -1)

    def _bounds(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)

    def column(self, name: str) -> np.ndarray:
        """The features of one input (``"net:modality"`` or a bare modality), shape (n_cases, its size)."""
        i = self._input_index(name)
        bounds = self._bounds()
        return self.X2d[:, bounds[i]: bounds[i + 1]]

    def select(self, inputs: Sequence[str]) -> "FeatureSet":
        """Keep only ``inputs`` (``"net:modality"`` or, for one net, bare modality names)."""
        index = [self._input_index(name) for name in inputs]
        names = tuple(self.inputs[i] for i in index)
        if self.uniform:
            return FeatureSet(self.values[:, index], self.y, self.case_ids, names)
        bounds = self._bounds()
        columns = np.concatenate([np.arange(bounds[i], bounds[i + 1]) for i in index])
        return FeatureSet(self.values[:, columns], self.y, self.case_ids, names, tuple(self.sizes[i] for i in index))

    def subset(self, rows: np.ndarray) -> "FeatureSet":
        """Keep the cases at positions ``rows``."""
        return FeatureSet(self.values[rows], self.y[rows], tuple(np.asarray(self.case_ids)[rows]), self.inputs,
                          self.sizes)

    def _input_index(self, name: str) -> int:
        matches = [i for i, full in enumerate(self.inputs) if full == name or full.split(":", 1)[1] == name]
        if len(matches) != 1:
            raise StoreError(
                f"input {name!r} {'is ambiguous' if matches else 'is not in this feature set'}; "
                f"available: {', '.join(self.inputs)}"
            )
        return matches[0]
