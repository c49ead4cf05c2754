"""Saved folds, repeated cross-validation and the metrics of the paper.

Folds are made once per cohort (:func:`make_folds`), saved as a table of case id x repeat x fold,
and reused by every model and ablation, so their results are paired fold by fold. Each fit sees
its training rows only: scaling, selection, early stopping and nested hyper-parameter search all
happen inside the estimator or pipeline that :func:`cross_validate` clones per fold.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "EvaluationError", "make_folds", "load_folds", "check_labels", "fold_seed", "cross_validate",
    "CVResult", "summarise", "sem", "concordance_correlation", "net_benefit", "wilcoxon_paired",
]

METRICS = ("auc", "precision", "recall", "accuracy", "f1")


class EvaluationError(ValueError):
    """Labels, folds or inputs that cannot support a valid evaluation."""


def check_labels(y: np.ndarray, case_ids: Sequence[str], n_splits: int) -> np.ndarray:
    """Validate binary labels for stratified ``n_splits``-fold CV; return them as int64.

    Raises
    ------
    EvaluationError
        Labels other than 0/1, a single class, fewer cases of a class than folds, or duplicate ids.
    """
    y = np.asarray(y)
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        examples = ", ".join(f"{case_ids[i]}={y[i].item()!r}" for i in np.flatnonzero(bad)[:3])
        raise EvaluationError(f"labels must be 0 or 1; found {examples}. Fix the label table.")
    y = y.astype(np.int64)
    counts = np.bincount(y, minlength=2)
    if counts.min() == 0:
        raise EvaluationError(f"all {len(y)} cases have label {int(y[0])}; a classifier needs both classes.")
    if counts.min() < n_splits:
        raise EvaluationError(
            f"class {int(np.argmin(counts))} has {counts.min()} cases, fewer than the {n_splits} folds; "
            f"lower --folds to at most {counts.min()} or add cases."
        )
    ids = pd.Series(case_ids)
    if ids.duplicated().any():
        raise EvaluationError(f"duplicate case ids: {sorted(set(ids[ids.duplicated()]))[:5]}")
    return y


def make_folds(case_ids: Sequence[str], y: np.ndarray, n_splits: int = 5, n_repeats: int = 4,
               seed: int = 0) -> pd.DataFrame:
    """Repeated stratified K-fold assignment.

    Returns
    -------
    pandas.DataFrame
        Columns ``case_id``, ``label``, ``repeat``, ``fold``: one row per case and repeat, ``fold``
        being the test fold of that case in that repeat (0-based).
    """
    from sklearn.model_selection import StratifiedKFold

    y = check_labels(y, case_ids, n_splits)
    rows = []
    for repeat in range(n_repeats):
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed + repeat)
        fold = np.empty(len(y), np.int64)
        for k, (_, test) in enumerate(splitter.split(np.zeros(len(y)), y)):
            fold[test] = k
        rows.append(pd.DataFrame({"case_id": list(case_ids), "label": y, "repeat": repeat, "fold": fold}))
    return pd.concat(rows, ignore_index=True)


def load_folds(path: str | Path, case_ids: Sequence[str]) -> pd.DataFrame:
    """Read a saved fold table and check it covers exactly ``case_ids`` in every repeat."""
    table = pd.read_csv(path, dtype={"case_id": str})
    missing = {"case_id", "repeat", "fold"} - set(table.columns)
    if missing:
        raise EvaluationError(f"{path}: fold table lacks columns {sorted(missing)}")
    wanted = set(case_ids)
    for repeat, part in table.groupby("repeat"):
        if set(part["case_id"]) != wanted or part["case_id"].duplicated().any():
            raise EvaluationError(
                f"{path}: repeat {repeat} does not assign each of the {len(wanted)} cases exactly once "
                "(the cohort changed since the folds were made); make new folds in a new --out folder."
            )
    return table


def fold_seed(seed: int, repeat: int, fold: int) -> int:
    """The estimator seed of one (repeat, fold): distinct per fold, reproducible from ``seed``."""
    return int(seed) * 1000 + repeat * 100 + fold


def _fold_indices(folds: pd.DataFrame, case_ids: Sequence[str]) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    position = {c: i for i, c in enumerate(case_ids)}
    splits = []
    for repeat, part in folds.groupby("repeat"):
        rows = part["case_id"].map(position).to_numpy()
        for fold in sorted(part["fold"].unique()):
            test = np.sort(rows[part["fold"].to_numpy() == fold])
            train = np.sort(rows[part["fold"].to_numpy() != fold])
            splits.append((int(repeat), int(fold), train, test))
    return splits


def binary_metrics(y_true: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """AUC, precision, recall, accuracy and F1 of probabilities ``p`` (threshold for the last four)."""
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    pred = (p >= threshold).astype(int)
    return {
        "auc": float(roc_auc_score(y_true, p)),
        "precision": float(precision_score(y_true, pred, zero_division=0)),
        "recall": float(recall_score(y_true, pred, zero_division=0)),
        "accuracy": float(accuracy_score(y_true, pred)),
        "f1": float(f1_score(y_true, pred, zero_division=0)),
    }


@dataclass
class CVResult:
    """Result of one model's repeated cross-validation.

    Attributes
    ----------
    metrics : pandas.DataFrame
        One row per (repeat, fold): the metrics, ``fit_seconds``, ``seed``, ``n_train``, ``n_test``.
    predictions : pandas.DataFrame
        Out-of-fold probabilities: ``case_id``, ``label``, ``repeat``, ``fold``, ``probability``.
    extras : dict
        Optional per-fold outputs (e.g. ``attention``: DataFrame of case x input weights).
    """

    metrics: pd.DataFrame
    predictions: pd.DataFrame
    extras: dict


def _run_fold(make_estimator: Callable, X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
              seed: int, attention: bool):
    estimator = make_estimator(seed)
    start = time.perf_counter()
    estimator.fit(X[train], y[train])
    seconds = time.perf_counter() - start
    p = estimator.predict_proba(X[test])[:, 1]
    weights = None
    if attention:
        final = getattr(estimator, "best_estimator_", estimator)
        if hasattr(final, "attention_weights"):
            weights = final.attention_weights(X[test])
    return p, seconds, weights


def cross_validate(make_estimator: Callable, X: np.ndarray, y: np.ndarray, case_ids: Sequence[str],
                   folds: pd.DataFrame, seed: int = 0, n_jobs: int = 1, progress: Callable | None = None,
                   input_names: Sequence[str] | None = None, client=None) -> CVResult:
    """Fit a fresh estimator per (repeat, fold) of ``folds`` and score it on the held-out fold.

    Parameters
    ----------
    make_estimator : callable
        ``make_estimator(random_state) -> estimator``; called once per fold with
        :func:`fold_seed`, so every fit starts unfitted and seeded.
    X : np.ndarray, shape (n_cases, n_features)
        Features in the order of ``case_ids``.
    y : np.ndarray, shape (n_cases,)
        Labels 0/1.
    case_ids : sequence of str
        Case ids of the rows of ``X``.
    folds : pandas.DataFrame
        Table from :func:`make_folds` or :func:`load_folds`.
    seed : int
        Base seed of the estimators.
    n_jobs : int
        Folds run in parallel (joblib processes) when above 1.
    progress : callable, optional
        Called with no argument after each finished fold.
    input_names : sequence of str, optional
        Names of the inputs, for the attention table of estimators that provide one.
    client : distributed.Client, optional
        Run each (repeat, fold) as a Dask task on this client's cluster instead (``n_jobs`` is then
        ignored); same seeds, so the same results (see :mod:`mgmtfeat.extraction.dask`).
    """
    y = check_labels(y, case_ids, int(folds["fold"].max()) + 1)
    if not np.all(np.isfinite(X)):
        row = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
        raise EvaluationError(f"case {case_ids[row]}: NaN or infinite feature values; re-extract it.")
    splits = _fold_indices(folds, case_ids)
    args = [(make_estimator, X, y, train, test, fold_seed(seed, r, k), input_names is not None)
            for r, k, train, test in splits]
    if client is not None:
        from mgmtfeat.extraction.dask import map_folds

        outputs = map_folds(client, _run_fold, args, progress)
    elif n_jobs == 1:
        outputs = []
        for a in args:
            outputs.append(_run_fold(*a))
            if progress:
                progress()
    else:
        from joblib import Parallel, delayed

        outputs = []
        for out in Parallel(n_jobs=n_jobs, return_as="generator")(delayed(_run_fold)(*a) for a in args):
            outputs.append(out)
            if progress:
                progress()
    metric_rows, prediction_parts, attention_parts = [], [], []
    ids = np.asarray(case_ids)
    for (repeat, fold, train, test), (p, seconds, weights) in zip(splits, outputs):
        metric_rows.append({"repeat": repeat, "fold": fold, **binary_metrics(y[test], p), "fit_seconds": seconds,
                            "seed": fold_seed(seed, repeat, fold), "n_train": len(train), "n_test": len(test)})
        prediction_parts.append(pd.DataFrame({"case_id": ids[test], "label": y[test], "repeat": repeat,
                                              "fold": fold, "probability": p}))
        if weights is not None:
            table = pd.DataFrame(weights, columns=list(input_names))
            table.insert(0, "case_id", ids[test])
            table.insert(1, "repeat", repeat)
            attention_parts.append(table)
    extras = {"attention": pd.concat(attention_parts, ignore_index=True)} if attention_parts else {}
    return CVResult(pd.DataFrame(metric_rows), pd.concat(prediction_parts, ignore_index=True), extras)


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


def net_benefit(y_true: np.ndarray, p: np.ndarray, thresholds: np.ndarray) -> pd.DataFrame:
    """Decision-curve net benefit of a model, of treating all and of treating none.

    Net benefit at threshold t: TP/n - FP/n * t / (1 - t).
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


def wilcoxon_paired(a, b) -> float:
    """Two-sided Wilcoxon signed-rank P value of paired per-fold values."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if np.allclose(a, b):
        return 1.0
    return float(stats.wilcoxon(a, b).pvalue)
