"""Train a model once on all labelled cases of a store (or K fold models) and write a model folder."""

from __future__ import annotations

import datetime as _dt
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from mgmtfeat import __version__
from mgmtfeat._io import atomic_write_text
from mgmtfeat.bundle.card import model_card
from mgmtfeat.bundle.record import CARD_FILE, ModelRecord, library_versions, model_folder, write_record
from mgmtfeat.store import FeatureStore
from mgmtfeat.store.labels import TaskLabels, read_task_labels

__all__ = ["FitSettings", "fit_bundle", "prediction_frame", "metrics_table"]

log = logging.getLogger(__name__)


@dataclass
class FitSettings:
    """What ``mgmtfeat fit`` trains and where it writes it.

    Attributes
    ----------
    features : path-like
        Feature store.
    nets : list of str
        Nets whose features are fused as inputs.
    model : str
        A name of :data:`mgmtfeat.models.MODELS`.
    model_dir : path-like
        The model folder to write.
    modalities : list of str, optional
        Inputs; default the model's own.
    labels, label_column, id_column, positive_class
        Label source (see :func:`mgmtfeat.store.labels.read_task_labels`); no ``labels``: the store's.
    params : dict
        Hyper-parameters set on the estimator (``set_params``).
    seed : int
        Seed of the estimator (single model) or of the fold split and the fold seeds.
    fold_models : int, optional
        K: fit the K models of a stratified K-fold split instead of one model on all cases.
    force : bool
        Replace an existing model folder.
    command : list of str
        The command line, recorded.
    """

    features: str | os.PathLike
    nets: Sequence[str]
    model: str
    model_dir: str | os.PathLike
    modalities: Sequence[str] | None = None
    labels: str | os.PathLike | None = None
    label_column: str | None = None
    id_column: str | None = None
    positive_class: str | int | None = None
    params: dict = field(default_factory=dict)
    seed: int = 0
    fold_models: int | None = None
    force: bool = False
    command: list = field(default_factory=list)
    cutoff: str | float = "youden"  # slice features: predictive-index cutoff (see evaluation.predictive_index)
    slice_threshold: float = 0.5  # slice features: a slice is positive at p >= this


def _estimator(name: str, params: dict, seed: int):
    from mgmtfeat.models import make_model

    return make_model(name, seed).set_params(**params)


def prediction_frame(case_ids: Sequence[str], proba: np.ndarray, classes: Sequence) -> pd.DataFrame:
    """``case_id`` and one ``prob_<class>`` column per class; ``proba`` has shape (n_cases, K).

    Probabilities are float64: a float32 value widens exactly and its CSV text reads back unchanged.
    """
    frame = pd.DataFrame({"case_id": list(case_ids)})
    for k, name in enumerate(classes):
        frame[f"prob_{name}"] = np.asarray(proba[:, k], dtype=np.float64)
    return frame


def _nan_row(metric: str, err: Exception) -> dict:
    log.warning("metric %s left out: %s", metric, err)
    return {"metric": metric, "estimate": np.nan, "low": np.nan, "high": np.nan}


def metrics_table(labels: np.ndarray, proba: np.ndarray, classes: Sequence, positive, threshold: float = 0.5,
                  seed: int = 0) -> pd.DataFrame:
    """Bootstrap 95 % CIs of the task's metrics; ``labels`` are encoded 0..K-1, ``proba`` (n_cases, K).

    Binary: AUC, accuracy, precision, recall, F1 of the positive class (``threshold`` on its
    probability). K > 2: one-vs-rest macro AUC, accuracy, balanced accuracy, then each class's
    sensitivity, specificity, PPV and NPV (one-vs-rest, argmax predictions; named
    ``<measure>_<class>``). A metric undefined on these cases (precision with no positive
    prediction) is a row of NaN with a warning, not an error.
    """
    from mgmtfeat.evaluation.bootstrap import BINARY_METRICS, MULTICLASS_METRICS, bootstrap_ci, bootstrap_table

    names = np.asarray([str(c) for c in classes], dtype=object)
    frame = prediction_frame(np.arange(len(labels)).astype(str), proba, names)
    frame["label"] = names[labels]
    binary = len(classes) == 2
    rows = []
    for metric in BINARY_METRICS if binary else MULTICLASS_METRICS:
        try:  # one metric at a time, so that one undefined metric does not lose the others
            rows += bootstrap_table(frame, [metric], positive=str(positive) if binary else None,
                                    threshold=threshold, random_state=seed).to_dict("records")
        except ValueError as err:
            rows.append(_nan_row(metric, err))
    if not binary:
        pred = np.argmax(proba, axis=1)
        for k, name in enumerate(names):
            truth, hit = labels == k, (pred == k).astype(float)
            # sensitivity/PPV are recall/precision of "class k"; specificity/NPV those of "not class k"
            for measure, y, score, metric in (("sensitivity", truth, hit, "recall"), ("specificity", ~truth, 1 - hit, "recall"),
                                              ("ppv", truth, hit, "precision"), ("npv", ~truth, 1 - hit, "precision")):
                try:
                    rows.append({**bootstrap_ci(y.astype(int), score, metric, random_state=seed).__dict__,
                                 "metric": f"{measure}_{name}"})
                except ValueError as err:
                    rows.append(_nan_row(f"{measure}_{name}", err))
    return pd.DataFrame(rows, columns=["metric", "estimate", "low", "high", "method", "confidence", "n_resamples",
                                       "n_skipped"])


def task_record(task: TaskLabels, settings: FitSettings) -> dict:
    """The ``task`` entry of model.json: classes, label source and columns, cases per class, cases left out."""
    return {"classes": list(task.classes), "positive_class": task.positive_class, "label_source": task.source,
            "label_column": settings.label_column, "id_column": settings.id_column,
            "cases_per_class": {str(c): n for c, n in task.counts().items()}, "n_cases": len(task.y),
            "n_unlabelled_left_out": task.n_unlisted, "n_label_ids_not_in_store": len(task.unknown_ids)}


def _load(settings: FitSettings):
    from mgmtfeat.models import MODELS

    if settings.model not in MODELS:
        raise ValueError(f"--model {settings.model}: unknown model; choose from {', '.join(MODELS)}")
    store = FeatureStore(settings.features)
    modalities = list(settings.modalities or MODELS[settings.model].modalities)
    data = store.load(list(settings.nets), modalities, require_labels=settings.labels is None)
    task = read_task_labels(settings.labels, data.case_ids, settings.label_column, settings.id_column,
                            settings.positive_class, store_labels=data.y)
    position = {c: i for i, c in enumerate(data.case_ids)}
    X = data.X2d[[position[c] for c in task.case_ids]]
    return store, data, modalities, task, X


def _fold_models(settings: FitSettings, task: TaskLabels, X: np.ndarray, folder: Path):
    """Fit the K fold models; write their estimators, folds and out-of-fold predictions; return the fold rows."""
    from mgmtfeat.evaluation import cross_validate, make_folds
    from mgmtfeat.models.persistence import save_estimator

    k = settings.fold_models
    task.check_folds(k)
    # the first repeat of the saved-fold scheme, through the package's one CV loop (seeds fold_seed(seed, 0, k))
    folds = make_folds(task.case_ids, task.y, k, 1, settings.seed)
    result = cross_validate(lambda seed: _estimator(settings.model, settings.params, seed), X, task.y, task.case_ids,
                            folds, seed=settings.seed, keep_repeat=0)
    oof_rows = result.predictions.set_index("case_id").loc[list(task.case_ids)]
    proba = oof_rows[[f"prob_{k_}" for k_ in range(len(task.classes))]].to_numpy()
    fold_of = oof_rows["fold"].to_numpy()
    rows, files = [], []
    for (_, fit), estimator in zip(result.metrics.iterrows(), result.extras["models"]):
        name = f"estimator-fold{int(fit['fold'])}"
        files += [p.name for p in save_estimator(estimator, folder, name)]
        rows.append({"fold": int(fit["fold"]), "seed": int(fit["seed"]), "estimator": name,
                     "n_train": int(fit["n_train"]), "n_test": int(fit["n_test"])})
    classes = list(task.classes)
    oof = prediction_frame(task.case_ids, proba, classes)
    oof.insert(1, "fold", fold_of)
    oof.insert(2, "label", np.asarray(classes, dtype=object)[task.y])
    pd.DataFrame({"case_id": task.case_ids, "fold": fold_of}).to_csv(folder / "folds.csv", index=False)
    oof.to_csv(folder / "oof_predictions.csv", index=False)
    metric_names = [c for c in result.metrics.columns if c not in ("repeat", "fold", "fit_seconds", "seed", "n_train",
                                                                    "n_test")]
    per_fold = result.metrics.melt(id_vars="fold", value_vars=metric_names, var_name="metric")
    per_fold.to_csv(folder / "cv_metrics.csv", index=False)
    ci = metrics_table(task.y, proba, classes, task.positive_class, seed=settings.seed)
    ci.to_csv(folder / "cv_bootstrap.csv", index=False)
    files += ["folds.csv", "oof_predictions.csv", "cv_metrics.csv", "cv_bootstrap.csv"]
    return rows, files, ci


def fit_bundle(settings: FitSettings) -> ModelRecord:
    """Fit and write a model folder (see :mod:`mgmtfeat.bundle`); return its ``model.json`` record.

    Raises
    ------
    FileExistsError
        The model folder exists and ``force`` is off (checked before any fitting).
    ValueError
        Unknown model, bad labels (:class:`~mgmtfeat.store.labels.LabelError`), missing store or net.
    """
    from mgmtfeat.models import MODELS
    from mgmtfeat.models.persistence import save_estimator

    target = Path(settings.model_dir)
    if target.exists() and not settings.force:
        raise FileExistsError(f"model folder {target} exists; choose another --model-dir or pass --force to replace it")
    if settings.fold_models is not None and settings.fold_models < 2:
        raise ValueError(f"--fold-models {settings.fold_models}: K must be at least 2 (or leave it out for one model)")
    from dataclasses import replace

    from mgmtfeat.models import input_params

    store, data, modalities, task, X = _load(settings)
    inputs = data.inputs
    # fused nets of other lengths (i3d + radiomics): the SNN's per-input sizes, recorded with the params
    settings = replace(settings, params=input_params(settings.model, dict(settings.params), data.sizes) or {})
    made = {
        "mgmtfeat_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "libraries": library_versions(),
        "model": {"name": settings.model, "description": MODELS[settings.model].description,
                  "params": dict(settings.params)},
        "nets": settings.nets, "modalities": modalities, "inputs": inputs,
        "task": task_record(task, settings),
        "seed": settings.seed,
        "features": {"store": str(Path(settings.features).resolve()),
                     "provenance": {net: store.provenance(net) for net in settings.nets}},
        "training_cases": task.case_ids,
        "command": settings.command,
    }
    with model_folder(target, settings.force) as folder:
        if settings.fold_models:
            rows, files, ci = _fold_models(settings, task, X, folder)
            ensemble = {"k": settings.fold_models, "folds": rows, "fold_table": "folds.csv",
                        "seeds": [r["seed"] for r in rows]}
            estimators = [r["estimator"] for r in rows]
        else:
            estimator = _estimator(settings.model, settings.params, settings.seed).fit(X, task.y)
            files, ci = [p.name for p in save_estimator(estimator, folder, "estimator")], None
            ensemble, estimators = None, ["estimator"]
        record = ModelRecord(**made, ensemble=ensemble, estimators=estimators, files=sorted(files))
        write_record(folder, record)
        atomic_write_text(folder / CARD_FILE, model_card(record, ci))
    return record
