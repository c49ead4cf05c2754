"""Command-line options of the experiments: the common ones, ``--set`` overrides, per-experiment options."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from mgmtfeat._config import check_overrides, parse_overrides
from mgmtfeat.models import models_help
from mgmtfeat.experiments._common import ExperimentSettings

__all__ = ["HelpFormatter", "Option", "add_common_arguments", "parse_overrides", "settings_from_args", "split_csv",
           "models_help"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default, except an empty one (None, False, []) or one its help already states."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default == [] or "(default" in action.help:
            return action.help
        return super()._get_help_string(action)


def split_csv(text: str) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]``."""
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclass(frozen=True)
class Option:
    """One option of an experiment: its flags, the keyword argument it fills, ``add_argument`` settings.

    ``{models}`` in the help text is replaced by the names of :data:`mgmtfeat.models.MODELS` when the
    option is added to a parser, so model names are never copied into help texts.
    """

    flags: tuple[str, ...]
    param: str
    settings: dict = field(default_factory=dict)

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        from mgmtfeat.models import MODELS

        settings = dict(self.settings)
        if "help" in settings:
            settings["help"] = settings["help"].replace("{models}", ", ".join(MODELS))
        parser.add_argument(*self.flags, dest=self.param, **settings)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --features, --published-source, --out, --folds, --repeats, --seed, --jobs, --set, --force.

    ``--quiet``, ``--config``, ``--dry-run`` and logging come with :func:`mgmtfeat._cli.command_parser`.
    """
    parser.add_argument("--features", default=None, metavar="DIR",
                        help="feature store (from `mgmtfeat extract`); default: the paper's published "
                        "ViViT features, imported into the user cache on first use")
    parser.add_argument("--published-source", default=None, metavar="DIR",
                        help="offline folder with the two published TFRecord files (used without --features)")
    parser.add_argument("--out", required=True, metavar="DIR", help="results folder to write")
    parser.add_argument("--folds", type=int, default=5, help="K of stratified K-fold cross-validation")
    parser.add_argument("--repeats", type=int, default=4, help="repeats of K-fold CV (the fold table is saved "
                        "in the store and shared by every experiment with the same K, repeats and seed)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the folds and of every model fit")
    parser.add_argument("--jobs", type=int, default=1, help="folds fitted in parallel processes")
    parser.add_argument("--set", action="append", default=[], metavar="MODEL.PARAM=VALUE",
                        help="override a model parameter, e.g. --set logistic.C=0.1 --set snn.max_epochs=20 "
                        "(repeatable; VALUE is read as a YAML scalar or list; PARAM by the estimator's own name)")
    parser.add_argument("--force", action="store_true", help="replace an existing results folder")


def settings_from_args(args, out: str | None = None, command: list[str] | None = None) -> ExperimentSettings:
    """ExperimentSettings from parsed common arguments; ``command`` is recorded (default: ``sys.argv``)."""
    if args.folds < 2 or args.repeats < 1 or args.jobs < 1:
        raise ValueError(f"--folds must be at least 2 (got {args.folds}), --repeats and --jobs at least 1 "
                         f"(got {args.repeats}, {args.jobs})")
    extra = {} if command is None else {"command": list(command)}
    return ExperimentSettings(features=args.features, out=out or args.out, folds=args.folds, repeats=args.repeats,
                              seed=args.seed, jobs=args.jobs, force=args.force,
                              model_params=check_overrides(parse_overrides(args.set)),  # logistic.C -> clf__C
                              published_source=args.published_source,
                              progress=not args.quiet, **extra)
