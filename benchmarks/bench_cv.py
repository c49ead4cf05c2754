"""Benchmark: seconds per fold and AUC of every model on the published ViViT features.

    python benchmarks/bench_cv.py --repeats 4 --published-source ../shared/data/paper-vivit-features

Runs `mgmtfeat.experiments.cv_study.run_study` (the code behind `python -m mgmtfeat.cv`) once per model on the same
saved folds, one process, torch limited to one thread per fit, and prints a Markdown table: model,
AUC mean ± SEM (SD), precision, recall, seconds per fold, and the peak resident memory of the run.
With --sequential-snn the SNN also runs with its members trained one after the other (the same
members up to float rounding), in the same process and on the same folds, and the ratio is printed.
torch is imported before anything is timed: its one-off import (about 1.5 s) would otherwise land on the first
fold of the first torch model only (not on the sequential SNN run after it).
"""

from __future__ import annotations

import argparse
import importlib
import resource
import time

from mgmtfeat.models import MODELS
from mgmtfeat.experiments.cv_study import StudySettings, run_study


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
    args = parser.parse_args(argv)
    importlib.import_module("torch")  # before any timing (see the module docstring)

    def study(models, out, params=None):
        return run_study(StudySettings(features=args.features, published_source=args.published_source,
                                       models=models, folds=args.folds, repeats=args.repeats, out=out, force=True,
                                       model_params=params or {}), progress=True)

    start = time.perf_counter()
    summary = study(args.models.split(","), args.out)
    wall = time.perf_counter() - start
    print(f"\n{summary['n_cases']} cases, {args.repeats} x {args.folds}-fold CV, seed 0; wall {wall:.0f} s; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB\n")
    print("| model | AUC mean ± SEM (SD) | precision | recall | accuracy | s / fold |")
    print("|---|---|---|---|---|---|")
    for model, r in summary["results"].items():
        auc = r["auc"]
        print(f"| {model} | {auc['mean']:.3f} ± {auc['sem']:.3f} ({auc['sd']:.3f}) | {r['precision']['mean']:.3f} | "
              f"{r['recall']['mean']:.3f} | {r['accuracy']['mean']:.3f} | {r['fit_seconds']['mean']:.2f} |")
    if args.sequential_snn:
        one_by_one = study(["snn"], args.out + "-sequential", {"snn": {"stack_members": False}})["results"]["snn"]
        stacked = summary["results"]["snn"] if "snn" in summary["results"] else study(["snn"], args.out + "-stacked")["results"]["snn"]
        ratio = one_by_one["fit_seconds"]["mean"] / stacked["fit_seconds"]["mean"]
        print(f"\nSNN members one by one: AUC {one_by_one['auc']['mean']:.4f}, {one_by_one['fit_seconds']['mean']:.2f} s/fold; "
              f"stacked: AUC {stacked['auc']['mean']:.4f}, {stacked['fit_seconds']['mean']:.2f} s/fold; "
              f"stacked is {ratio:.2f}x faster, AUC difference {stacked['auc']['mean'] - one_by_one['auc']['mean']:+.4f}")


if __name__ == "__main__":
    main()
