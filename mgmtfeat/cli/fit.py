"""``mgmtfeat fit``: train a model once on a store's labelled cases (or K fold models) into a model folder."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mgmtfeat import MODALITIES
from mgmtfeat.cli.options import (add_features, add_force, add_label_columns, add_modalities, add_models, add_net,
                                  add_seed, add_set, add_slice_protocol_arguments)
from mgmtfeat.cli.run import command_parser, run_command

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
    add_models(parser, required=True, as_list=False, help=f"model to fit, from: {', '.join(MODELS)}")
    add_features(parser, required=True, help="feature store of the training cases")
    add_net(parser, required=True, help="net(s) whose features are used; several nets are fused as extra inputs")
    add_modalities(parser)
    parser.add_argument("--labels", default=None, metavar="CSV",
                        help="label CSV keyed by case_id (or BraTS21ID / ID); default: the store's MGMT labels")
    add_label_columns(parser)
    add_set(parser, help="override a hyper-parameter of --model, e.g. --set snn.weight_decay=0.1 (repeatable)")
    add_seed(parser, help="seed of the fit (and of the fold split)")
    parser.add_argument("--fold-models", type=int, default=None, metavar="K",
                        help="fit the K models of a stratified K-fold split instead of one model on all cases")
    parser.add_argument("--model-dir", required=True, metavar="DIR", help="model folder to write")
    add_force(parser, help="replace an existing model folder")
    add_slice_protocol_arguments(parser)
    return parser


@dataclass(frozen=True)
class FitOptions:
    """What ``fit`` is asked to do, checked across options before any work.

    Attributes
    ----------
    model : str
        A name of :data:`mgmtfeat.models.MODELS`.
    modalities : tuple of str or None
        Inputs from :data:`mgmtfeat.MODALITIES`; None: the model's own.
    overrides : tuple of str
        ``--set MODEL.PARAM=VALUE`` items, all of ``model``.
    fold_models : int or None
        K of the fold models (at least 2), or None for one model on all cases.
    model_dir : str
        The folder to write: absent, or replaced with ``force``.
    force : bool
    params : dict
        The estimator's parameters that ``overrides`` set, by their inner names (filled in).
    """

    model: str
    modalities: tuple[str, ...] | None = None
    overrides: tuple[str, ...] = ()
    fold_models: int | None = None
    model_dir: str = ""
    force: bool = False
    params: dict = field(init=False, default_factory=dict)

    def __post_init__(self):
        from mgmtfeat.cli.config import check_overrides, parse_overrides
        from mgmtfeat.models import MODELS

        if self.model not in MODELS:
            raise ValueError(f"--model {self.model}: unknown model; choose from {', '.join(MODELS)}")
        bad = [m for m in self.modalities or [] if m not in MODALITIES]
        if bad:
            raise ValueError(f"--modalities: unknown {', '.join(bad)}; choose from {', '.join(MODALITIES)}")
        overrides = parse_overrides(self.overrides)
        other = sorted(set(overrides) - {self.model})
        if other:
            raise ValueError(f"--set {other[0]}.…: only parameters of --model {self.model} can be set here")
        check_overrides(overrides)  # names as users know them -> the estimator's own
        if self.fold_models is not None and self.fold_models < 2:
            raise ValueError(f"--fold-models {self.fold_models}: K must be at least 2 (or leave it out for one model)")
        if Path(self.model_dir).exists() and not self.force:
            raise FileExistsError(f"--model-dir {self.model_dir} exists; choose another folder or pass --force to "
                                  "replace it")
        self.params.update(overrides.get(self.model, {}))


def _check(args: argparse.Namespace) -> dict:
    """The hyper-parameters set on the estimator, after :class:`FitOptions` checked the options."""
    return FitOptions(model=args.model, modalities=tuple(args.modalities) if args.modalities else None,
                      overrides=tuple(args.set), fold_models=args.fold_models, model_dir=args.model_dir,
                      force=args.force).params


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
