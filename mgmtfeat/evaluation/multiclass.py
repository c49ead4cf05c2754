"""Metrics for K classes (subtypes, grades, IDH/1p19q/MGMT groups) from labels and probabilities.

Binary MGMT is the special case K = 2 with a positive class. Every number comes from
:mod:`sklearn.metrics`; this module only fixes the class order, the decision rule and the
one-vs-rest bookkeeping so that every study reports the same quantities in the same layout.

>>> from mgmtfeat.evaluation.multiclass import multiclass_metrics, per_class_metrics, confusion_table
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["check_probabilities", "predict_classes", "ovr_macro_auc", "multiclass_metrics", "per_class_metrics", "confusion_table"]


def check_probabilities(y_true, proba, classes: Sequence | None = None,
                        positive=None) -> tuple[np.ndarray, np.ndarray, list]:
    """Validate labels and a probability matrix; return them with the class order.

    Parameters
    ----------
    y_true : array-like, shape (n_cases,)
        Class labels (any hashable values: ints, strings).
    proba : array-like, shape (n_cases, K) or (n_cases,)
        Column k is P(class ``classes[k]``). A 1-D array is P(``positive``) of a binary problem and
        is expanded to the two columns (1 - p, p).
    classes : sequence, optional
        The label of each column. Default: the sorted labels of ``y_true`` (these must then be K).
    positive : optional
        The positive class of a binary problem (1-D ``proba``); default the larger of the two classes.

    Returns
    -------
    y_true : ndarray, shape (n_cases,)
    proba : ndarray of float64, shape (n_cases, K)
    classes : list, length K
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=float)
    if y_true.ndim != 1 or len(y_true) != len(proba):
        raise ValueError(f"y_true must be 1-D with one label per row of proba; got shapes {y_true.shape} and "
                         f"{proba.shape}. Pass the labels and probabilities of the same cases.")
    if not np.isfinite(proba).all():
        raise ValueError("proba holds NaN or infinite values; every case needs a finite probability per class.")
    if classes is None:
        classes = sorted(np.unique(y_true).tolist())
    classes = list(classes)
    if proba.ndim == 1:
        if len(classes) != 2:
            raise ValueError(f"a 1-D proba is P(positive) of a binary problem, but there are {len(classes)} classes "
                             f"{classes}; pass the (n_cases, K) matrix instead.")
        positive = classes[1] if positive is None else positive
        if positive not in classes:
            raise ValueError(f"positive={positive!r} is not one of the classes {classes}; pass one of them.")
        classes = [c for c in classes if c != positive] + [positive]
        proba = np.column_stack([1.0 - proba, proba])
    if proba.ndim != 2 or proba.shape[1] != len(classes) or len(classes) < 2:
        raise ValueError(f"proba must have one column per class: shape {proba.shape} for classes {classes}; "
                         f"pass classes= in the order of the columns.")
    unknown = sorted(set(np.unique(y_true).tolist()) - set(classes), key=str)
    if unknown:
        raise ValueError(f"y_true holds labels {unknown[:5]} that are not among the classes {classes}; "
                         f"fix the labels or pass the full list of classes.")
    return y_true, proba, classes


def predict_classes(proba: np.ndarray, classes: Sequence, positive=None, threshold: float = 0.5) -> np.ndarray:
    """The predicted class of each case.

    K > 2: the class of largest probability (ties go to the earlier column). K = 2: ``positive``
    (default the second column) when P(positive) >= ``threshold``, as in :func:`mgmtfeat.evaluation.binary_metrics`
    (so a case at exactly 0.5 is positive, where an argmax would pick the first column).

    Parameters
    ----------
    proba : ndarray, shape (n_cases, K)
    classes : sequence, length K
    positive : optional
        The positive class (binary problems only); default ``classes[1]``.
    threshold : float
        Decision threshold on P(positive).

    Returns
    -------
    ndarray, shape (n_cases,)
        Class labels.
    """
    classes = np.asarray(list(classes), dtype=object)
    if len(classes) == 2:
        k = 1 if positive is None else list(classes).index(positive)
        return np.where(proba[:, k] >= threshold, classes[k], classes[1 - k])
    return classes[np.argmax(proba, axis=1)]


def ovr_macro_auc(y_true: np.ndarray, proba: np.ndarray, classes: list, positive=None) -> float:
    """One-vs-rest macro AUC; NaN when a class has no case (its AUC is undefined).

    Parameters
    ----------
    y_true : ndarray, shape (n_cases,)
    proba : ndarray, shape (n_cases, K)
        Columns in the order of ``classes``.
    classes : list, length K
    positive : optional
        K = 2 only: the positive class (default ``classes[1]``).

    Returns
    -------
    float
    """
    from sklearn.metrics import roc_auc_score

    present = set(np.unique(y_true).tolist())
    if present != set(classes):
        return float("nan")  # one-vs-rest AUC of a class without cases (or without others) is undefined
    if len(classes) == 2:
        # sklearn takes binary problems as one score column; the macro OvR AUC of two classes is that AUC.
        k = classes.index(positive if positive is not None else classes[1])
        return float(roc_auc_score(y_true == classes[k], proba[:, k]))
    return float(roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes))


def multiclass_metrics(y_true, proba, classes: Sequence | None = None, positive=None,
                       threshold: float = 0.5) -> dict[str, float]:
    """One-vs-rest macro AUC, accuracy and balanced accuracy.

    Parameters
    ----------
    y_true : array-like, shape (n_cases,)
    proba : array-like, shape (n_cases, K) or (n_cases,)
        See :func:`check_probabilities`.
    classes : sequence, optional
        Column labels; default the sorted labels.
    positive : optional
        Positive class of a binary problem (default the second column): predictions use ``threshold``
        on its probability.
    threshold : float
        Binary decision threshold.

    Returns
    -------
    dict
        ``auc_ovr_macro`` (NaN if a class has no case), ``accuracy``, ``balanced_accuracy``.
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    y_true, proba, classes = check_probabilities(y_true, proba, classes, positive)
    pred = predict_classes(proba, classes, positive, threshold)
    return {"auc_ovr_macro": ovr_macro_auc(y_true, proba, classes, positive),
            "accuracy": float(accuracy_score(y_true, pred)),
            "balanced_accuracy": float(balanced_accuracy_score(y_true, pred))}


def confusion_table(y_true, y_pred, classes: Sequence) -> pd.DataFrame:
    """The confusion matrix as a labelled table: rows ``true <class>``, columns ``predicted <class>``.

    Parameters
    ----------
    y_true, y_pred : array-like, shape (n_cases,)
    classes : sequence, length K
        Row and column order.

    Returns
    -------
    pandas.DataFrame, shape (K, K)
        Counts (int64); entry (i, j) is the number of cases of class i predicted as class j.
    """
    from sklearn.metrics import confusion_matrix

    classes = list(classes)
    matrix = confusion_matrix(np.asarray(y_true), np.asarray(y_pred), labels=classes)
    return pd.DataFrame(matrix.astype(np.int64), index=pd.Index([f"true {c}" for c in classes], name="true"),
                        columns=pd.Index([f"predicted {c}" for c in classes], name="predicted"))


def per_class_metrics(y_true, proba, classes: Sequence | None = None, positive=None,
                      threshold: float = 0.5) -> pd.DataFrame:
    """One-vs-rest sensitivity, specificity, PPV and NPV of each class, from the confusion matrix.

    Parameters
    ----------
    y_true, proba, classes, positive, threshold
        As in :func:`multiclass_metrics`.

    Returns
    -------
    pandas.DataFrame, shape (K, 9)
        Index ``class``; columns ``support`` (cases of the class), ``tp``, ``fn``, ``fp``, ``tn``,
        ``sensitivity`` = TP/(TP+FN), ``specificity`` = TN/(TN+FP), ``ppv`` = TP/(TP+FP),
        ``npv`` = TN/(TN+FN); NaN where a denominator is 0.
    """
    from sklearn.metrics import multilabel_confusion_matrix

    y_true, proba, classes = check_probabilities(y_true, proba, classes, positive)
    pred = predict_classes(proba, classes, positive, threshold)
    # (K, 2, 2) per class, class-vs-rest: [[tn, fp], [fn, tp]]
    mcm = multilabel_confusion_matrix(y_true, pred, labels=classes)
    tn, fp, fn, tp = (mcm[:, i, j].astype(float) for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        table = pd.DataFrame({"support": (tp + fn).astype(np.int64), "tp": tp.astype(np.int64),
                              "fn": fn.astype(np.int64), "fp": fp.astype(np.int64), "tn": tn.astype(np.int64),
                              "sensitivity": tp / (tp + fn), "specificity": tn / (tn + fp),
                              "ppv": tp / (tp + fp), "npv": tn / (tn + fn)},
                             index=pd.Index(classes, name="class"))
    return table
