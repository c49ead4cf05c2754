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

from mgmtfeat._cli import command_parser, run_command

NAME = "experiment"


def _parser(name: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``experiment NAME`` (its own options beside the common ones), or the overview without NAME."""
    from mgmtfeat.experiments import (EXPERIMENTS, RUN_ALL_OPTIONS, HelpFormatter, add_common_arguments,
                                      get_experiment, models_help)

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
        add_common_arguments(parser)
        for option in RUN_ALL_OPTIONS:
            option.add_to(parser)
        return parser
    name, spec = get_experiment(name)
    parser = command_parser(f"{NAME} {name}", spec.description[:1].upper() + spec.description[1:] + ".",
                            epilog=models_help(), formatter_class=HelpFormatter)
    add_common_arguments(parser)
    spec.add_options(parser)
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

    def work(args):
        from mgmtfeat.experiments import run_all, run_all_options, run_experiment, settings_from_args

        settings = settings_from_args(args, command=command)
        if name == "all":
            run_all(settings, args.only, run_all_options(args), echo=lambda line: print(line, flush=True))
        else:
            tables = run_experiment(name, settings, **get_experiment(name)[1].kwargs(args))
            print(next(iter(tables.values())).round(3).to_string(index=False, max_cols=20))
        print(f"results in {settings.out}")
        return 0

    def dry_run(args):
        from mgmtfeat.experiments import open_store

        store = open_store(args.features, args.published_source)
        print(f"experiment {name}: store {store.root} (nets: {', '.join(store.nets()) or 'none'}), "
              f"{args.repeats} x {args.folds}-fold CV, seed {args.seed}; would write {args.out}"
              + (" (replacing it)" if Path(args.out).exists() else ""))
        return 0

    from mgmtfeat._config import SETTINGS_FILE

    return run_command(f"{NAME} {name}", parser, rest, work, dry_run, lambda args: Path(args.out) / SETTINGS_FILE)


if __name__ == "__main__":
    sys.exit(main())
