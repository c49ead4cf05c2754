"""The slice pathway's patient-level protocol: slice classifier -> predictive index -> cutoff -> call.

Shin et al. (AJNR 2021): a classifier scores every slice of a patient; the patient's **predictive
index** is the fraction of its slices called positive (slice probability >= ``slice_threshold``,
0.5); the patient is called positive when the index reaches a **cutoff** chosen on a ROC curve
(0.55 there).

What is fitted where
    Slices inherit their patient's label and folds are made over patients, so no patient's
    slices are on both sides of a split (:func:`split_slices` checks it). The cutoff is chosen on
    the training patients only: with ``"youden"`` by Youden's J (sensitivity + specificity - 1,
    largest) on out-of-fold indices of an inner stratified K-fold over the training patients (an
    index of a patient whose slices trained the classifier would be optimistic); a number is used as
    it is. The test patients' slices are seen once, to be scored.
Ensembles
    The K fold models of a repeat each call a patient at their own cutoff; the majority of calls
    decides (:func:`vote`), as Shin et al.'s five fold models did, and the mean index ranks patients
    for the AUC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from mgmtfeat.evaluation.folds import EvaluationError, fold_seed
from mgmtfeat.evaluation.metrics import binary_metrics

__all__ = ["SliceModel", "predictive_index", "youden_cutoff", "split_slices", "fit_slice_model",
           "cross_validate_slices", "vote", "called_metrics"]


def predictive_index(slice_proba: np.ndarray, patient: np.ndarray, n_patients: int,
                     slice_threshold: float = 0.5) -> np.ndarray:
    """Fraction of each patient's slices whose probability reaches ``slice_threshold``.

    Parameters
    ----------
    slice_proba : np.ndarray, shape (n_slices,)
        Probability of the positive class per slice.
    patient : np.ndarray of int, shape (n_slices,)
        Patient (0..n_patients-1) of each slice; every patient needs a slice.

    Returns
    -------
    np.ndarray of float64, shape (n_patients,)
    """
    counts = np.bincount(patient, minlength=n_patients)
    if np.any(counts == 0):
        raise EvaluationError(f"patient row(s) {np.flatnonzero(counts == 0)[:5].tolist()} have no slices")
    positive = np.bincount(patient, weights=(slice_proba >= slice_threshold).astype(float), minlength=n_patients)
    return positive / counts


def youden_cutoff(y: np.ndarray, index: np.ndarray) -> float:
    """The index cutoff with the largest Youden's J on ``(y, index)``; ties take the smallest cutoff.

    The cutoff is one of the observed indices (a patient is positive when ``index >= cutoff``).
    """
    from sklearn.metrics import roc_curve

    if len(np.unique(y)) < 2:
        raise EvaluationError("Youden's cutoff needs patients of both classes")
    fpr, tpr, thresholds = roc_curve(y, index)
    j = tpr - fpr
    best = np.flatnonzero(j == j.max())
    return float(min(np.clip(thresholds[best], 0.0, 1.0)))


def split_slices(patient: np.ndarray, train_patients: np.ndarray, test_patients: np.ndarray):
    """Boolean masks over slices of the training and test patients; raise if a patient is on both sides."""
    shared = np.intersect1d(train_patients, test_patients)
    if len(shared):
        raise EvaluationError(f"patient row(s) {shared[:5].tolist()} are in both the training and the test patients")
    return np.isin(patient, train_patients), np.isin(patient, test_patients)


@dataclass
class SliceModel:
    """A fitted slice classifier with its patient-level cutoff.

    Attributes
    ----------
    estimator : scikit-learn classifier
        Fitted on slices (rows of ``SliceSet.X``) labelled with their patient's label.
    cutoff : float
        Predictive-index cutoff, chosen on the training patients.
    slice_threshold : float
    """

    estimator: object
    cutoff: float
    slice_threshold: float = 0.5

    def index(self, X: np.ndarray, patient: np.ndarray, n_patients: int) -> np.ndarray:
        """Predictive index of each patient, shape (n_patients,), from slices ``X`` (n_slices, n_features)."""
        return predictive_index(self.estimator.predict_proba(X)[:, 1], patient, n_patients, self.slice_threshold)


def _compact(patient: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Slice-to-patient codes renumbered 0..len(rows)-1 in ``rows`` order (``patient`` values in ``rows``)."""
    lookup = np.full(patient.max() + 1, -1, np.int64)
    lookup[rows] = np.arange(len(rows))
    return lookup[patient]


def _inner_indices(make_estimator: Callable, data, rows: np.ndarray, seed: int, slice_threshold: float,
                   inner_folds: int) -> np.ndarray:
    """Out-of-fold predictive indices of the patients ``rows`` from an inner stratified K-fold over them."""
    from sklearn.model_selection import StratifiedKFold

    y = data.y[rows]
    k = min(inner_folds, int(np.bincount(y).min()))
    if k < 2:
        raise EvaluationError(f"the training patients hold {int(np.bincount(y).min())} patient(s) of one class, too "
                              "few for the inner folds that choose the Youden cutoff; give a fixed --cutoff")
    index = np.empty(len(rows))
    for inner_train, inner_test in StratifiedKFold(k, shuffle=True, random_state=seed).split(rows, y):
        fit_mask, score_mask = split_slices(data.patient, rows[inner_train], rows[inner_test])
        estimator = make_estimator(seed).fit(data.X[fit_mask], data.y[data.patient[fit_mask]])
        proba = estimator.predict_proba(data.X[score_mask])[:, 1]
        index[inner_test] = predictive_index(proba, _compact(data.patient[score_mask], rows[inner_test]),
                                             len(inner_test), slice_threshold)
    return index


def fit_slice_model(make_estimator: Callable, data, rows: np.ndarray, seed: int, cutoff="youden",
                    slice_threshold: float = 0.5, inner_folds: int = 3) -> SliceModel:
    """Fit a slice classifier on the slices of patients ``rows`` and choose its cutoff on them alone.

    Parameters
    ----------
    make_estimator : callable
        ``make_estimator(random_state) -> classifier`` with ``predict_proba``.
    data : SliceSet
        See :class:`mgmtfeat.store.slices.SliceSet`.
    rows : np.ndarray of int
        Training patients (indices into ``data.case_ids``).
    cutoff : "youden" or float
        See the module docstring.
    """
    if cutoff == "youden":
        chosen = youden_cutoff(data.y[rows], _inner_indices(make_estimator, data, rows, seed, slice_threshold,
                                                            inner_folds))
    else:
        chosen = float(cutoff)
    mask = np.isin(data.patient, rows)
    estimator = make_estimator(seed).fit(data.X[mask], data.y[data.patient[mask]])
    return SliceModel(estimator, chosen, slice_threshold)


def cross_validate_slices(make_estimator: Callable, data, folds: pd.DataFrame, seed: int = 0, cutoff="youden",
                          slice_threshold: float = 0.5, inner_folds: int = 3, keep_repeat: int | None = None,
                          progress: Callable | None = None):
    """Patient-level cross-validation of the slice protocol on saved patient folds.

    Parameters
    ----------
    data : SliceSet
    folds : pandas.DataFrame
        ``case_id``, ``repeat``, ``fold`` over ``data.case_ids`` (e.g. the store's shared folds).
    keep_repeat : int, optional
        Also return this repeat's fold models (for a held-out test cohort).
    progress : callable, optional
        Called once per finished fold.

    Returns
    -------
    predictions : pandas.DataFrame
        One row per patient and repeat: ``case_id``, ``label``, ``repeat``, ``fold``, ``seed``,
        ``n_slices``, ``index``, ``cutoff``, ``predicted`` and ``probability`` (= ``index``, so the
        ROC and bootstrap tools of the clip path read it).
    metrics : pandas.DataFrame
        One row per (repeat, fold): ``auc`` (of the index), ``precision``, ``recall``, ``accuracy``,
        ``f1`` at the fold's cutoff, ``specificity``, ``cutoff``, ``slice_auc``, ``seed``, and the patients
        ``n_train`` and ``n_test``.
    models : list of SliceModel
        The fold models of ``keep_repeat`` (empty without it).
    """
    from sklearn.metrics import roc_auc_score

    position = {case_id: i for i, case_id in enumerate(data.case_ids)}
    predictions, metrics, models = [], [], []
    for (repeat, fold), part in folds.groupby(["repeat", "fold"], sort=True):
        test = np.asarray([position[c] for c in part["case_id"]], np.int64)
        in_repeat = folds.loc[folds["repeat"] == repeat, "case_id"]
        train = np.setdiff1d([position[c] for c in in_repeat], test)
        _, test_mask = split_slices(data.patient, train, test)
        seed_ = fold_seed(seed, int(repeat), int(fold))
        model = fit_slice_model(make_estimator, data, train, seed_, cutoff, slice_threshold, inner_folds)
        slice_proba = model.estimator.predict_proba(data.X[test_mask])[:, 1]
        index = predictive_index(slice_proba, _compact(data.patient[test_mask], test), len(test), slice_threshold)
        y = data.y[test]
        scores = binary_metrics(y, index, threshold=model.cutoff)
        negatives = y == 0
        scores["specificity"] = float(np.mean(index[negatives] < model.cutoff)) if negatives.any() else np.nan
        slice_y = data.y[data.patient[test_mask]]
        scores["slice_auc"] = float(roc_auc_score(slice_y, slice_proba)) if len(set(slice_y)) == 2 else np.nan
        metrics.append({"repeat": int(repeat), "fold": int(fold), **scores, "cutoff": model.cutoff, "seed": seed_,
                        "n_train": len(train), "n_test": len(test)})
        predictions.append(pd.DataFrame({
            "case_id": [data.case_ids[i] for i in test], "label": y, "repeat": int(repeat), "fold": int(fold),
            "seed": seed_, "n_slices": data.counts[test], "index": index, "cutoff": model.cutoff,
            "predicted": (index >= model.cutoff).astype(int), "probability": index}))
        if keep_repeat is not None and repeat == keep_repeat:
            models.append(model)
        if progress:
            progress()
    return pd.concat(predictions, ignore_index=True), pd.DataFrame(metrics), models


def vote(models, X: np.ndarray, patient: np.ndarray, n_patients: int) -> pd.DataFrame:
    """The fold models' ensemble on new patients: mean index, share of positive calls, majority call.

    Returns
    -------
    pandas.DataFrame, one row per patient
        ``index`` (mean over models), ``votes`` (share of models calling positive), ``predicted``
        (1 when more than half call positive) and ``probability`` (= ``index``).
    """
    indices = np.stack([m.index(X, patient, n_patients) for m in models])
    calls = np.stack([indices[k] >= m.cutoff for k, m in enumerate(models)]).mean(axis=0)
    mean = indices.mean(axis=0)
    return pd.DataFrame({"index": mean, "votes": calls, "predicted": (calls > 0.5).astype(int), "probability": mean})


def called_metrics(y: np.ndarray, index: np.ndarray, predicted: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """Bootstrap 95 % CIs on patients: AUC of the index, and accuracy, recall, specificity, precision, F1 of the calls.

    A metric undefined on these patients (precision without a positive call, AUC with one class)
    is a row of NaN, so that it does not lose the others.

    Parameters
    ----------
    y, index, predicted : np.ndarray, shape (n_patients,)
        Labels 0/1, predictive indices (mean over models for an ensemble) and 0/1 calls.
    """
    from mgmtfeat.evaluation.bootstrap import bootstrap_ci

    calls = np.asarray(predicted, float)
    # specificity is the recall of the negative class
    plan = [("auc", y, index, "auc"), ("accuracy", y, calls, "accuracy"), ("recall", y, calls, "recall"),
            ("specificity", 1 - y, 1.0 - calls, "recall"), ("precision", y, calls, "precision"), ("f1", y, calls, "f1")]
    rows = []
    for name, truth, score, metric in plan:
        try:
            rows.append({**bootstrap_ci(truth, score, metric, random_state=seed).__dict__, "metric": name})
        except ValueError:
            rows.append({"metric": name, "estimate": np.nan, "low": np.nan, "high": np.nan})
    return pd.DataFrame(rows, columns=["metric", "estimate", "low", "high", "method", "confidence", "n_resamples",
                                       "n_skipped"])
