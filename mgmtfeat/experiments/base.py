"""What the experiments and the cross-validation study share: settings, opening a cohort and its
saved folds, the in-process cross-validation cache and writing a results folder.

A results folder is written under a temporary sibling name (``.NAME.partial``) and renamed at the
end (:func:`_prepare_out`, :func:`_finish_out`), so a failed or killed run leaves nothing
half-written under the requested name; an existing folder is replaced only with ``force``, and
never when it is, or contains, an input (:func:`check_out_apart`). The partial folder keeps the
finished folds of a failed or killed run (:mod:`mgmtfeat.experiments._resume`), so the same command
resumes from them; everything else in it is removed on failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from mgmtfeat import MODALITIES, __version__
from mgmtfeat._io import atomic_write_text
from mgmtfeat._parallel import make_executor
from mgmtfeat.evaluation import check_group_folds, cross_validate, folds_key, load_folds, make_folds, summarise
from mgmtfeat.experiments._resume import CACHE_DIR, FoldCache, computation_key
from mgmtfeat.models import input_params
from mgmtfeat.reports import TABLE_METRICS
from mgmtfeat.store import FeatureSet, FeatureStore

__all__ = ["ExperimentError", "ExperimentSettings", "DEFAULT_METHODS", "describe_features", "available_modalities",
           "clear_cache", "open_store", "shared_folds", "make_estimator_factory", "versions"]

#: Table 1's models, in the order of its rows.
DEFAULT_METHODS = ("snn", "mlp", "logistic", "svm", "rf", "xgboost")


class ExperimentError(ValueError):
    """An experiment cannot run on the given features (something must be extracted first)."""


@dataclass
class ExperimentSettings:
    """What every experiment shares.

    Attributes
    ----------
    features : str or None
        Feature store folder; None = the paper's published ViViT features.
    out : str
        Results folder of the experiment.
    folds, repeats, seed : int
        K, repeats of stratified K-fold CV, and the seed of folds and fits.
    jobs : int
        Folds fitted in parallel processes.
    force : bool
        Replace an existing results folder.
    model_params : dict of str to dict
        Parameter overrides per model name, applied with ``set_params`` (e.g.
        ``{"snn": {"max_epochs": 20, "n_members": 1}}`` for a quick run).
    published_source : str or None
        Offline folder of the published TFRecord files (when ``features`` is None).
    progress : bool
        Show progress bars.
    command : list of str
        The command line, recorded in ``settings.json``.
    """

    features: str | None = None
    out: str = "results/experiment"
    folds: int = 5
    repeats: int = 4
    seed: int = 0
    jobs: int = 1
    force: bool = False
    model_params: dict = field(default_factory=dict)
    published_source: str | None = None
    progress: bool = True
    command: list[str] = field(default_factory=lambda: list(sys.argv))


# -- store, folds and estimators (shared with the cross-validation study) -----------------------

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
                 folds_file: str | None = None, groups=None, group_column: str | None = None,
                 leave_one_group_out: bool = False) -> tuple[pd.DataFrame, Path | None]:
    """Fold table shared by every run on the same cases, saved in the store's ``folds/`` folder.

    Named by :func:`~mgmtfeat.evaluation.folds_key` (K, repeats, seed, grouping, a digest of the cohort),
    so every model and ablation on the same cases reuses one assignment. A ``folds_file`` must honour
    the grouping too. Returns the table and its path (None when the store is not writable).
    """
    if folds_file:
        table = load_folds(folds_file, data.case_ids)
        if groups is not None:
            check_group_folds(table, dict(zip(data.case_ids, groups)))
        return table, Path(folds_file)
    path = store.folds_path(folds_key(data.case_ids, data.y, n_splits, n_repeats, seed, group_column, groups,
                                      leave_one_group_out))
    if path.is_file():
        return load_folds(path, data.case_ids), path
    folds = make_folds(data.case_ids, data.y, n_splits, n_repeats, seed, groups, leave_one_group_out)
    try:
        atomic_write_text(path, folds.to_csv(index=False))
    except OSError:
        return folds, None
    return folds, path


def make_estimator_factory(model: str, nested: bool, seed: int, params: Mapping | None = None):
    """``factory(random_state) -> estimator`` for ``model``, wrapped in an inner grid search if ``nested``.

    ``params`` replace hyper-parameters of the model (``--set``). The inner search (3-fold stratified
    CV on the training rows of each outer fold, scored by AUC) chooses among ``MODELS[model].param_grid``
    and refits on the whole training fold.
    """
    from mgmtfeat.models import MODELS, make_model

    def build(random_state):
        estimator = make_model(model, random_state).set_params(**(params or {}))
        if not nested or not MODELS[model].param_grid:
            return estimator
        from sklearn.model_selection import GridSearchCV, StratifiedKFold

        inner = StratifiedKFold(3, shuffle=True, random_state=random_state)
        return GridSearchCV(estimator, MODELS[model].param_grid, scoring="roc_auc", cv=inner, n_jobs=1)

    return build


def _check_models(models: Sequence[str]) -> None:
    from mgmtfeat.models import MODELS

    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ExperimentError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")


# -- results folders -----------------------------------------------------------------------------

def check_out_apart(out: str | os.PathLike, inputs: Mapping[str, str | os.PathLike | None]) -> None:
    """Refuse a results folder that is, or contains, one of ``inputs`` (``{what: path}``; None skipped).

    ``--force`` replaces the results folder, and a run replaces its ``.NAME.partial`` sibling: either
    would delete the input. Checked before anything is deleted or written.
    """
    out = Path(out)
    for folder in (out, partial_path(out)):
        mine = folder.resolve()
        for what, path in inputs.items():
            if path is None:
                continue
            theirs = Path(path).resolve()
            if mine == theirs or mine in theirs.parents:
                raise ValueError(
                    f"--out {out} {'is' if mine == theirs else 'contains'} the {what} {path}; the results folder "
                    "is replaced as a whole (--force), which would delete it. Choose an --out folder that holds "
                    "no input, e.g. results/NAME."
                )


def partial_path(out: Path) -> Path:
    """The temporary sibling ``.NAME.partial`` a results folder ``out`` is written into."""
    return out.with_name(f".{out.name}.partial")


def _check_out(settings: ExperimentSettings) -> Path:
    out = Path(settings.out)
    if out.exists() and not settings.force:
        raise FileExistsError(f"{out} exists; choose another --out or pass --force to replace it.")
    check_out_apart(out, _inputs(settings.features, settings.published_source))
    return out


def _inputs(features: str | None, published_source: str | None) -> dict:
    """The folders a run reads (the feature store; the published features and their cached store)."""
    from mgmtfeat.store.published import published_root

    return {"feature store": features if features is not None else published_root(),
            "published source": published_source}


def _prepare_out(out: Path, force: bool) -> Path:
    """The temporary sibling of ``out`` to write into, emptied but for the fold cache of an earlier try.

    Refuses an existing ``out`` without ``force``.
    """
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; choose another --out or pass --force to replace it.")
    tmp = partial_path(out)
    _empty(tmp, keep=CACHE_DIR)
    tmp.mkdir(parents=True, exist_ok=True)
    return tmp


def _empty(folder: Path, keep: str | None = None) -> None:
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.name != keep:
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()


def _discard_partial(tmp: Path) -> None:
    """After a failure: remove ``tmp`` but for the finished folds (all of it when there are none)."""
    _empty(tmp, keep=CACHE_DIR)
    cache = tmp / CACHE_DIR
    if not (cache.is_dir() and any(cache.iterdir())):
        shutil.rmtree(tmp, ignore_errors=True)


def _finish_out(tmp: Path, out: Path) -> None:
    """Replace ``out`` by the finished temporary folder ``tmp`` (its fold cache is no longer needed)."""
    shutil.rmtree(tmp / CACHE_DIR, ignore_errors=True)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


def _write(tmp: Path, name: str, table: pd.DataFrame, markdown: str, title: str, notes: Sequence[str] = ()) -> None:
    table.to_csv(tmp / f"{name}.csv", index=False)
    body = f"# {title}\n\n{markdown}\n" + "".join(f"{note}\n\n" for note in notes)
    atomic_write_text(tmp / f"{name}.md", body)


def _finish(tmp: Path, out: Path, settings: ExperimentSettings, cohort: _Cohort | None, extra: Mapping | None = None):
    record = {"settings": asdict(settings), "features": cohort.label if cohort else None,
              "store": str(cohort.store.root) if cohort else None,
              "folds_file": str(cohort.folds_path) if cohort and cohort.folds_path else None,
              "n_cases": len(cohort.data.y) if cohort else None, "versions": versions(), **(extra or {})}
    atomic_write_text(tmp / "settings.json", json.dumps(record, indent=2, default=str))
    _finish_out(tmp, out)


def _metrics_long(results: Mapping[str, object]) -> pd.DataFrame:
    return pd.concat([r.metrics.assign(configuration=name) for name, r in results.items()], ignore_index=True)


def _title(text: str, cohort: _Cohort, settings: ExperimentSettings) -> str:
    return (f"{text}\n{cohort.label}; {len(cohort.data.y)} cases, "
            f"{cohort.folds['repeat'].nunique()} x {cohort.folds['fold'].nunique()}-fold CV")


# -- a cohort: store, features, saved folds --------------------------------------------------------

@dataclass
class _Cohort:
    store: FeatureStore
    nets: list[str]
    data: FeatureSet
    folds: pd.DataFrame
    folds_path: Path | None
    label: str


def _is_random(store: FeatureStore, net: str) -> bool:
    return bool(store.provenance(net).get("random_weights"))


def describe_features(store: FeatureStore, nets: Sequence[str]) -> str:
    """One line naming the features, flagging random-weight nets (used in every title)."""
    random = [n for n in nets if _is_random(store, n)]
    published = all(str(store.provenance(n).get("source", "")).startswith("published") for n in nets)
    text = "published ViViT features" if published else f"{', '.join(nets)} features ({store.root.name})"
    if random:
        text += f" | RANDOM-WEIGHT nets: {', '.join(random)} (untrained, pipeline check only)"
    return text


def available_modalities(store: FeatureStore, net: str) -> list[str]:
    """Modalities stored for ``net`` (read from its first case), in canonical order."""
    ids = store.case_ids(net)
    if not ids:
        raise ExperimentError(f"store {store.root} has no cases of net {net!r}; extract them first.")
    features, _, _ = store.read_case(net, ids[0])
    return [m for m in MODALITIES if m in features]


def _open(settings: ExperimentSettings, nets: Sequence[str] | None = None, modalities: Sequence[str] | None = None,
          min_nets: int = 1, store: FeatureStore | None = None) -> _Cohort:
    store = store or open_store(settings.features, settings.published_source)
    present = store.nets()
    if not present:
        raise ExperimentError(
            f"feature store {store.root} holds no features; extract them first with "
            f"`mgmtfeat extract --data DIR --out {store.root}`."
        )
    nets = list(nets or present)
    missing = [n for n in nets if n not in present]
    if missing:
        raise ExperimentError(
            f"store {store.root} has no features of net(s) {', '.join(missing)} (present: {', '.join(present)}); "
            f"extract them first with `mgmtfeat extract --data DIR --out {store.root} --net {missing[0]}`."
        )
    if len(nets) < min_nets:
        raise ExperimentError(
            f"this experiment compares at least {min_nets} nets, but store {store.root} holds only "
            f"{', '.join(nets)}; extract another net into it first, e.g. `mgmtfeat extract --data DIR "
            f"--out {store.root} --net {'r2plus1d' if 'r2plus1d' not in nets else 'i3d'}` (add `--weights random` "
            "for a quick pipeline check)."
        )
    if modalities is None:
        modalities = [m for m in MODALITIES if all(m in available_modalities(store, n) for n in nets)]
    data = store.load(nets, modalities)
    folds, path = shared_folds(store, data, settings.folds, settings.repeats, settings.seed)
    return _Cohort(store, nets, data, folds, path, describe_features(store, nets))


def _net_inputs(net: str, modalities: Sequence[str]) -> list[str]:
    return [f"{net}:{m}" for m in modalities]


def _pick_net(cohort: _Cohort, net: str | None) -> str:
    net = net or cohort.nets[0]
    if net not in cohort.nets:
        raise ExperimentError(f"net {net!r} is not in store {cohort.store.root} (present: {', '.join(cohort.nets)})")
    return net


# -- cross-validation, memoised in the process ------------------------------------------------------

_CACHE: dict[tuple, object] = {}


def _cv(cohort: _Cohort, settings: ExperimentSettings, model: str, inputs: Sequence[str], bar=None):
    """Cross-validate ``model`` on ``inputs`` of the cohort (memoised per process).

    Same store, folds, model, parameters, inputs and seed give the same numbers, so a run of several
    experiments fits each configuration once.
    """
    _check_models([model])
    data = cohort.data.select(list(inputs))
    params = input_params(model, dict(settings.model_params.get(model, {})), data.sizes)  # per-input lengths
    folds_digest = hashlib.sha256(pd.util.hash_pandas_object(cohort.folds, index=False).values.tobytes()).hexdigest()
    key = (str(cohort.store.root.resolve()), folds_digest, model, json.dumps(params, sort_keys=True, default=str),
           tuple(data.inputs), settings.seed)
    n_folds = cohort.folds["repeat"].nunique() * cohort.folds["fold"].nunique()
    if key in _CACHE:
        if bar is not None:
            bar.update(n_folds)
        return _CACHE[key]
    if bar is not None:
        bar.set_postfix_str(f"{model} {'+'.join(i.split(':', 1)[1] for i in data.inputs)}"[:60])
    cache = partial_path(Path(settings.out)) / CACHE_DIR  # finished folds survive a killed run
    fold_key = computation_key(data.X2d, data.y, data.case_ids, model, params, False, settings.seed, versions())
    with make_executor(jobs=settings.jobs) as executor:
        result = cross_validate(make_estimator_factory(model, False, settings.seed, params), data.X2d, data.y,
                                data.case_ids, cohort.folds, seed=settings.seed,
                                progress=None if bar is None else bar.update, input_names=data.inputs,
                                executor=FoldCache(executor, cache, model, fold_key))
    _CACHE[key] = result
    return result


def clear_cache() -> None:
    """Forget memoised cross-validation results."""
    _CACHE.clear()


def _bar(settings: ExperimentSettings, cohort: _Cohort, n_configs: int, desc: str):
    from tqdm.auto import tqdm

    n_folds = cohort.folds["repeat"].nunique() * cohort.folds["fold"].nunique()
    return tqdm(total=n_configs * n_folds, desc=desc, unit="fold", disable=not settings.progress)


def _summary_row(result) -> dict:
    summary = summarise(result.metrics)
    row = {}
    for metric in TABLE_METRICS:
        row[f"{metric}_mean"] = summary[metric]["mean"]
        row[f"{metric}_sem"] = summary[metric]["sem"]
    row["n_folds"] = len(result.metrics)
    row["seconds_per_fold"] = summary["fit_seconds"]["mean"]
    return row
