"""Combine the class probabilities of several fitted (fold) models into one prediction per case."""

from __future__ import annotations

import numpy as np

from mgmtfeat.models.persistence import ModelFileError

__all__ = ["ENSEMBLES", "bundle_proba"]

#: How :func:`bundle_proba` combines several models: mean probability or share of votes.
ENSEMBLES = ("mean", "vote")


def bundle_proba(n_classes: int, estimators: list, X: np.ndarray, ensemble: str = "mean",
                 threshold: float = 0.5) -> np.ndarray:
    """Class probabilities of X (n_cases, n_inputs * 400) -> (n_cases, n_classes), in the models' class order.

    Several (fold) models are combined by their mean probability, or by ``vote``: the share of models
    whose decision (binary: P(positive) >= ``threshold``; else argmax) is each class.

    Raises
    ------
    ValueError
        ``ensemble`` is not one of :data:`ENSEMBLES`.
    ModelFileError
        An estimator gives another number of probability columns than ``n_classes``.
    """
    if ensemble not in ENSEMBLES:
        raise ValueError(f"--ensemble {ensemble!r}: choose from {', '.join(ENSEMBLES)}")
    probas = np.stack([est.predict_proba(X) for est in estimators])  # (n_models, n_cases, K)
    if probas.shape[2] != n_classes:
        raise ModelFileError(f"an estimator gives {probas.shape[2]} probability columns for {n_classes} classes in "
                             "model.json; the model folder is inconsistent, fit the model again.")
    if ensemble == "mean" or len(estimators) == 1:
        return probas.mean(axis=0)
    decision = (probas[:, :, 1] >= threshold).astype(int) if n_classes == 2 else probas.argmax(axis=2)
    return np.stack([(decision == c).mean(axis=0) for c in range(n_classes)], axis=1)
