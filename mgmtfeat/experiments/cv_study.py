"""A cross-validation study: features + saved folds + models -> a results folder.

The results folder holds ``folds.csv``, ``metrics.csv`` (per model, repeat and fold),
``predictions.csv`` (out-of-fold probabilities), ``attention.csv`` (SNN models), ``summary.json``
(settings, seeds, versions, command line, mean/SEM/SD per model), ``summary.md`` and ``roc.png``,
plus (:mod:`~mgmtfeat.experiments.study_outputs`) ``confusion.csv/.png``, ``metric_intervals.csv``,
``class_intervals.csv``, ``calibration.csv/.png`` (binary), and with the options of
:class:`~mgmtfeat.experiments.study_task.TaskOptions` ``test_*.csv/.png``, ``site_comparison.csv/.png``
and ``subgroups.csv/.png``.
It is written into a temporary sibling folder (``.NAME.partial``) and renamed at the end, so a
failed or killed run leaves nothing half-written under the requested name. Each finished (model,
repeat, fold) is kept in ``.NAME.partial/fold-cache/`` until then (:mod:`mgmtfeat.experiments.fold_cache`),
so the same command run again after a kill or a failure fits only the missing folds. A results
folder that is or contains an input (the store, the folds file, the published source) is refused
before anything is deleted.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from mgmtfeat._io import atomic_write_text
from mgmtfeat._parallel import make_executor
from mgmtfeat.evaluation import METRICS, cross_validate
from mgmtfeat.experiments.base import check_cv_counts, versions
from mgmtfeat.experiments.cohort import describe_features, open_store, shared_folds
from mgmtfeat.experiments.fold_cache import CACHE_DIR, FoldCache, computation_key, explain_partial
from mgmtfeat.experiments.nested_outputs import nested_section
from mgmtfeat.experiments.study_outputs import TASK_METRICS, oof_reports, site_comparison, subgroup_frame, \
    summarise_task, test_reports
from mgmtfeat.experiments.results_folder import (check_out_apart, discard_partial, finish_out, input_folders,
                                                 prepare_out)
from mgmtfeat.experiments.study_task import TaskOptions, estimator_factory, model_matrix, prepare_cohort
from mgmtfeat.reports import markdown_table, plot_roc, save_figure, summary_table

__all__ = ["StudySettings", "run_study"]


@dataclass
class StudySettings:
    """What one ``mgmtfeat cv`` run does (see its ``--help`` for each field).

    Construction refuses fewer than 2 folds, fewer than 1 repeat or job, and ``jobs`` above 1 with a
    ``scheduler`` (ValueError naming the options); :class:`TaskOptions` checks its own fields.
    """

    features: str | None = None  # store folder; None = the published ViViT features
    nets: Sequence[str] = ("vivit",)
    models: Sequence[str] = ("snn",)
    modalities: Sequence[str] | None = None  # None = each model's default inputs
    folds: int = 5
    repeats: int = 4
    seed: int = 0
    jobs: int = 1
    scheduler: str | None = None  # Dask scheduler ("local:N" or "tcp://host:port"); None = in-process
    nested: bool = False
    out: str = "results/cv"
    force: bool = False
    folds_file: str | None = None
    published_source: str | None = None
    intersect: bool = False  # fused nets with different cases: use the common ones instead of refusing
    model_params: dict = field(default_factory=dict)  # {model: {param: value}} from --set
    command: list[str] = field(default_factory=lambda: list(sys.argv))
    task: TaskOptions = field(default_factory=TaskOptions)  # labels, held-out test, sites, covariates
    cutoff: str | float = "youden"  # slice features: predictive-index cutoff, Youden on training patients or fixed
    slice_threshold: float = 0.5  # slice features: a slice is positive at p >= this

    def __post_init__(self) -> None:
        check_cv_counts(self.folds, self.repeats, self.jobs)
        if self.scheduler:
            from mgmtfeat._parallel import parse_scheduler

            if self.jobs > 1:
                raise ValueError("--jobs and --scheduler both choose where folds run; give one of them")
            parse_scheduler(self.scheduler)  # SchedulerError is a ValueError naming the forms it takes


def run_study(settings: StudySettings, progress: bool = True) -> dict:
    """Cross-validate each model of ``settings`` on the same saved folds and write the results folder.

    Returns the summary dictionary that is also written to ``summary.json``.
    """
    from mgmtfeat.models import MODELS

    for model in settings.models:
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    out = Path(settings.out)
    if out.exists() and not settings.force:
        raise FileExistsError(f"{out} exists; choose another --out or pass --force to replace it.")
    check_out_apart(out, {**input_folders(settings.features, settings.published_source), "folds file": settings.folds_file})
    store = open_store(settings.features, settings.published_source)
    check_out_apart(out, {"feature store": store.root})
    cohort = prepare_cohort(store, settings.nets, settings.task, settings.folds, settings.repeats, settings.seed,
                            settings.folds_file, settings.intersect)
    tmp = prepare_out(out, settings.force)
    try:
        summary = _run(settings, store, cohort, tmp, progress)
        finish_out(tmp, out)
    except BaseException as err:
        discard_partial(tmp)  # keeps the finished folds, so the same command resumes
        explain_partial(err, tmp)  # a full disk: says what was kept, how to resume or start over
        raise
    return summary


def _run(settings: StudySettings, store, cohort, tmp: Path, progress: bool) -> dict:
    from tqdm.auto import tqdm

    from mgmtfeat.models import MODELS, input_params, make_model
    from mgmtfeat.models.params import effective_params

    task = settings.task
    everything, folds, folds_path = cohort.data, cohort.folds, cohort.folds_path
    # the site comparison re-runs each model on plain stratified folds of the same cases
    compare_sites = task.group_column is not None and not task.harmonize
    mixed_folds = shared_folds(store, everything, settings.folds, settings.repeats, settings.seed)[0] \
        if compare_sites else None
    site_codes = {g: float(i) for i, g in enumerate(sorted(set(cohort.groups)))} if task.harmonize else None
    metric_names = METRICS if cohort.binary else TASK_METRICS

    summaries, metric_parts, prediction_parts, attention_parts, inputs_used = {}, [], [], [], {}
    fold_models, mixed_metrics, model_params, reused, chosen = {}, {}, {}, {}, []
    n_folds = folds["repeat"].nunique() * folds["fold"].nunique()
    n_folds += len(mixed_folds[["repeat", "fold"]].drop_duplicates()) if compare_sites else 0
    environment = versions()
    with make_executor(settings.jobs, settings.scheduler) as executor, \
            tqdm(total=n_folds * len(settings.models), desc="cross-validation", unit="fold", disable=not progress) as bar:
        for model in settings.models:
            modalities = list(settings.modalities or MODELS[model].modalities)
            data = everything.select([f"{net}:{m}" for net in settings.nets for m in modalities])
            inputs_used[model] = list(data.inputs)
            bar.set_postfix_str(model)
            params = input_params(model, settings.model_params.get(model), data.sizes)  # fused nets of other lengths
            model_params[model] = effective_params(make_model(model, settings.seed).set_params(**(params or {})))
            factory = estimator_factory(model, settings.nested, settings.seed, params, task.harmonize)
            X = model_matrix(data, site_codes, cohort.groups)
            key = computation_key(X, data.y, data.case_ids, model, {"params": params, "harmonize": task.harmonize},
                                  settings.nested, settings.seed, environment)
            cache = FoldCache(executor, tmp / CACHE_DIR, model, key)
            result = cross_validate(
                factory, X, data.y, data.case_ids, folds, classes=cohort.classes, seed=settings.seed, progress=bar.update,
                input_names=None if task.harmonize else data.inputs, keep_repeat=0 if cohort.test is not None else None,
                executor=cache,
            )
            reused[model] = list(cache.reused_names)
            if "best_params" in result.extras:
                chosen.append(result.extras["best_params"].assign(model=model))
            summaries[model] = summarise_task(result.metrics, metric_names)
            if cohort.test is not None:
                test = cohort.test.select(list(data.inputs))
                fold_models[model] = (result.extras["models"], model_matrix(test, site_codes, cohort.test_groups))
            if compare_sites:
                mixed_metrics[model] = cross_validate(
                    factory, X, data.y, data.case_ids, mixed_folds, classes=cohort.classes, seed=settings.seed,
                    progress=bar.update, executor=executor).metrics
            metric_parts.append(result.metrics.assign(model=model))
            prediction_parts.append(result.predictions.assign(model=model))
            if "attention" in result.extras:
                attention_parts.append(result.extras["attention"].assign(model=model))
    metrics, predictions = pd.concat(metric_parts), pd.concat(prediction_parts)
    folds.to_csv(tmp / "folds.csv", index=False)
    metrics.to_csv(tmp / "metrics.csv", index=False)
    predictions.to_csv(tmp / "predictions.csv", index=False)
    if attention_parts:
        pd.concat(attention_parts).to_csv(tmp / "attention.csv", index=False)
    nested = nested_section(tmp, settings.nested, chosen, list(settings.models))
    table = summary_table(summaries, metric_names)
    sections = oof_reports(tmp, predictions, cohort.classes, task, settings.seed,
                           subgroup_frame(cohort.covariates, task.age_bands) if cohort.covariates is not None else None)
    if cohort.test is not None:
        sections += "\n" + test_reports(tmp, fold_models, cohort.test, cohort.classes, task, settings.seed)
    if compare_sites:
        sections += "\n" + site_comparison(tmp, {m: r for m, r in zip(settings.models, metric_parts)}, mixed_metrics,
                                           task.group_column)
    table.to_csv(tmp / "summary.csv", index=False)
    features = describe_features(store, list(settings.nets))
    summary = {
        "settings": {**asdict(settings), "models": list(settings.models), "nets": list(settings.nets)},
        "store": str(store.root),
        "features": features,
        "provenance": {net: net_provenance(store, net) for net in settings.nets},
        "folds_file": str(folds_path) if folds_path else None,
        "n_cases": len(everything.y),
        "class_counts": np.bincount(everything.y, minlength=len(cohort.classes)).tolist(),
        "task": {"classes": list(cohort.classes), "positive_class": cohort.positive_class,
                 "label_source": cohort.label_source, "n_unlabelled_left_out": cohort.n_unlabelled,
                 "n_test": 0 if cohort.test is None else len(cohort.test.y), "notes": cohort.notes},
        "inputs": inputs_used,
        "model_params": model_params,
        "nested": nested["record"],
        "resumed_folds": {m: names for m, names in reused.items() if names},
        "fold_seeds": sorted(set(metrics["seed"].tolist())),
        "versions": versions(),
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "results": summaries,
    }
    atomic_write_text(tmp / "summary.json", json.dumps(summary, indent=2, default=str))
    atomic_write_text(
        tmp / "summary.md",
        f"# Cross-validation: {_scheme(folds, task)}, {len(everything.y)} cases, seed {settings.seed}\n\n"
        + f"Features: {features}\n\n"
        + "".join(f"- {net}: weights {p['weights']}{' — RANDOM WEIGHTS (untrained network)' if p['random_weights'] else ''}\n"
                  for net, p in summary["provenance"].items()) + "\n"
        + nested["text"]
        + markdown_table(table, metric_names)
        + "".join(f"\n{note}.\n" for note in cohort.notes)
        + "\n" + sections
        + f"\nCommand: `{' '.join(settings.command)}`\n"
    )
    if cohort.binary:
        save_figure(plot_roc(predictions, title=f"Out-of-fold ROC\n{features}"), tmp / "roc.png")
    return summary


def _scheme(folds: pd.DataFrame, task: TaskOptions) -> str:
    """How the folds were made, read from the fold table itself (a saved or given table may differ from the options)."""
    if task.leave_one_group_out:
        return f"leave-one-{task.group_column}-out ({folds['fold'].nunique()} folds)"
    grouped = f" grouped by {task.group_column}" if "group" in folds.columns else ""
    return f"{folds['repeat'].nunique()} x {folds['fold'].nunique()}-fold{grouped}"


def net_provenance(store, net: str) -> dict:
    """What a report must say about the features of ``net``: its weights, and whether they are random."""
    record = store.provenance(net)
    return {"net": net, "weights": record.get("weights_id") or record.get("weights") or "unknown",
            "weights_sha256": record.get("weights_sha256"), "random_weights": bool(record.get("random_weights")),
            "settings_digest": store.settings_digest(net)}
