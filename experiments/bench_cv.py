"""Benchmark: seconds per fold and AUC of every model on the published ViViT features.

    python experiments/bench_cv.py --repeats 4 --published-source ../shared/data/paper-vivit-features

Runs `mgmtfeat.experiments.cv_study.run_study` (the code behind `python -m mgmtfeat.cv`) once per model on the same
saved folds, one process, torch limited to one thread per fit, and prints a Markdown table: model,
AUC mean ± SEM (SD), precision, recall, seconds per fold, and the peak resident memory of the run.
"""

from __future__ import annotations

import argparse
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
    args = parser.parse_args(argv)
    start = time.perf_counter()
    summary = run_study(StudySettings(features=args.features, published_source=args.published_source,
                                      models=args.models.split(","), folds=args.folds, repeats=args.repeats,
                                      out=args.out, force=True), progress=True)
    wall = time.perf_counter() - start
    print(f"\n{summary['n_cases']} cases, {args.repeats} x {args.folds}-fold CV, seed 0; wall {wall:.0f} s; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB\n")
    print("| model | AUC mean ± SEM (SD) | precision | recall | accuracy | s / fold |")
    print("|---|---|---|---|---|---|")
    for model, r in summary["results"].items():
        auc = r["auc"]
        print(f"| {model} | {auc['mean']:.3f} ± {auc['sem']:.3f} ({auc['sd']:.3f}) | {r['precision']['mean']:.3f} | "
              f"{r['recall']['mean']:.3f} | {r['accuracy']['mean']:.3f} | {r['fit_seconds']['mean']:.2f} |")


if __name__ == "__main__":
    main()
