"""``mgmtfeat export``: a feature store as one table (CSV or Parquet), a row per case, a named column per feature."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mgmtfeat import MODALITIES
from mgmtfeat._cli import command_parser, csv_list, run_command

NAME = "export"


def _parser() -> argparse.ArgumentParser:
    parser = command_parser(
        NAME,
        description="Write the features of a store as one table: case_id, label, the case's metadata (e.g. the "
        "published features' train/test split), a NET:random_weights flag per net, then one column per feature "
        "named NET:MODALITY:FEATURE, FEATURE being the net's Kinetics-400 class name (its index for a net "
        "without names). The format follows --out: .csv (pandas) or .parquet (pyarrow).",
    )
    parser.add_argument("--features", required=True, metavar="DIR", help="feature store to export")
    parser.add_argument("--net", required=True, type=csv_list, metavar="NET[,NET...]",
                        help="net(s) whose features are exported; cases present for every net")
    parser.add_argument("--modalities", default=list(MODALITIES), type=csv_list, metavar="M[,M...]",
                        help=f"inputs to export, from: {', '.join(MODALITIES)}")
    parser.add_argument("--out", required=True, metavar="FILE.csv|FILE.parquet", help="table to write")
    parser.add_argument("--force", action="store_true", help="replace an existing table")
    return parser


def _check(args: argparse.Namespace):
    from mgmtfeat.store import FeatureStore
    from mgmtfeat.store.table import TABLE_FORMATS

    bad = [m for m in args.modalities if m not in MODALITIES]
    if bad:
        raise ValueError(f"--modalities: unknown {', '.join(bad)}; choose from {', '.join(MODALITIES)}")
    if Path(args.out).suffix.lower() not in TABLE_FORMATS:
        raise ValueError(f"--out {args.out}: use a file name ending in {' or '.join(TABLE_FORMATS)}")
    return FeatureStore(args.features)


def main(argv: list[str] | None = None) -> int:
    """Run ``mgmtfeat export``; returns the exit status (2 for bad input)."""

    def work(args):
        from mgmtfeat.store.table import write_table

        store = _check(args)
        if Path(args.out).exists() and not args.force:
            raise FileExistsError(f"--out {args.out} exists; choose another file or pass --force to replace it")
        frame = store.to_frame(args.net, args.modalities)
        write_table(frame, args.out)
        print(f"{len(frame)} cases x {frame.shape[1]} columns -> {args.out}")
        return 0

    def dry_run(args):
        from mgmtfeat._plan import export_plan

        print(export_plan(_check(args), args.net, args.modalities, args.out, args.force))
        return 0

    return run_command(NAME, _parser(), argv, work, dry_run, lambda args: f"{args.out}.settings.yaml")


if __name__ == "__main__":
    sys.exit(main())
