"""``mgmtfeat cv``: repeated stratified K-fold cross-validation of MGMT classifiers."""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path

from mgmtfeat import MODALITIES
from mgmtfeat._cli import command_parser, csv_list, run_command
from mgmtfeat._config import SETTINGS_FILE

NAME = "cv"


def _parser() -> argparse.ArgumentParser:
    from mgmtfeat.models import MODELS

    parser = command_parser(
        NAME,
        description="Repeated stratified K-fold cross-validation of MGMT methylation classifiers on cached "
        "video-network features. Folds are made once per cohort and saved, so every model and ablation "
        "is scored on identical splits. Writes per-fold metrics, out-of-fold probabilities, a summary "
        "(mean ± SEM and SD over folds), a ROC figure and settings.yaml (re-run with --config).",
        epilog="models: " + "; ".join(f"{name}: {spec.description}" for name, spec in MODELS.items()),
    )
    parser.add_argument("--features", default=None, metavar="DIR",
                        help="feature store written by `mgmtfeat extract` or `mgmtfeat import-published` "
                        "(default: the paper's published ViViT features, imported into the user cache on first use)")
    parser.add_argument("--published-source", default=None, metavar="DIR",
                        help="offline folder holding the two published TFRecord files, used when --features is not given")
    parser.add_argument("--net", default=["vivit"], type=csv_list, metavar="NET[,NET...]",
                        help="backbone(s) whose features are used; several nets are fused as extra inputs (they must "
                        "share clip settings and cases)")
    parser.add_argument("--intersect", action="store_true",
                        help="fused nets holding different cases: use the cases common to all (logged) instead of "
                        "stopping with the list of missing cases")
    parser.add_argument("--model", default=["snn"], type=csv_list, metavar="MODEL[,MODEL...]",
                        help=f"model(s) to evaluate, from: {', '.join(MODELS)}")
    parser.add_argument("--modalities", default=None, type=csv_list, metavar="M[,M...]",
                        help=f"inputs to use, from: {', '.join(MODALITIES)} (default: each model's own; all five for most)")
    parser.add_argument("--folds", type=int, default=5, help="number of stratified folds K")
    parser.add_argument("--repeats", type=int, default=4, help="number of repeats of K-fold CV")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fold assignment and of every model fit")
    parser.add_argument("--folds-file", default=None, metavar="CSV",
                        help="reuse this saved fold table (case_id, repeat, fold) instead of the store's")
    parser.add_argument("--set", action="append", default=[], metavar="MODEL.PARAM=VALUE",
                        help="override a model's hyper-parameter, e.g. --set snn.weight_decay=0.1 (repeatable; "
                        "VALUE is a YAML scalar or list; PARAM as in the estimator's get_params())")
    parser.add_argument("--jobs", type=int, default=1, help="folds fitted in parallel processes")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="run one Dask task per (model, repeat, fold), with the same results as in-process: "
                        "local:N starts N worker processes on this machine, tcp://HOST:PORT joins a running "
                        "`dask scheduler` (needs `pip install 'mgmtfeat[dask]'`; replaces --jobs; default: in-process)")
    parser.add_argument("--nested", action="store_true",
                        help="choose hyper-parameters by an inner 3-fold CV inside each training fold")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="results folder; refused if it exists, unless --force, and if it is or contains an input "
                        "(default: results/cv-YYYYmmdd-HHMMSS). A killed or failed run keeps its finished folds in "
                        ".NAME.partial/fold-cache/: the same command again fits only the missing ones")
    parser.add_argument("--force", action="store_true", help="replace an existing results folder")
    return parser


def _check(args: argparse.Namespace) -> dict:
    """Validate the options the parser cannot; return the ``--set`` overrides by model."""
    from mgmtfeat._config import check_overrides, parse_overrides
    from mgmtfeat.models import MODELS

    unknown = [m for m in args.model if m not in MODELS]
    if unknown:
        raise ValueError(f"--model: unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    bad = [m for m in args.modalities or [] if m not in MODALITIES]
    if bad:
        raise ValueError(f"--modalities: unknown modalities {', '.join(bad)}; choose from {', '.join(MODALITIES)}")
    if args.folds < 2 or args.repeats < 1 or args.jobs < 1:
        raise ValueError(f"--folds must be at least 2 (got {args.folds}), --repeats and --jobs at least 1 "
                         f"(got {args.repeats}, {args.jobs})")
    if args.scheduler:
        from mgmtfeat._parallel import parse_scheduler

        if args.jobs > 1:
            raise ValueError("--jobs and --scheduler both choose where folds run; give one of them")
        parse_scheduler(args.scheduler)  # SchedulerError is a ValueError
    overrides = parse_overrides(args.set)
    check_overrides(overrides)
    return overrides


def _settings(args: argparse.Namespace, overrides: dict, parser_prog: str):
    from mgmtfeat.experiments.cv_study import StudySettings

    return StudySettings(
        features=args.features, nets=args.net, models=args.model, modalities=args.modalities, folds=args.folds,
        repeats=args.repeats, seed=args.seed, jobs=args.jobs, nested=args.nested, out=args.out, force=args.force,
        scheduler=args.scheduler, folds_file=args.folds_file, published_source=args.published_source,
        intersect=args.intersect,
        model_params=overrides, command=[*parser_prog.split(), *args.argv],
    )


def main(argv: list[str] | None = None) -> int:
    """Run ``mgmtfeat cv``; returns the exit status (2 for bad input)."""
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)

    def work(args):
        from mgmtfeat.experiments.cv_study import run_study

        overrides = _check(args)
        args.out = args.out or f"results/cv-{_dt.datetime.now():%Y%m%d-%H%M%S}"
        args.argv = argv
        summary = run_study(_settings(args, overrides, parser.prog), progress=not args.quiet)
        for model, result in summary["results"].items():
            auc, sec = result["auc"], result["fit_seconds"]
            print(f"{model:12s} AUC {auc['mean']:.3f} ± {auc['sem']:.3f} (SD {auc['sd']:.3f})  {sec['mean']:.2f} s/fold")
        print(f"results in {args.out}")
        return 0

    def dry_run(args):
        from mgmtfeat._plan import cv_plan

        _check(args)
        print(cv_plan(args.features, args.published_source, args.net, args.model, args.modalities, args.folds,
                      args.repeats, args.seed, args.folds_file, args.out, args.force))
        return 0

    return run_command(NAME, parser, argv, work, dry_run, lambda args: Path(args.out) / SETTINGS_FILE)


if __name__ == "__main__":
    sys.exit(main())
