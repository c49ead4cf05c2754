"""``predict --scale cohort-minmax``: the per-cohort min-max scaling of the paper's published features.

The published ViViT features were min-max scaled to [0, 1] per feature over the authors' own
cohort; a model fitted on them expects features on that scale, which raw logits extracted from a
new cohort are not. ``cohort-minmax`` applies the same operation to the cases being predicted:
each feature (column of the fused inputs) is mapped to ``(x - min) / (max - min)`` with the minimum
and maximum taken over those cases (a feature constant over them becomes 0).

This is transductive: a case's scaled features, and so its prediction, depend on the other
cases predicted with it, and on how many there are. It is meaningless for a single patient (every
feature becomes 0) and unstable for a handful; it is the paper's external-validation protocol,
not a way to score one new patient. The scaling used (method, number of cases, each feature's
minimum and maximum) is written beside the predictions.

A model is held to be fitted on min-max scaled features when a net's provenance says so: a
``scaling`` entry naming min-max, or (the published import) a ``preprocessing`` text saying
"min-max scaled".
"""

from __future__ import annotations

import dataclasses
import re
from typing import Mapping

import numpy as np

from mgmtfeat.bundle.record import BundleError, ModelRecord

__all__ = ["SCALES", "SCALING_KEY", "minmax_scaled", "expected_provenance", "check_scaling", "cohort_minmax"]

#: Choices of ``predict --scale``.
SCALES = ("none", "cohort-minmax")
#: Provenance entry that records a scaling of the stored features.
SCALING_KEY = "scaling"
_MINMAX = re.compile(r"min[\s_-]*max", re.IGNORECASE)
_FIX = ("pass --scale cohort-minmax to scale them the same way over the cases predicted (transductive: each "
        "case's features depend on the whole cohort's range; meaningless for a single patient)")


def minmax_scaled(provenance: Mapping) -> bool:
    """Whether a net's provenance records features min-max scaled per feature over their cohort."""
    scaling = provenance.get(SCALING_KEY)
    text = scaling.get("method", "") if isinstance(scaling, Mapping) else scaling
    return bool(_MINMAX.search(str(text or ""))) or "min-max scaled" in str(provenance.get("preprocessing", ""))


def expected_provenance(record: ModelRecord, scale: str) -> ModelRecord:
    """``record`` whose nets' provenance lacks the scaling entry when ``scale`` reproduces it here (with the
    store's digest of the record recomputed without it)."""
    from mgmtfeat.store.integrity import settings_digest

    if scale == "none":
        return record
    provenance = {}
    for net, prov in record.provenance.items():
        kept = {k: v for k, v in prov.items() if k != SCALING_KEY}
        if "settings_digest" in prov:
            kept["settings_digest"] = settings_digest(kept)
        provenance[net] = kept
    return dataclasses.replace(record, features={**record.features, "provenance": provenance})


def check_scaling(record: ModelRecord, store, scale: str) -> None:
    """Refuse features on another scale than the model's, naming the fix.

    Raises
    ------
    BundleError
        A model fitted on min-max scaled features given unscaled ones without ``--scale
        cohort-minmax``; ``--scale cohort-minmax`` for a model fitted on unscaled features, or on
        features that are already scaled.
    ValueError
        An unknown ``scale``.
    """
    if scale not in SCALES:
        raise ValueError(f"--scale {scale!r}: choose from {', '.join(SCALES)}")
    model = [net for net, prov in record.provenance.items() if minmax_scaled(prov)]
    stored = [net for net in record.nets if net in store.nets() and minmax_scaled(store.provenance(net))]
    if model and scale == "none" and not stored:
        raise BundleError(f"the model was fitted on features min-max scaled per feature over their cohort (net "
                          f"{', '.join(model)}); the features in {store.root} are unscaled logits; {_FIX}.")
    if scale != "none" and not model:
        raise BundleError(f"--scale {scale}: the model was fitted on unscaled features (no net of model.json "
                          "records a min-max scaling); drop --scale.")
    if scale != "none" and stored:
        raise BundleError(f"--scale {scale}: the features of net {', '.join(stored)} in {store.root} are already "
                          "min-max scaled; drop --scale.")


def cohort_minmax(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min-max scale each column over the rows (the cases predicted together).

    Parameters
    ----------
    X : numpy.ndarray, shape (n_cases, n_features)

    Returns
    -------
    scaled : numpy.ndarray, shape (n_cases, n_features)
        In [0, 1], float32 like the stored features; 0 for a column constant over the cases.
    low, high : numpy.ndarray, shape (n_features,)
        Each column's minimum and maximum.

    Raises
    ------
    ValueError
        Fewer than two cases: their range is no range.
    """
    if X.shape[0] < 2:
        raise ValueError(f"--scale cohort-minmax needs at least two cases (got {X.shape[0]}): it maps each feature's "
                         "range over the predicted cohort to [0, 1], which one case does not have; predict the "
                         "case together with its cohort")
    low, high = X.min(axis=0), X.max(axis=0)
    span = high - low
    scaled = np.divide(X - low, span, out=np.zeros_like(X, dtype=np.float64), where=span > 0)
    return scaled.astype(np.float32), low, high


def apply_scale(X: np.ndarray, scale: str, inputs, out) -> tuple[np.ndarray, dict]:
    """``(features to predict, the scaling's record)``; ``cohort-minmax`` also writes ``OUT/scaling.csv``.

    Parameters
    ----------
    X : numpy.ndarray, shape (n_cases, n_features)
        The fused inputs, ``len(inputs)`` blocks of equal or recorded sizes.
    inputs : sequence of str
        Input names (``net:modality``), for the table's ``input`` column.
    out : Path
        Output folder (made if absent).
    """
    if scale == "none":
        return X, {"method": "none"}
    import pandas as pd

    from mgmtfeat._io import atomic_write_text

    scaled, low, high = cohort_minmax(X)
    per_input = X.shape[1] // max(len(inputs), 1)
    names = [f"{name}:{k}" for name in inputs for k in range(per_input)]
    table = pd.DataFrame({"feature": names if len(names) == X.shape[1] else range(X.shape[1]),
                          "min": low, "max": high})
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "scaling.csv", table.to_csv(index=False))
    return scaled, {"method": scale, "n_cases": int(X.shape[0]), "per_feature": "scaling.csv",
                    "transductive": True, "note": "each feature mapped to [0, 1] over the cases predicted together "
                    "(the published features' scaling); a case's prediction depends on the other cases"}
