"""Saved folds: one repeated stratified K-fold assignment per cohort, shared by every model.

Folds are made once per cohort (:func:`make_folds`), saved as a table of case id x repeat x fold,
and reused by every model and ablation, so that their results are paired fold by fold.
:class:`SavedFolds` hands one repeat of such a table to anything that takes a scikit-learn
splitter (``GridSearchCV(cv=SavedFolds(folds, case_ids))``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

__all__ = ["EvaluationError", "check_labels", "make_folds", "load_folds", "fold_seed", "SavedFolds"]


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


class SavedFolds:
    """A scikit-learn splitter over one repeat of a saved fold table.

    Parameters
    ----------
    folds : pandas.DataFrame
        Table from :func:`make_folds` or :func:`load_folds` (``case_id``, ``repeat``, ``fold``).
    case_ids : sequence of str, length n_cases
        Case ids of the rows of the ``X`` that :meth:`split` is given, in that order.
    repeat : int
        Which repeat of the table to use.

    Raises
    ------
    EvaluationError
        ``repeat`` is not in the table, or it does not assign each of ``case_ids`` exactly once.

    Examples
    --------
    >>> search = GridSearchCV(make_model("logistic"), grid, cv=SavedFolds(folds, data.case_ids, repeat=0))
    """

    def __init__(self, folds: pd.DataFrame, case_ids: Sequence[str], repeat: int = 0):
        part = folds[folds["repeat"] == repeat]
        if part.empty:
            raise EvaluationError(
                f"fold table has no repeat {repeat} (repeats: {sorted(folds['repeat'].unique().tolist())}); "
                "choose one of those."
            )
        if part["case_id"].duplicated().any() or set(part["case_id"]) != set(case_ids) \
                or len(set(case_ids)) != len(case_ids):
            raise EvaluationError(
                f"fold table repeat {repeat} does not assign each of the {len(case_ids)} cases exactly once "
                "(the cohort changed since the folds were made); make new folds for these cases."
            )
        self.folds, self.case_ids, self.repeat = folds, list(case_ids), repeat
        fold_of = dict(zip(part["case_id"], part["fold"].astype(int)))
        self._fold = np.array([fold_of[c] for c in self.case_ids], np.int64)  # (n_cases,) test fold per row
        #: Fold numbers of the repeat, in the order :meth:`split` yields them.
        self.fold_ids = np.unique(self._fold)

    def __repr__(self) -> str:
        return f"SavedFolds(repeat={self.repeat}, n_splits={self.get_n_splits()}, n_cases={len(self.case_ids)})"

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of folds of the repeat."""
        return len(self.fold_ids)

    def split(self, X=None, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train, test)`` row positions, fold by fold in increasing fold number.

        Parameters
        ----------
        X : array-like of shape (n_cases, ...), optional
            Only its length is checked against ``case_ids``.

        Yields
        ------
        train, test : np.ndarray of int64
            Sorted positions in ``case_ids``.
        """
        if X is not None and len(X) != len(self.case_ids):
            raise EvaluationError(
                f"SavedFolds over {len(self.case_ids)} cases was given X with {len(X)} rows; pass the rows of "
                "case_ids, in that order."
            )
        for fold in self.fold_ids:
            yield np.flatnonzero(self._fold != fold), np.flatnonzero(self._fold == fold)
