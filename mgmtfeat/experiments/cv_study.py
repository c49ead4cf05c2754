"""A cross-validation study: features + saved folds + models -> a results folder.

The results folder holds ``folds.csv``, ``metrics.csv`` (per model, repeat and fold),
``predictions.csv`` (out-of-fold probabilities), ``attention.csv`` (SNN models), ``summary.json``
(settings, seeds, versions, command line, mean/SEM/SD per model), ``summary.md`` and ``roc.png``.
It is written into a temporary sibling folder and renamed at the end, so a failed or killed run
leaves nothing half-written under the requested name.
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
from mgmtfeat.experiments._common import (_finish_out, _prepare_out, make_estimator_factory, open_store, shared_folds,
                                          versions)
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
    model_params: dict = field(default_factory=dict)  # {model: {param: value}} from --set
    command: list[str] = field(default_factory=lambda: list(sys.argv))


def run_study(settings: StudySettings, progress: bool = True) -> dict:
    """Cross-validate each model of ``settings`` on the same saved folds and write the results folder.

    Returns the summary dictionary that is also written to ``summary.json``.
    """
    from tqdm.auto import tqdm

    from mgmtfeat.models import MODELS

    for model in settings.models:
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    out = Path(settings.out)
    if out.exists() and not settings.force:
        raise FileExistsError(f"{out} exists; choose another --out or pass --force to replace it.")
    store = open_store(settings.features, settings.published_source)
    everything = store.load(list(settings.nets))
    folds, folds_path = shared_folds(store, everything, settings.folds, settings.repeats, settings.seed, settings.folds_file)
    tmp = _prepare_out(out, settings.force)
    summaries, metric_parts, prediction_parts, attention_parts, inputs_used = {}, [], [], [], {}
    n_folds = folds["repeat"].nunique() * folds["fold"].nunique()
    with make_executor(settings.jobs, settings.scheduler) as executor, \
            tqdm(total=n_folds * len(settings.models), desc="cross-validation", unit="fold", disable=not progress) as bar:
        for model in settings.models:
            modalities = list(settings.modalities or MODELS[model].modalities)
            data = everything.select([f"{net}:{m}" for net in settings.nets for m in modalities])
            inputs_used[model] = list(data.inputs)
            bar.set_postfix_str(model)
            result = cross_validate(
                make_estimator_factory(model, settings.nested, settings.seed, settings.model_params.get(model)), data.X2d, data.y, data.case_ids,
                folds, seed=settings.seed, progress=bar.update, input_names=data.inputs, executor=executor,
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
    summary = {
        "settings": {**asdict(settings), "models": list(settings.models), "nets": list(settings.nets)},
        "store": str(store.root),
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
        + markdown_table(table)
        + f"\nCommand: `{' '.join(settings.command)}`\n"
    )
    save_figure(plot_roc(predictions), tmp / "roc.png")
    _finish_out(tmp, out)
    return summary
