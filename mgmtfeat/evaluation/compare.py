"""Comparing two models: DeLong's test on the same cases, the corrected resampled t-test over CV
folds, and calibration (reliability curve, Brier score) of binary predictions.

Which test when:

* two models scored on the **same test cases** (or the same out-of-fold predictions of one repeat):
  :func:`delong_test`, which accounts for the correlation of the two AUCs through the shared cases;
* two models cross-validated on the **same saved folds** (K folds x R repeats): the fold metrics are
  not independent (training sets overlap), so a plain paired t-test is far too liberal;
  :func:`corrected_resampled_ttest` applies Nadeau and Bengio's correction (2003), as recommended by
  Bouckaert and Frank (2004);
* one model's mean metric over those folds: :func:`corrected_cv_interval` (:func:`cv_interval` from a
  metrics table), the confidence interval with the same correction.

>>> from mgmtfeat.evaluation.compare import delong_test, corrected_resampled_ttest, compare_cv_models
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["DeLongResult", "delong_covariance", "delong_test", "TTestResult", "corrected_resampled_ttest",
           "compare_cv_models", "CVInterval", "corrected_cv_interval", "cv_interval", "calibration_table",
           "brier_score"]


def _check_binary(y_true, scores: np.ndarray, name: str, both_classes: bool = True) -> np.ndarray:
    y_true = np.asarray(y_true)
    if y_true.ndim != 1 or not np.isin(y_true, (0, 1)).all():
        raise ValueError(f"y_true must be 1-D labels 0/1; got shape {y_true.shape}, values "
                         f"{sorted(np.unique(y_true).tolist())[:5]}. Encode the positive class as 1.")
    if both_classes and not 0 < y_true.sum() < len(y_true):
        raise ValueError(f"y_true has {int(y_true.sum())} positives among {len(y_true)} cases; an AUC needs both "
                         "classes.")
    if scores.shape[-1] != len(y_true) or not np.isfinite(scores).all():
        raise ValueError(f"{name} must hold one finite score per case: shape {scores.shape} for {len(y_true)} cases.")
    return y_true.astype(bool)


def delong_covariance(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of several scores of the same cases and DeLong's covariance matrix of those AUCs.

    The fast algorithm of Sun and Xu (IEEE Signal Process. Lett. 21, 2014): DeLong's structural
    components (placement values) from midranks, O(n log n) per score. Neither scipy nor scikit-learn
    has DeLong's covariance, so it is written here; the midranks are :func:`scipy.stats.rankdata`.

    Parameters
    ----------
    y_true : array-like, shape (n_cases,)
        Labels 0/1.
    scores : array-like, shape (n_scores, n_cases) or (n_cases,)
        Higher score = more likely positive (no direction is chosen for you, unlike pROC's "auto").

    Returns
    -------
    aucs : ndarray, shape (n_scores,)
    covariance : ndarray, shape (n_scores, n_scores)
        DeLong et al. (Biometrics 44, 1988) covariance: S10 / m + S01 / n, m positives, n negatives.
    """
    from scipy.stats import rankdata

    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    pos = _check_binary(y_true, scores, "scores")
    x, y = scores[:, pos], scores[:, ~pos]  # (k, m) positives, (k, n) negatives
    m, n = x.shape[1], y.shape[1]
    tx, ty = rankdata(x, axis=1), rankdata(y, axis=1)  # midranks within each class
    tz = rankdata(np.concatenate([x, y], axis=1), axis=1)  # midranks among all cases
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v10 = (tz[:, :m] - tx) / n  # per positive: share of negatives it outranks (ties count 1/2)
    v01 = 1.0 - (tz[:, m:] - ty) / m  # per negative: share of positives that outrank it
    covariance = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, covariance


@dataclass(frozen=True)
class DeLongResult:
    """DeLong's test of two correlated AUCs (``difference = auc_a - auc_b``).

    Attributes
    ----------
    auc_a, auc_b, difference, variance, se, z, p_value : float
        ``z = difference / se``, ``p_value`` two-sided from the standard normal.
    covariance : ndarray, shape (2, 2)
        Covariance matrix of (auc_a, auc_b).
    """

    auc_a: float
    auc_b: float
    difference: float
    variance: float
    se: float
    z: float
    p_value: float
    covariance: np.ndarray


def delong_test(y_true, score_a, score_b) -> DeLongResult:
    """DeLong's test for two correlated ROC AUCs on the same cases (pROC's ``roc.test(paired=TRUE)``).

    Parameters
    ----------
    y_true : array-like, shape (n_cases,)
        Labels 0/1.
    score_a, score_b : array-like, shape (n_cases,)
        The two models' scores of the same cases, in the same order.

    Returns
    -------
    DeLongResult
        With identical AUCs and zero variance (e.g. the same scores twice): z = 0, P = 1.
    """
    from scipy.stats import norm

    score_a, score_b = np.asarray(score_a, float), np.asarray(score_b, float)
    if score_a.shape != score_b.shape:
        raise ValueError(f"score_a and score_b must hold one finite score per case of the same cases; got shapes "
                         f"{score_a.shape} and {score_b.shape}.")
    aucs, cov = delong_covariance(y_true, np.vstack([score_a, score_b]))
    difference = float(aucs[0] - aucs[1])
    variance = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = float(np.sqrt(max(variance, 0.0)))
    if se > 0:
        z = difference / se
    else:  # no variance of the difference: the scores rank every pair of cases alike
        z = 0.0 if difference == 0 else float(np.sign(difference) * np.inf)
    return DeLongResult(float(aucs[0]), float(aucs[1]), difference, variance, se, float(z),
                        float(2 * norm.sf(abs(z))), cov)


@dataclass(frozen=True)
class TTestResult:
    """Nadeau–Bengio corrected resampled t-test of per-fold differences ``a - b``.

    Attributes
    ----------
    mean_difference : float
    variance : float
        Corrected variance of the mean difference, (1/J + n_test/n_train) * s^2.
    t : float
    df : int
        J - 1.
    p_value : float
        Two-sided.
    n_folds : int
        J = K x R.
    """

    mean_difference: float
    variance: float
    t: float
    df: int
    p_value: float
    n_folds: int


def corrected_resampled_ttest(metric_a, metric_b, n_train: float, n_test: float) -> TTestResult:
    """Nadeau and Bengio's corrected resampled t-test of two models over the same CV folds.

    With d_j = a_j - b_j over the J = K x R folds (paired: fold j of both models used the same
    training and test cases), t = mean(d) / sqrt((1/J + n_test/n_train) * s^2), s^2 the sample
    variance of d (ddof=1), compared with Student's t on J - 1 degrees of freedom (Nadeau & Bengio,
    Machine Learning 52, 2003; Bouckaert & Frank, PAKDD 2004). scipy's ``ttest_rel`` has no variance
    correction, hence this function; the P value is :func:`scipy.stats.t.sf`.

    Parameters
    ----------
    metric_a, metric_b : array-like, shape (J,)
        Per-fold metric of each model, in the same fold order.
    n_train, n_test : float
        Training and test cases per fold (their means when folds differ by a case).

    Returns
    -------
    TTestResult
        With all differences equal (s = 0): t = 0 and P = 1 when they are 0, else t = +-inf, P = 0.
    """
    from scipy.stats import t as student_t

    a, b = np.asarray(metric_a, float), np.asarray(metric_b, float)
    if a.ndim != 1 or a.shape != b.shape or len(a) < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError(f"metric_a and metric_b must be finite per-fold values of the same folds, at least 2; got "
                         f"shapes {a.shape} and {b.shape}. Pair them by (repeat, fold).")
    if not (n_train > 0 and n_test > 0):
        raise ValueError(f"n_train={n_train!r} and n_test={n_test!r} must be positive case counts per fold.")
    d = a - b
    j = len(d)
    mean = float(d.mean())
    variance = float((1.0 / j + n_test / n_train) * d.var(ddof=1))
    if variance > 0:
        t = mean / np.sqrt(variance)
    else:
        t = 0.0 if mean == 0 else float(np.sign(mean) * np.inf)
    return TTestResult(mean, variance, float(t), j - 1, float(2 * student_t.sf(abs(t), j - 1)), j)


def compare_cv_models(metrics_a: pd.DataFrame, metrics_b: pd.DataFrame, metric: str = "auc",
                      n_train: float | None = None, n_test: float | None = None) -> TTestResult:
    """Corrected resampled t-test of two models' per-fold metrics over the same saved folds.

    Parameters
    ----------
    metrics_a, metrics_b : pandas.DataFrame
        ``CVResult.metrics`` of each model: one row per (``repeat``, ``fold``) with ``metric`` and,
        unless given, ``n_train`` and ``n_test``.
    metric : str
        Column to compare.
    n_train, n_test : float, optional
        Default: the mean of the ``n_train`` / ``n_test`` columns.

    Returns
    -------
    TTestResult
    """
    keys = ["repeat", "fold"]
    for name, table in (("metrics_a", metrics_a), ("metrics_b", metrics_b)):
        missing = [c for c in (*keys, metric) if c not in table]
        if missing:
            raise ValueError(f"{name} lacks columns {missing}; pass CVResult.metrics tables.")
    merged = metrics_a.merge(metrics_b, on=keys, how="outer", suffixes=("_a", "_b"), indicator=True)
    unpaired = merged[merged["_merge"] != "both"]
    if len(unpaired):
        raise ValueError(f"{len(unpaired)} (repeat, fold) pairs are in only one table, e.g. "
                         f"{unpaired[keys].iloc[0].tolist()}; both models must use the same saved folds.")
    if n_train is None or n_test is None:
        if "n_train" not in metrics_a or "n_test" not in metrics_a:
            raise ValueError("metrics_a has no n_train/n_test columns; pass n_train= and n_test=.")
        n_train = float(metrics_a["n_train"].mean()) if n_train is None else n_train
        n_test = float(metrics_a["n_test"].mean()) if n_test is None else n_test
    merged = merged.sort_values(keys)
    return corrected_resampled_ttest(merged[f"{metric}_a"], merged[f"{metric}_b"], n_train, n_test)


@dataclass(frozen=True)
class CVInterval:
    """A mean over CV folds with its corrected t-based confidence interval.

    Attributes
    ----------
    mean, low, high : float
        Mean over the J folds and the interval's bounds.
    se : float
        Corrected standard error, sqrt((1/J + n_test/n_train) * s^2).
    df : int
        J - 1.
    confidence : float
        E.g. 0.95.
    n_folds : int
        J = K x R.
    """

    mean: float
    low: float
    high: float
    se: float
    df: int
    confidence: float
    n_folds: int


def corrected_cv_interval(values, n_train: float, n_test: float, confidence: float = 0.95) -> CVInterval:
    """Confidence interval of a mean over repeated-CV folds, with Nadeau and Bengio's variance correction.

    ``mean +- t_{J-1, (1 + confidence) / 2} * sqrt((1/J + n_test/n_train) * s^2)``, s^2 the sample
    variance (ddof=1) of the J per-fold values: the interval that inverts
    :func:`corrected_resampled_ttest`. The plain ``s / sqrt(J)`` (the SEM over folds) treats folds
    as independent, which they are not (training sets overlap, and every repeat reuses the cases),
    so it is far too narrow for K x R folds.

    Parameters
    ----------
    values : array-like, shape (J,)
        One model's metric per fold (e.g. AUC), J >= 2.
    n_train, n_test : float
        Training and test cases per fold (their means when folds differ by a case).
    confidence : float
        In (0, 1).

    Returns
    -------
    CVInterval
    """
    from scipy.stats import t as student_t

    x = np.asarray(values, float)
    if x.ndim != 1 or len(x) < 2 or not np.isfinite(x).all():
        raise ValueError(f"values must be finite per-fold values, at least 2; got shape {x.shape}.")
    if not (n_train > 0 and n_test > 0):
        raise ValueError(f"n_train={n_train!r} and n_test={n_test!r} must be positive case counts per fold.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} must lie in (0, 1), e.g. 0.95.")
    j = len(x)
    se = float(np.sqrt((1.0 / j + n_test / n_train) * x.var(ddof=1)))
    half = float(student_t.ppf((1 + confidence) / 2, j - 1)) * se
    mean = float(x.mean())
    return CVInterval(mean, mean - half, mean + half, se, j - 1, confidence, j)


def cv_interval(metrics: pd.DataFrame, metric: str = "auc", confidence: float = 0.95) -> CVInterval:
    """:func:`corrected_cv_interval` of a ``CVResult.metrics`` table (one row per repeat and fold).

    ``n_train`` and ``n_test`` are the means of the table's columns of those names.
    """
    missing = [c for c in (metric, "n_train", "n_test") if c not in metrics]
    if missing:
        raise ValueError(f"metrics lacks columns {missing}; pass a CVResult.metrics table.")
    return corrected_cv_interval(metrics[metric], float(metrics["n_train"].mean()), float(metrics["n_test"].mean()),
                                 confidence)


def calibration_table(y_true, probability, n_bins: int = 10, strategy: str = "uniform") -> pd.DataFrame:
    """Reliability curve of binary probabilities (:func:`sklearn.calibration.calibration_curve`).

    Parameters
    ----------
    y_true : array-like, shape (n_cases,)
        Labels 0/1.
    probability : array-like, shape (n_cases,)
        P(label 1), in [0, 1].
    n_bins : int
    strategy : {"uniform", "quantile"}
        Equal-width bins on [0, 1], or bins with equal numbers of cases.

    Returns
    -------
    pandas.DataFrame
        One row per non-empty bin: ``mean_predicted`` and ``fraction_positive``.
    """
    from sklearn.calibration import calibration_curve

    p = np.asarray(probability, float)
    _check_binary(y_true, p, "probability", both_classes=False)
    fraction_positive, mean_predicted = calibration_curve(np.asarray(y_true), p, n_bins=n_bins, strategy=strategy)
    return pd.DataFrame({"mean_predicted": mean_predicted, "fraction_positive": fraction_positive})


def brier_score(y_true, probability) -> float:
    """Brier score, mean (p - y)^2 over cases (:func:`sklearn.metrics.brier_score_loss`; 0 is perfect).

    Parameters
    ----------
    y_true, probability : array-like, shape (n_cases,)
        As in :func:`calibration_table` (one class is allowed here).

    Returns
    -------
    float
    """
    from sklearn.metrics import brier_score_loss

    p = np.asarray(probability, float)
    _check_binary(y_true, p, "probability", both_classes=False)
    return float(brier_score_loss(np.asarray(y_true), p))
