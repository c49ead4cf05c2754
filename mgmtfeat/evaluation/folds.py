"""Saved folds: one repeated stratified K-fold assignment per cohort, shared by every model.

Folds are made once per cohort (:func:`make_folds`), saved as a table of case id x repeat x fold
under a name that says how (:func:`folds_key`), and reused by every model and ablation, so that
their results are paired fold by fold. Grouped folds keep a group (a site) on one side of every split.
:class:`SavedFolds` hands one repeat of such a table to anything that takes a scikit-learn
splitter (``GridSearchCV(cv=SavedFolds(folds, case_ids))``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

__all__ = ["EvaluationError", "check_labels", "check_groups", "make_folds", "load_folds", "fold_seed", "folds_key",
           "check_group_folds", "SavedFolds"]

_SHOWN = 5  # cases or groups named in a message


class EvaluationError(ValueError):
    """Labels, folds or inputs that cannot support a valid evaluation."""


def check_labels(y: np.ndarray, case_ids: Sequence[str], n_splits: int, grouped: bool = False) -> np.ndarray:
    """Validate encoded class labels 0..K-1 (K >= 2) for stratified ``n_splits``-fold CV; return them as int64.

    Parameters
    ----------
    grouped : bool
        Folds keep groups together: a class may then have fewer cases than folds.

    Raises
    ------
    EvaluationError
        Labels that are not codes 0..K-1, a single class, fewer cases of a class than folds, or duplicate ids.
    """
    y = np.asarray(y)
    try:
        values = y.astype(float)
    except (TypeError, ValueError):
        raise EvaluationError(f"labels must be class codes 0, 1, ...; found {y[:3].tolist()}. Encode the classes "
                              "(mgmtfeat.store.labels.read_task_labels does).") from None
    bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
    if bad.any():
        examples = ", ".join(f"{case_ids[i]}={y[i].item()!r}" for i in np.flatnonzero(bad)[:3])
        raise EvaluationError(f"labels must be class codes 0, 1, ... (0/1 for a binary task); found {examples}. "
                              "Fix the label table.")
    y = y.astype(np.int64)
    counts = np.bincount(y, minlength=2)
    if (counts > 0).sum() < 2:
        raise EvaluationError(f"all {len(y)} cases have label {int(y[0])}; a classifier needs two classes or more.")
    if counts.min() == 0:
        raise EvaluationError(f"class code {int(np.argmin(counts))} has no case; encode the classes as 0..K-1.")
    if not grouped and counts.min() < n_splits:
        raise EvaluationError(
            f"class {int(np.argmin(counts))} has {counts.min()} cases, fewer than the {n_splits} folds; "
            f"lower --folds to at most {counts.min()} or add cases."
        )
    ids = pd.Series(case_ids)
    if ids.duplicated().any():
        raise EvaluationError(f"duplicate case ids: {sorted(set(ids[ids.duplicated()]))[:5]}")
    return y


def make_folds(case_ids: Sequence[str], y: np.ndarray, n_splits: int = 5, n_repeats: int = 4, seed: int = 0,
               groups: Sequence[str] | None = None, leave_one_group_out: bool = False) -> pd.DataFrame:
    """Repeated stratified K-fold assignment of a task of K >= 2 classes, optionally grouped.

    Parameters
    ----------
    case_ids : sequence of str, length n_cases
    y : np.ndarray of int, shape (n_cases,)
        Encoded labels 0..K-1.
    n_splits, n_repeats, seed : int
        Folds, repeats, and the seed (repeat r shuffles with ``seed + r``). With
        ``leave_one_group_out`` the folds are the groups and there is one repeat.
    groups : sequence of str, optional
        Group (site) of each case (see :func:`check_groups`): no group has cases on both sides of
        a split (``StratifiedGroupKFold``).
    leave_one_group_out : bool
        One fold per group instead.

    Returns
    -------
    pandas.DataFrame
        Columns ``case_id``, ``label``, ``repeat``, ``fold`` (plus ``group`` when grouped): one row per
        case and repeat, ``fold`` being the test fold of that case in that repeat (0-based).
    """
    from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold

    y = check_labels(y, case_ids, n_splits, grouped=groups is not None)
    if groups is not None:
        groups = check_groups(groups, case_ids)
        n_groups = len(set(groups))
        if not leave_one_group_out and n_groups < n_splits:
            raise EvaluationError(f"{n_groups} groups cannot fill {n_splits} grouped folds (no group may be split); "
                                  f"lower --folds to at most {n_groups} or pass --leave-one-group-out.")
    parts = []
    for repeat in range(1 if leave_one_group_out else n_repeats):
        if groups is None:
            splits = StratifiedKFold(n_splits, shuffle=True, random_state=seed + repeat).split(np.zeros(len(y)), y)
        elif leave_one_group_out:
            splits = LeaveOneGroupOut().split(np.zeros(len(y)), y, groups)
        else:
            splits = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed + repeat).split(
                np.zeros(len(y)), y, groups)
        fold = np.empty(len(y), np.int64)
        for k, (_, test) in enumerate(splits):
            fold[test] = k
        part = pd.DataFrame({"case_id": list(case_ids), "label": y, "repeat": repeat, "fold": fold})
        if groups is not None:
            part["group"] = groups
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


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


def check_groups(groups: Sequence, case_ids: Sequence[str], column: str = "group") -> np.ndarray:
    """Validate one group (site) per case; return them as an array of str.

    Raises
    ------
    EvaluationError
        A missing group, a group with a single case (it could never be both trained on and held
        out fairly, and ComBat cannot estimate its variance), or fewer than two groups.
    """
    groups = np.asarray([None if g is None or (isinstance(g, float) and np.isnan(g)) else str(g) for g in groups],
                        dtype=object)
    if len(groups) != len(case_ids):
        raise EvaluationError(f"{len(groups)} {column} values for {len(case_ids)} cases; give one per case.")
    missing = [c for c, g in zip(case_ids, groups) if g is None or g == ""]
    if missing:
        raise EvaluationError(f"column {column!r}: {len(missing)} case(s) have no value ({', '.join(missing[:_SHOWN])}"
                              f"{' ...' if len(missing) > _SHOWN else ''}); fill it in for every case or leave those "
                              "cases out of the label file.")
    names, counts = np.unique(groups.astype(str), return_counts=True)
    if len(names) < 2:
        raise EvaluationError(f"column {column!r}: every case has the value {names[0]!r}; grouped folds need at least "
                              "two groups. Leave --group-column out for a single-site cohort.")
    single = [str(g) for g in names[counts == 1]]
    if single:
        case_of = {g: c for c, g in zip(case_ids, groups)}
        raise EvaluationError(f"column {column!r}: {len(single)} {column} value(s) with a single case: "
                              f"{', '.join(f'{g!r} (case {case_of[g]})' for g in single[:_SHOWN])}; merge each "
                              f"with a similar {column} in the file, or leave the case out of the label file.")
    return groups.astype(str)


def folds_key(case_ids: Sequence[str], y: np.ndarray, n_splits: int, n_repeats: int, seed: int,
              group_column: str | None = None, groups: Sequence[str] | None = None,
              leave_one_group_out: bool = False) -> str:
    """File name of a saved fold table: K, repeats, seed, the grouping and a digest of the cohort.

    Plain folds are named ``k5-r4-seed0-<digest>``, as before grouping existed, so saved tables are
    reused; grouped folds add ``-by-<column>`` (or
    ``logo-<column>``) and the groups enter the digest, so they never overwrite plain ones.
    """
    lines = [f"{c},{l}" for c, l in zip(case_ids, y)]
    if groups is not None:
        lines = [f"{line},{g}" for line, g in zip(lines, groups)]
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:10]
    if groups is None:
        return f"k{n_splits}-r{n_repeats}-seed{seed}-{digest}"
    column = "".join(ch if ch.isalnum() else "_" for ch in str(group_column or "group"))
    if leave_one_group_out:
        return f"logo-{column}-{digest}"
    return f"k{n_splits}-r{n_repeats}-seed{seed}-by-{column}-{digest}"


def check_group_folds(folds: pd.DataFrame, group_of: dict) -> None:
    """Raise :class:`EvaluationError` if any fold has a group among both its training and test cases."""
    for repeat, part in folds.groupby("repeat"):
        groups = part["case_id"].map(group_of)
        for fold in part["fold"].unique():
            test = part["fold"] == fold
            shared = set(groups[test]) & set(groups[~test])
            if shared:
                raise EvaluationError(f"fold table repeat {repeat} fold {fold}: group(s) {sorted(shared)[:_SHOWN]} on "
                                      "both sides of the split; make the grouped folds again (delete the saved table).")
