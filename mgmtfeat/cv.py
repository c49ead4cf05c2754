"""``python -m mgmtfeat.cv``: repeated stratified K-fold cross-validation of MGMT classifiers."""

from __future__ import annotations

import argparse
import datetime as _dt
import sys

from mgmtfeat import MODALITIES

_MODEL_HELP = {
    "snn": "SNN, one linear encoder per input, attention fusion, 5-member ensemble",
    "snn-siamese": "SNN with one encoder shared by all inputs",
    "snn-conv": "SNN with the paper's 1-D conv residual encoder",
    "mlp": "the paper's MLP baseline (default input: t1ce)",
    "logistic": "standardised L2 logistic regression",
    "svm": "RBF SVM on the best ANOVA features",
    "rf": "random forest",
    "xgboost": "gradient-boosted trees",
}


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mgmtfeat.cv",
        description="Repeated stratified K-fold cross-validation of MGMT methylation classifiers on cached "
        "video-network features. Folds are made once per cohort and saved, so every model and ablation "
        "is scored on identical splits. Writes per-fold metrics, out-of-fold probabilities, a summary "
        "(mean ± SEM and SD over folds) and a ROC figure.",
        epilog="models: " + "; ".join(f"{k}: {v}" for k, v in _MODEL_HELP.items()),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--features", default=None, metavar="DIR",
                        help="feature store written by `python -m mgmtfeat.extract` or `python -m mgmtfeat.import_published` "
                        "(default: the paper's published ViViT features, imported into the user cache on first use)")
    parser.add_argument("--published-source", default=None, metavar="DIR",
                        help="offline folder holding the two published TFRecord files, used when --features is not given")
    parser.add_argument("--net", default="vivit", type=_csv, metavar="NET[,NET...]",
                        help="backbone(s) whose features are used; several nets are fused as extra inputs")
    parser.add_argument("--model", default=["snn"], type=_csv, metavar="MODEL[,MODEL...]",
                        help=f"model(s) to evaluate, from: {', '.join(_MODEL_HELP)}")
    parser.add_argument("--modalities", default=None, type=_csv, metavar="M[,M...]",
                        help=f"inputs to use, from: {', '.join(MODALITIES)} (default: each model's own; all five for most)")
    parser.add_argument("--folds", type=int, default=5, help="number of stratified folds K")
    parser.add_argument("--repeats", type=int, default=4, help="number of repeats of K-fold CV")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fold assignment and of every model fit")
    parser.add_argument("--folds-file", default=None, metavar="CSV",
                        help="reuse this saved fold table (case_id, repeat, fold) instead of the store's")
    parser.add_argument("--jobs", type=int, default=1, help="folds fitted in parallel processes")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="run one Dask task per (model, repeat, fold), with the same results as in-process: "
                        "local:N starts N worker processes on this machine, tcp://HOST:PORT joins a running "
                        "`dask scheduler` (needs `pip install 'mgmtfeat[dask]'`; replaces --jobs; default: in-process)")
    parser.add_argument("--nested", action="store_true",
                        help="choose hyper-parameters by an inner 3-fold CV inside each training fold")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="results folder (default: results/cv-YYYYmmdd-HHMMSS)")
    parser.add_argument("--force", action="store_true", help="replace an existing results folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from mgmtfeat.models import MODELS
    from mgmtfeat.experiments.cv_study import StudySettings, run_study

    unknown = [m for m in args.model if m not in MODELS]
    if unknown:
        _parser().error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    if args.modalities:
        bad = [m for m in args.modalities if m not in MODALITIES]
        if bad:
            _parser().error(f"unknown modalities {', '.join(bad)}; choose from {', '.join(MODALITIES)}")
    if args.folds < 2 or args.repeats < 1 or args.jobs < 1:
        _parser().error("--folds must be at least 2, --repeats and --jobs at least 1")
    if args.scheduler:
        from mgmtfeat._parallel import SchedulerError, parse_scheduler

        if args.jobs > 1:
            _parser().error("--jobs and --scheduler both choose where folds run; give one of them")
        try:
            parse_scheduler(args.scheduler)
        except SchedulerError as err:
            _parser().error(str(err))
    out = args.out or f"results/cv-{_dt.datetime.now():%Y%m%d-%H%M%S}"
    settings = StudySettings(
        features=args.features, nets=args.net, models=args.model, modalities=args.modalities, folds=args.folds,
        repeats=args.repeats, seed=args.seed, jobs=args.jobs, nested=args.nested, out=out, force=args.force,
        scheduler=args.scheduler,
        folds_file=args.folds_file, published_source=args.published_source,
        command=["python", "-m", "mgmtfeat.cv", *(sys.argv[1:] if argv is None else argv)],
    )
    try:
        summary = run_study(settings, progress=not args.quiet)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for model, result in summary["results"].items():
        auc, sec = result["auc"], result["fit_seconds"]
        print(f"{model:12s} AUC {auc['mean']:.3f} ± {auc['sem']:.3f} (SD {auc['sd']:.3f})  {sec['mean']:.2f} s/fold")
    print(f"results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
