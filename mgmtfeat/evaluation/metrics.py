"""Metrics of one set of out-of-fold probabilities: the paper's five, and decision-curve net benefit."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["METRICS", "binary_metrics", "fold_metrics", "net_benefit"]

#: The metrics of every fold, in the order of the tables.
METRICS = ("auc", "precision", "recall", "accuracy", "f1")


def binary_metrics(y_true: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """AUC, precision, recall, accuracy and F1 of probabilities ``p`` (threshold for the last four).

    Parameters
    ----------
    y_true : np.ndarray, shape (n_cases,)
        Labels 0/1.
    p : np.ndarray, shape (n_cases,)
        Probabilities of label 1.
    """
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    pred = (p >= threshold).astype(int)
    return {
        "auc": float(roc_auc_score(y_true, p)),
        "precision": float(precision_score(y_true, pred, zero_division=0)),
        "recall": float(recall_score(y_true, pred, zero_division=0)),
        "accuracy": float(accuracy_score(y_true, pred)),
        "f1": float(f1_score(y_true, pred, zero_division=0)),
    }


def fold_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """The metrics of one fold: :func:`binary_metrics` for two classes; else one-vs-rest macro ``auc``,
    ``accuracy`` and ``balanced_accuracy``.

    Parameters
    ----------
    y_true : np.ndarray of int, shape (n_cases,)
        Encoded labels 0..K-1 (binary: 1 is the positive class).
    proba : np.ndarray, shape (n_cases, K)
        Class probabilities, columns in code order.
    """
    from mgmtfeat.evaluation.multiclass import multiclass_metrics

    if proba.shape[1] == 2:
        return binary_metrics(y_true, proba[:, 1])
    # class names as text: scikit-learn reads an object array of names as a multi-class target
    names = np.asarray([f"class{k}" for k in range(proba.shape[1])], dtype=object)
    scores = multiclass_metrics(names[y_true], proba, classes=list(names))
    scores["auc"] = scores.pop("auc_ovr_macro")
    return scores


def net_benefit(y_true: np.ndarray, p: np.ndarray, thresholds: np.ndarray) -> pd.DataFrame:
    """Decision-curve net benefit of a model, of treating all and of treating none.

    Net benefit at threshold t: TP/n - FP/n * t / (1 - t).

    Returns
    -------
    pandas.DataFrame
        One row per threshold: ``threshold``, ``model``, ``treat_all``, ``treat_none``.
    """
    y_true, p = np.asarray(y_true), np.asarray(p)
    n, prevalence = len(y_true), float(np.mean(y_true))
    rows = []
    for t in thresholds:
        treat = p >= t
        tp, fp = np.sum(treat & (y_true == 1)), np.sum(treat & (y_true == 0))
        odds = t / (1 - t)
        rows.append({"threshold": t, "model": tp / n - fp / n * odds,
                     "treat_all": prevalence - (1 - prevalence) * odds, "treat_none": 0.0})
    return pd.DataFrame(rows)
