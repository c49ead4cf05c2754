"""``python -m mgmtfeat.experiment NAME``: one of the paper's experiments (a table or figure), or ``all``.

    python -m mgmtfeat.experiment --list
    python -m mgmtfeat.experiment methods --out results/methods --repeats 4
    python -m mgmtfeat.experiment all --out results/paper --repeats 4 --external-features STORE
"""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    """One subcommand per experiment of the registry (its own options beside the common ones), and ``all``."""
    from mgmtfeat.experiments import EXPERIMENTS, RUN_ALL_OPTIONS, HelpFormatter, add_common_arguments, models_help

    parser = argparse.ArgumentParser(
        prog="python -m mgmtfeat.experiment", formatter_class=HelpFormatter,
        description="Run one of the paper's experiments on a feature store (default: the published ViViT "
        "features), or all of them. Every experiment cross-validates on the store's one saved fold table, so "
        "tables are paired fold by fold, and writes its tables (CSV, Markdown), figures and settings to --out.")
    parser.add_argument("--list", action="store_true", help="list the experiments and what each does, and exit")
    commands = parser.add_subparsers(dest="name", metavar="NAME", title="experiments",
                                     description="`python -m mgmtfeat.experiment NAME --help` shows its options")
    for name, spec in EXPERIMENTS.items():
        sub = commands.add_parser(name, aliases=list(spec.aliases), help=spec.description,
                                  description=spec.description[:1].upper() + spec.description[1:] + ".",
                                  epilog=models_help(), formatter_class=HelpFormatter)
        add_common_arguments(sub)
        spec.add_options(sub)
    run_all = commands.add_parser(
        "all", help="every experiment whose inputs exist (the others are skipped with the reason): OUT/NAME/ "
        "per experiment and OUT/RESULTS.md with every table and the timings", formatter_class=HelpFormatter,
        epilog=models_help())
    add_common_arguments(run_all)
    for option in RUN_ALL_OPTIONS:
        option.add_to(run_all)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (2 on bad input, after an ``error:`` line)."""
    from mgmtfeat.experiments import (get_experiment, list_experiments, run_all, run_all_options, run_experiment,
                                      settings_from_args)
    from mgmtfeat.store import StoreError

    parser = _parser()
    args = parser.parse_args(argv)
    if args.list:
        print(list_experiments())
        return 0
    if args.name is None:
        parser.error("give an experiment NAME, `all`, or --list")
    command = ["python", "-m", "mgmtfeat.experiment", *(sys.argv[1:] if argv is None else argv)]
    try:
        settings = settings_from_args(args, command=command)
        if args.name == "all":
            run_all(settings, args.only, run_all_options(args), echo=lambda line: print(line, flush=True))
        else:
            tables = run_experiment(args.name, settings, **get_experiment(args.name)[1].kwargs(args))
            print(next(iter(tables.values())).round(3).to_string(index=False, max_cols=20))
    except (ValueError, FileNotFoundError, FileExistsError, StoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"results in {settings.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
