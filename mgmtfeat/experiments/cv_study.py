"""A cross-validation study: features + saved folds + models -> a results folder.

The results folder holds ``folds.csv``, ``metrics.csv`` (per model, repeat and fold),
``predictions.csv`` (out-of-fold probabilities), ``attention.csv`` (SNN models), ``summary.json``
(settings, seeds, versions, command line, mean/SEM/SD per model), ``summary.md`` and ``roc.png``.
It is written into a temporary sibling folder and renamed at the end, so a failed or killed run
leaves nothing half-written under the requested name.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import platform
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from mgmtfeat import __version__
from mgmtfeat.evaluation import cross_validate, load_folds, make_folds, summarise
from mgmtfeat.reports import markdown_table, plot_roc, save_figure, summary_table
from mgmtfeat._io import atomic_write_text
from mgmtfeat.store import FeatureSet, FeatureStore

__all__ = ["StudySettings", "run_study", "shared_folds", "make_estimator_factory", "versions"]


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
    command: list[str] = field(default_factory=lambda: list(sys.argv))


def versions() -> dict[str, str]:
    """Versions of Python, mgmtfeat and the libraries that shape the results."""
    import importlib.metadata as md

    out = {"python": platform.python_version(), "mgmtfeat": __version__, "platform": platform.platform()}
    for package in ("numpy", "pandas", "scikit-learn", "scipy", "torch", "xgboost", "xgboost-cpu"):
        try:
            out[package] = md.version(package)
        except md.PackageNotFoundError:
            pass
    return out


def open_store(features: str | None, published_source: str | None = None) -> FeatureStore:
    """The store at ``features``, or the published ViViT features when ``features`` is None."""
    if features is None:
        from mgmtfeat.store.published import published_store

        return published_store(published_source)
    return FeatureStore(features)


def shared_folds(store: FeatureStore, data: FeatureSet, n_splits: int, n_repeats: int, seed: int,
                 folds_file: str | None = None) -> tuple[pd.DataFrame, Path | None]:
    """Fold table shared by every run on the same cases, saved in the store's ``folds/`` folder.

    The file name carries K, repeats, seed and a digest of the case ids and labels, so every model
    and ablation on the same cohort reuses one assignment, and a changed cohort gets a new one.
    Returns the table and where it is saved (None when the store folder is not writable).
    """
    if folds_file:
        return load_folds(folds_file, data.case_ids), Path(folds_file)
    digest = hashlib.sha256("\n".join(f"{c},{l}" for c, l in zip(data.case_ids, data.y)).encode()).hexdigest()[:10]
    path = store.folds_path(f"k{n_splits}-r{n_repeats}-seed{seed}-{digest}")
    if path.is_file():
        return load_folds(path, data.case_ids), path
    folds = make_folds(data.case_ids, data.y, n_splits, n_repeats, seed)
    try:
        atomic_write_text(path, folds.to_csv(index=False))
    except OSError:
        return folds, None
    return folds, path


def make_estimator_factory(model: str, nested: bool, seed: int):
    """``factory(random_state) -> estimator`` for ``model``, wrapped in an inner grid search if ``nested``.

    The inner search (3-fold stratified CV on the training rows of each outer fold, scored by AUC)
    chooses among ``MODELS[model].param_grid`` and refits on the whole training fold.
    """
    from mgmtfeat.models import MODELS, make_model

    def build(random_state):
        estimator = make_model(model, random_state)
        if not nested or not MODELS[model].param_grid:
            return estimator
        from sklearn.model_selection import GridSearchCV, StratifiedKFold

        inner = StratifiedKFold(3, shuffle=True, random_state=random_state)
        return GridSearchCV(estimator, MODELS[model].param_grid, scoring="roc_auc", cv=inner, n_jobs=1)

    return build


def _prepare_out(out: Path, force: bool) -> Path:
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; choose another --out or pass --force to replace it.")
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def _finish_out(tmp: Path, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


def _cluster(scheduler: str | None):
    """A Dask client on ``scheduler`` for the whole study, or None (in-process) without one."""
    if not scheduler:
        return contextlib.nullcontext(None)
    from mgmtfeat.extraction.dask import dask_client  # Dask is imported only when asked for

    return dask_client(scheduler)


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
    with _cluster(settings.scheduler) as client, \
            tqdm(total=n_folds * len(settings.models), desc="cross-validation", unit="fold", disable=not progress) as bar:
        for model in settings.models:
            modalities = list(settings.modalities or MODELS[model].modalities)
            data = everything.select([f"{net}:{m}" for net in settings.nets for m in modalities])
            inputs_used[model] = list(data.inputs)
            bar.set_postfix_str(model)
            result = cross_validate(
                make_estimator_factory(model, settings.nested, settings.seed), data.X2d, data.y, data.case_ids,
                folds, seed=settings.seed, n_jobs=settings.jobs, progress=bar.update, input_names=data.inputs,
                client=client,
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
    (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (tmp / "summary.md").write_text(
        f"# Cross-validation: {settings.repeats} x {settings.folds}-fold, {len(everything.y)} cases, seed {settings.seed}\n\n"
        + markdown_table(table)
        + f"\nCommand: `{' '.join(settings.command)}`\n"
    )
    save_figure(plot_roc(predictions), tmp / "roc.png")
    _finish_out(tmp, out)
    return summary
