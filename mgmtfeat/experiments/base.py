r"""The experiment protocol: the steps every experiment of ``mgmtfeat experiment`` takes, as public names.

An experiment is one module of ``mgmtfeat/experiments/`` holding one function
``f(settings: ExperimentSettings, **options) -> dict of str to pandas.DataFrame``, plus its entry in
the registry :data:`mgmtfeat.experiments.EXPERIMENTS`. It imports everything it needs from here,
the steps of :mod:`mgmtfeat.experiments.cohort` and :mod:`mgmtfeat.experiments.results_folder`
included:

1. **Check the results folder** before reading anything:
   :func:`~mgmtfeat.experiments.results_folder.check_out_folder` refuses an existing ``settings.out``
   without ``force``, and one that is or contains an input. :func:`check_models` refuses unknown
   model names.
2. **Open the cohort**: :func:`~mgmtfeat.experiments.cohort.open_cohort` returns a
   :class:`~mgmtfeat.experiments.cohort.Cohort`: the store, its nets, the features of the n cases
   (``cohort.data``, a FeatureSet of inputs ``"net:modality"``; ``cohort.data.y`` has shape (n,)) and
   the store's saved fold table (``cohort.folds``, one row per case and repeat). The folds are shared
   by every experiment with the same K, repeats and seed
   (:func:`~mgmtfeat.experiments.cohort.shared_folds`), so every table of a cohort is paired fold by
   fold with every other. :func:`~mgmtfeat.experiments.cohort.pick_net` and
   :func:`~mgmtfeat.experiments.cohort.available_modalities` say what the store holds; raise
   :class:`~mgmtfeat.experiments.cohort.ExperimentError` when it lacks what the experiment needs,
   before fitting anything (``mgmtfeat experiment all`` skips the experiment with that message).
3. **Run the models**: :func:`run_cv` cross-validates one configuration (a model on a list of
   inputs, :func:`~mgmtfeat.experiments.cohort.net_inputs`) on the cohort's folds and returns a
   CVResult (``metrics``: one row per (repeat, fold); ``predictions``: one row per case and repeat).
   It is memoised in the process and resumes from the fold cache after a kill.
   :func:`progress_bar` counts the folds; :func:`summary_row` makes a table row (mean and SEM over
   folds of each metric).
4. **Write tables and figures** into the temporary folder of
   :func:`~mgmtfeat.experiments.results_folder.prepare_out`: :func:`write_table` (``NAME.csv`` with
   every number, ``NAME.md`` titled by :func:`table_title`), :func:`metrics_long` (``metrics.csv``),
   :func:`mgmtfeat.reports.save_figure` (``NAME.png``).
5. **Finish the results folder**: :func:`finish_results` writes ``settings.json`` and renames the
   temporary folder to ``settings.out`` (:mod:`mgmtfeat.experiments.results_folder`), so a failed run
   leaves nothing half-written.

Worked example, the way to add an experiment. The decision curve analysis (``mgmtfeat experiment
decision-curves``) is one file, ``mgmtfeat/experiments/decision_curves.py``; this is its code, its
docstrings left out (a test keeps the two the same)::

    from __future__ import annotations

    from typing import Sequence

    import numpy as np
    import pandas as pd

    from mgmtfeat.evaluation import net_benefit
    from mgmtfeat.experiments.base import (ExperimentSettings, available_modalities, check_models, check_out_folder,
                                           finish_results, net_inputs, open_cohort, pick_net, prepare_out, progress_bar,
                                           run_cv, table_title, write_table)
    from mgmtfeat.reports import cells_to_markdown, plot_decision_curves, save_figure

    __all__ = ["decision_curve_analysis"]


    def decision_curve_analysis(settings: ExperimentSettings, models: Sequence[str] = ("snn", "mlp"),
                                net: str | None = None) -> dict[str, pd.DataFrame]:
        from mgmtfeat.models import MODELS

        out = check_out_folder(settings)  # refused before anything is read
        check_models(models)
        cohort = open_cohort(settings, [net] if net else None)
        net = pick_net(cohort, net)
        stored = available_modalities(cohort.store, net)
        thresholds = np.round(np.arange(0.01, 1.0, 0.01), 2)
        curves = {}
        with progress_bar(settings, cohort, len(models), "decision curves") as bar:
            for model in models:
                inputs = net_inputs(net, [m for m in MODELS[model].modalities if m in stored])
                result = run_cv(cohort, settings, model, inputs, bar)  # memoised: other experiments reuse it
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
        title = table_title("Decision curve analysis (net benefit, mean over repeats)", cohort, settings)
        tmp = prepare_out(out, settings.force)  # .NAME.partial, renamed to NAME by finish_results
        write_table(tmp, "decision_curves", summary, cells_to_markdown(shown), title.replace("\n", " — "),
                    notes=["Net benefit = TP/n − FP/n × t/(1 − t) at threshold probability t; the full curves are in "
                           "decision_curves_full.csv."])
        long.to_csv(tmp / "decision_curves_full.csv", index=False)
        save_figure(plot_decision_curves(curves, title=title), tmp / "decision_curves.png")
        finish_results(tmp, out, settings, cohort)
        return {"decision_curves": long, "summary": summary}

Its registry entry, in ``mgmtfeat/experiments/__init__.py``: the import, then the name users type,
a one-line description, its own options (``_models`` and ``_NET`` make the shared ``--models`` and
``--net`` options; each fills the keyword argument of the same name) and earlier names::

    from mgmtfeat.experiments.decision_curves import decision_curve_analysis

    EXPERIMENTS: dict[str, Experiment] = {
        # ... the experiments before it
        "decision-curves": Experiment(decision_curve_analysis, "decision curve analysis: net benefit of out-of-fold "
                                      "probabilities against threshold (Figure 4)", (_models(("snn", "mlp")), _NET),
                                      ("decision_curves",)),
    }

That is all: ``mgmtfeat experiment --list`` shows it, ``mgmtfeat experiment decision-curves --help``
lists its options, and ``mgmtfeat experiment all`` runs it. ``tests/package/test_extension_points.py`` fails,
saying what to add, when a module defines an experiment function without a registry entry.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from mgmtfeat import __version__
from mgmtfeat._io import atomic_write_text
from mgmtfeat._parallel import make_executor
from mgmtfeat.evaluation import cross_validate, summarise
from mgmtfeat.experiments.cohort import (Cohort, ExperimentError, available_modalities, describe_features,
                                         is_random_net, net_inputs, open_cohort, open_store, pick_net, shared_folds)
from mgmtfeat.experiments.fold_cache import CACHE_DIR, FoldCache, computation_key
from mgmtfeat.experiments.results_folder import check_out_folder, finish_out, partial_path, prepare_out
from mgmtfeat.models import input_params
from mgmtfeat.reports import TABLE_METRICS

# Documented here; the names of the cohort and results-folder steps imported above are documented where
# they are defined, and an experiment imports them from here too.
__all__ = ["DEFAULT_METHODS", "ExperimentSettings", "check_cv_counts", "check_models", "make_estimator_factory",
           "versions", "run_cv", "clear_cache", "progress_bar", "summary_row", "metrics_long", "table_title",
           "write_table", "finish_results"]

#: Table 1's models, in the order of its rows.
DEFAULT_METHODS = ("snn", "mlp", "logistic", "svm", "rf", "xgboost")


def check_cv_counts(folds: int, repeats: int, jobs: int) -> None:
    """Refuse fewer than 2 folds, or fewer than 1 repeat or job (ValueError naming the options)."""
    if folds < 2 or repeats < 1 or jobs < 1:
        raise ValueError(f"--folds must be at least 2 (got {folds}), --repeats and --jobs at least 1 "
                         f"(got {repeats}, {jobs})")


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
        K (at least 2), repeats (at least 1) of stratified K-fold CV, and the seed of folds and fits.
    jobs : int
        Folds fitted in parallel processes (at least 1).
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

    Raises
    ------
    ValueError
        At construction, for fewer than 2 folds or fewer than 1 repeat or job (:func:`check_cv_counts`).
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

    def __post_init__(self) -> None:
        check_cv_counts(self.folds, self.repeats, self.jobs)


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


def check_models(models: Sequence[str]) -> None:
    """Refuse model names that :data:`mgmtfeat.models.MODELS` lacks (ExperimentError naming the choices)."""
    from mgmtfeat.models import MODELS

    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ExperimentError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")


# -- cross-validation of one configuration, memoised in the process ------------------------------

_CACHE: dict[tuple, object] = {}


def run_cv(cohort: Cohort, settings: ExperimentSettings, model: str, inputs: Sequence[str], bar=None):
    """Cross-validate ``model`` on ``inputs`` of the cohort, on its saved folds (memoised per process).

    Same store, folds, model, parameters, inputs and seed give the same numbers, so a run of several
    experiments fits each configuration once. Each finished fold is also kept in the results folder's
    fold cache until the folder is finished, so a killed run resumes (:mod:`mgmtfeat.experiments.fold_cache`).

    Parameters
    ----------
    cohort : Cohort
        From :func:`open_cohort`.
    settings : ExperimentSettings
        Its ``model_params``, ``seed``, ``jobs`` and ``out`` (where the fold cache lives) are read.
    model : str
        A name of :data:`mgmtfeat.models.MODELS`.
    inputs : sequence of str
        Inputs ``"net:modality"`` of ``cohort.data`` (:func:`net_inputs`).
    bar : tqdm or None
        Advanced by one per fold (:func:`progress_bar`).

    Returns
    -------
    CVResult
        ``metrics``: one row per (repeat, fold); ``predictions``: out-of-fold probabilities, one row per
        case and repeat; ``extras``: e.g. the SNN's ``attention``
        (:class:`mgmtfeat.evaluation.CVResult`).
    """
    check_models([model])
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


def progress_bar(settings: ExperimentSettings, cohort: Cohort, n_configs: int, desc: str):
    """A progress bar over the folds of ``n_configs`` configurations (silent without ``settings.progress``)."""
    from tqdm.auto import tqdm

    n_folds = cohort.folds["repeat"].nunique() * cohort.folds["fold"].nunique()
    return tqdm(total=n_configs * n_folds, desc=desc, unit="fold", disable=not settings.progress)


def summary_row(result) -> dict:
    """One table row of a CVResult: ``METRIC_mean`` and ``METRIC_sem`` over folds for each metric of
    :data:`mgmtfeat.reports.TABLE_METRICS`, ``n_folds`` and ``seconds_per_fold``."""
    summary = summarise(result.metrics)
    row = {}
    for metric in TABLE_METRICS:
        row[f"{metric}_mean"] = summary[metric]["mean"]
        row[f"{metric}_sem"] = summary[metric]["sem"]
    row["n_folds"] = len(result.metrics)
    row["seconds_per_fold"] = summary["fit_seconds"]["mean"]
    return row


def metrics_long(results: Mapping[str, object]) -> pd.DataFrame:
    """``{configuration: CVResult}`` -> their per-fold metrics, one row per (configuration, repeat, fold)."""
    return pd.concat([r.metrics.assign(configuration=name) for name, r in results.items()], ignore_index=True)


# -- the results folder ---------------------------------------------------------------------------

def table_title(text: str, cohort: Cohort, settings: ExperimentSettings) -> str:
    """``text``, then a line naming the features, the number of cases and the CV scheme."""
    return (f"{text}\n{cohort.label}; {len(cohort.data.y)} cases, "
            f"{cohort.folds['repeat'].nunique()} x {cohort.folds['fold'].nunique()}-fold CV")


def write_table(tmp: Path, name: str, table: pd.DataFrame, markdown: str, title: str, notes: Sequence[str] = ()) -> None:
    """Write ``NAME.csv`` (``table``, every number) and ``NAME.md`` (``title``, ``markdown``, ``notes``) into ``tmp``."""
    table.to_csv(tmp / f"{name}.csv", index=False)
    body = f"# {title}\n\n{markdown}\n" + "".join(f"{note}\n\n" for note in notes)
    atomic_write_text(tmp / f"{name}.md", body)


def finish_results(tmp: Path, out: Path, settings: ExperimentSettings, cohort: Cohort | None,
                   extra: Mapping | None = None) -> None:
    """Write ``settings.json`` (settings, features, folds file, versions, ``extra``) and rename ``tmp`` to ``out``."""
    record = {"settings": asdict(settings), "features": cohort.label if cohort else None,
              "store": str(cohort.store.root) if cohort else None,
              "folds_file": str(cohort.folds_path) if cohort and cohort.folds_path else None,
              "n_cases": len(cohort.data.y) if cohort else None, "versions": versions(), **(extra or {})}
    atomic_write_text(tmp / "settings.json", json.dumps(record, indent=2, default=str))
    finish_out(tmp, out)
