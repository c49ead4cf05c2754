"""``mgmtfeat fit``: train a model once on a store's labelled cases (or K fold models) into a model folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mgmtfeat import MODALITIES
from mgmtfeat._cli import add_slice_protocol_arguments, command_parser, csv_list, run_command

NAME = "fit"


def _parser() -> argparse.ArgumentParser:
    from mgmtfeat.models import MODELS, models_help

    parser = command_parser(
        NAME,
        description="Fit one classifier on all labelled cases of a feature store, or with --fold-models K the K "
        "models of a stratified K-fold split (with their out-of-fold predictions and metrics), and write a model "
        "folder: model.json (versions, model, inputs, classes, label source, seeds, the store's provenance), the "
        "estimator file(s) and MODEL_CARD.md. `mgmtfeat predict` applies it to new patients.",
        epilog=models_help(),
    )
    parser.add_argument("--model", required=True, metavar="NAME", help=f"model to fit, from: {', '.join(MODELS)}")
    parser.add_argument("--features", required=True, metavar="DIR", help="feature store of the training cases")
    parser.add_argument("--net", required=True, type=csv_list, metavar="NET[,NET...]",
                        help="net(s) whose features are used; several nets are fused as extra inputs")
    parser.add_argument("--modalities", default=None, type=csv_list, metavar="M[,M...]",
                        help=f"inputs, from: {', '.join(MODALITIES)} (default: the model's own)")
    parser.add_argument("--labels", default=None, metavar="CSV",
                        help="label CSV keyed by case_id (or BraTS21ID / ID); default: the store's MGMT labels")
    parser.add_argument("--label-column", default=None, metavar="NAME",
                        help="label column (default: MGMT_value, MGMT status or label, the first present)")
    parser.add_argument("--id-column", default=None, metavar="NAME",
                        help="id column (default: case_id, BraTS21ID, ID or BraTS21 ID, the first present)")
    parser.add_argument("--positive-class", default=None, metavar="C",
                        help="positive class of a binary task (default 1, or the second of two sorted names)")
    parser.add_argument("--set", action="append", default=[], metavar="MODEL.PARAM=VALUE",
                        help="override a hyper-parameter of --model, e.g. --set snn.weight_decay=0.1 (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fit (and of the fold split)")
    parser.add_argument("--fold-models", type=int, default=None, metavar="K",
                        help="fit the K models of a stratified K-fold split instead of one model on all cases")
    parser.add_argument("--model-dir", required=True, metavar="DIR", help="model folder to write")
    parser.add_argument("--force", action="store_true", help="replace an existing model folder")
    add_slice_protocol_arguments(parser)
    return parser


def _check(args: argparse.Namespace) -> dict:
    """Validate what the parser cannot; return the hyper-parameters set on the estimator."""
    from mgmtfeat._config import check_overrides, parse_overrides
    from mgmtfeat.models import MODELS

    if args.model not in MODELS:
        raise ValueError(f"--model {args.model}: unknown model; choose from {', '.join(MODELS)}")
    bad = [m for m in args.modalities or [] if m not in MODALITIES]
    if bad:
        raise ValueError(f"--modalities: unknown {', '.join(bad)}; choose from {', '.join(MODALITIES)}")
    overrides = parse_overrides(args.set)
    other = sorted(set(overrides) - {args.model})
    if other:
        raise ValueError(f"--set {other[0]}.…: only parameters of --model {args.model} can be set here")
    check_overrides(overrides)
    if args.fold_models is not None and args.fold_models < 2:
        raise ValueError(f"--fold-models {args.fold_models}: K must be at least 2 (or leave it out for one model)")
    if Path(args.model_dir).exists() and not args.force:
        raise FileExistsError(f"--model-dir {args.model_dir} exists; choose another folder or pass --force to replace it")
    return overrides.get(args.model, {})


def main(argv: list[str] | None = None) -> int:
    """Run ``mgmtfeat fit``; returns the exit status (2 for bad input)."""
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)

    def work(args):
        from mgmtfeat.bundle import FitSettings, fit_bundle
        from mgmtfeat.bundle.slices import fit_slice_bundle
        from mgmtfeat.store.slices import is_slice_store

        params = _check(args)
        fitter = fit_slice_bundle if is_slice_store(args.features, args.net) else fit_bundle
        record = fitter(FitSettings(
            features=args.features, nets=args.net, model=args.model, model_dir=args.model_dir,
            modalities=args.modalities, labels=args.labels, label_column=args.label_column,
            id_column=args.id_column, positive_class=args.positive_class, params=params, seed=args.seed,
            fold_models=args.fold_models, force=args.force, command=[*parser.prog.split(), *argv], cutoff=args.cutoff,
            slice_threshold=args.slice_threshold))
        task = record.task
        counts = ", ".join(f"{c}: {n}" for c, n in task["cases_per_class"].items())
        print(f"{args.model} fitted on {task['n_cases']} cases ({counts}) -> {args.model_dir}")
        if task["n_unlabelled_left_out"]:
            print(f"{task['n_unlabelled_left_out']} store case(s) without a label left out")
        return 0

    def dry_run(args):
        _check(args)
        kind = f"{args.fold_models} fold models" if args.fold_models else "one model on all labelled cases"
        print(f"would fit {args.model} ({kind}) on {args.features} [{', '.join(args.net)}], labels "
              f"{args.labels or 'from the store'}, into {args.model_dir}")
        return 0

    return run_command(NAME, parser, argv, work, dry_run, lambda args: Path(args.model_dir) / "settings.yaml")


if __name__ == "__main__":
    sys.exit(main())
