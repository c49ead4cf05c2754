"""Bootstrap 95 % CIs of a K-class task's metrics, overall, per class and per subgroup.

Labels are encoded 0..K-1 and probabilities are an (n_cases, K) matrix whose column k is class k
(binary: column 1 is the positive class). Each case must appear once: on cross-validation output,
call these per repeat (a case appears once per repeat), never on repeats pooled, which would count
every case several times and make the intervals too narrow.
"""

from __future__ import annotations

import logging
import re
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mgmtfeat.evaluation.bootstrap import BINARY_METRICS, MULTICLASS_METRICS, bootstrap_ci
from mgmtfeat.evaluation.multiclass import predict_classes

__all__ = ["CI_COLUMNS", "task_intervals", "per_class_intervals", "age_band_labels", "level_order", "subgroup_intervals",
           "mean_over_repeats"]

log = logging.getLogger(__name__)

CI_COLUMNS = ["metric", "class", "estimate", "low", "high", "n"]
_SHOWN = 5


def _ci(y, score, metric, n: int, klass="", **options) -> dict:
    """One interval as a row; NaN (with the reason logged) where the metric is undefined here."""
    try:
        r = bootstrap_ci(y, score, metric, **options)
        return {"metric": metric, "class": klass, "estimate": r.estimate, "low": r.low, "high": r.high, "n": n}
    except ValueError as err:  # e.g. AUC of a subgroup holding one class
        log.info("%s%s left as NaN: %s", metric, f" of class {klass}" if klass != "" else "", err)
        return {"metric": metric, "class": klass, "estimate": np.nan, "low": np.nan, "high": np.nan, "n": n}


def task_intervals(y: np.ndarray, proba: np.ndarray, metrics: Sequence[str] | None = None, **options) -> pd.DataFrame:
    """Overall metrics with bootstrap CIs.

    Parameters
    ----------
    y : np.ndarray of int, shape (n_cases,)
        Encoded labels 0..K-1.
    proba : np.ndarray, shape (n_cases, K)
    metrics : sequence of str, optional
        Default: AUC, accuracy, precision, recall, F1 (binary, positive = class 1) or one-vs-rest macro
        AUC, accuracy, balanced accuracy (K > 2).
    **options
        Passed to :func:`bootstrap_ci` (``random_state``, ``fraction``, ``n_resamples``, ...); every
        metric uses the same seed, hence the same resamples.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CI_COLUMNS` (``class`` empty).
    """
    y, proba = np.asarray(y, np.int64), np.asarray(proba, float)
    binary = proba.shape[1] == 2
    metrics = metrics or (BINARY_METRICS if binary else MULTICLASS_METRICS)
    score = proba[:, 1] if binary else proba
    extra = {} if binary else {"classes": list(range(proba.shape[1]))}
    return pd.DataFrame([_ci(y, score, m, len(y), **extra, **options) for m in metrics], columns=CI_COLUMNS)


def per_class_intervals(y: np.ndarray, proba: np.ndarray, classes: Sequence, **options) -> pd.DataFrame:
    """One-vs-rest sensitivity, specificity, PPV and NPV of every class, with bootstrap CIs.

    Predictions are those of :func:`predict_classes` (binary: P(class 1) >= 0.5; else the argmax),
    so the point estimates equal :func:`mgmtfeat.evaluation.multiclass.per_class_metrics`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CI_COLUMNS`; ``metric`` is sensitivity, specificity, ppv or npv, ``class`` the
        class name.
    """
    y = np.asarray(y, np.int64)
    k = proba.shape[1]
    pred = predict_classes(np.asarray(proba, float), list(range(k))).astype(np.int64)
    rows = []
    for code, name in enumerate(classes):
        truth, hit = (y == code).astype(np.int64), (pred == code).astype(float)
        # sensitivity/PPV are recall/precision of "class k"; specificity/NPV those of "not class k"
        for measure, target, score, metric in (("sensitivity", truth, hit, "recall"),
                                               ("specificity", 1 - truth, 1 - hit, "recall"),
                                               ("ppv", truth, hit, "precision"), ("npv", 1 - truth, 1 - hit, "precision")):
            row = _ci(target, score, metric, len(y), klass=name, **options)
            rows.append({**row, "metric": measure})
    return pd.DataFrame(rows, columns=CI_COLUMNS)


def age_band_labels(values: pd.Series, bands: Sequence[float]) -> pd.Series:
    """Ages -> band names ``<50``, ``50-65``, ``>65`` for ``bands = (50, 65)``; NaN stays NaN.

    A case aged exactly at an edge goes to the upper band (``50`` is in ``50-65``).
    """
    edges = sorted(float(b) for b in bands)
    if not edges:
        raise ValueError("--age-bands needs at least one edge, e.g. 50,65.")
    fmt = [f"{e:g}" for e in edges]
    names = [f"<{fmt[0]}", *[f"{a}-{b}" for a, b in zip(fmt, fmt[1:])], f">{fmt[-1]}"]
    numbers = pd.to_numeric(values, errors="coerce")
    index = np.searchsorted(edges, numbers.to_numpy(float), side="right")
    return pd.Series([names[i] if np.isfinite(v) else np.nan for i, v in zip(index, numbers)], index=values.index,
                     dtype=object)


def level_order(level: str) -> tuple:
    """Sort key of a subgroup name: numeric bands in number order (``<50``, ``50-65``, ``>65``), then text.

    A band ``<A`` comes before ``A-B``, which comes before ``>A``; names without a leading number
    (``F``, ``M``) follow in text order.
    """
    match = re.match(r"^\s*([<>]?)\s*(-?\d+(?:\.\d+)?)", str(level))
    if match is None:
        return (1, 0.0, 0, str(level))
    prefix, number = match.groups()
    return (0, float(number), {"<": 0, "": 1, ">": 2}[prefix], str(level))


def subgroup_intervals(y: np.ndarray, proba: np.ndarray, case_ids: Sequence[str], covariates: pd.DataFrame,
                       metrics: Sequence[str] = ("auc", "accuracy"), **options) -> pd.DataFrame:
    """Metrics with bootstrap CIs within each subgroup of each covariate column.

    Parameters
    ----------
    y, proba
        As in :func:`task_intervals`, rows in the order of ``case_ids``.
    case_ids : sequence of str
    covariates : pandas.DataFrame
        Indexed by case id; one column per covariate holding the subgroup of each case (already
        banded; NaN = unknown). Cases without a value are left out of that column's rows only,
        with a warning naming them.
    metrics : sequence of str
        Metrics of :func:`task_intervals`.

    Returns
    -------
    pandas.DataFrame
        ``covariate``, ``subgroup``, ``n``, ``n_<class code>`` per class, then ``metric``,
        ``estimate``, ``low``, ``high`` (one row per subgroup and metric).
    """
    y, proba = np.asarray(y, np.int64), np.asarray(proba, float)
    table = covariates.reindex(list(case_ids))
    rows = []
    for column in table.columns:
        values = table[column]
        missing = values.isna() | (values.astype(str).str.strip() == "")
        if missing.any():
            cases = list(values.index[missing])
            log.info("covariate %r: %d case(s) have no value and are left out of its subgroups: %s%s", column,
                        len(cases), ", ".join(cases[:_SHOWN]), " ..." if len(cases) > _SHOWN else "")
        for level in sorted(values[~missing].astype(str).unique(), key=level_order):
            rows_in = np.flatnonzero((~missing & (values.astype(str) == level)).to_numpy())
            counts = np.bincount(y[rows_in], minlength=proba.shape[1])
            base = {"covariate": column, "subgroup": level, "n": len(rows_in),
                    **{f"n_{k}": int(c) for k, c in enumerate(counts)}}
            if len(rows_in) < 3:  # too few to resample; counts are still reported
                rows += [{**base, "metric": m, "estimate": np.nan, "low": np.nan, "high": np.nan} for m in metrics]
                continue
            part = task_intervals(y[rows_in], proba[rows_in], metrics, **options)
            rows += [{**base, **r} for r in part.drop(columns=["class", "n"]).to_dict("records")]
    return pd.DataFrame(rows)


def mean_over_repeats(tables: Mapping[int, pd.DataFrame], keys: Sequence[str]) -> pd.DataFrame:
    """Average per-repeat interval tables over repeats (estimate, low, high; counts kept)."""
    long = pd.concat([t.assign(repeat=r) for r, t in tables.items()], ignore_index=True)
    numeric = [c for c in long.columns if c not in (*keys, "repeat") and pd.api.types.is_numeric_dtype(long[c])]
    return long.groupby(list(keys), sort=False, dropna=False)[numeric].mean().reset_index()
