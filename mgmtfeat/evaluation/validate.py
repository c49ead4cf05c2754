"""Repeated cross-validation over saved folds: one loop, wherever its folds run.

Each fit sees its training rows only: scaling, selection, early stopping and nested
hyper-parameter search all happen inside the estimator or pipeline that :func:`cross_validate`
builds afresh per fold. The folds run in this process, in a process pool or on a Dask cluster
(:mod:`mgmtfeat._parallel`) with the same seeds, so with the same results.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from mgmtfeat._parallel import DaskExecutor, Executor, make_executor
from mgmtfeat.evaluation.folds import EvaluationError, SavedFolds, check_labels, fold_seed
from mgmtfeat.evaluation.metrics import fold_metrics

__all__ = ["CVResult", "cross_validate"]


@dataclass
class CVResult:
    """Result of one model's repeated cross-validation.

    Attributes
    ----------
    metrics : pandas.DataFrame
        One row per (repeat, fold): the metrics, ``fit_seconds``, ``seed``, ``n_train``, ``n_test``.
    predictions : pandas.DataFrame
        Out-of-fold probabilities: ``case_id``, ``label``, ``repeat``, ``fold``, ``prob_<class>``
        (and ``probability`` of the positive class for two classes).
    extras : dict
        Optional outputs: ``attention`` (DataFrame of case x input weights), ``models`` (the fold
        models of ``keep_repeat``), ``best_params`` (nested search: ``repeat``, ``fold`` and one column
        per hyper-parameter chosen in that outer fold).
    """

    metrics: pd.DataFrame
    predictions: pd.DataFrame
    extras: dict


def _fold_indices(folds: pd.DataFrame, case_ids: Sequence[str]) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """``(repeat, fold, train rows, test rows)`` of every fold of the table, repeat by repeat."""
    splits = []
    for repeat in sorted(folds["repeat"].unique()):
        splitter = SavedFolds(folds, case_ids, repeat)
        for fold, (train, test) in zip(splitter.fold_ids, splitter.split()):
            splits.append((int(repeat), int(fold), train, test))
    return splits


def _run_fold(split: tuple, *, make_estimator: Callable, X: np.ndarray, y: np.ndarray, n_classes: int,
              attention: bool):
    """Task: fit on the training rows of ``split = (train, test, seed, keep)``; probabilities of the test rows.

    Returns
    -------
    tuple
        ``(proba, fit seconds, attention weights or None, the fitted estimator if keep else None,
        the hyper-parameters a nested search chose or None)``; ``proba`` of shape (n_test, n_classes),
        the weights of shape (n_test, n_inputs).
    """
    train, test, seed, keep = split
    estimator = make_estimator(seed)
    start = time.perf_counter()
    estimator.fit(X[train], y[train])
    seconds = time.perf_counter() - start
    proba = np.asarray(estimator.predict_proba(X[test]), float)
    if proba.shape[1] != n_classes:
        raise EvaluationError(f"a fold model gives {proba.shape[1]} probability columns for {n_classes} classes: a "
                              "training fold lacks a class; lower --folds or add cases of the rare class.")
    final = getattr(estimator, "best_estimator_", estimator)
    weights = final.attention_weights(X[test]) if attention and hasattr(final, "attention_weights") else None
    return proba, seconds, weights, estimator if keep else None, chosen_params(estimator)


def chosen_params(estimator) -> dict | None:
    """The hyper-parameters an inner search chose (``best_params_``), also inside a pipeline's last step; else None."""
    steps = getattr(estimator, "steps", None)
    search = steps[-1][1] if steps else estimator  # e.g. ComBat, then the search
    best = getattr(search, "best_params_", None)
    return None if best is None else {str(k): (v.item() if hasattr(v, "item") else v) for k, v in best.items()}


def cross_validate(make_estimator: Callable, X: np.ndarray, y: np.ndarray, case_ids: Sequence[str],
                   folds: pd.DataFrame, seed: int = 0, n_jobs: int = 1, progress: Callable | None = None,
                   input_names: Sequence[str] | None = None, client=None, executor: Executor | None = None,
                   classes: Sequence | None = None, keep_repeat: int | None = None) -> CVResult:
    """Fit a fresh estimator per (repeat, fold) of ``folds`` and score it on the held-out fold.

    The one cross-validation loop of the package, for any number of classes and whatever runs the folds.

    Parameters
    ----------
    make_estimator : callable
        ``make_estimator(random_state) -> estimator``; called once per fold with
        :func:`fold_seed`, so every fit starts unfitted and seeded.
    X : np.ndarray, shape (n_cases, n_features)
        Features in the order of ``case_ids``.
    y : np.ndarray of int, shape (n_cases,)
        Encoded labels 0..K-1 (binary: 1 is the positive class).
    case_ids : sequence of str
        Case ids of the rows of ``X``.
    folds : pandas.DataFrame
        Table from :func:`make_folds` or :func:`load_folds`.
    seed : int
        Base seed of the estimators.
    n_jobs : int
        Folds run in that many local processes when above 1 (ignored when ``executor`` or ``client`` is given).
    progress : callable, optional
        Called with no argument after each finished fold.
    input_names : sequence of str, optional
        Names of the inputs, for the attention table of estimators that provide one.
    client : distributed.Client, optional
        Run each (repeat, fold) as a Dask task on this client's cluster (same as
        ``executor=DaskExecutor(client=client)``).
    executor : mgmtfeat._parallel.Executor, optional
        Where the folds run (left open). The seeds do not depend on it, so neither do the results.
    classes : sequence, optional
        Class names in code order, for the ``prob_<class>`` columns (default the codes 0..K-1).
    keep_repeat : int, optional
        Keep the fitted fold models of this repeat (``extras["models"]``, in fold order).

    Returns
    -------
    CVResult
        ``metrics``: per fold :func:`fold_metrics`, ``fit_seconds``, ``seed``, ``n_train``, ``n_test``;
        ``predictions``: ``case_id``, ``label`` (code), ``repeat``, ``fold``, ``prob_<class>`` per class
        and, for two classes, ``probability`` (of the positive class).
    """
    y = check_labels(y, case_ids, int(folds["fold"].max()) + 1, grouped="group" in folds.columns)
    classes = list(range(int(y.max()) + 1)) if classes is None else list(classes)
    if not np.all(np.isfinite(X)):
        row = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
        raise EvaluationError(f"case {case_ids[row]}: NaN or infinite feature values; re-extract it.")
    splits = _fold_indices(folds, case_ids)
    items = [(train, test, fold_seed(seed, r, k), r == keep_repeat) for r, k, train, test in splits]
    shared = {"make_estimator": make_estimator, "X": X, "y": y, "n_classes": len(classes),
              "attention": input_names is not None}
    outputs: list = [None] * len(items)
    with contextlib.ExitStack() as stack:
        if executor is None:
            executor = DaskExecutor(client=client) if client is not None else make_executor(jobs=n_jobs)
            stack.enter_context(executor)
        names = [f"fold-r{r}-k{k}" for r, k, _, _ in splits]
        for index, output in executor.map(_run_fold, items, shared=shared, names=names):
            outputs[index] = output
            if progress:
                progress()
    return _collect(splits, outputs, y, np.asarray(case_ids), classes, seed, input_names)


def _collect(splits, outputs, y, ids, classes, seed, input_names) -> CVResult:
    metric_rows, prediction_parts, attention_parts, models, chosen = [], [], [], [], []
    for (repeat, fold, train, test), (proba, seconds, weights, model, *best) in zip(splits, outputs):
        if best and best[0] is not None:
            chosen.append({"repeat": repeat, "fold": fold, **best[0]})
        metric_rows.append({"repeat": repeat, "fold": fold, **fold_metrics(y[test], proba), "fit_seconds": seconds,
                            "seed": fold_seed(seed, repeat, fold), "n_train": len(train), "n_test": len(test)})
        part = pd.DataFrame({"case_id": ids[test], "label": y[test], "repeat": repeat, "fold": fold})
        if len(classes) == 2:
            part["probability"] = proba[:, 1]  # the positive class, the column of the binary reports
        for k, name in enumerate(classes):
            part[f"prob_{name}"] = proba[:, k]
        prediction_parts.append(part)
        if weights is not None:
            table = pd.DataFrame(weights, columns=list(input_names))
            table.insert(0, "case_id", ids[test])
            table.insert(1, "repeat", repeat)
            attention_parts.append(table)
        if model is not None:
            models.append(model)
    extras = {"models": models} if models else {}
    if attention_parts:
        extras["attention"] = pd.concat(attention_parts, ignore_index=True)
    if chosen:
        extras["best_params"] = pd.DataFrame(chosen)
    return CVResult(pd.DataFrame(metric_rows), pd.concat(prediction_parts, ignore_index=True), extras)
