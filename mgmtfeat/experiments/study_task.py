"""The task of a cross-validation study: which cases, labels, sites, covariates, held-out test cases and
folds, and the fold loop that fits K-class models on them.

``mgmtfeat cv`` predicts the store's binary MGMT labels unless told otherwise; :class:`TaskOptions`
holds the options that change that (any label from a CSV, a held-out test cohort, sites, ComBat,
subgroup covariates) and :func:`prepare_cohort` turns them into a :class:`StudyCohort`. Everything
that is fitted (harmonisation, models) sees training rows only: ComBat enters each fold's estimator
(:func:`estimator_factory`), and the held-out cases are removed before the folds are made.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from mgmtfeat.evaluation import check_groups
from mgmtfeat.store import FeatureSet, FeatureStore
from mgmtfeat.experiments.cohort import shared_folds
from mgmtfeat.store.labels import ID_COLUMNS, LabelError, match_case_ids, read_task_labels

__all__ = ["TaskOptions", "StudyCohort", "prepare_cohort", "read_columns", "estimator_factory", "model_matrix"]

log = logging.getLogger(__name__)
_SHOWN = 5


@dataclass
class TaskOptions:
    """The options of ``mgmtfeat cv`` beyond the binary MGMT study (see its ``--help``).

    Attributes
    ----------
    labels, label_column, id_column, positive_class
        Label CSV and its columns (None: the store's MGMT labels), as in :func:`read_task_labels`.
    test_features : str or None
        A second store scored once as the held-out test cohort.
    test_labels : str or None
        Labels of the test cohort; without ``test_features`` they name held-out cases of the store.
    ensemble : {"mean", "vote"}
        How the fold models are combined on the test cohort.
    bootstrap_fraction : float or None
        Subsample fraction of the test cohort's bootstrap (None: the classical bootstrap).
    n_resamples : int
        Bootstrap resamples of every interval.
    group_column : str or None
        Site column of the label or covariate file: grouped folds and the site comparison.
    leave_one_group_out : bool
        One fold per site instead of ``StratifiedGroupKFold``.
    harmonize : {None, "combat"}
        ComBat by site, fitted on each training fold.
    covariates : str or None
        CSV of case covariates for the subgroup table.
    age_bands : sequence of float
        Edges of the age bands of the subgroup table.

    Raises
    ------
    ValueError
        At construction: ``harmonize`` without ``group_column``; ``leave_one_group_out`` with
        ``harmonize`` or without ``group_column``; ``bootstrap_fraction`` outside (0, 1) or without a
        test cohort (``test_features`` or ``test_labels``).
    """

    labels: str | None = None
    label_column: str | None = None
    id_column: str | None = None
    positive_class: str | None = None
    test_features: str | None = None
    test_labels: str | None = None
    ensemble: str = "mean"
    bootstrap_fraction: float | None = None
    n_resamples: int = 1000
    group_column: str | None = None
    leave_one_group_out: bool = False
    harmonize: str | None = None
    covariates: str | None = None
    age_bands: Sequence[float] = (50, 65)

    def __post_init__(self) -> None:
        if self.harmonize and not self.group_column:
            raise ValueError("--harmonize combat needs the site of each case: name its column with --group-column")
        if self.leave_one_group_out and self.harmonize:
            raise ValueError("--leave-one-group-out holds each site out, but ComBat needs every test site in "
                             "training; drop one of them")
        if self.leave_one_group_out and not self.group_column:
            raise ValueError("--leave-one-group-out needs --group-column naming the site column")
        if self.bootstrap_fraction is not None and not 0 < self.bootstrap_fraction < 1:
            raise ValueError(f"--bootstrap-fraction {self.bootstrap_fraction}: give a fraction in (0, 1), e.g. 0.9")
        if self.bootstrap_fraction is not None and not (self.test_features or self.test_labels):
            raise ValueError("--bootstrap-fraction applies to the held-out test cohort; add --test-features or "
                             "--test-labels")


@dataclass
class StudyCohort:
    """The training cohort (labels encoded 0..K-1), its sites, covariates and folds, and the test cohort."""

    data: FeatureSet  # training cases, every input; y encoded 0..K-1
    classes: list
    positive_class: object
    label_source: str
    n_unlabelled: int
    folds: pd.DataFrame
    folds_path: object
    groups: np.ndarray | None = None  # site of each training case (str)
    covariates: pd.DataFrame | None = None  # indexed by case id
    test: FeatureSet | None = None  # held-out cases, y encoded like the training classes
    test_groups: np.ndarray | None = None
    notes: list = field(default_factory=list)

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2


def read_columns(path: str, case_ids: Sequence[str], columns: Sequence[str] | None = None,
                 id_column: str | None = None) -> pd.DataFrame:
    """Columns of a CSV keyed by case, indexed by the store's ``case_ids`` (text; NaN where missing).

    Ids are matched as in :func:`read_task_labels` (``case_id`` exactly, dataset ids by number).
    """
    table = pd.read_csv(path, dtype=str)
    id_column = id_column or next((c for c in ID_COLUMNS if c in table.columns), None)
    if id_column not in table.columns:
        raise LabelError(f"{path}: no id column ({id_column or ', '.join(ID_COLUMNS)}); its columns: "
                         f"{', '.join(table.columns)}. Add a case_id column or name it with --id-column.")
    wanted = list(columns) if columns is not None else [c for c in table.columns if c != id_column]
    absent = [c for c in wanted if c not in table.columns]
    if absent:
        raise LabelError(f"{path}: no column {', '.join(map(repr, absent))}; its columns: {', '.join(table.columns)}.")
    table = table.assign(_case=match_case_ids(table, id_column, [str(c) for c in case_ids], path)).dropna(subset=["_case"])
    return table.drop_duplicates("_case").set_index("_case")[wanted].reindex(list(case_ids))


def _subset(data: FeatureSet, case_ids: Sequence[str], y: np.ndarray) -> FeatureSet:
    position = {c: i for i, c in enumerate(data.case_ids)}
    rows = [position[c] for c in case_ids]
    return FeatureSet(data.values[rows], np.asarray(y, np.int64), tuple(case_ids), data.inputs, data.sizes)


def _encode_like(task, classes: list, what: str) -> np.ndarray:
    unknown = sorted({str(task.classes[i]) for i in task.y} - {str(c) for c in classes})
    if unknown:
        raise LabelError(f"{what} ({task.source}): classes {unknown} are not classes of the training labels "
                         f"{classes}; use the same label column (--label-column) for both cohorts.")
    index = {str(c): k for k, c in enumerate(classes)}
    return np.array([index[str(task.classes[i])] for i in task.y], np.int64)


def _sites(options: TaskOptions, case_ids: Sequence[str]) -> np.ndarray:
    """The site of each case from the label file or, failing that, the covariate file."""
    column = options.group_column
    for path in (options.labels, options.covariates):
        if path and column in pd.read_csv(path, nrows=0).columns:
            values = read_columns(path, case_ids, [column], options.id_column)[column]
            return check_groups(values.tolist(), list(case_ids), column)
    raise LabelError(f"--group-column {column!r}: no such column in the label file ({options.labels}) or the "
                     f"covariate file ({options.covariates}); add it to one of them (--labels or --covariates).")


def prepare_cohort(store: FeatureStore, nets: Sequence[str], options: TaskOptions, folds: int, repeats: int,
                   seed: int, folds_file: str | None = None, intersect: bool = False) -> StudyCohort:
    """Load the store's cases with their task labels, sites and covariates; set aside the test cases; fold.

    Store cases without a label in ``options.labels`` are left out (counted in ``n_unlabelled`` and
    logged by :func:`read_task_labels`).
    """
    everything = store.load(list(nets), require_labels=options.labels is None, intersect=intersect)
    task = read_task_labels(options.labels, everything.case_ids, options.label_column, options.id_column,
                            options.positive_class, store_labels=everything.y)
    classes, train_ids, y = list(task.classes), list(task.case_ids), task.y
    notes = [f"{task.n_unlisted} store case(s) without a "
             f"label in {task.source} left out"] if task.n_unlisted else []
    test = None
    if options.test_features:
        other = FeatureStore(options.test_features)
        test_all = other.load(list(nets), require_labels=options.test_labels is None, intersect=intersect)
        test_task = read_task_labels(options.test_labels, test_all.case_ids, options.label_column, options.id_column,
                                     store_labels=test_all.y)
        test = _subset(test_all, test_task.case_ids, _encode_like(test_task, classes, "test labels"))
    elif options.test_labels:
        test_task = read_task_labels(options.test_labels, everything.case_ids, options.label_column,
                                     options.id_column)
        held = set(test_task.case_ids)
        keep = np.array([c not in held for c in train_ids])
        train_ids, y = [c for c, k in zip(train_ids, keep) if k], y[keep]
        test = _subset(everything, test_task.case_ids, _encode_like(test_task, classes, "test labels"))
        notes.append(f"{len(held)} held-out test case(s) named in {options.test_labels} excluded from the CV")
    data = _subset(everything, train_ids, y)
    groups = _sites(options, train_ids) if options.group_column else None
    test_groups = None
    if options.harmonize and test is not None:
        test_groups = _sites(options, test.case_ids)  # ComBat in the fold models needs the test cases' sites
    covariates = read_columns(options.covariates, train_ids, id_column=options.id_column) \
        if options.covariates else None
    # ComBat must see every test-fold site in training, so with it the folds mix sites (plain stratified)
    fold_groups = groups if groups is not None and not options.harmonize else None
    table, path = shared_folds(store, data, folds, repeats, seed, folds_file, fold_groups, options.group_column,
                               options.leave_one_group_out)
    return StudyCohort(data, classes, task.positive_class, task.source, task.n_unlisted, table, path, groups,
                       covariates, test, test_groups, notes)


def estimator_factory(model: str, nested: bool, seed: int, params: dict | None, harmonize: str | None) -> Callable:
    """``factory(random_state) -> estimator``; with ``harmonize="combat"`` a pipeline whose first step is
    ``ComBatHarmonizer(site_column=0)``: X must then carry the site code as column 0 (:func:`model_matrix`).
    """
    from mgmtfeat.experiments.base import make_estimator_factory

    build = make_estimator_factory(model, nested, seed, params)
    if not harmonize:
        return build
    if harmonize != "combat":
        raise ValueError(f"--harmonize {harmonize!r}: the only method is 'combat'")

    def harmonized(random_state):
        from sklearn.pipeline import Pipeline

        from mgmtfeat.models.harmonize import ComBatHarmonizer

        return Pipeline([("combat", ComBatHarmonizer(site_column=0)), ("model", build(random_state))])

    return harmonized


def model_matrix(data: FeatureSet, site_codes: dict | None = None, groups: np.ndarray | None = None) -> np.ndarray:
    """X of shape (n_cases, n_inputs * 400), with the site code as a first column when harmonising."""
    if site_codes is None:
        return data.X2d
    return np.column_stack([np.array([site_codes[g] for g in groups], float), data.X2d])
