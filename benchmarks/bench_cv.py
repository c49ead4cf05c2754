"""Benchmark: seconds per fold and AUC of every model on the published ViViT features.

    python benchmarks/bench_cv.py --repeats 4 --published-source ../shared/data/paper-vivit-features

Runs `mgmtfeat.experiments.cv_study.run_study` (the code behind `mgmtfeat cv`) once per model on the same
saved folds, one process, torch limited to one thread per fit, and prints a Markdown table: model,
AUC mean ± SEM (SD), precision, recall, seconds per fold, and the peak resident memory of the run.
With --sequential-snn the SNN also runs with its members trained one after the other (the same
members up to float rounding), in the same process and on the same folds, and the ratio is printed.
torch is imported before anything is timed: its one-off import (about 1.5 s) would otherwise land on the first
fold of the first torch model only (not on the sequential SNN run after it).

For the SNN it also prints where a fold's fit time goes (unless --no-phases): epoch data (batch order
and dropout masks), forward and backward, Adam, the validation pass, the rest of the training loop,
and the fit outside it (standardising, splits, building the stack). The phases are timed by wrapping
those functions for the run (a few hundred timer calls per fold, well under 1 ms).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import resource
import time

from mgmtfeat.models import MODELS
from mgmtfeat.experiments.cv_study import StudySettings, run_study


#: Phases of the stacked SNN's training: (label, module, class or None, function name).
SNN_PHASES = (
    ("epoch data", "mgmtfeat.models.stacked_training", "EpochBuffers", "draw"),
    ("forward and backward", "mgmtfeat.models.stacked_snn", "StackedSNN", "train_step"),
    ("Adam", "mgmtfeat.models.stacked_training", "StackedAdam", "step"),
    ("validation", "mgmtfeat.models.stacked_snn", "StackedSNN", "member_logits"),
)


@contextlib.contextmanager
def timed_snn_phases(seconds: dict):
    """Add the seconds of each of :data:`SNN_PHASES`, the training loop and the whole fit to ``seconds``.

    Only fits of the registry's ``snn`` (its parameters, any seed) count: prediction, which also runs
    ``member_logits``, and the other SNN variants do not.
    """
    from mgmtfeat.models import make_model
    from mgmtfeat.models.snn import SNNClassifier

    wanted = {k: v for k, v in make_model("snn").get_params().items() if k != "random_state"}
    inside = [False]
    patched = []

    def timed(label, original, gate=True):
        def call(*args, **kwargs):
            if gate and not inside[0]:
                return original(*args, **kwargs)
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                seconds[label] = seconds.get(label, 0.0) + time.perf_counter() - start
        return call

    def patch(owner, name, replacement):
        patched.append((owner, name, owner.__dict__.get(name)))  # None: inherited, restored by deleting
        setattr(owner, name, replacement)

    for label, module, cls, name in SNN_PHASES:
        owner = getattr(importlib.import_module(module), cls)
        patch(owner, name, timed(label, getattr(owner, name)))
    training = importlib.import_module("mgmtfeat.models.stacked_training")
    patch(training, "train_stacked", timed("training loop", training.train_stacked))
    fit = timed("fit", SNNClassifier.fit)

    def gated_fit(self, *args, **kwargs):
        if {k: v for k, v in self.get_params().items() if k != "random_state"} != wanted:
            return SNNClassifier.fit.__wrapped__(self, *args, **kwargs)
        inside[0] = True
        seconds["fits"] = seconds.get("fits", 0) + 1
        try:
            return fit(self, *args, **kwargs)
        finally:
            inside[0] = False

    gated_fit.__wrapped__ = SNNClassifier.fit
    patch(SNNClassifier, "fit", gated_fit)
    try:
        yield seconds
    finally:
        for owner, name, original in reversed(patched):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def print_snn_phases(seconds: dict) -> None:
    """Print each phase's seconds per fold and its share of the SNN's fit time."""
    if not seconds:
        print("\nSNN phase split: nothing was timed (the folds ran in other processes).")
        return
    n_folds, fit, loop = seconds.pop("fits"), seconds.pop("fit"), seconds.pop("training loop")
    rows = [*seconds.items(), ("rest of the training loop", loop - sum(seconds.values())),
            ("fit outside the training loop", fit - loop)]
    print(f"\nSNN phase split ({n_folds} fits, {fit / n_folds:.2f} s per fit with the timers):\n")
    print("| phase | s / fold | share |")
    print("|---|---|---|")
    for label, value in rows:
        print(f"| {label} | {value / n_folds:.3f} | {value / fit:.0%} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated model names")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--features", default=None, help="feature store (default: the published features)")
    parser.add_argument("--published-source", default=None, help="folder with the two published TFRecord files")
    parser.add_argument("--out", default="results/bench-cv")
    parser.add_argument("--sequential-snn", action="store_true",
                        help="also run the SNN with stack_members=False and print the speed ratio")
    parser.add_argument("--no-phases", action="store_true", help="do not time the SNN's training phases")
    args = parser.parse_args(argv)
    importlib.import_module("torch")  # before any timing (see the module docstring)

    def study(models, out, params=None):
        return run_study(StudySettings(features=args.features, published_source=args.published_source,
                                       models=models, folds=args.folds, repeats=args.repeats, out=out, force=True,
                                       model_params=params or {}), progress=True)

    models = args.models.split(",")
    phases: dict = {}
    timing = timed_snn_phases(phases) if "snn" in models and not args.no_phases else contextlib.nullcontext()
    start = time.perf_counter()
    with timing:
        summary = study(models, args.out)
    wall = time.perf_counter() - start
    print(f"\n{summary['n_cases']} cases, {args.repeats} x {args.folds}-fold CV, seed 0; wall {wall:.0f} s; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB\n")
    print("| model | AUC mean ± SEM (SD) | precision | recall | accuracy | s / fold |")
    print("|---|---|---|---|---|---|")
    for model, r in summary["results"].items():
        auc = r["auc"]
        print(f"| {model} | {auc['mean']:.3f} ± {auc['sem']:.3f} ({auc['sd']:.3f}) | {r['precision']['mean']:.3f} | "
              f"{r['recall']['mean']:.3f} | {r['accuracy']['mean']:.3f} | {r['fit_seconds']['mean']:.2f} |")
    if "snn" in summary["results"] and not args.no_phases:
        print_snn_phases(phases)
    if args.sequential_snn:
        one_by_one = study(["snn"], args.out + "-sequential", {"snn": {"stack_members": False}})["results"]["snn"]
        stacked = summary["results"]["snn"] if "snn" in summary["results"] else study(["snn"], args.out + "-stacked")["results"]["snn"]
        ratio = one_by_one["fit_seconds"]["mean"] / stacked["fit_seconds"]["mean"]
        print(f"\nSNN members one by one: AUC {one_by_one['auc']['mean']:.4f}, {one_by_one['fit_seconds']['mean']:.2f} s/fold; "
              f"stacked: AUC {stacked['auc']['mean']:.4f}, {stacked['fit_seconds']['mean']:.2f} s/fold; "
              f"stacked is {ratio:.2f}x faster, AUC difference {stacked['auc']['mean'] - one_by_one['auc']['mean']:+.4f}")


if __name__ == "__main__":
    main()
