"""The paper's experiments: method comparison, modality, network and fusion ablations, delta-T1,
external validation, decision curves and attention weights.

Each experiment is one function ``f(settings, ...) -> dict of DataFrames`` that cross-validates on
the store's one saved fold assignment (:func:`mgmtfeat.experiments.cv_study.shared_folds`), so every table of a
cohort is paired fold by fold with every other, and writes a results folder::

    OUT/
      NAME.csv, NAME.md      the experiment's table(s) (mean ± SEM over folds)
      metrics.csv            per configuration, repeat and fold (where cross-validated)
      *.png                  its figures
      settings.json          settings, fold file, versions

The folder is written under a temporary name and renamed at the end; an existing one is replaced
only with ``force``. Cross-validation results are memoised in the process (same store, folds,
model, parameters and inputs give the same numbers), so a run of several experiments fits each
configuration once. Stores holding random-weight nets (provenance ``random_weights``) say so in
every table and figure title. Experiments that need what a store lacks (a second net, a second
cohort, the delta-T1 input) raise :class:`ExperimentError` before fitting anything.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from mgmtfeat import MODALITIES
from mgmtfeat._config import parse_overrides  # moved there; re-exported for old imports
from mgmtfeat.evaluation import (binary_metrics, concordance_correlation, cross_validate, net_benefit, sem, summarise,
                         wilcoxon_paired)
from mgmtfeat.reports import plot_attention, plot_decision_curves, plot_roc, save_figure
from mgmtfeat.store import FeatureSet, FeatureStore, StoreError, atomic_write_text
from mgmtfeat.experiments.cv_study import _finish_out, _prepare_out, make_estimator_factory, open_store, shared_folds, versions

__all__ = [
    "ExperimentError", "ExperimentSettings", "LITERATURE", "EXPERIMENTS", "describe_features",
    "method_comparison", "modalities", "networks", "fusion", "delta_t1", "external_validation",
    "decision_curves", "attention", "feature_ccc",
]

#: AUCs listed in the paper's Table 1 (mean, ± value as reported or None); not reproduced here.
LITERATURE = {
    "Baid et al.": (0.622, None),
    "Saeed et al.": (0.631, 0.001),
    "Emchinov et al.": (0.596, 0.040),
    "Kim et al.": (0.549, 0.054),
    "Yogananda et al.": (0.580, 0.081),
    "Faghani et al.": (0.632, 0.027),
    "paper MLP (T1wCE)": (0.618, 0.039),
    "paper SNN": (0.666, 0.031),
}
PAPER_MODALITY_R = -0.90
PAPER_DELTA_T1_P = 0.03
PAPER_MEAN_CCC_BELOW = 0.15
TABLE_METRICS = ("auc", "precision", "recall", "accuracy")
DEFAULT_METHODS = ("snn", "mlp", "logistic", "svm", "rf", "xgboost")
LABELS = {"flair": "FLAIR", "t1": "T1", "t1ce": "T1wCE", "t2": "T2", "delta_t1": "delta-T1"}


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


# -- features, folds and cross-validation ---------------------------------------------------

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
            f"`python -m mgmtfeat.extract --data DIR --out {store.root}`."
        )
    nets = list(nets or present)
    missing = [n for n in nets if n not in present]
    if missing:
        raise ExperimentError(
            f"store {store.root} has no features of net(s) {', '.join(missing)} (present: {', '.join(present)}); "
            f"extract them first with `python -m mgmtfeat.extract --data DIR --out {store.root} --net {missing[0]}`."
        )
    if len(nets) < min_nets:
        raise ExperimentError(
            f"this experiment compares at least {min_nets} nets, but store {store.root} holds only "
            f"{', '.join(nets)}; extract another net into it first, e.g. `python -m mgmtfeat.extract --data DIR "
            f"--out {store.root} --net {'r2plus1d' if 'r2plus1d' not in nets else 'i3d'}` (add `--weights random` "
            "for a quick pipeline check)."
        )
    if modalities is None:
        common = [m for m in MODALITIES if all(m in available_modalities(store, n) for n in nets)]
        modalities = common
    data = store.load(nets, modalities)
    folds, path = shared_folds(store, data, settings.folds, settings.repeats, settings.seed)
    return _Cohort(store, nets, data, folds, path, describe_features(store, nets))


_CACHE: dict[tuple, object] = {}


def _factory(model: str, seed: int, params: Mapping | None):
    build = make_estimator_factory(model, False, seed)
    if not params:
        return build

    def configured(random_state):
        return build(random_state).set_params(**params)

    return configured


def _cv(cohort: _Cohort, settings: ExperimentSettings, model: str, inputs: Sequence[str], bar=None):
    """Cross-validate ``model`` on ``inputs`` of the cohort (memoised per process)."""
    from mgmtfeat.models import MODELS

    if model not in MODELS:
        raise ExperimentError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    params = dict(settings.model_params.get(model, {}))
    data = cohort.data.select(list(inputs))
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
    result = cross_validate(_factory(model, settings.seed, params), data.X2d, data.y, data.case_ids, cohort.folds,
                            seed=settings.seed, n_jobs=settings.jobs, progress=None if bar is None else bar.update,
                            input_names=data.inputs)
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


# -- writing -------------------------------------------------------------------------------

def _check_out(settings: ExperimentSettings) -> Path:
    out = Path(settings.out)
    if out.exists() and not settings.force:
        raise FileExistsError(f"{out} exists; choose another --out or pass --force to replace it.")
    return out


def _pm(mean, err, digits: int = 3) -> str:
    if mean is None or (isinstance(mean, float) and np.isnan(mean)):
        return "–"
    if err is None or (isinstance(err, float) and np.isnan(err)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {err:.{digits}f}"


def _markdown(table: pd.DataFrame) -> str:
    """A Markdown table of the (already formatted) cells of ``table``."""
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    lines = [header, "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _metric_cells(table: pd.DataFrame, metrics: Sequence[str] = TABLE_METRICS) -> pd.DataFrame:
    """Columns ``AUC``, ``precision`` ... as 'mean ± SEM' strings."""
    return pd.DataFrame({("AUC" if m == "auc" else m): [_pm(a, b) for a, b in zip(table[f"{m}_mean"], table[f"{m}_sem"])]
                         for m in metrics}, index=table.index)


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


def _figure(width: float = 6.0, height: float = 4.5, ncols: int = 1):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(width, height), squeeze=ncols == 1)


def _save(fig, path: Path) -> None:
    """Wrap long titles to the width of their axes (store labels can be long), then save as PNG."""
    import textwrap

    width_in = fig.get_figwidth()
    for ax in fig.axes:
        title = ax.title
        if not title.get_text():
            continue
        axis_in = width_in * ax.get_position().width
        chars = max(30, int(axis_in * 72 / (title.get_fontsize() * 0.55)))
        title.set_text("\n".join(textwrap.fill(line, chars) for line in title.get_text().split("\n")))
    suptitle = getattr(fig, "_suptitle", None)
    if suptitle is not None and suptitle.get_text():
        chars = max(30, int(width_in * 72 / (suptitle.get_fontsize() * 0.55)))
        suptitle.set_text("\n".join(textwrap.fill(line, chars) for line in suptitle.get_text().split("\n")))
    save_figure(fig, path)


def _net_inputs(net: str, modalities: Sequence[str]) -> list[str]:
    return [f"{net}:{m}" for m in modalities]


def _pick_net(cohort: _Cohort, net: str | None) -> str:
    net = net or cohort.nets[0]
    if net not in cohort.nets:
        raise ExperimentError(f"net {net!r} is not in store {cohort.store.root} (present: {', '.join(cohort.nets)})")
    return net


# -- 1. method comparison (Table 1) ---------------------------------------------------------

def method_comparison(settings: ExperimentSettings, models: Sequence[str] = DEFAULT_METHODS,
                      net: str | None = None) -> dict[str, pd.DataFrame]:
    """Table 1: each model on its default inputs, beside the AUCs reported in the literature.

    Returns ``{"table1": one row per model and literature entry}``; writes ``table1.csv``/``.md``,
    ``metrics.csv``, ``predictions.csv``, ``roc.png`` and ``auc.png``.
    """
    from mgmtfeat.models import MODELS

    out = _check_out(settings)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ExperimentError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    cohort = _open(settings, [net] if net else None)
    net = _pick_net(cohort, net)
    stored = available_modalities(cohort.store, net)
    results, rows = {}, []
    with _bar(settings, cohort, len(models), "table 1") as bar:
        for model in models:
            wanted = [m for m in MODELS[model].modalities if m in stored]
            if not wanted:
                raise ExperimentError(f"model {model} uses {', '.join(MODELS[model].modalities)}, which store "
                                      f"{cohort.store.root} lacks for net {net}; extract them first.")
            results[model] = _cv(cohort, settings, model, _net_inputs(net, wanted), bar)
            rows.append({"method": model, "source": "this run", "inputs": "+".join(wanted), **_summary_row(results[model])})
    for name, (auc, err) in LITERATURE.items():
        rows.append({"method": name, "source": "reported, not reproduced", "inputs": "", "auc_mean": auc,
                     "auc_sem": np.nan if err is None else err})
    table = pd.DataFrame(rows)
    shown = pd.concat([table[["method", "source", "inputs"]], _metric_cells(table)], axis=1)
    title = _title("Table 1: MGMT classifiers (AUC etc. mean ± SEM over folds)", cohort, settings)
    tmp = _prepare_out(out, settings.force)
    _write(tmp, "table1", table, _markdown(shown), title.replace("\n", " — "), notes=[
        "Rows marked 'reported, not reproduced' are the AUCs the paper lists (± as reported); they come from "
        "other data splits and code, not from this run."])
    _metrics_long(results).to_csv(tmp / "metrics.csv", index=False)
    predictions = pd.concat([r.predictions.assign(model=m) for m, r in results.items()], ignore_index=True)
    predictions.to_csv(tmp / "predictions.csv", index=False)
    _save(plot_roc(predictions, title=_title("Out-of-fold ROC", cohort, settings)), tmp / "roc.png")
    _save(_plot_method_aucs(table, _title("Table 1: AUC", cohort, settings)), tmp / "auc.png")
    _finish(tmp, out, settings, cohort)
    return {"table1": table}


def _plot_method_aucs(table: pd.DataFrame, title: str):
    fig, ax = _figure(7.0, 4.8)
    ours = table["source"] == "this run"
    colors = np.where(ours, "tab:blue", "lightgrey")
    y = np.arange(len(table))[::-1]
    ax.barh(y, table["auc_mean"], xerr=table["auc_sem"].fillna(0), color=colors, capsize=3,
            edgecolor=np.where(ours, "tab:blue", "grey"))
    ax.set_yticks(y, table["method"])
    ax.axvline(0.5, color="black", linestyle=":", linewidth=1)
    low = max(0.0, float(np.nanmin(table["auc_mean"] - table["auc_sem"].fillna(0))) - 0.05)
    ax.set_xlim(min(low, 0.45), 1.0 if table["auc_mean"].max() > 0.85 else 0.8)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(color="tab:blue", label="this run (mean ± SEM over folds)"),
               Patch(facecolor="lightgrey", edgecolor="grey", label="reported, not reproduced (± as reported)"),
               Line2D([], [], color="black", linestyle=":", label="chance (AUC 0.5)")]
    ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    ax.set(xlabel="AUC (area under the ROC curve)", title=title)
    ax.title.set_fontsize(9)
    return fig


# -- 2. modalities (Table 2) -----------------------------------------------------------------

def modalities(settings: ExperimentSettings, model: str = "snn", net: str | None = None) -> dict[str, pd.DataFrame]:
    """Table 2: each input alone, each input left out (missingness) and all inputs.

    Also the Pearson correlation between the single-input AUCs and the leave-one-out AUCs
    (paper: r = -0.90). Returns ``{"table2": ..., "correlation": ...}``.
    """
    from scipy import stats

    out = _check_out(settings)
    cohort = _open(settings, [net] if net else None)
    net = _pick_net(cohort, net)
    mods = available_modalities(cohort.store, net)
    if len(mods) < 2:
        raise ExperimentError(f"store {cohort.store.root} holds only {mods} for net {net}; the modality ablation "
                              "needs at least two inputs: extract all modalities first.")
    configs = [("single", m, [m]) for m in mods] + [("left out", m, [x for x in mods if x != m]) for m in mods]
    configs.append(("all", "all", mods))
    results, rows = {}, []
    with _bar(settings, cohort, len(configs), "table 2") as bar:
        for setting, name, used in configs:
            key = f"{setting}: {name}"
            results[key] = _cv(cohort, settings, model, _net_inputs(net, used), bar)
            rows.append({"setting": setting, "input": name, "inputs": "+".join(used), **_summary_row(results[key])})
    table = pd.DataFrame(rows)
    single = table[table.setting == "single"].set_index("input")["auc_mean"]
    left = table[table.setting == "left out"].set_index("input")["auc_mean"]
    if len(mods) >= 3:
        r, p = stats.pearsonr(single[mods], left[mods])
    else:
        r, p = np.nan, np.nan
    correlation = pd.DataFrame([{"pearson_r": float(r), "p_value": float(p), "n_inputs": len(mods),
                                 "paper_r": PAPER_MODALITY_R}])
    shown = pd.concat([table[["setting", "input"]].replace(LABELS), _metric_cells(table)], axis=1)
    title = _title(f"Table 2: inputs of the {model} (mean ± SEM over folds)", cohort, settings)
    note = (f"Pearson r between single-input and left-out AUCs over the {len(mods)} inputs: "
            f"r = {r:.2f} (P = {p:.3f}); the paper reports r = {PAPER_MODALITY_R:.2f}.")
    tmp = _prepare_out(out, settings.force)
    _write(tmp, "table2", table, _markdown(shown), title.replace("\n", " — "), notes=[note])
    correlation.to_csv(tmp / "correlation.csv", index=False)
    _metrics_long(results).to_csv(tmp / "metrics.csv", index=False)
    _save(_plot_modalities(table, mods, r, _title("Table 2: single input vs left out", cohort, settings)),
                tmp / "modalities.png")
    _finish(tmp, out, settings, cohort, {"pearson_r": r, "p_value": p})
    return {"table2": table, "correlation": correlation}


def _plot_modalities(table: pd.DataFrame, mods: Sequence[str], r: float, title: str):
    fig, axes = _figure(10.0, 4.5, ncols=2)
    left, right = axes[0]
    single = table[table.setting == "single"].set_index("input")
    out = table[table.setting == "left out"].set_index("input")
    x = np.arange(len(mods))
    left.bar(x - 0.2, single.loc[mods, "auc_mean"], 0.4, yerr=single.loc[mods, "auc_sem"], capsize=3,
             label="this input alone")
    left.bar(x + 0.2, out.loc[mods, "auc_mean"], 0.4, yerr=out.loc[mods, "auc_sem"], capsize=3,
             label="this input left out")
    everything = table[table.setting == "all"].iloc[0]
    left.axhline(everything["auc_mean"], color="black", linestyle="--", linewidth=1, label="all inputs")
    left.axhline(0.5, color="grey", linestyle=":", linewidth=1, label="chance")
    left.set_xticks(x, [LABELS[m] for m in mods])
    low = float(min(single["auc_mean"].min(), out["auc_mean"].min()))
    left.set_ylim(min(0.45, low - 0.05), max(0.75, float(table["auc_mean"].max()) + 0.05))
    left.set(xlabel="Input", ylabel="AUC (mean ± SEM over folds)")
    left.legend(fontsize=8)
    right.scatter(single.loc[mods, "auc_mean"], out.loc[mods, "auc_mean"], color="tab:red")
    for m in mods:
        right.annotate(LABELS[m], (single.loc[m, "auc_mean"], out.loc[m, "auc_mean"]), fontsize=8,
                       xytext=(4, 4), textcoords="offset points")
    if len(mods) >= 2:
        slope, icpt = np.polyfit(single.loc[mods, "auc_mean"], out.loc[mods, "auc_mean"], 1)
        xs = np.linspace(single["auc_mean"].min(), single["auc_mean"].max(), 10)
        right.plot(xs, slope * xs + icpt, color="grey", linestyle="--",
                   label=f"least squares, r = {r:.2f} (paper {PAPER_MODALITY_R:.2f})")
        right.legend(fontsize=8)
    right.set(xlabel="AUC with this input alone", ylabel="AUC with this input left out")
    fig.suptitle(title, fontsize=9)
    return fig


# -- 3. networks (Table 3) and 4. fusion (Table 4) ---------------------------------------------

def networks(settings: ExperimentSettings, model: str = "snn", nets: Sequence[str] | None = None,
             modalities: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """Table 3: the same model on the features of each net in the store (common cases, same folds)."""
    out = _check_out(settings)
    cohort = _open(settings, nets, modalities, min_nets=2)
    mods = [i.split(":", 1)[1] for i in cohort.data.inputs if i.startswith(cohort.nets[0] + ":")]
    results, rows = {}, []
    with _bar(settings, cohort, len(cohort.nets), "table 3") as bar:
        for net in cohort.nets:
            results[net] = _cv(cohort, settings, model, _net_inputs(net, mods), bar)
            rows.append({"net": net, "random_weights": _is_random(cohort.store, net), "inputs": "+".join(mods),
                         **_summary_row(results[net])})
    table = pd.DataFrame(rows)
    shown = pd.concat([table[["net", "random_weights"]], _metric_cells(table)], axis=1)
    title = _title(f"Table 3: {model} on the features of each net", cohort, settings)
    tmp = _prepare_out(out, settings.force)
    _write(tmp, "table3", table, _markdown(shown), title.replace("\n", " — "))
    _metrics_long(results).to_csv(tmp / "metrics.csv", index=False)
    _save(_plot_auc_bars(table["net"], table, "Net", title), tmp / "networks.png")
    _finish(tmp, out, settings, cohort)
    return {"table3": table}


def _plot_auc_bars(names, table: pd.DataFrame, xlabel: str, title: str):
    fig, ax = _figure(max(5.0, 0.8 * len(table) + 2), 4.5)
    x = np.arange(len(table))
    ax.bar(x, table["auc_mean"], yerr=table["auc_sem"], capsize=3, color="tab:blue", label="mean ± SEM over folds")
    ax.axhline(0.5, color="grey", linestyle=":", label="chance")
    ax.set_xticks(x, list(names), rotation=30 if len(table) > 4 else 0, ha="right" if len(table) > 4 else "center")
    ax.set_ylim(min(0.4, float(table["auc_mean"].min()) - 0.05), max(0.8, float(table["auc_mean"].max()) + 0.08))
    ax.set(xlabel=xlabel, ylabel="AUC")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return fig


def feature_ccc(data: FeatureSet, nets: Sequence[str], modalities: Sequence[str], scale: bool = True) -> pd.DataFrame:
    """Lin's CCC per feature between every pair of nets, averaged over features (and per modality).

    Parameters
    ----------
    data : FeatureSet
        Features of ``nets`` x ``modalities`` on the same cases, shape (n_cases, n_inputs, 400).
    scale : bool
        Min-max scale each feature to [0, 1] over the cases first, as the paper's published
        features are; otherwise raw logits of different nets differ in scale and CCC says only that.

    Returns
    -------
    pandas.DataFrame
        ``net_a``, ``net_b``, ``ccc_mean`` (mean over modalities and the 400 features; features
        constant in either net are skipped), ``ccc_MODALITY`` per modality.
    """
    def block(net, m):
        x = data.X[:, data.inputs.index(f"{net}:{m}")].astype(float)
        if scale:
            low, span = x.min(axis=0), np.ptp(x, axis=0)
            x = (x - low) / np.where(span > 0, span, 1.0)
        return x

    rows = []
    for a, b in itertools.combinations(nets, 2):
        row = {"net_a": a, "net_b": b}
        values = []
        for m in modalities:
            ccc = concordance_correlation(block(a, m), block(b, m), axis=0)
            row[f"ccc_{m}"] = float(np.nanmean(ccc))
            values.append(ccc)
        row["ccc_mean"] = float(np.nanmean(np.concatenate(values)))
        rows.append(row)
    return pd.DataFrame(rows)


def fusion(settings: ExperimentSettings, model: str = "snn", nets: Sequence[str] | None = None,
           modalities: Sequence[str] | None = None, max_nets: int = 4) -> dict[str, pd.DataFrame]:
    """Table 4: every combination of 2..``max_nets`` nets fused, with CCC reproducibility.

    The fusion gain of a combination is its AUC minus the best AUC of its nets alone; its CCC is
    the mean pairwise CCC of its nets. Returns ``{"table4", "ccc", "gain_vs_ccc"}``.
    """
    from scipy import stats

    out = _check_out(settings)
    cohort = _open(settings, nets, modalities, min_nets=2)
    mods = [i.split(":", 1)[1] for i in cohort.data.inputs if i.startswith(cohort.nets[0] + ":")]
    combos = [c for k in range(2, min(max_nets, len(cohort.nets)) + 1) for c in itertools.combinations(cohort.nets, k)]
    ccc = feature_ccc(cohort.data, cohort.nets, mods)
    pair_ccc = {frozenset((r.net_a, r.net_b)): r.ccc_mean for r in ccc.itertuples()}
    results, singles, rows = {}, {}, []
    with _bar(settings, cohort, len(cohort.nets) + len(combos), "table 4") as bar:
        for net in cohort.nets:
            singles[net] = _cv(cohort, settings, model, _net_inputs(net, mods), bar)
            results[net] = singles[net]
            rows.append({"nets": net, "n_nets": 1, **_summary_row(singles[net]), "gain": np.nan, "mean_ccc": np.nan})
        for combo in combos:
            name = "+".join(combo)
            results[name] = _cv(cohort, settings, model, [i for n in combo for i in _net_inputs(n, mods)], bar)
            row = _summary_row(results[name])
            best = max(summarise(singles[n].metrics)["auc"]["mean"] for n in combo)
            cccs = [pair_ccc[frozenset(p)] for p in itertools.combinations(combo, 2)]
            rows.append({"nets": name, "n_nets": len(combo), **row, "gain": row["auc_mean"] - best,
                         "mean_ccc": float(np.mean(cccs))})
    table = pd.DataFrame(rows)
    fused = table[table.n_nets > 1]
    if len(fused) >= 3 and fused["mean_ccc"].nunique() > 1 and fused["gain"].nunique() > 1:
        r, p = stats.pearsonr(fused["mean_ccc"], fused["gain"])
    else:
        r, p = np.nan, np.nan
    gain_vs_ccc = pd.DataFrame([{"pearson_r": float(r), "p_value": float(p), "n_combinations": len(fused)}])
    pairs = fused[fused.n_nets == 2]
    pair_auc, pair_gain = pairs.set_index("nets")["auc_mean"], pairs.set_index("nets")["gain"]
    names = ccc["net_a"] + "+" + ccc["net_b"]
    ccc = ccc.assign(fusion_auc=names.map(pair_auc), gain=names.map(pair_gain))
    shown = pd.concat([table[["nets"]], _metric_cells(table),
                       pd.DataFrame({"gain": [_pm(g, None) for g in table["gain"]],
                                     "mean CCC": [_pm(c, None) for c in table["mean_ccc"]]})], axis=1)
    ccc_shown = ccc.assign(**{c: ccc[c].map(lambda v: _pm(v, None)) for c in ccc.columns if c not in ("net_a", "net_b")})
    title = _title(f"Table 4: fusion of nets ({model})", cohort, settings)
    note = (f"Fusion gain = AUC of the combination minus the best AUC of its nets alone; mean CCC = mean over "
            f"its net pairs of Lin's CCC per feature (features min-max scaled over cases). Pearson r between "
            f"gain and mean CCC over {len(fused)} combinations: "
            + (f"r = {r:.2f} (P = {p:.3f})." if np.isfinite(r) else "not defined (fewer than 3 combinations)."))
    tmp = _prepare_out(out, settings.force)
    _write(tmp, "table4", table, _markdown(shown), title.replace("\n", " — "), notes=[note])
    _write(tmp, "ccc", ccc, _markdown(ccc_shown), f"Feature reproducibility between nets (Lin's CCC) — {cohort.label}",
           notes=[f"The paper reports a mean CCC below {PAPER_MEAN_CCC_BELOW} between every pair of nets."])
    gain_vs_ccc.to_csv(tmp / "gain_vs_ccc.csv", index=False)
    _metrics_long(results).to_csv(tmp / "metrics.csv", index=False)
    _save(_plot_auc_bars(table["nets"], table, "Nets fused", title), tmp / "fusion.png")
    _save(_plot_ccc(ccc, cohort.nets, f"Feature CCC between nets\n{cohort.label}"), tmp / "ccc.png")
    _save(_plot_gain(fused, r, f"Fusion gain vs feature CCC\n{cohort.label}"), tmp / "gain_vs_ccc.png")
    _finish(tmp, out, settings, cohort, {"gain_vs_ccc_r": r})
    return {"table4": table, "ccc": ccc, "gain_vs_ccc": gain_vs_ccc}


def _plot_ccc(ccc: pd.DataFrame, nets: Sequence[str], title: str):
    matrix = pd.DataFrame(np.eye(len(nets)), index=nets, columns=nets)
    for r in ccc.itertuples():
        matrix.loc[r.net_a, r.net_b] = matrix.loc[r.net_b, r.net_a] = r.ccc_mean
    fig, ax = _figure(5.5, 4.5)
    image = ax.imshow(matrix.to_numpy(), vmin=-1, vmax=1, cmap="coolwarm")
    for i in range(len(nets)):
        for j in range(len(nets)):
            ax.text(j, i, f"{matrix.iat[i, j]:.2f}", ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(nets)), nets)
    ax.set_yticks(range(len(nets)), nets)
    fig.colorbar(image, ax=ax, label="mean Lin's CCC over features (unitless)")
    ax.set(xlabel="Net", ylabel="Net")
    ax.set_title(title, fontsize=9)
    return fig


def _plot_gain(fused: pd.DataFrame, r: float, title: str):
    fig, ax = _figure(5.5, 4.5)
    ax.scatter(fused["mean_ccc"], fused["gain"], color="tab:purple", label="net combination")
    for row in fused.itertuples():
        ax.annotate(row.nets, (row.mean_ccc, row.gain), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axhline(0, color="grey", linestyle=":", linewidth=1, label="no gain")
    ax.set(xlabel="Mean Lin's CCC between the fused nets' features", ylabel="AUC gain over the best single net")
    ax.set_title(title + (f"\nPearson r = {r:.2f}" if np.isfinite(r) else ""), fontsize=9)
    ax.legend(fontsize=8)
    return fig


# -- 5. delta-T1 -------------------------------------------------------------------------------

def delta_t1(settings: ExperimentSettings, model: str = "snn", net: str | None = None) -> dict[str, pd.DataFrame]:
    """With and without the delta-T1 input, paired per fold, Wilcoxon signed-rank P (paper: P = 0.03 for AUC)."""
    out = _check_out(settings)
    cohort = _open(settings, [net] if net else None)
    net = _pick_net(cohort, net)
    mods = available_modalities(cohort.store, net)
    if "delta_t1" not in mods:
        raise ExperimentError(
            f"store {cohort.store.root} has no delta_t1 features for net {net}; extract them first with "
            f"`python -m mgmtfeat.extract --data DIR --out {cohort.store.root} --net {net} --force` "
            "(the delta-T1 clip is T1wCE minus T1 and needs both on one grid)."
        )
    if len(mods) < 2:
        raise ExperimentError(f"store {cohort.store.root} holds only delta_t1 for net {net}; extract the other modalities first.")
    without = [m for m in mods if m != "delta_t1"]
    with _bar(settings, cohort, 2, "delta-T1") as bar:
        with_ = _cv(cohort, settings, model, _net_inputs(net, mods), bar)
        without_ = _cv(cohort, settings, model, _net_inputs(net, without), bar)
    a = with_.metrics.set_index(["repeat", "fold"]).sort_index()
    b = without_.metrics.set_index(["repeat", "fold"]).sort_index()
    rows = []
    for metric in TABLE_METRICS:
        rows.append({"metric": metric, "with_mean": a[metric].mean(), "with_sem": sem(a[metric]),
                     "without_mean": b[metric].mean(), "without_sem": sem(b[metric]),
                     "difference_mean": float((a[metric] - b[metric]).mean()),
                     "folds_with_better": int((a[metric] > b[metric]).sum()), "n_folds": len(a),
                     "wilcoxon_p": wilcoxon_paired(a[metric], b[metric])})
    table = pd.DataFrame(rows)
    shown = pd.DataFrame({"metric": table["metric"].replace({"auc": "AUC"}),
                          "with delta-T1": [_pm(m, s) for m, s in zip(table.with_mean, table.with_sem)],
                          "without delta-T1": [_pm(m, s) for m, s in zip(table.without_mean, table.without_sem)],
                          "mean difference": table.difference_mean.map(lambda v: f"{v:+.3f}"),
                          "folds better with": [f"{w}/{n}" for w, n in zip(table.folds_with_better, table.n_folds)],
                          "Wilcoxon P": table.wilcoxon_p.map(lambda v: f"{v:.3g}")})
    title = _title(f"Delta-T1: {model} with and without the delta-T1 input, paired per fold", cohort, settings)
    tmp = _prepare_out(out, settings.force)
    _write(tmp, "delta_t1", table, _markdown(shown), title.replace("\n", " — "),
           notes=[f"Two-sided Wilcoxon signed-rank test over the {len(a)} paired folds; the paper reports "
                  f"P = {PAPER_DELTA_T1_P} for AUC."])
    _metrics_long({"with delta-T1": with_, "without delta-T1": without_}).to_csv(tmp / "metrics.csv", index=False)
    _save(_plot_paired(a["auc"], b["auc"], float(table.wilcoxon_p[0]), title), tmp / "delta_t1.png")
    _finish(tmp, out, settings, cohort)
    return {"delta_t1": table}


def _plot_paired(with_: pd.Series, without: pd.Series, p: float, title: str):
    fig, ax = _figure(5.0, 4.5)
    for w, o in zip(with_, without):
        ax.plot([0, 1], [o, w], color="grey", alpha=0.5, linewidth=0.8)
    ax.scatter(np.zeros(len(without)), without, color="tab:orange", label="without delta-T1 (one fold)", zorder=3)
    ax.scatter(np.ones(len(with_)), with_, color="tab:blue", label="with delta-T1 (same fold)", zorder=3)
    ax.errorbar([0, 1], [without.mean(), with_.mean()], yerr=[sem(without), sem(with_)], color="black",
                marker="_", markersize=20, capsize=5, linestyle="none", label="mean ± SEM", zorder=4)
    ax.set_xticks([0, 1], ["without delta-T1", "with delta-T1"])
    ax.set_xlim(-0.5, 1.5)
    ax.set(ylabel="AUC per fold")
    ax.set_title(f"{title}\nWilcoxon P = {p:.3g}", fontsize=8)
    ax.legend(fontsize=7)
    return fig


# -- 6. external validation --------------------------------------------------------------------

def external_validation(settings: ExperimentSettings, test_features: str | None, model: str = "snn",
                        net: str | None = None, modalities: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """Train on the store of ``settings.features`` and test on the store ``test_features``.

    Test cases also in the training cohort are dropped: same case id, or a ``brats_id`` in the
    test case's metadata that names a training case (or its ``brats_id``). ``settings.repeats``
    models are trained from different seeds; metrics are mean ± SEM over them, and the AUC of
    their mean probability is reported too. Returns ``{"external", "dropped"}``.
    """
    out = _check_out(settings)
    train_store = open_store(settings.features, settings.published_source)
    if not test_features:
        raise ExperimentError(
            "external validation needs a second cohort: extract its features first with `python -m mgmtfeat.extract "
            "--data SECOND_DATASET --out SECOND_STORE --net NET` and pass it as the test store (--test-features; --external-features in run_all.py)."
        )
    test_store = FeatureStore(test_features)
    if test_store.root.resolve() == train_store.root.resolve():
        raise ExperimentError(f"--test-features {test_store.root} is the training store; give another cohort's store.")
    nets = [net] if net else [n for n in train_store.nets() if n in test_store.nets()]
    if not nets or not test_store.nets():
        raise ExperimentError(
            f"test store {test_store.root} has no features of a net of the training store "
            f"({', '.join(train_store.nets()) or 'none'}); extract them first with `python -m mgmtfeat.extract "
            f"--data SECOND_DATASET --out {test_store.root} --net {(train_store.nets() or ['i3d'])[0]}`."
        )
    net = nets[0]
    for store in (train_store, test_store):
        store.provenance(net)
    mods = list(modalities or [m for m in available_modalities(train_store, net)
                               if m in available_modalities(test_store, net)])
    train = train_store.load(net, mods)
    test_all = test_store.load(net, mods)
    dropped = _overlap(train_store, test_store, net, train.case_ids, test_all.case_ids)
    keep = np.array([c not in set(dropped["case_id"]) for c in test_all.case_ids])
    test = test_all.subset(np.flatnonzero(keep))
    if len(np.unique(test.y)) < 2:
        raise ExperimentError(f"test store {test_store.root}: after dropping {len(dropped)} overlapping cases, "
                              f"{len(test.y)} cases of one class remain; an AUC needs both classes.")
    label = describe_features(train_store, [net]) + " -> " + describe_features(test_store, [net])
    params = dict(settings.model_params.get(model, {}))
    from tqdm.auto import tqdm

    rows, parts = [], []
    for r in tqdm(range(settings.repeats), desc="external", unit="fit", disable=not settings.progress):
        seed = settings.seed * 1000 + r
        estimator = _factory(model, settings.seed, params)(seed).fit(train.X2d, train.y)
        p = estimator.predict_proba(test.X2d)[:, 1]
        rows.append({"seed": seed, **binary_metrics(test.y, p)})
        parts.append(pd.DataFrame({"case_id": test.case_ids, "label": test.y, "seed": seed, "probability": p}))
    per_seed = pd.DataFrame(rows)
    predictions = pd.concat(parts, ignore_index=True)
    mean_p = predictions.groupby("case_id", sort=False)["probability"].mean()
    ensemble_auc = binary_metrics(test.y, mean_p.loc[list(test.case_ids)].to_numpy())["auc"]
    table = pd.DataFrame([{"train_store": str(train_store.root), "test_store": str(test_store.root), "net": net,
                           "inputs": "+".join(mods), "n_train": len(train.y), "n_test": len(test.y),
                           "n_dropped_overlap": len(dropped), "n_seeds": settings.repeats,
                           **{f"{m}_{stat}": (per_seed[m].mean() if stat == "mean" else sem(per_seed[m]))
                              for m in TABLE_METRICS for stat in ("mean", "sem")},
                           "auc_of_mean_probability": ensemble_auc}])
    shown = pd.concat([table[["net", "n_train", "n_test", "n_dropped_overlap"]], _metric_cells(table),
                       pd.DataFrame({"AUC of mean probability": [f"{ensemble_auc:.3f}"]})], axis=1)
    title = f"External validation ({model}, {settings.repeats} seeds): {label}"
    tmp = _prepare_out(out, settings.force)
    _write(tmp, "external", table, _markdown(shown), title, notes=[
        "Mean ± SEM over models trained from different seeds on the whole training cohort. The paper trained on "
        "BraTS 2021 and tested on 81 UCSF-PDGM patients not in BraTS: AUC 0.624."])
    per_seed.to_csv(tmp / "metrics.csv", index=False)
    predictions.to_csv(tmp / "predictions.csv", index=False)
    dropped.to_csv(tmp / "dropped.csv", index=False)
    curves = predictions.assign(model=predictions["seed"].map(lambda s: f"seed {s}"))
    _save(plot_roc(curves, title=f"External test ROC ({model}, one curve per seed)\n{label}"), tmp / "roc.png")
    _finish(tmp, out, settings, None, {"train_store": str(train_store.root), "test_store": str(test_store.root),
                                       "features": label})
    return {"external": table, "dropped": dropped}


def _overlap(train_store: FeatureStore, test_store: FeatureStore, net: str, train_ids, test_ids) -> pd.DataFrame:
    """Test cases of the training cohort: same id, or a ``brats_id`` naming a training case."""
    train_names = set(train_ids)
    train_meta = train_store.labels(net)
    if "brats_id" in train_meta.columns:
        train_names |= set(train_meta["brats_id"].dropna().astype(str))
    test_meta = test_store.labels(net).set_index("case_id")
    rows = []
    for case_id in test_ids:
        brats = test_meta.loc[case_id].get("brats_id") if "brats_id" in test_meta.columns else None
        brats = None if brats is None or pd.isna(brats) or brats == "" else str(brats)
        if case_id in train_names:
            rows.append({"case_id": case_id, "brats_id": brats, "reason": "same case id in the training store"})
        elif brats and brats in train_names:
            rows.append({"case_id": case_id, "brats_id": brats, "reason": "brats_id is a training case"})
    return pd.DataFrame(rows, columns=["case_id", "brats_id", "reason"])


# -- 7. decision curves ------------------------------------------------------------------------

def decision_curves(settings: ExperimentSettings, models: Sequence[str] = ("snn", "mlp"),
                    net: str | None = None) -> dict[str, pd.DataFrame]:
    """Net benefit of out-of-fold probabilities against threshold, with treat-all and treat-none.

    Each repeat's out-of-fold probabilities cover every case once; net benefit is computed per
    repeat and averaged. Returns ``{"decision_curves": long table, "summary": a few thresholds}``.
    """
    from mgmtfeat.models import MODELS

    out = _check_out(settings)
    cohort = _open(settings, [net] if net else None)
    net = _pick_net(cohort, net)
    stored = available_modalities(cohort.store, net)
    thresholds = np.round(np.arange(0.01, 1.0, 0.01), 2)
    curves = {}
    with _bar(settings, cohort, len(models), "decision curves") as bar:
        for model in models:
            if model not in MODELS:
                raise ExperimentError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
            inputs = _net_inputs(net, [m for m in MODELS[model].modalities if m in stored])
            result = _cv(cohort, settings, model, inputs, bar)
            per_repeat = [net_benefit(part["label"], part["probability"], thresholds)
                          for _, part in result.predictions.groupby("repeat")]
            curves[model] = pd.concat(per_repeat).groupby("threshold", as_index=False).mean()
    long = pd.concat([c.assign(model_name=m) for m, c in curves.items()], ignore_index=True)
    picks = [0.3, 0.4, 0.5, 0.6, 0.7]
    summary = long[long.threshold.isin(picks)].pivot(index="threshold", columns="model_name", values="model")
    summary["treat all"] = curves[models[0]].set_index("threshold").loc[picks, "treat_all"]
    summary["treat none"] = 0.0
    summary = summary.reset_index()
    shown = summary.assign(**{c: summary[c].map(lambda v: f"{v:.3f}") for c in summary.columns if c != "threshold"})
    title = _title("Decision curve analysis (net benefit, mean over repeats)", cohort, settings)
    tmp = _prepare_out(out, settings.force)
    _write(tmp, "decision_curves", summary, _markdown(shown), title.replace("\n", " — "),
           notes=["Net benefit = TP/n − FP/n × t/(1 − t) at threshold probability t; the full curves are in "
                  "decision_curves_full.csv."])
    long.to_csv(tmp / "decision_curves_full.csv", index=False)
    _save(plot_decision_curves(curves, title=title), tmp / "decision_curves.png")
    _finish(tmp, out, settings, cohort)
    return {"decision_curves": long, "summary": summary}


# -- 8. attention ------------------------------------------------------------------------------

def attention(settings: ExperimentSettings, model: str = "snn", net: str | None = None,
              n_examples: int = 2) -> dict[str, pd.DataFrame]:
    """Per-case SNN attention over inputs in the out-of-fold run (Figure 5) and example cases (Figure 3).

    The examples are the most confidently correct methylated and unmethylated cases of the first
    repeat. Returns ``{"attention": mean ± SD per input, "examples": their weights}``.
    """
    from mgmtfeat.models import MODELS

    out = _check_out(settings)
    if model not in MODELS:
        raise ExperimentError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    if not hasattr(MODELS[model].build(0), "attention_weights"):
        raise ExperimentError(f"model {model} has no attention weights; use an SNN model (snn, snn-siamese, snn-conv).")
    cohort = _open(settings, [net] if net else None)
    net = _pick_net(cohort, net)
    inputs = _net_inputs(net, available_modalities(cohort.store, net))
    with _bar(settings, cohort, 1, "attention") as bar:
        result = _cv(cohort, settings, model, inputs, bar)
    weights = result.extras["attention"]
    names = [LABELS.get(i.split(":", 1)[1], i) for i in inputs]
    table = pd.DataFrame({"input": names, "mean": weights[inputs].mean().to_numpy(),
                          "sd": weights[inputs].std().to_numpy(),
                          "sem_over_folds": [sem(weights.assign(fold=_fold_of(result, weights))
                                                 .groupby(["repeat", "fold"])[i].mean()) for i in inputs]})
    first = result.predictions[result.predictions.repeat == result.predictions.repeat.min()]
    picks = [first[first.label == 1].nlargest(1, "probability"), first[first.label == 0].nsmallest(1, "probability")]
    chosen = pd.concat(picks[:n_examples])
    w0 = weights[weights.repeat == first.repeat.min()].set_index("case_id")
    examples = pd.DataFrame([{"case_id": r.case_id, "label": int(r.label), "probability": float(r.probability),
                              **{n: float(w0.loc[r.case_id, i]) for n, i in zip(names, inputs)}}
                             for r in chosen.itertuples()])
    shown = table.assign(**{"mean ± SD": [f"{m:.3f} ± {s:.3f}" for m, s in zip(table["mean"], table["sd"])]})[
        ["input", "mean ± SD"]]
    title = _title(f"Attention of the {model} over inputs (out-of-fold cases)", cohort, settings)
    tmp = _prepare_out(out, settings.force)
    _write(tmp, "attention", table, _markdown(shown), title.replace("\n", " — "),
           notes=[f"Uniform attention would be {1 / len(inputs):.3f} per input. Examples (Figure 3):\n\n"
                  + _markdown(examples.assign(**{c: examples[c].map(lambda v: f"{v:.3f}")
                                                 for c in ["probability", *names]}))])
    examples.to_csv(tmp / "examples.csv", index=False)
    weights.to_csv(tmp / "attention_per_case.csv", index=False)
    renamed = weights.rename(columns=dict(zip(inputs, names)))[["case_id", "repeat", *names]]
    _save(plot_attention(renamed, title=title), tmp / "attention.png")
    _save(_plot_examples(examples, names, f"Attention of two example cases\n{cohort.label}"), tmp / "examples.png")
    _finish(tmp, out, settings, cohort)
    return {"attention": table, "examples": examples}


def _fold_of(result, weights: pd.DataFrame) -> np.ndarray:
    fold = result.predictions.set_index(["case_id", "repeat"])["fold"]
    return fold.loc[list(zip(weights["case_id"], weights["repeat"]))].to_numpy()


def _plot_examples(examples: pd.DataFrame, names: Sequence[str], title: str):
    fig, axes = _figure(4.0 * len(examples), 3.8, ncols=len(examples))
    for ax, (_, row) in zip(axes[0], examples.iterrows()):
        values = row[list(names)].astype(float).to_numpy()
        ax.bar(names, values, color="tab:green")
        ax.axhline(1 / len(names), color="grey", linestyle=":", label="uniform")
        status = "methylated" if row.label == 1 else "unmethylated"
        ax.set_title(f"{row.case_id} ({status})\nP(methylated) = {row.probability:.2f}", fontsize=8)
        ax.set(xlabel="Input", ylabel="Attention weight")
        ax.set_ylim(0, max(0.5, max(values) * 1.15))
        ax.tick_params(axis="x", labelsize=7)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


#: Experiment name -> function, in the order ``run_all`` runs them.
EXPERIMENTS: dict[str, Callable] = {
    "table1_methods": method_comparison,
    "table2_modalities": modalities,
    "delta_t1": delta_t1,
    "decision_curves": decision_curves,
    "attention": attention,
    "table3_networks": networks,
    "table4_fusion": fusion,
    "external_validation": external_validation,
}


# -- command-line helpers shared by the scripts under experiments/ ----------------------------

def add_common_arguments(parser, models: str | None = None) -> None:
    """Add --features, --published-source, --out, --folds, --repeats, --seed, --jobs, --set, --force, --quiet.

    ``models`` adds ``--models`` with that default (comma-separated).
    """
    parser.add_argument("--features", default=None, metavar="DIR",
                        help="feature store (from `python -m mgmtfeat.extract`); default: the paper's published "
                        "ViViT features, imported into the user cache on first use")
    parser.add_argument("--published-source", default=None, metavar="DIR",
                        help="offline folder with the two published TFRecord files (used without --features)")
    parser.add_argument("--out", required=True, metavar="DIR", help="results folder to write")
    parser.add_argument("--folds", type=int, default=5, help="K of stratified K-fold cross-validation")
    parser.add_argument("--repeats", type=int, default=4, help="repeats of K-fold CV (the fold table is saved "
                        "in the store and shared by every experiment with the same K, repeats and seed)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the folds and of every model fit")
    parser.add_argument("--jobs", type=int, default=1, help="folds fitted in parallel processes")
    parser.add_argument("--set", action="append", default=[], metavar="MODEL.PARAM=VALUE",
                        help="override a model parameter, e.g. --set snn.max_epochs=20 --set snn.n_members=1 "
                        "(repeatable; VALUE is read as JSON when it parses, else as text)")
    if models is not None:
        parser.add_argument("--models", default=models, metavar="M[,M...]",
                            help="models, comma-separated: snn, snn-siamese, snn-conv, mlp, logistic, svm, rf, xgboost")
    parser.add_argument("--force", action="store_true", help="replace an existing results folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def settings_from_args(args, out: str | None = None) -> ExperimentSettings:
    """ExperimentSettings from parsed common arguments."""
    if args.folds < 2 or args.repeats < 1 or args.jobs < 1:
        raise ValueError(f"--folds must be at least 2 (got {args.folds}), --repeats and --jobs at least 1 "
                         f"(got {args.repeats}, {args.jobs})")
    return ExperimentSettings(features=args.features, out=out or args.out, folds=args.folds, repeats=args.repeats,
                              seed=args.seed, jobs=args.jobs, force=args.force,
                              model_params=parse_overrides(args.set), published_source=args.published_source,
                              progress=not args.quiet)


def run_cli(function: Callable, args, **kwargs) -> int:
    """Run one experiment for a script; print its main table; return the exit status (2 on bad input)."""
    try:
        settings = settings_from_args(args)
        tables = function(settings, **kwargs)
    except (ValueError, FileNotFoundError, FileExistsError, StoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    main = next(iter(tables.values()))
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(main.round(3).to_string(index=False))
    print(f"results in {settings.out}")
    return 0


def split_csv(text: str) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]``."""
    return [part.strip() for part in text.split(",") if part.strip()]
