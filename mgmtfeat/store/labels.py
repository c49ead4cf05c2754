"""Task labels for the cases of a store: binary MGMT or any other (multi-class) label from a CSV.

A label file is any CSV with an id column and a label column. Ids are matched to the store's case
ids exactly through ``case_id``; through a dataset's own id column (``BraTS21ID`` of RSNA/BraTS,
``ID`` or ``BraTS21 ID`` of UCSF-PDGM) they are matched by the number in the id, so ``12``,
``00012`` and ``BraTS2021_00012`` name the same case, and so do ``UCSF-PDGM-004`` and
``UCSF-PDGM-0004``. Classes are integers when every value is one, text otherwise.

>>> from mgmtfeat.store.labels import read_task_labels
>>> task = read_task_labels("subtypes.csv", store.load(["vivit"], require_labels=False).case_ids)
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["LabelError", "TaskLabels", "read_task_labels", "match_case_ids", "ID_COLUMNS", "LABEL_COLUMNS"]

log = logging.getLogger(__name__)

#: Id columns looked for, in order, when ``id_column`` is not given; all but ``case_id`` match by number.
ID_COLUMNS = ("case_id", "BraTS21ID", "ID", "BraTS21 ID")
#: Label columns looked for, in order, when ``label_column`` is not given (the layouts' MGMT labels first).
LABEL_COLUMNS = ("MGMT_value", "MGMT status", "label")
_INTEGER = re.compile(r"^[+-]?\d+(\.0*)?$")
_SHOWN = 5  # ids listed in a message
#: A numeric label column with more distinct values than this is a measurement (age), not classes.
MAX_NUMERIC_CLASSES = 20


class LabelError(ValueError):
    """A label file or label column that cannot define a classification task."""


@dataclass(frozen=True)
class TaskLabels:
    """The labels of one classification task for the cases of a store.

    Attributes
    ----------
    case_ids : tuple of str, length n_cases
        Store case ids that have a label, in the store's (sorted) order.
    y : np.ndarray of int64, shape (n_cases,)
        Encoded labels 0..K-1, the index of each case's class in ``classes``.
    classes : tuple, length K
        Class names (int or str). Binary tasks put the positive class last, so it is encoded 1.
    positive_class : int, str or None
        The positive class of a binary task; None for K > 2.
    source : str
        ``store`` (the store's own labels) or ``PATH:COLUMN``.
    n_unlisted : int
        Store cases left out because the label source gives them no label.
    unknown_ids : tuple of str
        Label-file ids that are not in the store (dropped).
    """

    case_ids: tuple[str, ...]
    y: np.ndarray
    classes: tuple
    positive_class: object
    source: str
    n_unlisted: int = 0
    unknown_ids: tuple[str, ...] = ()

    @property
    def binary(self) -> bool:
        """Whether the task has two classes."""
        return len(self.classes) == 2

    def counts(self) -> dict:
        """Cases per class, ``{class name: count}`` in class order."""
        n = np.bincount(self.y, minlength=len(self.classes))
        return {c: int(k) for c, k in zip(self.classes, n)}

    def check_folds(self, k: int) -> None:
        """Raise :class:`LabelError` when a class has fewer cases than ``k`` stratified folds."""
        small = {c: n for c, n in self.counts().items() if n < k}
        if small:
            listed = ", ".join(f"{c!r} ({n} cases)" for c, n in small.items())
            fewest = min(small.values())
            # cross-validation needs 2 folds at least, so a class of one case fits no number of folds
            fix = (f"lower the number of folds to at most {fewest}, merge rare classes or add cases" if fewest >= 2 else
                   "no number of folds fits a class of one case (2 folds at least): merge rare classes, drop their "
                   "cases from the label file, or add cases")
            raise LabelError(f"{self.source}: class(es) {listed} have fewer cases than the {k} folds; {fix}.")


def _number(text: str) -> int | None:
    digits = re.findall(r"\d+", str(text))
    return int(digits[-1]) if digits else None


def _pick(columns: Sequence[str], wanted: str | None, defaults: Sequence[str], what: str, path) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise LabelError(f"label file {path}: no {what} column {wanted!r}; its columns: {', '.join(columns)}. "
                             f"Pass one of them.")
        return wanted
    for name in defaults:
        if name in columns:
            return name
    flag = "--label-column" if what == "label" else "--id-column"
    raise LabelError(f"label file {path}: none of the default {what} columns {', '.join(defaults)}; its columns: "
                     f"{', '.join(columns)}. Name the {what} column ({flag}).")


def _classes_of(values: pd.Series) -> pd.Series:
    """Text labels as ints when every one is an integer (``1``, ``1.0``), else stripped text."""
    if values.map(lambda v: bool(_INTEGER.match(v))).all():
        return values.map(lambda v: int(float(v)))
    return values


def _check_categorical(values: pd.Series, path, column: str) -> None:
    """Refuse a numeric column that is a measurement (many values, or fractions), not a class label."""
    numbers = pd.to_numeric(values, errors="coerce")
    if len(numbers) == 0 or numbers.isna().any():  # text labels name classes
        return
    distinct = int(numbers.nunique())
    fractional = bool((numbers != numbers.round()).any())
    if distinct > 2 and (fractional or distinct > MAX_NUMERIC_CLASSES):
        kind = "not all integers" if fractional else f"more than {MAX_NUMERIC_CLASSES} classes"
        raise LabelError(
            f"label file {path}: column {column!r} is continuous: {distinct} distinct numbers from "
            f"{numbers.min():g} to {numbers.max():g} ({kind}), not a class label; mgmtfeat classifies. Make "
            f"classes of it first (e.g. a column {column}_band holding <50, 50-65, >65) and pass that column "
            "with --label-column, or choose another label column (--label-column).")


def match_case_ids(table: pd.DataFrame, id_column: str, case_ids: Sequence[str], path) -> pd.Series:
    """The store case id of each label-file row (NaN where the store lacks it).

    Parameters
    ----------
    table : pandas.DataFrame
        The label file's rows.
    id_column : str
        The column naming each row's case: ``case_id`` (matched as it is), or one of :data:`ID_COLUMNS`
        holding ids whose case number is matched (e.g. ``BraTS21ID`` 4 to ``BraTS2021_00004``).
    case_ids : sequence of str
        The store's case ids.
    path
        The label file, for messages.

    Returns
    -------
    pandas.Series
        One store case id (or NaN) per row of ``table``.

    Raises
    ------
    LabelError
        Two store cases share a number, so a number alone cannot tell them apart.
    """
    if id_column == "case_id":
        known = set(case_ids)
        return table[id_column].where(table[id_column].isin(known))
    by_number: dict[int, str] = {}
    for case in case_ids:
        number = _number(case)
        if number is None:
            continue
        if number in by_number:  # e.g. BraTS2021_00004 and UCSF-PDGM-0004 in one store
            raise LabelError(f"label file {path}: column {id_column} matches cases by number, but store cases "
                             f"{by_number[number]} and {case} share the number {number}; use a case_id column "
                             "holding the store's case ids.")
        by_number[number] = case
    return table[id_column].map(lambda v: by_number.get(_number(v)))


def _encode(labels: pd.Series, positive_class, source: str) -> tuple[tuple, object, np.ndarray]:
    names = sorted(labels.unique().tolist(), key=lambda v: (isinstance(v, str), v))
    if len(names) < 2:
        raise LabelError(f"{source}: every labelled case has the class {names[0]!r} ({len(labels)} cases); a "
                         "classifier needs at least two classes. Check the label column or the cases matched.")
    if positive_class is not None:
        if len(names) != 2:
            raise LabelError(f"{source}: a positive class applies to a binary task, but there are {len(names)} "
                             f"classes {names}; leave --positive-class out.")
        if isinstance(names[0], int) and isinstance(positive_class, str) and _INTEGER.match(positive_class.strip()):
            positive_class = int(float(positive_class))
        if positive_class not in names:
            raise LabelError(f"{source}: positive class {positive_class!r} is not a class of the task; classes: "
                             f"{names}. Pass one of them.")
    elif len(names) == 2:
        positive_class = 1 if names == [0, 1] else names[1]
    if len(names) == 2:
        names = [c for c in names if c != positive_class] + [positive_class]
    index = {c: i for i, c in enumerate(names)}
    return tuple(names), positive_class, labels.map(index).to_numpy(np.int64)


def _read(path, case_ids: Sequence[str], label_column, id_column) -> tuple[pd.Series, tuple[str, ...], str]:
    """Labels by store case id from a CSV; the label-file ids absent from the store; the source name."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"label file {path} does not exist; pass an existing CSV (--labels).") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise LabelError(f"label file {path}: not a readable CSV ({err}).") from None
    columns = [str(c) for c in table.columns]
    id_column = _pick(columns, id_column, ID_COLUMNS, "id", path)
    label_column = _pick(columns, label_column, LABEL_COLUMNS, "label", path)
    source = f"{path}:{label_column}"
    table = table[[id_column, label_column]].apply(lambda col: col.str.strip())
    empty = table[label_column] == ""
    if empty.any() or (table[id_column] == "").any():
        lines = (np.flatnonzero(empty | (table[id_column] == "")) + 2).tolist()
        raise LabelError(f"label file {path}: missing {id_column} or {label_column} on line(s) "
                         f"{lines[:_SHOWN]}{' ...' if len(lines) > _SHOWN else ''} ({len(lines)} in all); fill them "
                         "in or delete those rows.")
    table["case"] = match_case_ids(table, id_column, case_ids, path)
    unknown = tuple(table.loc[table["case"].isna(), id_column].drop_duplicates())
    table = table.dropna(subset=["case"])
    _check_categorical(table[label_column], path, label_column)
    table["label"] = _classes_of(table[label_column])
    clash = table.groupby("case")["label"].nunique()
    if (clash > 1).any():
        bad = clash.index[clash > 1].tolist()
        shown = "; ".join(f"{c}: {sorted(map(str, table.loc[table['case'] == c, 'label'].unique()))}" for c in bad[:_SHOWN])
        raise LabelError(f"label file {path}: {len(bad)} case(s) listed more than once with different labels in "
                         f"{label_column} ({shown}); keep one row per case.")
    return table.drop_duplicates("case").set_index("case")["label"], unknown, source


def read_task_labels(csv: str | os.PathLike | None, case_ids: Sequence[str], label_column: str | None = None,
                     id_column: str | None = None, positive_class=None, *, store_labels=None) -> TaskLabels:
    """Labels of a classification task for the store cases ``case_ids``.

    Parameters
    ----------
    csv : path-like or None
        Label CSV; None uses ``store_labels`` (the store's own binary MGMT labels).
    case_ids : sequence of str, length n
        The store's case ids (e.g. ``FeatureSet.case_ids``).
    label_column : str, optional
        Default: the first of :data:`LABEL_COLUMNS` in the file.
    id_column : str, optional
        Default: the first of :data:`ID_COLUMNS` in the file.
    positive_class : optional
        Positive class of a binary task (text ``"1"`` also names the integer class 1); default 1 for
        classes 0/1, else the second of the two sorted names.
    store_labels : array-like of int, shape (n,), optional
        The store's labels of ``case_ids`` (-1 for none); needed when ``csv`` is None.

    Returns
    -------
    TaskLabels

    Raises
    ------
    LabelError
        A missing column, missing values, one id with different labels, a single class, or an
        unknown positive class. ``FileNotFoundError`` for a missing file.
    """
    case_ids = [str(c) for c in case_ids]
    if csv is None:
        if store_labels is None:
            raise LabelError("no label file and no store labels; pass a label CSV (--labels).")
        values = np.asarray(store_labels)
        if len(values) != len(case_ids):
            raise LabelError(f"store_labels has {len(values)} values for {len(case_ids)} cases; pass one per case.")
        labels = pd.Series(values, index=case_ids)
        labels, unknown, source = labels[labels >= 0].astype(int), (), "store"
    else:
        labels, unknown, source = _read(csv, case_ids, label_column, id_column)
    if unknown:
        log.warning("%s: %d label-file id(s) are not in the store and are dropped: %s%s", source, len(unknown),
                    ", ".join(unknown[:_SHOWN]), " ..." if len(unknown) > _SHOWN else "")
    kept = [c for c in case_ids if c in labels.index]
    n_unlisted = len(case_ids) - len(kept)
    if not kept:
        raise LabelError(f"{source}: no store case has a label (store ids look like {case_ids[:3]}); check the id "
                         "column (--id-column) and the store.")
    if n_unlisted:
        log.warning("%s: %d of %d store cases have no label and are left out", source, n_unlisted, len(case_ids))
    classes, positive_class, y = _encode(labels.loc[kept], positive_class, source)
    return TaskLabels(tuple(kept), y, classes, positive_class, source, n_unlisted, unknown)
