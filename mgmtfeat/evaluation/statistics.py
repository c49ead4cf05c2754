"""Statistics over folds: mean/SEM/SD, Lin's CCC, and a table of corrected CIs and tests against a reference.

Tests between models and confidence intervals over repeated-CV folds are in
:mod:`mgmtfeat.evaluation.compare` (the corrected resampled t-test; a plain Wilcoxon or t-test over
folds would treat overlapping folds as independent); bootstrap intervals over cases in
:mod:`mgmtfeat.evaluation.bootstrap`.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from mgmtfeat.evaluation.metrics import METRICS

__all__ = ["sem", "summarise", "concordance_correlation", "versus_reference"]


def sem(values) -> float:
    """Standard error of the mean over folds (SD with ddof=1 over sqrt(n))."""
    values = np.asarray(values, float)
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")


def summarise(metrics: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Mean, SEM and SD over folds of each metric and of the fit seconds."""
    out = {}
    for name in (*METRICS, "fit_seconds"):
        values = metrics[name].to_numpy(float)
        out[name] = {"mean": float(values.mean()), "sem": sem(values),
                     "sd": float(values.std(ddof=1)) if len(values) > 1 else float("nan")}
    return out


def concordance_correlation(a: np.ndarray, b: np.ndarray, axis: int = 0) -> np.ndarray:
    """Lin's concordance correlation coefficient between ``a`` and ``b`` along ``axis``.

    ``2 cov(a, b) / (var(a) + var(b) + (mean(a) - mean(b))**2)``, population moments.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    ma, mb = a.mean(axis), b.mean(axis)
    va, vb = a.var(axis), b.var(axis)
    cov = ((a - np.expand_dims(ma, axis)) * (b - np.expand_dims(mb, axis))).mean(axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 2 * cov / (va + vb + (ma - mb) ** 2)


def versus_reference(metrics: Mapping[str, pd.DataFrame], reference: str | None = None, metric: str = "auc",
                     confidence: float = 0.95) -> pd.DataFrame:
    """Each configuration's corrected CI over folds and its corrected t-test against a reference.

    A table-maker over :func:`mgmtfeat.evaluation.compare.cv_interval` and
    :func:`~mgmtfeat.evaluation.compare.compare_cv_models`, for experiments that cross-validate
    several configurations on the same saved folds.

    Parameters
    ----------
    metrics : mapping of str to pandas.DataFrame
        Configuration name -> ``CVResult.metrics`` (``repeat``, ``fold``, ``metric``, ``n_train``,
        ``n_test``), all on the same folds.
    reference : str or None
        The configuration the others are tested against; None = no test (CIs only).
    metric : str
    confidence : float

    Returns
    -------
    pandas.DataFrame
        One row per configuration, in the mapping's order: ``configuration``, ``METRIC_ci_low``,
        ``METRIC_ci_high``, ``reference``, ``METRIC_difference`` (configuration minus reference),
        ``p_vs_reference`` (two-sided; NaN for the reference itself and without one).
    """
    from mgmtfeat.evaluation.compare import compare_cv_models, cv_interval

    if reference is not None and reference not in metrics:
        raise ValueError(f"reference {reference!r} is not among the configurations {list(metrics)}.")
    rows = []
    for name, table in metrics.items():
        ci = cv_interval(table, metric, confidence)
        row = {"configuration": name, f"{metric}_ci_low": ci.low, f"{metric}_ci_high": ci.high,
               "reference": reference or "", f"{metric}_difference": np.nan, "p_vs_reference": np.nan}
        if reference is not None and name != reference:
            test = compare_cv_models(table, metrics[reference], metric)
            row.update({f"{metric}_difference": test.mean_difference, "p_vs_reference": test.p_value})
        rows.append(row)
    return pd.DataFrame(rows)
