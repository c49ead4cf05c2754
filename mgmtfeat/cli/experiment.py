"""``mgmtfeat experiment NAME``: one of the paper's experiments (a table or figure), or ``all``.

    mgmtfeat experiment --list
    mgmtfeat experiment methods --out results/methods --repeats 4
    mgmtfeat experiment all --out results/paper --repeats 4 --external-features STORE

Each experiment is a command of its own (``experiment NAME``) built like every other: its options,
``--config`` (e.g. the ``settings.yaml`` an earlier run wrote into its results folder), ``--dry-run``
and logging.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mgmtfeat.cli.options import HelpFormatter, add_cv_arguments, add_force, add_out, csv_list
from mgmtfeat.cli.run import command_parser, run_command

NAME = "experiment"


def _add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of every experiment: those of every cross-validation, ``--out`` and ``--force``."""
    add_cv_arguments(parser)
    add_out(parser, required=True, help="results folder to write")
    add_force(parser)


def add_option(parser: argparse.ArgumentParser, option) -> None:
    """Add an experiment's :class:`~mgmtfeat.experiments.Option` to ``parser``, ``{models}`` in its help filled in."""
    from mgmtfeat.models import MODELS

    default = option.default
    if option.is_list and default is not None:
        default = ",".join(default)  # shown as typed in --help, parsed into a list by csv_list
    extra = {"type": csv_list} if option.is_list else {}
    parser.add_argument(*option.flags, dest=option.param, default=default, metavar=option.metavar,
                        help=option.help.replace("{models}", ", ".join(MODELS)), **extra)


def settings_from_args(args: argparse.Namespace, command: list[str] | None = None):
    """The :class:`~mgmtfeat.experiments.ExperimentSettings` of parsed common options; ``command`` is recorded."""
    from mgmtfeat.cli.config import check_overrides, parse_overrides
    from mgmtfeat.experiments import ExperimentSettings

    extra = {} if command is None else {"command": list(command)}
    return ExperimentSettings(features=args.features, out=args.out, folds=args.folds, repeats=args.repeats,
                              seed=args.seed, jobs=args.jobs, force=args.force,
                              model_params=check_overrides(parse_overrides(args.set)),  # logistic.C -> clf__C
                              published_source=args.published_source, progress=not args.quiet, **extra)


def _parser(name: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``experiment NAME`` (its own options beside the common ones), or the overview without NAME."""
    from mgmtfeat.experiments import EXPERIMENTS, RUN_ALL_OPTIONS, get_experiment
    from mgmtfeat.models import models_help

    if name is None:  # the overview: `mgmtfeat experiment --help`
        parser = argparse.ArgumentParser(
            prog=command_parser(NAME, "").prog, formatter_class=HelpFormatter,
            description="Run one of the paper's experiments on a feature store (default: the published ViViT "
            "features), or all of them. Every experiment cross-validates on the store's one saved fold table, so "
            "tables are paired fold by fold, and writes its tables (CSV, Markdown), figures and settings to --out.",
            epilog="experiments: " + "; ".join(f"{n}: {spec.description}" for n, spec in EXPERIMENTS.items())
            + "; all: every experiment whose inputs exist. `... experiment NAME --help` shows NAME's options.")
        parser.add_argument("name", metavar="NAME", help="an experiment, or `all`")
        parser.add_argument("--list", action="store_true", help="list the experiments and what each does, and exit")
        return parser
    if name == "all":
        parser = command_parser(f"{NAME} all", "Every experiment whose inputs exist (the others are skipped with the "
                                "reason): OUT/NAME/ per experiment and OUT/RESULTS.md with every table and the timings.",
                                epilog=models_help(), formatter_class=HelpFormatter)
        _add_common_arguments(parser)
        for option in RUN_ALL_OPTIONS:
            add_option(parser, option)
        return parser
    name, spec = get_experiment(name)
    parser = command_parser(f"{NAME} {name}", spec.description[:1].upper() + spec.description[1:] + ".",
                            epilog=models_help(), formatter_class=HelpFormatter)
    _add_common_arguments(parser)
    for option in spec.options:
        add_option(parser, option)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``mgmtfeat experiment NAME [options]``; exit status 2 on bad input, after an ``error:`` line."""
    from mgmtfeat.experiments import get_experiment, list_experiments

    argv = list(sys.argv[1:] if argv is None else argv)
    if "--list" in argv[:1]:
        print(list_experiments())
        return 0
    if not argv or argv[0].startswith("-"):
        _parser().parse_args(argv or ["--help"])  # prints the overview (or argparse's error) and exits
        return 2
    name, rest = argv[0], argv[1:]
    try:
        name = "all" if name == "all" else get_experiment(name)[0]
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    parser = _parser(name)
    command = [*parser.prog.split(), *rest]  # as typed: `mgmtfeat experiment NAME ...` or `python -m ...`

    def checked(args):
        """The settings and the experiment's keyword arguments, refused as a run refuses them (a dry run too)."""
        from mgmtfeat.experiments import run_all_options
        from mgmtfeat.experiments.base import check_models

        settings = settings_from_args(args, command=command)
        options = run_all_options(args) if name == "all" else get_experiment(name)[1].kwargs(args)
        for given in (getattr(args, "model", None), getattr(args, "models", None)):  # where the experiment has them
            if given is not None:
                check_models([given] if isinstance(given, str) else given)
        return settings, options

    def work(args):
        from mgmtfeat.experiments import run_all, run_experiment

        settings, options = checked(args)
        if name == "all":
            run_all(settings, args.only, options, echo=lambda line: print(line, flush=True))
        else:
            tables = run_experiment(name, settings, **options)
            print(next(iter(tables.values())).round(3).to_string(index=False, max_cols=20))
        print(f"results in {settings.out}")
        return 0

    def dry_run(args):
        from mgmtfeat.experiments import open_store

        checked(args)
        store = open_store(args.features, args.published_source)
        print(f"experiment {name}: store {store.root} (nets: {', '.join(store.nets()) or 'none'}), "
              f"{args.repeats} x {args.folds}-fold CV, seed {args.seed}; would write {args.out}"
              + (" (replacing it)" if Path(args.out).exists() else ""))
        return 0

    from mgmtfeat.cli.config import SETTINGS_FILE

    return run_command(f"{NAME} {name}", parser, rest, work, dry_run, lambda args: Path(args.out) / SETTINGS_FILE)


if __name__ == "__main__":
    sys.exit(main())
