"""Step 12, studies: the cross-validation study of ``mgmtfeat cv`` and the paper's experiments, one per module.

Each experiment is one function ``f(settings, ...) -> dict of DataFrames`` that cross-validates on
the store's one saved fold assignment (:func:`shared_folds`), so every table of a cohort is paired
fold by fold with every other, and writes a results folder::

    OUT/
      NAME.csv, NAME.md      the experiment's table(s) (mean ± SEM over folds)
      metrics.csv            per configuration, repeat and fold (where cross-validated)
      *.png                  its figures
      settings.json          settings, fold file, versions

Cross-validation results are memoised in the process (same store, folds, model, parameters and
inputs give the same numbers), so a run of several experiments fits each configuration once.
Stores holding random-weight nets (provenance ``random_weights``) say so in every table and figure
title. Experiments that need what a store lacks (a second net, a second cohort, the delta-T1 input)
raise :class:`ExperimentError` before fitting anything.

:data:`EXPERIMENTS` maps each name of ``mgmtfeat experiment NAME`` to its function, a
one-line description and its own options; :func:`run_experiment` and :func:`run_all` run them.
A new experiment is one module that follows the protocol of :mod:`mgmtfeat.experiments.base` (its
docstring works one through) and one entry of :data:`EXPERIMENTS`.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import pandas as pd

from mgmtfeat._io import atomic_write_text
from mgmtfeat.experiments.base import (DEFAULT_METHODS, ExperimentError, ExperimentSettings, available_modalities,
                                       clear_cache, describe_features, make_estimator_factory, open_store,
                                       shared_folds, versions)
from mgmtfeat.experiments.attention import attention_analysis
from mgmtfeat.experiments.decision_curves import decision_curve_analysis
from mgmtfeat.experiments.deep_vs_handcrafted import deep_vs_handcrafted
from mgmtfeat.experiments.delta_t1 import delta_t1_ablation
from mgmtfeat.experiments.external import external_validation
from mgmtfeat.experiments.fusion import feature_ccc, net_fusion
from mgmtfeat.experiments.methods import LITERATURE, method_comparison
from mgmtfeat.experiments.modalities import modality_ablation
from mgmtfeat.experiments.networks import network_comparison

__all__ = [
    "EXPERIMENTS", "ALIASES", "Experiment", "Option", "ExperimentError", "ExperimentSettings",
    "DEFAULT_METHODS",
    "LITERATURE", "RUN_ALL_OPTIONS", "get_experiment", "list_experiments", "run_experiment", "run_all",
    "run_all_options", "method_comparison", "modality_ablation", "network_comparison", "net_fusion",
    "feature_ccc", "delta_t1_ablation", "deep_vs_handcrafted", "external_validation", "decision_curve_analysis", "attention_analysis",
    "clear_cache",
    "describe_features", "available_modalities", "open_store", "shared_folds", "make_estimator_factory", "versions",
]


@dataclass(frozen=True)
class Option:
    """One option of an experiment, as data: the command line (:mod:`mgmtfeat.cli.experiment`) makes it a flag.

    Attributes
    ----------
    flags : tuple of str
        ``("--model",)``; several for an alias (``("--external-features", "--test-features")``).
    param : str
        The keyword argument of the experiment's function it fills.
    help : str
        One line; ``{models}`` stands for the names of :data:`mgmtfeat.models.MODELS`, so model names
        are never copied into help texts.
    default : object
        The value without the option (a tuple of names for a list).
    is_list : bool
        Comma-separated names (``a,b``), parsed into a list.
    metavar : str or None
        The value's name in ``--help``.
    """

    flags: tuple[str, ...]
    param: str
    help: str
    default: object = None
    is_list: bool = False
    metavar: str | None = None


@dataclass(frozen=True)
class Experiment:
    """One experiment of the registry.

    Attributes
    ----------
    function : callable
        ``function(settings, **options) -> dict of DataFrames``; writes ``settings.out``.
    description : str
        One line for ``--list`` and ``--help``.
    options : tuple of Option
        Its own command-line options beside the common ones; each fills one keyword argument.
    aliases : tuple of str
        Earlier names (the scripts of ``experiments/`` and the results pages used them).
    """

    function: Callable
    description: str
    options: tuple[Option, ...] = ()
    aliases: tuple[str, ...] = ()

    def kwargs(self, args: argparse.Namespace) -> dict:
        """Keyword arguments of :attr:`function` from parsed options."""
        return {option.param: getattr(args, option.param) for option in self.options}


def _model(default: str = "snn", note: str = "") -> Option:
    return Option(("--model",), "model", f"classifier{note}, from: {{models}}", default)


def _models(default) -> Option:
    return Option(("--models",), "models", "models, comma-separated, from: {models}", tuple(default), True, "M[,M...]")


_NET = Option(("--net",), "net", "net whose features are used (default: the first in the store)")
_NETS = Option(("--nets",), "nets", "nets to compare, at least two (default: every net in the store)", None, True,
               "NET[,NET...]")
_NETS_FUSED = Option(("--net", "--nets"), "nets", "nets to compare alone and fused, at least two, e.g. i3d,radiomics "
                     "(default: every net in the store)", None, True, "NET[,NET...]")
_EXTERNAL = Option(("--external-features", "--test-features"), "test_features",
                   "feature store of a second cohort: the test set of external validation, which cannot run without it",
                   metavar="DIR")

#: Experiment name -> Experiment, in the order ``mgmtfeat experiment all`` runs them (the
#: cross-validated configurations shared by several experiments are then fitted by the first).
EXPERIMENTS: dict[str, Experiment] = {
    "methods": Experiment(method_comparison, "Table 1: each model on its default inputs, beside the AUCs the "
                          "paper lists from the literature", (_models(DEFAULT_METHODS), _NET), ("table1_methods",)),
    "modalities": Experiment(modality_ablation, "Table 2: each input alone, each left out, and all inputs; "
                             "Pearson r of single-input against left-out AUCs", (_model(), _NET),
                             ("table2_modalities",)),
    "delta-t1": Experiment(delta_t1_ablation, "the model with and without the delta-T1 input, paired per fold "
                           "(corrected resampled t-test)", (_model(), _NET), ("delta_t1",)),
    "decision-curves": Experiment(decision_curve_analysis, "decision curve analysis: net benefit of out-of-fold "
                                  "probabilities against threshold (Figure 4)", (_models(("snn", "mlp")), _NET),
                                  ("decision_curves",)),
    "attention": Experiment(attention_analysis, "the SNN's attention over inputs, mean per input and two example "
                            "cases (Figures 5 and 3)", (_model(note=" with attention weights (an SNN)"), _NET)),
    "networks": Experiment(network_comparison, "Table 3: the same model on each net's features (needs a store "
                           "with two or more nets)", (_model(), _NETS), ("table3_networks",)),
    "fusion": Experiment(net_fusion, "Table 4: nets fused as inputs of one model, and Lin's CCC of their features "
                         "(needs two or more nets)", (_model(), _NETS), ("table4_fusion",)),
    "deep-vs-handcrafted": Experiment(deep_vs_handcrafted, "deep against handcrafted features: each net alone "
                                      "(e.g. i3d, radiomics) and all fused, per model, corrected t-tests against "
                                      "the fused", (_models(("logistic", "snn")), _NETS_FUSED)),
    "external": Experiment(external_validation, "external validation: train on one cohort's store, test on a "
                           "second cohort's (--external-features) without shared patients", (_model(), _NET, _EXTERNAL),
                           ("external_validation",)),
}

#: Options of ``all`` beside the common ones: Table 1's models, the external test store, which to run
#: (every other option of an experiment keeps its default there).
RUN_ALL_OPTIONS: tuple[Option, ...] = (
    _models(DEFAULT_METHODS), _EXTERNAL,
    Option(("--only",), "only", f"experiments to run, in this order, from: {', '.join(EXPERIMENTS)}", tuple(EXPERIMENTS),
           True, "NAME[,NAME...]"),
)


def run_all_options(args: argparse.Namespace) -> dict[str, dict]:
    """Per-experiment keyword arguments of :func:`run_all` from options parsed with :data:`RUN_ALL_OPTIONS`."""
    return {"methods": {"models": args.models}, "external": {"test_features": args.test_features}}


#: Earlier name -> registry name.
ALIASES: dict[str, str] = {alias: name for name, spec in EXPERIMENTS.items() for alias in spec.aliases}


def get_experiment(name: str) -> tuple[str, Experiment]:
    """``(registry name, Experiment)`` for a registry name or an alias; ValueError naming the choices."""
    canonical = ALIASES.get(name, name)
    if canonical not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)} "
                         "(`mgmtfeat experiment --list` describes them)")
    return canonical, EXPERIMENTS[canonical]


def list_experiments() -> str:
    """One line per experiment: its name, earlier names in brackets, and its description."""
    lines = []
    for name, spec in EXPERIMENTS.items():
        shown = name + (f" ({', '.join(spec.aliases)})" if spec.aliases else "")
        lines.append(f"{shown:40s} {spec.description}")
    return "\n".join(lines)


def run_experiment(name: str, settings: ExperimentSettings, **options) -> dict[str, pd.DataFrame]:
    """Run the experiment ``name`` (a registry name or an alias) with its ``options``; see :data:`EXPERIMENTS`."""
    return get_experiment(name)[1].function(settings, **options)


def run_all(settings: ExperimentSettings, names: Sequence[str] | None = None,
            options: Mapping[str, Mapping] | None = None, echo: Callable[[str], None] = print) -> pd.DataFrame:
    """Run several experiments into ``settings.out``/NAME and write ``settings.out``/RESULTS.md.

    An experiment whose inputs are missing (:class:`ExperimentError`: a second net, a second cohort,
    the delta-T1 input) is skipped with the reason; any other error stops the run.

    Parameters
    ----------
    settings : ExperimentSettings
        Shared by every experiment; ``settings.out`` is the parent folder.
    names : sequence of str or None
        Registry names or aliases, run in this order; None = every experiment of :data:`EXPERIMENTS`.
    options : mapping or None
        Registry name -> keyword arguments of that experiment (e.g. ``{"methods": {"models": [...]}}``).
    echo : callable
        Called with one line per experiment as it finishes.

    Returns
    -------
    pandas.DataFrame
        ``experiment``, ``seconds`` (NaN when skipped) and ``note``, one row per experiment.
    """
    chosen = [get_experiment(n)[0] for n in (names or EXPERIMENTS)]
    out = Path(settings.out)
    if out.exists() and not settings.force:
        raise FileExistsError(f"{out} exists; choose another --out or pass --force to replace it.")
    rows, pages = [], []
    start = time.perf_counter()
    for name in chosen:
        began = time.perf_counter()
        try:
            EXPERIMENTS[name].function(replace(settings, out=str(out / name)), **dict((options or {}).get(name, {})))
        except ExperimentError as err:
            echo(f"{name:22s} skipped: {err}")
            rows.append({"experiment": name, "seconds": float("nan"), "note": f"skipped: {err}"})
            continue
        seconds = time.perf_counter() - began
        echo(f"{name:22s} {seconds:8.1f} s")
        rows.append({"experiment": name, "seconds": seconds, "note": ""})
        pages += [path.read_text() for path in sorted((out / name).glob("*.md"))]
    total = time.perf_counter() - start
    echo(f"{'total':22s} {total:8.1f} s")
    timings = pd.DataFrame(rows, columns=["experiment", "seconds", "note"])
    lines = "\n".join(f"| {r.experiment} | {'' if pd.isna(r.seconds) else f'{r.seconds:.1f}'} | {r.note} |"
                      for r in timings.itertuples())
    page = (f"# Results\n\nCommand: `{' '.join(settings.command)}`\n\n| experiment | wall time (s) | note |\n"
            f"|---|---|---|\n{lines}\n| total | {total:.1f} | |\n\nWall times include only fits not already made "
            "by an earlier experiment of the run.\n\n" + "\n".join(pages))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "RESULTS.md", page)
    return timings
