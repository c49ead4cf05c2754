"""``mgmtfeat cv``: repeated stratified K-fold cross-validation of MGMT classifiers."""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path

from mgmtfeat import MODALITIES
from mgmtfeat.cli.config import SETTINGS_FILE
from mgmtfeat.cli.options import (add_cv_arguments, add_force, add_label_columns, add_modalities, add_models, add_net,
                                  add_out, add_scheduler, add_slice_protocol_arguments, float_list)
from mgmtfeat.cli.run import command_parser, run_command

NAME = "cv"


def _parser() -> argparse.ArgumentParser:
    from mgmtfeat.models import MODELS, models_help

    parser = command_parser(
        NAME,
        description="Repeated stratified K-fold cross-validation of MGMT methylation classifiers on cached "
        "video-network features. Folds are made once per cohort and saved, so every model and ablation "
        "is scored on identical splits. Writes per-fold metrics, out-of-fold probabilities, a summary "
        "(mean ± SEM and SD over folds), a ROC figure and settings.yaml (re-run with --config).",
        epilog=models_help(),
    )
    add_cv_arguments(parser)
    add_net(parser, default=["vivit"], help="backbone(s) whose features are used; several nets are fused as extra "
            "inputs (they must share clip settings and cases)")
    parser.add_argument("--intersect", action="store_true",
                        help="fused nets holding different cases: use the cases common to all (logged) instead of "
                        "stopping with the list of missing cases")
    add_models(parser, help=f"model(s) to evaluate, from: {', '.join(MODELS)} (default: snn; logistic for slice "
               "features)")
    add_modalities(parser, help=f"inputs to use, from: {', '.join(MODALITIES)} (default: each model's own; all five "
                   "for most)")
    parser.add_argument("--folds-file", default=None, metavar="CSV",
                        help="reuse this saved fold table (case_id, repeat, fold) instead of the store's")
    add_scheduler(parser, help="run one Dask task per (model, repeat, fold), with the same results as in-process: "
                  "local:N starts N worker processes on this machine, tcp://HOST:PORT joins a running "
                  "`dask scheduler` (needs `pip install 'mgmtfeat[dask]'`; replaces --jobs; default: in-process)")
    parser.add_argument("--nested", action="store_true",
                        help="choose hyper-parameters by an inner 3-fold CV inside each training fold; the choice of "
                        "every outer fold is written to best_params.csv")
    add_out(parser, help="results folder; refused if it exists, unless --force, and if it is or contains an input "
            "(default: results/cv-YYYYmmdd-HHMMSS). A killed or failed run keeps its finished folds in "
            ".NAME.partial/fold-cache/: the same command again fits only the missing ones")
    add_force(parser)
    _task_options(parser)
    add_slice_protocol_arguments(parser)
    return parser


def _task_options(parser: argparse.ArgumentParser) -> None:
    """Options beyond the binary MGMT study: any label, a held-out test cohort, sites, subgroups."""
    task = parser.add_argument_group("task, held-out test, sites and subgroups")
    task.add_argument("--labels", default=None, metavar="CSV",
                      help="label file (any binary or multi-class label; default: the store's MGMT labels); store "
                      "cases it does not list are left out")
    add_label_columns(task)
    task.add_argument("--test-features", default=None, metavar="STORE",
                      help="a second store scored once as the held-out test cohort (labels: --test-labels or its own)")
    task.add_argument("--test-labels", default=None, metavar="CSV",
                      help="labels of the test cohort; without --test-features they name held-out cases of --features, "
                      "which are then left out of the CV")
    task.add_argument("--ensemble", default="mean", choices=("mean", "vote"),
                      help="how the fold models are combined on the test cohort (default mean probability)")
    task.add_argument("--bootstrap-fraction", type=float, default=None, metavar="F",
                      help="test-cohort CIs from subsamples of this fraction of the cases (e.g. 0.9) instead of the bootstrap")
    task.add_argument("--group-column", default=None, metavar="NAME",
                      help="site column of --labels or --covariates: grouped folds (no site on both sides) and a "
                      "co-site vs separate-site comparison")
    task.add_argument("--leave-one-group-out", action="store_true", help="one fold per site (with --group-column)")
    task.add_argument("--harmonize", default=None, choices=("combat",),
                      help="ComBat by site (--group-column), fitted on each training fold; the folds then mix sites")
    task.add_argument("--covariates", default=None, metavar="CSV",
                      help="case covariates (case_id, age, sex, site, ...): metrics per subgroup with bootstrap CIs")
    task.add_argument("--age-bands", default=[50.0, 65.0], type=float_list, metavar="A[,B...]",
                      help="edges of the age bands of the subgroup table (default 50,65: <50, 50-65, >65)")


def _check(args: argparse.Namespace) -> dict:
    """Fill in the default model and check the names; return the ``--set`` overrides by model.

    The rules between options live in :class:`~mgmtfeat.experiments.cv_study.StudySettings` and
    :class:`~mgmtfeat.experiments.study_task.TaskOptions`, checked when :func:`_settings` builds them.
    """
    from mgmtfeat.cli.config import check_overrides, parse_overrides
    from mgmtfeat.models import MODELS
    from mgmtfeat.store.slices import is_slice_store

    if args.model is None:  # a slice's single embedding suits a classical head, not the per-modality SNN
        args.model = ["logistic"] if is_slice_store(args.features, args.net) else ["snn"]
    unknown = [m for m in args.model if m not in MODELS]
    if unknown:
        raise ValueError(f"--model: unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    bad = [m for m in args.modalities or [] if m not in MODALITIES]
    if bad:
        raise ValueError(f"--modalities: unknown modalities {', '.join(bad)}; choose from {', '.join(MODALITIES)}")
    return check_overrides(parse_overrides(args.set))  # names as users know them -> the estimators' own


def _settings(args: argparse.Namespace, overrides: dict, parser_prog: str):
    from mgmtfeat.experiments.cv_study import StudySettings
    from mgmtfeat.experiments.study_task import TaskOptions

    return StudySettings(
        features=args.features, nets=args.net, models=args.model, modalities=args.modalities, folds=args.folds,
        repeats=args.repeats, seed=args.seed, jobs=args.jobs, nested=args.nested, out=args.out, force=args.force,
        scheduler=args.scheduler, folds_file=args.folds_file, published_source=args.published_source,
        intersect=args.intersect,
        model_params=overrides, command=[*parser_prog.split(), *args.argv],
        task=TaskOptions(labels=args.labels, label_column=args.label_column, id_column=args.id_column,
                         positive_class=args.positive_class, test_features=args.test_features,
                         test_labels=args.test_labels, ensemble=args.ensemble,
                         bootstrap_fraction=args.bootstrap_fraction, group_column=args.group_column,
                         leave_one_group_out=args.leave_one_group_out, harmonize=args.harmonize,
                         covariates=args.covariates, age_bands=tuple(args.age_bands)),
        cutoff=args.cutoff, slice_threshold=args.slice_threshold,
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
        from mgmtfeat.store.slices import is_slice_store

        if is_slice_store(args.features, args.net):
            from mgmtfeat.experiments.slice_study import run_slice_study

            summary = run_slice_study(_settings(args, overrides, parser.prog), progress=not args.quiet)
            for model, result in summary["results"].items():
                auc, acc = result["auc"], result["accuracy"]
                print(f"{model:12s} predictive-index AUC {auc['mean']:.3f} ± {auc['sem']:.3f}, accuracy at the "
                      f"cutoff {acc['mean']:.3f} ± {acc['sem']:.3f} (cutoff {result['cutoff']['mean']:.2f} on average)")
            print(f"results in {args.out}")
            return 0
        summary = run_study(_settings(args, overrides, parser.prog), progress=not args.quiet)
        for model, names in summary["resumed_folds"].items():
            print(f"{model}: reused {len(names)} fold(s) saved by an earlier run of this command "
                  f"({', '.join(names)}); fitted the others")
        for model, result in summary["results"].items():
            auc, sec = result["auc"], result["fit_seconds"]
            print(f"{model:12s} AUC {auc['mean']:.3f} ± {auc['sem']:.3f} (SD {auc['sd']:.3f})  {sec['mean']:.2f} s/fold")
        for note in summary["task"]["notes"]:
            print(note)
        if summary["nested"].get("best_params_file"):
            print(f"nested: the hyper-parameters chosen in each outer fold are in "
                  f"{Path(args.out) / summary['nested']['best_params_file']}")
        print(f"results in {args.out}")
        return 0

    def dry_run(args):
        from mgmtfeat.cli.plan import cv_plan

        args.argv = argv
        _settings(args, _check(args), parser.prog)  # the settings check the rules between options
        print(cv_plan(args.features, args.published_source, args.net, args.model, args.modalities, args.folds,
                      args.repeats, args.seed, args.folds_file, args.out, args.force))
        return 0

    return run_command(NAME, parser, argv, work, dry_run, lambda args: Path(args.out) / SETTINGS_FILE)


if __name__ == "__main__":
    sys.exit(main())
