"""Predict new patients with a model folder: probabilities, decisions and, given labels, metrics with CIs."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mgmtfeat._io import atomic_write_text
from mgmtfeat.bundle.fit import metrics_table, prediction_frame
from mgmtfeat.bundle.record import BundleError, ModelRecord, provenance_differences, read_record
from mgmtfeat.bundle.scaling import apply_scale, check_scaling, expected_provenance
from mgmtfeat.models.ensemble import ENSEMBLES, bundle_proba
from mgmtfeat.store import FeatureStore
from mgmtfeat.store.labels import LabelError, read_task_labels
from mgmtfeat.store.published import is_published

__all__ = ["PredictSettings", "load_bundle", "check_features", "predict_bundle"]

log = logging.getLogger(__name__)


@dataclass
class PredictSettings:
    """What ``mgmtfeat predict`` reads and writes.

    Attributes
    ----------
    model_dir, features, out : path-like
        Model folder, feature store of the cases to predict, output folder.
    labels : path-like, ``"store"`` or None
        Labels for metrics: a CSV, the store's own labels, or none (predictions only).
    label_column, id_column : str, optional
        As in :func:`mgmtfeat.store.labels.read_task_labels`.
    threshold : float
        Binary decision threshold on the probability of the positive class.
    ensemble : {"mean", "vote"}
        How fold models are combined.
    force : bool
        Replace existing output files.
    scale : {"none", "cohort-minmax"}
        Min-max scale each feature over the cases predicted (see :mod:`mgmtfeat.bundle.scaling`).
    """

    model_dir: str | os.PathLike
    features: str | os.PathLike
    out: str | os.PathLike
    labels: str | os.PathLike | None = None
    label_column: str | None = None
    id_column: str | None = None
    threshold: float = 0.5
    ensemble: str = "mean"
    force: bool = False
    scale: str = "none"


def load_bundle(model_dir: str | os.PathLike) -> tuple[ModelRecord, list]:
    """``(record, fitted estimators)`` of a model folder, checked (see :func:`read_record`)."""
    from mgmtfeat.models.persistence import load_estimator

    record = read_record(model_dir)
    return record, [load_estimator(model_dir, name) for name in record.estimators]


def check_features(record: ModelRecord, store: FeatureStore) -> None:
    """Refuse a store whose features of a model net were made otherwise than the training features.

    Raises
    ------
    BundleError
        Naming the net, each differing provenance field and both values.
    """
    for net, expected in record.provenance.items():
        diffs = provenance_differences(expected, store.provenance(net))
        if diffs and is_published(expected):
            shown = "; ".join(f"{k}: published {a!r}, features {b!r}" for k, a, b in diffs)
            raise BundleError(f"the model was fitted on the paper's published {net} features; those of {store.root} "
                              f"were made otherwise ({shown}); extract them as the authors did: mgmtfeat extract "
                              f"--net {net} --sampling paper with the weights {expected.get('weights_id')} (--weights "
                              "DIR offline), then predict with --scale cohort-minmax.")
        if diffs:
            shown = "; ".join(f"{k}: model {a!r}, features {b!r}" for k, a, b in diffs)
            raise BundleError(f"features of net {net} in {store.root} were made differently from the model's training "
                              f"features ({shown}); extract them with the model's settings (see model.json "
                              "'features.provenance') or fit a model on features like these.")


def _labels(settings: PredictSettings, record: ModelRecord, case_ids, store_y) -> np.ndarray:
    """Encoded label (0..K-1, the model's class order) of each case, -1 where it has none."""
    classes = record.classes
    csv = None if str(settings.labels) == "store" else settings.labels
    if csv is None and record.task["label_source"] != "store":
        log.warning("--labels store: the model was trained on %s, the store holds binary MGMT labels",
                    record.task["label_source"])
    task = read_task_labels(csv, case_ids, settings.label_column, settings.id_column, store_labels=store_y)
    names = [task.classes[i] for i in task.y]
    unknown = sorted({str(n) for n in names if n not in classes})
    if unknown:
        raise LabelError(f"{task.source}: classes {unknown} are not classes of the model {classes}; use a label "
                         "column with the model's classes (--label-column).")
    out = np.full(len(case_ids), -1, np.int64)
    position = {c: i for i, c in enumerate(case_ids)}
    for case, name in zip(task.case_ids, names):
        out[position[case]] = classes.index(name)
    return out


def _markdown(table: pd.DataFrame, n: int, settings: PredictSettings, record: ModelRecord) -> str:
    lines = [f"# Metrics of {record.model['name']} ({settings.model_dir}) on {settings.features}", "",
             f"{n} labelled cases; classes {record.classes}; percentile bootstrap 95 % CIs over cases "
             "(1,000 resamples).", "", "| metric | estimate | 95 % CI |", "| --- | --- | --- |"]
    lines += [f"| {r.metric} | {r.estimate:.3f} | {r.low:.3f} to {r.high:.3f} |" for r in table.itertuples()]
    return "\n".join(lines) + "\n"


def predict_bundle(settings: PredictSettings) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Write ``OUT/predictions.csv`` (and, with labels, ``metrics.csv`` and ``metrics.md``).

    Returns
    -------
    predictions : pandas.DataFrame
        ``case_id``, ``prob_<class>`` per class, ``predicted`` (and ``label`` with labels); with labels,
        only the labelled cases (the label file selects the cases, as in ``fit`` and ``cv``).
    metrics : pandas.DataFrame or None
        The bootstrap table (``metric``, ``estimate``, ``low``, ``high``, ...) with labels.
    """
    out = Path(settings.out)
    written = [out / name for name in ("predictions.csv", "metrics.csv", "metrics.md", "provenance.json")]
    if any(p.exists() for p in written) and not settings.force:
        raise FileExistsError(f"--out {out} already holds predictions; choose another folder or pass --force")
    if settings.ensemble not in ENSEMBLES:
        raise ValueError(f"--ensemble {settings.ensemble!r}: choose from {', '.join(ENSEMBLES)}")
    record, estimators = load_bundle(settings.model_dir)
    if record.is_slices:
        raise BundleError(f"{settings.model_dir} is a slice model: predict with mgmtfeat.bundle.slices."
                          "predict_slice_bundle")
    store = FeatureStore(settings.features)
    check_scaling(record, store, settings.scale)
    check_features(expected_provenance(record, settings.scale), store)
    data = store.load(record.nets, record.modalities, require_labels=False)
    if list(data.inputs) != list(record.inputs):
        raise BundleError(f"features give inputs {list(data.inputs)}, the model takes {record.inputs}")
    seen = set(record.training_cases) & set(data.case_ids)
    if seen:
        log.warning("%d of the %d cases to predict were training cases of this model; their predictions are "
                    "optimistic", len(seen), len(data.case_ids))
    classes, task = record.classes, record.task
    X, scaling = apply_scale(data.X2d, settings.scale, data.inputs, out)
    proba = bundle_proba(len(record.classes), estimators, X, settings.ensemble, settings.threshold)
    frame = prediction_frame(data.case_ids, proba, classes)
    if len(classes) == 2:  # positive class last (model.json order), as fit encodes it
        decision = (proba[:, 1] >= settings.threshold).astype(int)
    else:
        decision = proba.argmax(axis=1)
    frame["predicted"] = np.asarray(classes, dtype=object)[decision]
    metrics = None
    if settings.labels is not None:
        y = _labels(settings, record, list(data.case_ids), data.y)
        frame["label"] = pd.Series(np.asarray(classes, dtype=object)[np.maximum(y, 0)]).where(y >= 0)
        known = y >= 0
        metrics = metrics_table(y[known], proba[known], classes, task["positive_class"], settings.threshold)
        if not known.all():  # a label file selects the cases, as in fit and cv
            log.warning("predictions.csv holds the %d labelled cases only (%d unlabelled left out)", int(known.sum()),
                        int((~known).sum()))
            frame = frame[known].reset_index(drop=True)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "predictions.csv", frame.to_csv(index=False))
    atomic_write_text(out / "provenance.json", json.dumps(
        {"model_dir": str(settings.model_dir), "features": str(settings.features), "n_cases": len(frame),
         "ensemble": settings.ensemble, "threshold": settings.threshold, "scaling": scaling}, indent=2))
    if metrics is not None:
        atomic_write_text(out / "metrics.csv", metrics.to_csv(index=False))
        atomic_write_text(out / "metrics.md", _markdown(metrics, int(known.sum()), settings, record))
    return frame, metrics
