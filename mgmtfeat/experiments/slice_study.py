"""``mgmtfeat cv`` on slice features: the patient-level predictive-index study (Shin et al.).

Called by ``mgmtfeat cv`` when the net's store holds per-slice embeddings
(:mod:`mgmtfeat.store.slices`). Folds are the store's saved patient folds (the same table a clip
study of the same cases and labels uses); each model runs the protocol of
:mod:`mgmtfeat.evaluation.predictive_index`. The results folder holds ``folds.csv``,
``metrics.csv`` (per model, repeat and fold, with the cutoff chosen there), ``predictions.csv``
(per patient and repeat: slices, index, cutoff, call), ``summary.json``/``summary.md`` (mean ± SEM
and the corrected repeated-CV 95 % CI of each metric), ``roc.png`` and ``predictive_index.png``;
with a held-out test cohort (``--test-features``/``--test-labels``) the repeat-0 fold models vote
on it: ``test_predictions.csv`` and ``test_metrics.csv`` with bootstrap 95 % CIs.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from mgmtfeat._io import atomic_write_text
from mgmtfeat.models.slices import check_slice_model
from mgmtfeat.evaluation.compare import cv_interval
from mgmtfeat.evaluation.predictive_index import called_metrics, cross_validate_slices, vote
from mgmtfeat.experiments.base import make_estimator_factory, versions
from mgmtfeat.experiments.cohort import describe_features, shared_folds
from mgmtfeat.experiments.fold_cache import explain_partial
from mgmtfeat.experiments.results_folder import check_out_apart, discard_partial, finish_out, prepare_out
from mgmtfeat.reports import plot_roc, save_figure
from mgmtfeat.reports.study_figures import plot_predictive_index
from mgmtfeat.store import FeatureStore
from mgmtfeat.store.integrity import comparable
from mgmtfeat.store.slices import load_slices, slice_labels

__all__ = ["SLICE_METRICS", "run_slice_study"]

SLICE_METRICS = ("auc", "accuracy", "recall", "specificity", "precision", "f1", "slice_auc", "cutoff")
_UNSUPPORTED = {"nested": "--nested", "modalities": "--modalities", "intersect": "--intersect"}
_UNSUPPORTED_TASK = {"group_column": "--group-column", "harmonize": "--harmonize", "covariates": "--covariates",
                     "bootstrap_fraction": "--bootstrap-fraction"}


def _check(settings) -> str:
    """The slice net of ``settings``, after refusing what the slice protocol does not do."""
    if len(settings.nets) != 1:
        raise ValueError(f"--net {','.join(settings.nets)}: slice features are evaluated one net at a time")
    given = [flag for name, flag in _UNSUPPORTED.items() if getattr(settings, name)]
    given += [flag for name, flag in _UNSUPPORTED_TASK.items() if getattr(settings.task, name)]
    if given:
        raise ValueError(f"{', '.join(given)}: not available for slice features (the predictive-index protocol)")
    for model in settings.models:
        check_slice_model(model)
    return settings.nets[0]


def _test_cohort(store: FeatureStore, net: str, task, classes):
    """The held-out slices (another store, or named cases of this one), or None."""
    if not (task.test_features or task.test_labels):
        return None, set()
    other = FeatureStore(task.test_features) if task.test_features else store
    if other is not store and comparable(other.provenance(net)) != comparable(store.provenance(net)):
        raise ValueError(f"--test-features {other.root}: its {net} slices were made with other settings than the "
                         "training store's; extract both the same way")
    # without --test-labels the test store's own labels
    labels, test_task = slice_labels(other, net, task.test_labels, task.label_column, task.id_column,
                                     task.positive_class)
    if list(test_task.classes) != list(classes):
        raise ValueError(f"test classes {test_task.classes} differ from the training classes {tuple(classes)}")
    return load_slices(other, net, labels), set(labels) if other is store else set()


def _summary(metrics: pd.DataFrame) -> dict:
    """Mean, SEM, SD and corrected 95 % CI over folds of each metric, per model."""
    out = {}
    for model, part in metrics.groupby("model", sort=False):
        out[model] = {}
        for metric in SLICE_METRICS:
            values = part[metric].dropna()
            entry = {"mean": float(values.mean()), "sd": float(values.std(ddof=1)),
                     "sem": float(values.std(ddof=1) / np.sqrt(len(values)))}
            if len(values) > 1 and metric != "cutoff":  # every metric here is a proportion: clipped to [0, 1]
                ci = cv_interval(part.dropna(subset=[metric]), metric)
                entry.update(ci_low=max(ci.low, 0.0), ci_high=min(ci.high, 1.0))
            out[model][metric] = entry
    return out


def _test_outputs(tmp: Path, models: dict, test, seed: int) -> str:
    frames, tables = [], []
    for model, fold_models in models.items():
        calls = vote(fold_models, test.X, test.patient, len(test.case_ids))
        frame = calls.assign(case_id=list(test.case_ids), label=test.y, model=model)
        frames.append(frame)
        tables.append(called_metrics(test.y, calls["index"].to_numpy(), calls["predicted"].to_numpy(),
                                     seed).assign(model=model))
    pd.concat(frames).to_csv(tmp / "test_predictions.csv", index=False)
    table = pd.concat(tables)
    table.to_csv(tmp / "test_metrics.csv", index=False)
    rows = "".join(f"| {r.model} | {r.metric} | {r.estimate:.3f} ({r.low:.3f}-{r.high:.3f}) |\n"
                   for r in table.itertuples())
    return (f"\n## Held-out test cohort ({len(test.case_ids)} patients): majority vote of the repeat-0 fold models\n\n"
            "| model | metric | estimate (bootstrap 95 % CI) |\n|---|---|---|\n" + rows)


def run_slice_study(settings, progress: bool = True) -> dict:
    """Cross-validate the predictive-index protocol for each model; write the results folder.

    Parameters
    ----------
    settings : mgmtfeat.experiments.cv_study.StudySettings
        ``features`` a store whose single net holds slice embeddings; ``cutoff`` ("youden" or a
        number) and ``slice_threshold`` set the protocol.

    Returns
    -------
    dict
        The summary also written to ``summary.json``.
    """
    from tqdm.auto import tqdm

    net = _check(settings)
    out = Path(settings.out)
    store = FeatureStore(settings.features)
    check_out_apart(out, {"feature store": store.root, "folds file": settings.folds_file})
    task = settings.task
    labels, label_task = slice_labels(store, net, task.labels, task.label_column, task.id_column, task.positive_class)
    test, held = _test_cohort(store, net, task, label_task.classes)
    data = load_slices(store, net, {c: y for c, y in labels.items() if c not in held})
    folds, folds_path = shared_folds(store, data, settings.folds, settings.repeats, settings.seed, settings.folds_file)
    tmp = prepare_out(out, settings.force)
    try:
        metrics, predictions, kept = [], [], {}
        total = folds[["repeat", "fold"]].drop_duplicates().shape[0] * len(settings.models)
        with tqdm(total=total, desc="slice cross-validation", unit="fold", disable=not progress) as bar:
            for model in settings.models:
                factory = make_estimator_factory(model, False, settings.seed, settings.model_params.get(model))
                pred, metric, fold_models = cross_validate_slices(
                    factory, data, folds, settings.seed, settings.cutoff, settings.slice_threshold,
                    keep_repeat=0 if test is not None else None, progress=bar.update)
                predictions.append(pred.assign(model=model))
                metrics.append(metric.assign(model=model))
                kept[model] = fold_models
        summary = _write(tmp, settings, store, net, data, label_task, folds, folds_path,
                         pd.concat(metrics), pd.concat(predictions))
        if test is not None:
            with open(tmp / "summary.md", "a", encoding="utf-8") as handle:
                handle.write(_test_outputs(tmp, kept, test, settings.seed))
        finish_out(tmp, out)
    except BaseException as err:
        discard_partial(tmp)
        explain_partial(err, tmp)
        raise
    return summary


def _write(tmp, settings, store, net, data, label_task, folds, folds_path, metrics, predictions) -> dict:
    folds.to_csv(tmp / "folds.csv", index=False)
    metrics.to_csv(tmp / "metrics.csv", index=False)
    predictions.to_csv(tmp / "predictions.csv", index=False)
    results = _summary(metrics)
    features = describe_features(store, [net])
    cutoff = "Youden's J on inner-CV indices of the training patients" if settings.cutoff == "youden" \
        else f"fixed at {settings.cutoff}"
    summary = {
        "protocol": "slice pathway: predictive index (fraction of slices with p >= slice_threshold), cutoff " + cutoff,
        "store": str(store.root), "net": net, "features": features, "folds_file": str(folds_path) if folds_path else None,
        "n_patients": len(data.case_ids), "n_slices": int(len(data.X)),
        "class_counts": np.bincount(data.y, minlength=2).tolist(),
        "classes": list(label_task.classes), "label_source": label_task.source,
        "settings": {"models": list(settings.models), "folds": settings.folds, "repeats": settings.repeats,
                     "seed": settings.seed, "cutoff": settings.cutoff, "slice_threshold": settings.slice_threshold},
        "fold_seeds": sorted(set(metrics["seed"].tolist())), "command": list(settings.command),
        "versions": versions(), "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "results": results,
    }
    atomic_write_text(tmp / "summary.json", json.dumps(summary, indent=2, default=str))
    rows = "".join(f"| {model} | {metric} | {v['mean']:.3f} ± {v['sem']:.3f} | "
                   + (f"{v['ci_low']:.3f}-{v['ci_high']:.3f} |\n" if "ci_low" in v else "- |\n")
                   for model, per in results.items() for metric, v in per.items())
    atomic_write_text(tmp / "summary.md", (
        f"# Slice pathway, predictive index: {settings.repeats} x {settings.folds}-fold CV over patients, "
        f"{len(data.case_ids)} patients ({int(len(data.X))} slices), seed {settings.seed}\n\n"
        f"Features: {features}\n\nClasses: {label_task.classes[0]} (0) vs {label_task.classes[1]} (1, positive); "
        f"cutoff {cutoff}; a slice is positive at p >= {settings.slice_threshold}.\n\n"
        "| model | metric | mean ± SEM over folds | corrected 95 % CI (clipped to [0, 1]) |\n|---|---|---|---|\n" + rows
        + f"\nCommand: `{' '.join(settings.command)}`\n"))
    save_figure(plot_roc(predictions, title=f"Out-of-fold ROC of the predictive index\n{features}"), tmp / "roc.png")
    save_figure(plot_predictive_index(predictions, label_task.classes), tmp / "predictive_index.png")
    return summary
