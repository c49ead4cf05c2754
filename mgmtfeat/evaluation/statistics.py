"""Statistics over folds and between models: mean/SEM/SD, Lin's CCC, the paired Wilcoxon test."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mgmtfeat.evaluation.metrics import METRICS

__all__ = ["sem", "summarise", "concordance_correlation", "wilcoxon_paired"]


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


def wilcoxon_paired(a, b) -> float:
    """Two-sided Wilcoxon signed-rank P value of paired per-fold values."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    if np.allclose(a, b):
        return 1.0
    return float(stats.wilcoxon(a, b).pvalue)
