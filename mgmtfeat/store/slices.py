"""Per-slice embeddings in the feature store (the slice pathway), keyed by (case, slice, net).

A slice net's entry ``STORE/NET/cases/CASE_ID.npz`` holds ``slices`` (n_slices, n_features) float32,
``slice_index`` (n_slices,) int64 (the canonical slice of each row), the label, the case metadata and
the settings digest, written and checked like a clip entry (atomic write, ``allow_pickle=False``).
The net's ``provenance.json`` says ``"pathway": "slices"``, so readers of clip features refuse it and
``cv``, ``fit`` and ``predict`` switch to the patient-level protocol.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from mgmtfeat._io import atomic_write_bytes
from mgmtfeat.store.errors import StoreError
from mgmtfeat.store.featureset import NO_LABEL, check_label
from mgmtfeat.store.store import DAMAGED_NPZ_ERRORS, DIGEST_KEY, LABEL_FIX, FeatureStore

__all__ = ["SLICE_PATHWAY", "SliceSet", "is_slice_net", "is_slice_store", "load_slices", "read_slices", "slice_labels",
           "write_slices"]

#: The provenance's ``pathway`` of slice features.
SLICE_PATHWAY = "slices"


def is_slice_net(store: FeatureStore, net: str) -> bool:
    """Whether ``net`` of ``store`` holds per-slice embeddings (provenance ``pathway == "slices"``)."""
    return store.provenance(net).get("pathway") == SLICE_PATHWAY


def is_slice_store(features, nets) -> bool:
    """Whether the store at ``features`` holds per-slice embeddings of the single net in ``nets``."""
    if features is None or len(nets) != 1:
        return False
    try:
        return is_slice_net(FeatureStore(features), nets[0])
    except StoreError:
        return False  # a missing store or net: the clip path names what is missing


def write_slices(store: FeatureStore, net: str, case_id: str, embeddings: np.ndarray, slice_index: np.ndarray,
                 label=None, meta: Mapping | None = None, digest: str | None = None):
    """Store one case's slice embeddings atomically, replacing an earlier entry.

    Parameters
    ----------
    embeddings : np.ndarray, shape (n_slices, n_features)
        One row per slice; ``n_features`` from the net's provenance.
    slice_index : np.ndarray of int, shape (n_slices,)
        Canonical slice index of each row (distinct).
    label : int or None
        The case's label (0/1), or None.
    meta, digest
        As for :meth:`FeatureStore.write_case`.
    """
    where = f"case {case_id}, {net} slices"
    values = np.asarray(embeddings, np.float32)
    index = np.asarray(slice_index, np.int64)
    size = store.n_features(net)
    if values.ndim != 2 or values.shape[1] != size or len(values) < 1 or index.shape != (len(values),):
        raise StoreError(f"{where}: expected (n_slices >= 1, {size}) embeddings and one slice index per row, got "
                         f"{values.shape} and {index.shape}")
    if not np.all(np.isfinite(values)):
        raise StoreError(f"{where}: NaN or infinite values; re-extract this case.")
    if len(np.unique(index)) != len(index):
        raise StoreError(f"{where}: a slice index appears twice")
    if label is not None:
        label = check_label(label, where=where, fix=LABEL_FIX)
    arrays = {"slices": values, "slice_index": index,
              "label": np.array(NO_LABEL if label is None else int(label), np.int8),
              "meta": np.array(json.dumps(dict(meta or {}), sort_keys=True, default=str)),
              DIGEST_KEY: np.array(digest or store.settings_digest(net))}
    with tempfile.SpooledTemporaryFile() as buffer:
        np.savez(buffer, **arrays)
        buffer.seek(0)
        atomic_write_bytes(store.case_path(net, case_id), buffer.read())


def read_slices(store: FeatureStore, net: str, case_id: str) -> tuple[np.ndarray, np.ndarray, int | None]:
    """``(embeddings (n_slices, n_features), slice_index (n_slices,), label or None)`` of one case.

    The settings digest is checked by :meth:`FeatureStore.read_case` (which names the fix).
    """
    _, label, _ = store.read_case(net, case_id)
    path = store.case_path(net, case_id)
    try:
        with np.load(path, allow_pickle=False) as npz:
            return npz["slices"], npz["slice_index"], label
    except DAMAGED_NPZ_ERRORS as err:
        raise StoreError(f"{path}: no slice embeddings in the entry of case {case_id} ({type(err).__name__}: "
                         f"{err}); re-extract it with `mgmtfeat extract --pathway slices --net {net}`") from None


@dataclass(frozen=True)
class SliceSet:
    """Slice embeddings of labelled patients: rows are slices, labels and splits are per patient.

    Attributes
    ----------
    X : np.ndarray of float32, shape (n_slices_total, n_features)
    patient : np.ndarray of int64, shape (n_slices_total,)
        Row of ``case_ids`` each slice belongs to.
    slice_index : np.ndarray of int64, shape (n_slices_total,)
    y : np.ndarray of int64, shape (n_cases,)
        Patient labels (0/1).
    case_ids : tuple of str, length n_cases
        Sorted.
    """

    X: np.ndarray
    patient: np.ndarray
    slice_index: np.ndarray
    y: np.ndarray
    case_ids: tuple[str, ...]

    def slices_of(self, rows: np.ndarray) -> np.ndarray:
        """Boolean mask over slices of the patients in ``rows`` (indices into ``case_ids``)."""
        return np.isin(self.patient, rows)

    @property
    def counts(self) -> np.ndarray:
        """Slices per patient, shape (n_cases,)."""
        return np.bincount(self.patient, minlength=len(self.case_ids))


def slice_labels(store: FeatureStore, net: str, csv=None, label_column: str | None = None,
                 id_column: str | None = None, positive_class=None) -> tuple[dict, object]:
    """Binary task labels of ``net``'s cases: ``({case_id: 0/1}, TaskLabels)``.

    ``csv`` None takes the store's own labels. Raises ValueError for other than two classes
    (the predictive index calls a patient positive or negative).
    """
    from mgmtfeat.store.labels import read_task_labels

    ids = store.case_ids(net)
    own = store.labels(net)["label"].fillna(-1).astype(int).to_numpy() if csv is None else None
    task = read_task_labels(csv, ids, label_column, id_column, positive_class, store_labels=own)
    if len(task.classes) != 2:
        raise ValueError(f"{task.source}: the predictive index needs two classes, found {len(task.classes)} "
                         f"({', '.join(map(str, task.classes))}); keep two in the label file (e.g. glioblastoma "
                         "and metastasis rows only)")
    return dict(zip(task.case_ids, task.y.tolist())), task


def load_slices(store: FeatureStore, net: str, labels: Mapping[str, int] | None = None,
                cases: Sequence[str] | None = None, require_labels: bool = True) -> SliceSet:
    """The slice embeddings of ``net``'s labelled cases.

    Parameters
    ----------
    labels : mapping of case id to 0/1, optional
        Task labels (e.g. glioblastoma vs metastasis); default the store's. Cases without a label
        are left out.
    cases : sequence of str, optional
        Only these cases (e.g. a test cohort); default all of the net's.
    require_labels : bool
        Leave out unlabelled cases (default); else keep them with label -1 (prediction).

    Raises
    ------
    StoreError
        ``net`` does not hold slice features, an entry is damaged or foreign, or no labelled case remains.
    """
    if not is_slice_net(store, net):
        raise StoreError(f"{store.root}/{net} holds clip features, not slice embeddings; extract them with "
                         f"`mgmtfeat extract --pathway slices --net {net}` (an image network) into a store")
    rows, patients, index, y, kept = [], [], [], [], []
    for case_id in sorted(cases if cases is not None else store.case_ids(net)):
        values, slices, own = read_slices(store, net, case_id)
        label = labels.get(case_id) if labels is not None else own
        if label is None and require_labels:
            continue
        rows.append(values)
        index.append(slices)
        patients.append(np.full(len(values), len(kept), np.int64))
        y.append(-1 if label is None else int(label))
        kept.append(case_id)
    if not kept:
        raise StoreError(f"{store.root}/{net}: no labelled case with slice embeddings")
    return SliceSet(np.concatenate(rows), np.concatenate(patients), np.concatenate(index),
                    np.asarray(y, np.int64), tuple(kept))
