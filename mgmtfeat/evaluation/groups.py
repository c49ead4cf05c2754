"""Folds for any task (K classes) and folds that keep a group (a site) on one side of every split.

:func:`task_folds` is :func:`mgmtfeat.evaluation.folds.make_folds` for K >= 2 classes (the same
splitter and seeds, so a binary task gets the same table), optionally grouped: with ``groups`` no
group has cases in both the training and the test part of any fold (``StratifiedGroupKFold``, or one
fold per group with ``leave_one_group_out``). :func:`folds_key` names the saved table so that plain
and grouped folds of one cohort never overwrite each other.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import pandas as pd

from mgmtfeat.evaluation.folds import EvaluationError

__all__ = ["check_groups", "task_folds", "folds_key", "check_group_folds"]

_SHOWN = 5


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


def task_folds(case_ids: Sequence[str], y: np.ndarray, n_splits: int = 5, n_repeats: int = 4, seed: int = 0,
               groups: Sequence[str] | None = None, leave_one_group_out: bool = False) -> pd.DataFrame:
    """Repeated stratified K-fold assignment of a K-class task, optionally grouped.

    Parameters
    ----------
    case_ids : sequence of str, length n_cases
    y : np.ndarray of int, shape (n_cases,)
        Encoded labels 0..K-1.
    n_splits, n_repeats, seed : int
        As in :func:`make_folds` (repeat r shuffles with ``seed + r``). With ``leave_one_group_out``
        the folds are the groups and there is one repeat (the split has no randomness).
    groups : sequence of str, optional
        Group (site) of each case; see :func:`check_groups`.
    leave_one_group_out : bool
        One fold per group instead of ``StratifiedGroupKFold``.

    Returns
    -------
    pandas.DataFrame
        ``case_id``, ``label``, ``repeat``, ``fold`` (plus ``group`` when grouped).
    """
    from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold

    y = np.asarray(y, np.int64)
    counts = np.bincount(y)
    if groups is None and counts.min() < n_splits:
        raise EvaluationError(f"class {int(np.argmin(counts))} has {counts.min()} cases, fewer than the {n_splits} "
                              f"folds; lower --folds to at most {counts.min()} or add cases.")
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


def folds_key(case_ids: Sequence[str], y: np.ndarray, n_splits: int, n_repeats: int, seed: int,
              group_column: str | None = None, groups: Sequence[str] | None = None,
              leave_one_group_out: bool = False) -> str:
    """File name of a saved fold table: K, repeats, seed, the grouping and a digest of the cohort.

    Plain folds keep the name of :func:`mgmtfeat.experiments.shared_folds` (``k5-r4-seed0-<digest>``),
    so a binary study reuses the tables already saved; grouped folds add ``-by-<column>`` (or
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
