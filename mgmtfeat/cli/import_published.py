"""``mgmtfeat import-published``: the paper's published ViViT features as a feature store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mgmtfeat.cli.options import add_force, add_out
from mgmtfeat.cli.run import command_parser, run_command
from mgmtfeat.cli.config import SETTINGS_FILE

NAME = "import-published"


def _parser() -> argparse.ArgumentParser:
    parser = command_parser(
        NAME,
        description="Fetch the two TFRecord files of ViViT features published with the paper (577 BraTS 2021 "
        "patients, five inputs, MGMT labels), verify their sha256 and CRCs, and write them into a feature "
        "store under net 'vivit' that `mgmtfeat cv --features` reads.",
    )
    parser.add_argument("--source", default=None, metavar="DIR",
                        help="local folder holding both files (offline); default: the user cache, downloading when online")
    add_out(parser, default="features/published", help="feature store to write")
    add_force(parser, help="write into a store that already holds vivit features")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``mgmtfeat import-published``; returns the exit status (2 for bad input)."""
    from mgmtfeat.store.published import NET

    def work(args):
        from mgmtfeat.store import FeatureStore
        from mgmtfeat.store.published import fetch_published, import_published

        if FeatureStore(args.out).case_ids(NET) and not args.force:
            raise FileExistsError(f"{args.out} already holds {NET} features; pass --force to re-import into it")
        fetch_published(args.source, source_option="--source")  # a failed download names this command's option
        store = import_published(Path(args.out), args.source)
        counts = store.labels(NET)["label"].value_counts().to_dict()
        print(f"{sum(counts.values())} cases ({counts.get(0, 0)} unmethylated, {counts.get(1, 0)} methylated) in {store.root}")
        return 0

    def dry_run(args):
        from mgmtfeat.cli.plan import published_plan

        print(published_plan(args.source, args.out, NET, args.force))
        return 0

    return run_command(NAME, _parser(), argv, work, dry_run, lambda args: Path(args.out) / NET / SETTINGS_FILE)


if __name__ == "__main__":
    sys.exit(main())
