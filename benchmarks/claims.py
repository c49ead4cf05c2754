"""The paper's claims next to what these features measure: the claims table.

    python benchmarks/claims.py --published-source DIR --out results/claims --jobs 2
    python benchmarks/claims.py --results results/claims          # rebuild the table only, no fitting

Runs the experiments the claims rest on (``methods`` with the SNN and the MLP, ``modalities``,
``delta-t1``; ``--models`` and ``--only`` add more for the results page) with
:func:`mgmtfeat.experiments.run_all`, on one saved fold table (default 4 repeats x 5 folds on the
577 published cases), into ``--out``; then reads their per-fold metrics back and writes one row per
claim to stdout and to ``--out``/claims.md (or ``--table``): the paper's figure, the figure measured
here with a 95 % CI, the test, and a verdict.

Statistics (repeated-CV folds share training cases, so nothing treats them as independent):

* a single figure (the SNN's AUC, the MLP's): the mean over the J folds with the corrected t-based CI,
  mean +- t_{J-1} sqrt((1/J + n_test/n_train) s^2) (:func:`mgmtfeat.evaluation.compare.cv_interval`);
* two configurations on the same folds (SNN vs MLP, with vs without delta-T1): Nadeau and Bengio's
  corrected resampled t-test over the (repeat, fold) pairs, and the CI of the mean difference that
  inverts it;
* the modality correlation: Pearson r of the single-input against the left-out AUC means, one point
  per input, with its P (n - 2 df) and Fisher's z CI; both ignore the CV noise of each point.

Verdicts, fixed before looking at the numbers: a single figure is *reproduced* when the paper's value
lies inside the 95 % CI; a claimed improvement when the measured difference is positive with corrected
P < 0.05; the correlation when r is negative with P < 0.05. Otherwise *not reproduced*, with the
reason. Claims that need features this store lacks are *not testable here*, with what would test them.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mgmtfeat.evaluation.compare import compare_cv_models, corrected_cv_interval, cv_interval

#: What the paper reports (Chen, Wang, Yang): AUCs are means over its 4 x 5-fold CV.
PAPER = {"snn_auc": 0.666, "mlp_auc": 0.618, "delta_t1_p": 0.03, "modality_r": -0.90}
#: The experiments the claims need, in run order.
NEEDED = ("methods", "modalities", "delta-t1")
ALPHA = 0.05
INPUTS = ("flair", "t1", "t1ce", "t2", "delta_t1")


def _metrics(results: Path, experiment: str) -> pd.DataFrame:
    path = results / experiment / "metrics.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `python benchmarks/claims.py --out {results}` (or "
                                f"`mgmtfeat experiment {experiment} --out {results / experiment}`) to make it first.")
    return pd.read_csv(path)


def _config(table: pd.DataFrame, name: str) -> pd.DataFrame:
    part = table[table["configuration"] == name]
    if part.empty:
        raise ValueError(f"no configuration {name!r} in the metrics table (present: "
                         f"{sorted(table['configuration'].unique())}).")
    return part


def _ci_text(ci, signed: bool = False) -> str:
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(ci.mean)} (95% CI {f.format(ci.low)} to {f.format(ci.high)})"


def _single(metrics: pd.DataFrame, paper: float) -> tuple[str, str, str]:
    ci = cv_interval(metrics)
    test = compare_cv_models(metrics, metrics.assign(auc=paper))  # corrected one-sample test against the paper
    inside = ci.low <= paper <= ci.high
    verdict = ("reproduced (the paper's figure lies inside the 95% CI)" if inside else
               f"not reproduced: {paper} lies {'above' if paper > ci.high else 'below'} the 95% CI")
    return (_ci_text(ci), f"corrected t-test against {paper}: t = {test.t:.2f}, {test.df} df, "
            f"P = {test.p_value:.2g}", verdict)


def _improvement(a: pd.DataFrame, b: pd.DataFrame, what: str) -> tuple[str, str, str]:
    test = compare_cv_models(a, b)
    merged = a.merge(b, on=["repeat", "fold"], suffixes=("_a", "_b"))
    ci = corrected_cv_interval(merged["auc_a"] - merged["auc_b"], float(a["n_train"].mean()),
                               float(a["n_test"].mean()))
    better = int((merged["auc_a"] > merged["auc_b"]).sum())
    if test.mean_difference > 0 and test.p_value < ALPHA:
        verdict = "reproduced"
    elif test.mean_difference > 0:
        verdict = f"not reproduced: {what} is higher but not significantly (P = {test.p_value:.2g})"
    else:
        verdict = f"not reproduced: {what} is not higher (difference {test.mean_difference:+.3f})"
    return (f"AUC difference {_ci_text(ci, signed=True)}; better in {better}/{len(merged)} folds",
            f"corrected resampled t-test over {test.n_folds} paired folds: t = {test.t:.2f}, {test.df} df, "
            f"P = {test.p_value:.2g}", verdict)


def _correlation(modalities: pd.DataFrame) -> tuple[str, str, str]:
    from scipy import stats

    means = modalities.groupby("configuration")["auc"].mean()
    inputs = [m for m in INPUTS if f"single: {m}" in means.index and f"left out: {m}" in means.index]
    if len(inputs) < 4:
        return "", "", f"not testable here: {len(inputs)} inputs give too few points"
    single = np.array([means[f"single: {m}"] for m in inputs])
    left = np.array([means[f"left out: {m}"] for m in inputs])
    result = stats.pearsonr(single, left)
    r, p = float(result.statistic), float(result.pvalue)
    low, high = result.confidence_interval(1 - ALPHA)  # Fisher's z, SE 1/sqrt(n - 3)
    if r < 0 and p < ALPHA:
        verdict = "reproduced"
    elif r < 0:
        verdict = f"not reproduced: negative as in the paper but not significant with {len(inputs)} points"
    else:
        verdict = "not reproduced: not negative"
    return (f"r = {r:.2f} (95% CI {low:.2f} to {high:.2f}, Fisher z), {len(inputs)} points (one per input)",
            f"Pearson test, {len(inputs) - 2} df: P = {p:.2g}", verdict)


def claims_table(results: str | Path) -> pd.DataFrame:
    """One row per claim of the paper from the metrics of a finished run (see the module notes).

    Parameters
    ----------
    results : str or Path
        Folder written by :func:`mgmtfeat.experiments.run_all` with ``methods`` (models ``snn`` and
        ``mlp``), ``modalities`` and ``delta-t1`` (all on the same folds).

    Returns
    -------
    pandas.DataFrame
        ``claim``, ``paper``, ``measured here``, ``test``, ``verdict``.
    """
    results = Path(results)
    methods = _metrics(results, "methods")
    snn, mlp = _config(methods, "snn"), _config(methods, "mlp")
    delta = _metrics(results, "delta-t1")
    rows = [("SNN AUC (all five inputs)", f"{PAPER['snn_auc']}", *_single(snn, PAPER["snn_auc"])),
            ("MLP on T1wCE AUC", f"{PAPER['mlp_auc']}", *_single(mlp, PAPER["mlp_auc"])),
            ("SNN > MLP", f"{PAPER['snn_auc']} vs {PAPER['mlp_auc']}", *_improvement(snn, mlp, "the SNN")),
            ("delta-T1 input helps the SNN", f"improvement, P = {PAPER['delta_t1_p']} (Wilcoxon over folds, "
             "uncorrected)", *_improvement(_config(delta, "with delta-T1"), _config(delta, "without delta-T1"),
                                           "the SNN with delta-T1")),
            ("modality correlation: single-input AUC vs left-out AUC", f"r = {PAPER['modality_r']:.2f}",
             *_correlation(_metrics(results, "modalities"))),
            ("network ranking (I3D, SlowFast, R(2+1)D, ViViT features)", "Table 3", "", "",
             "not testable here: the published features are ViViT only. Extract the four nets' features of the "
             "same cases from the BraTS 2021 images (`mgmtfeat extract --net NET`), then `mgmtfeat experiment "
             "networks` (corrected t-test between nets on the same folds)"),
            ("fusing nets' features helps", "Table 4", "", "",
             "not testable here: needs two or more nets' features of the same cases (as above), then "
             "`mgmtfeat experiment fusion`")]
    return pd.DataFrame(rows, columns=["claim", "paper", "measured here", "test", "verdict"])


def describe_run(results: str | Path) -> str:
    """One line on the folds and cases behind ``results`` (from the methods metrics)."""
    methods = _metrics(Path(results), "methods")
    n_cases = int(methods["n_train"].iloc[0] + methods["n_test"].iloc[0])
    return (f"{methods['repeat'].nunique()} repeats x {methods['fold'].nunique()}-fold stratified CV on one saved "
            f"fold table, {n_cases} cases; 95% CIs and tests corrected for overlapping folds (Nadeau–Bengio)")


def to_markdown(table: pd.DataFrame) -> str:
    """The claims table as Markdown (cells with ``|`` escaped)."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="results/claims", help="results folder of the run (default: %(default)s)")
    parser.add_argument("--results", default=None, metavar="DIR",
                        help="a finished run's folder: build the table from it without fitting")
    parser.add_argument("--table", default=None, metavar="FILE", help="Markdown file (default: OUT/claims.md)")
    parser.add_argument("--features", default=None, help="feature store (default: the published ViViT features)")
    parser.add_argument("--published-source", default=None, metavar="DIR",
                        help="offline folder with the two published TFRecord files")
    parser.add_argument("--models", default="snn,mlp", help="Table 1's models; snn and mlp are needed")
    parser.add_argument("--only", default=",".join(NEEDED), help="experiments to run; must include "
                        f"{', '.join(NEEDED)} (default: those)")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="folds fitted in parallel processes")
    parser.add_argument("--set", action="append", default=[], metavar="MODEL.PARAM=VALUE",
                        help="model parameter override, as for `mgmtfeat experiment` (e.g. for a quick check)")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    command = "python benchmarks/claims.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results = Path(args.results or args.out)
    if args.results is None:
        from mgmtfeat.cli.config import parse_overrides
        from mgmtfeat.experiments import ExperimentSettings, run_all

        models, only = args.models.split(","), args.only.split(",")
        missing = [m for m in ("snn", "mlp") if m not in models] + [e for e in NEEDED if e not in only]
        if missing:
            parser.error(f"--models and --only must include {', '.join(missing)}: the claims need them")
        settings = ExperimentSettings(features=args.features, out=str(results), folds=args.folds,
                                      repeats=args.repeats, seed=args.seed, jobs=args.jobs, force=args.force,
                                      model_params=parse_overrides(args.set),
                                      published_source=args.published_source, progress=not args.quiet,
                                      command=command.split())
        run_all(settings, only, {"methods": {"models": models}}, echo=lambda line: print(line, file=sys.stderr))
    date = _dt.date.today().isoformat()
    page = (f"Claims of the paper against these features — {describe_run(results)}.\n"
            f"Command: `{command}` ({date}).\n\n" + to_markdown(claims_table(results)))
    print(page)
    table_path = Path(args.table) if args.table else results / "claims.md"
    table_path.parent.mkdir(parents=True, exist_ok=True)
    table_path.write_text(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
