"""``mgmtfeat`` / ``python -m mgmtfeat``: one command, one subcommand per command module.

``mgmtfeat cv ...`` runs ``mgmtfeat/cli/cv.py``'s ``main([...])``; each subcommand's ``--help`` shows
``mgmtfeat cv`` as its program. Command modules are imported only when their subcommand runs, so
``mgmtfeat --help`` stays fast, and a module missing from an installation is reported, not fatal.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from mgmtfeat import __version__

#: (subcommand as typed, its command module, one-line help), in data-flow order.
COMMANDS = (
    ("synthetic", "mgmtfeat.cli.synthetic", "write a seeded synthetic cohort in one public layout"),
    ("make-clips", "mgmtfeat.cli.make_clips", "dataset folder -> 150-frame tumour clips, previews, videos"),
    ("extract", "mgmtfeat.cli.extract", "dataset folder -> clips -> Kinetics-400 logits -> feature store"),
    ("import-published", "mgmtfeat.cli.import_published", "the paper's published ViViT features -> feature store"),
    ("export", "mgmtfeat.cli.export", "feature store -> one table (CSV or Parquet), a named column per feature"),
    ("cv", "mgmtfeat.cli.cv", "repeated stratified K-fold cross-validation of classifiers"),
    ("experiment", "mgmtfeat.cli.experiment", "run one of the paper's experiments (tables)"),
    ("fit", "mgmtfeat.cli.fit", "train a model once (or K fold models) on a store's labelled cases -> model folder"),
    ("predict", "mgmtfeat.cli.predict", "model folder + feature store -> predictions (and metrics with CIs given labels)"),
    ("saliency", "mgmtfeat.cli.saliency", "model folder + dataset cases -> occlusion saliency maps (NIfTI, PNG overlays)"),
)


def _found(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package missing
        return False


def _available() -> list[tuple[str, str, str]]:
    return [c for c in COMMANDS if _found(c[1])]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mgmtfeat",
        description="MGMT methylation from mpMRI through off-the-shelf video-network features. "
        "Run `mgmtfeat COMMAND --help` for a command's options; every command takes --config FILE "
        "(e.g. a results folder's settings.yaml), --dry-run, --log-level and --log-file.",
    )
    parser.add_argument("--version", action="version", version=f"mgmtfeat {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, _, help_text in _available():
        commands.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``argv`` (default ``sys.argv[1:]``) to a command; returns its exit status."""
    from mgmtfeat.cli.run import invoked_as

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    command = parser.parse_args(argv[:1]).command  # --help, --version and unknown commands end here
    module_name = {name: module for name, module, _ in COMMANDS}[command]
    module = importlib.import_module(module_name)
    with invoked_as("mgmtfeat"):
        return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
