"""Model folders of the slice pathway: fit slice classifiers with their cutoffs, predict patients by vote.

``mgmtfeat fit`` on a net holding per-slice embeddings writes the same kind of folder as for clip
features (``model.json``, skops estimator files, ``MODEL_CARD.md``), with ``"pathway": "slices"``
and the ``slice_protocol`` (each model's predictive-index cutoff, the slice threshold). With
``--fold-models K`` (Shin et al. used five) each fold model's cutoff is chosen on its own training
patients and the out-of-fold predictions are saved; ``mgmtfeat predict`` then calls each patient
by the majority of the fold models (:func:`~mgmtfeat.evaluation.predictive_index.vote`).
"""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mgmtfeat import __version__
from mgmtfeat._io import atomic_write_text
from mgmtfeat.bundle.record import CARD_FILE, BundleError, ModelRecord, library_versions, model_folder, write_record
from mgmtfeat.evaluation import make_folds
from mgmtfeat.evaluation.predictive_index import (SliceModel, called_metrics, cross_validate_slices, fit_slice_model,
                                                  vote)
from mgmtfeat.store import FeatureStore
from mgmtfeat.store.slices import load_slices, slice_labels

log = logging.getLogger(__name__)

__all__ = ["fit_slice_bundle", "predict_slice_bundle"]


def _factory(settings):
    from mgmtfeat.models import make_model
    from mgmtfeat.models.slices import check_slice_model

    check_slice_model(settings.model)
    return lambda seed: make_model(settings.model, seed).set_params(**settings.params)


def _fit_models(settings, data, folder: Path) -> tuple[list[SliceModel], list[dict], list[str]]:
    """The fold models (or one model), with their rows for model.json and the files written."""
    factory = _factory(settings)
    if not settings.fold_models:
        model = fit_slice_model(factory, data, np.arange(len(data.case_ids)), settings.seed, settings.cutoff,
                                settings.slice_threshold)
        return [model], [{"estimator": "estimator", "cutoff": model.cutoff, "seed": settings.seed}], []
    folds = make_folds(data.case_ids, data.y, settings.fold_models, 1, settings.seed)
    predictions, metrics, models = cross_validate_slices(factory, data, folds, settings.seed, settings.cutoff,
                                                         settings.slice_threshold, keep_repeat=0)
    predictions.to_csv(folder / "oof_predictions.csv", index=False)
    metrics.to_csv(folder / "cv_metrics.csv", index=False)
    rows = [{"estimator": f"estimator-fold{int(m.fold)}", "fold": int(m.fold), "cutoff": float(m.cutoff),
             "seed": int(m.seed), "n_train": int(m.n_train), "n_test": int(m.n_test)} for m in metrics.itertuples()]
    return models, rows, ["oof_predictions.csv", "cv_metrics.csv"]


def fit_slice_bundle(settings) -> ModelRecord:
    """Fit the slice protocol on the store's labelled patients and write the model folder.

    Parameters
    ----------
    settings : mgmtfeat.bundle.FitSettings
        One net holding slice embeddings; ``cutoff`` ("youden" or a number) and ``slice_threshold``.

    Returns
    -------
    ModelRecord
        The record written to ``model.json``.
    """
    from mgmtfeat.bundle.fit import task_record
    from mgmtfeat.models import MODELS
    from mgmtfeat.models.persistence import save_estimator

    if len(settings.nets) != 1:
        raise ValueError(f"--net {','.join(settings.nets)}: a slice model takes one net")
    if settings.modalities:
        raise ValueError("--modalities: a slice model takes the slice images' channels, chosen at extraction "
                         "(`extract --channels`); leave --modalities out")
    net = settings.nets[0]
    store = FeatureStore(settings.features)
    labels, task = slice_labels(store, net, settings.labels, settings.label_column, settings.id_column,
                                settings.positive_class)
    data = load_slices(store, net, labels)
    with model_folder(settings.model_dir, settings.force) as folder:
        models, rows, files = _fit_models(settings, data, folder)
        for model, row in zip(models, rows):
            files += [p.name for p in save_estimator(model.estimator, folder, row["estimator"])]
        record = ModelRecord(
            mgmtfeat_version=__version__, pathway="slices",
            created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            libraries=library_versions(),
            model={"name": settings.model, "description": MODELS[settings.model].description,
                   "params": dict(settings.params)},
            nets=[net], modalities=[], inputs=[f"{net}:slices"],
            task=task_record(task, settings),
            slice_protocol={"cutoff_rule": settings.cutoff, "slice_threshold": settings.slice_threshold,
                            "cutoffs": [r["cutoff"] for r in rows], "n_slices": int(len(data.X))},
            seed=settings.seed,
            features={"store": str(Path(settings.features).resolve()), "provenance": {net: store.provenance(net)}},
            training_cases=data.case_ids,
            ensemble={"k": settings.fold_models, "folds": rows} if settings.fold_models else None,
            estimators=[r["estimator"] for r in rows],
            command=settings.command,
            files=sorted(files),
        )
        write_record(folder, record)
        atomic_write_text(folder / CARD_FILE, _card(record))
    return record


def _card(record: ModelRecord) -> str:
    protocol = record.slice_protocol
    return (f"# Model card: {record.model['name']} on {record.nets[0]} slice embeddings\n\n"
            f"- Task: {record.classes[1]} (positive) vs {record.classes[0]}; "
            f"{record.task['n_cases']} patients, {protocol['n_slices']} slices ({record.task['label_source']}).\n"
            f"- Protocol: a slice is positive at p >= {protocol['slice_threshold']}; the predictive index is the "
            f"fraction of a patient's positive slices; cutoff {protocol['cutoff_rule']} "
            f"({', '.join(f'{c:.3f}' for c in protocol['cutoffs'])}).\n"
            f"- Models: {len(record.estimators)} ({'majority vote of fold models' if record.ensemble else 'one'})."
            f"\n- Made with mgmtfeat {record.mgmtfeat_version}: `{' '.join(record.command)}`\n")


def predict_slice_bundle(settings) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Predict the patients of ``settings.features`` with a slice model folder.

    Parameters
    ----------
    settings : mgmtfeat.bundle.PredictSettings
        ``threshold`` and ``ensemble`` do not apply: the record's cutoffs and the majority vote do.

    Returns
    -------
    predictions : pandas.DataFrame
        Also written to ``predictions.csv``: ``case_id``, ``n_slices``, ``index`` (mean over models),
        ``votes`` (share of models calling positive), ``predicted`` (class) and ``label`` with labels.
    metrics : pandas.DataFrame or None
        With labels, also ``metrics.csv``: bootstrap 95 % CIs over patients.
    """
    from mgmtfeat.bundle.predict import check_features, load_bundle

    out = Path(settings.out)
    if any((out / name).exists() for name in ("predictions.csv", "metrics.csv")) and not settings.force:
        raise FileExistsError(f"--out {out} already holds predictions; choose another folder or pass --force")
    record, estimators = load_bundle(settings.model_dir)
    if not record.is_slices:
        raise BundleError(f"{settings.model_dir} is a clip-feature model; predict it with predict_bundle")
    net = record.nets[0]
    store = FeatureStore(settings.features)
    check_features(record, store)
    labels = None
    if settings.labels is not None:
        csv = None if str(settings.labels) == "store" else settings.labels
        labels, task = slice_labels(store, net, csv, settings.label_column, settings.id_column,
                                    record.task["positive_class"])
        if [str(c) for c in task.classes] != [str(c) for c in record.classes]:
            raise BundleError(f"{task.source}: classes {task.classes} differ from the model's "
                              f"{record.classes}")
    data = load_slices(store, net, labels, require_labels=False)
    protocol = record.slice_protocol
    models = [SliceModel(e, c, protocol["slice_threshold"]) for e, c in zip(estimators, protocol["cutoffs"])]
    calls = vote(models, data.X, data.patient, len(data.case_ids))
    classes = np.asarray(record.classes, dtype=object)
    frame = pd.DataFrame({"case_id": list(data.case_ids), "n_slices": data.counts, "index": calls["index"],
                          "votes": calls["votes"], "predicted": classes[calls["predicted"].to_numpy()]})
    metrics = None
    if labels is not None:
        frame["label"] = pd.Series(classes[np.maximum(data.y, 0)]).where(data.y >= 0)
        known = data.y >= 0
        metrics = called_metrics(data.y[known], calls["index"].to_numpy()[known],
                                 calls["predicted"].to_numpy()[known], record.seed)
        if not known.all():  # a label file selects the patients, as in fit and cv
            log.warning("predictions.csv holds the %d labelled patients only (%d unlabelled left out)",
                        int(known.sum()), int((~known).sum()))
            frame = frame[known].reset_index(drop=True)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "predictions.csv", frame.to_csv(index=False))
    if metrics is not None:
        atomic_write_text(out / "metrics.csv", metrics.to_csv(index=False))
    return frame, metrics
