"""A cross-validation study: features + saved folds + models -> a results folder.

The results folder holds ``folds.csv``, ``metrics.csv`` (per model, repeat and fold),
``predictions.csv`` (out-of-fold probabilities), ``attention.csv`` (SNN models), ``summary.json``
(settings, seeds, versions, command line, mean/SEM/SD per model), ``summary.md`` and ``roc.png``.
It is written into a temporary sibling folder (``.NAME.partial``) and renamed at the end, so a
failed or killed run leaves nothing half-written under the requested name. Each finished (model,
repeat, fold) is kept in ``.NAME.partial/fold-cache/`` until then (:mod:`mgmtfeat.experiments._resume`),
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
from mgmtfeat.evaluation import cross_validate, summarise
from mgmtfeat.experiments._common import (_discard_partial, _finish_out, _inputs, _prepare_out, check_out_apart,
                                          describe_features, make_estimator_factory, open_store,
                                          shared_folds, versions)
from mgmtfeat.experiments._resume import CACHE_DIR, FoldCache, computation_key
from mgmtfeat.reports import markdown_table, plot_roc, save_figure, summary_table

# open_store, shared_folds, make_estimator_factory and versions live in _common (shared with the experiments)
__all__ = ["StudySettings", "run_study", "open_store", "shared_folds", "make_estimator_factory", "versions"]


@dataclass
class StudySettings:
    """What one ``python -m mgmtfeat.cv`` run does (see its ``--help`` for each field)."""

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
    check_out_apart(out, {**_inputs(settings.features, settings.published_source), "folds file": settings.folds_file})
    store = open_store(settings.features, settings.published_source)
    check_out_apart(out, {"feature store": store.root})
    everything = store.load(list(settings.nets), intersect=settings.intersect)
    folds, folds_path = shared_folds(store, everything, settings.folds, settings.repeats, settings.seed, settings.folds_file)
    tmp = _prepare_out(out, settings.force)
    try:
        summary = _run(settings, store, everything, folds, folds_path, tmp, progress)
        _finish_out(tmp, out)
    except BaseException:
        _discard_partial(tmp)  # keeps the finished folds, so the same command resumes
        raise
    return summary


def _run(settings: StudySettings, store, everything, folds: pd.DataFrame, folds_path, tmp: Path, progress: bool) -> dict:
    from tqdm.auto import tqdm

    from mgmtfeat.models import MODELS

    summaries, metric_parts, prediction_parts, attention_parts, inputs_used = {}, [], [], [], {}
    n_folds = folds["repeat"].nunique() * folds["fold"].nunique()
    environment = versions()
    with make_executor(settings.jobs, settings.scheduler) as executor, \
            tqdm(total=n_folds * len(settings.models), desc="cross-validation", unit="fold", disable=not progress) as bar:
        for model in settings.models:
            modalities = list(settings.modalities or MODELS[model].modalities)
            data = everything.select([f"{net}:{m}" for net in settings.nets for m in modalities])
            inputs_used[model] = list(data.inputs)
            bar.set_postfix_str(model)
            params = settings.model_params.get(model)
            key = computation_key(data.X2d, data.y, data.case_ids, model, params, settings.nested, settings.seed,
                                  environment)
            result = cross_validate(
                make_estimator_factory(model, settings.nested, settings.seed, params), data.X2d, data.y, data.case_ids,
                folds, seed=settings.seed, progress=bar.update, input_names=data.inputs,
                executor=FoldCache(executor, tmp / CACHE_DIR, model, key),
            )
            summaries[model] = summarise(result.metrics)
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
    table = summary_table(summaries)
    table.to_csv(tmp / "summary.csv", index=False)
    features = describe_features(store, list(settings.nets))
    summary = {
        "settings": {**asdict(settings), "models": list(settings.models), "nets": list(settings.nets)},
        "store": str(store.root),
        "features": features,
        "provenance": {net: net_provenance(store, net) for net in settings.nets},
        "folds_file": str(folds_path) if folds_path else None,
        "n_cases": len(everything.y),
        "class_counts": np.bincount(everything.y, minlength=2).tolist(),
        "inputs": inputs_used,
        "fold_seeds": sorted(set(metrics["seed"].tolist())),
        "versions": versions(),
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "results": summaries,
    }
    atomic_write_text(tmp / "summary.json", json.dumps(summary, indent=2, default=str))
    atomic_write_text(
        tmp / "summary.md",
        f"# Cross-validation: {settings.repeats} x {settings.folds}-fold, {len(everything.y)} cases, seed {settings.seed}\n\n"
        + f"Features: {features}\n\n"
        + "".join(f"- {net}: weights {p['weights']}{' — RANDOM WEIGHTS (untrained network)' if p['random_weights'] else ''}\n"
                  for net, p in summary["provenance"].items()) + "\n"
        + markdown_table(table)
        + f"\nCommand: `{' '.join(settings.command)}`\n"
    )
    save_figure(plot_roc(predictions, title=f"Out-of-fold ROC\n{features}"), tmp / "roc.png")
    return summary


def net_provenance(store, net: str) -> dict:
    """What a report must say about the features of ``net``: its weights, and whether they are random."""
    record = store.provenance(net)
    return {"net": net, "weights": record.get("weights_id") or record.get("weights") or "unknown",
            "weights_sha256": record.get("weights_sha256"), "random_weights": bool(record.get("random_weights")),
            "settings_digest": store.settings_digest(net)}
