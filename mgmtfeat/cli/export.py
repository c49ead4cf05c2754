"""``mgmtfeat export``: a feature store as one table (CSV or Parquet), a row per case, a named column per feature."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from mgmtfeat import MODALITIES
from mgmtfeat.cli.options import add_features, add_force, add_modalities, add_net, add_out
from mgmtfeat.cli.run import command_parser, run_command

NAME = "export"


def _parser() -> argparse.ArgumentParser:
    parser = command_parser(
        NAME,
        description="Write the features of a store as one table: case_id, label, the case's metadata (e.g. the "
        "published features' train/test split), a NET:random_weights flag per net, then one column per feature "
        "named NET:MODALITY:FEATURE, FEATURE being the net's Kinetics-400 class name (its index for a net "
        "without names). The format follows --out: .csv (pandas) or .parquet (pyarrow).",
    )
    add_features(parser, required=True, help="feature store to export")
    add_net(parser, required=True, help="net(s) whose features are exported; cases present for every net")
    add_modalities(parser, default=list(MODALITIES), help=f"inputs to export, from: {', '.join(MODALITIES)}")
    add_out(parser, required=True, metavar="FILE.csv|FILE.parquet", help="table to write")
    add_force(parser, help="replace an existing table")
    return parser


@dataclass(frozen=True)
class ExportOptions:
    """The inputs (each from :data:`mgmtfeat.MODALITIES`) and the table ``out`` (``.csv`` or ``.parquet``)."""

    modalities: tuple[str, ...]
    out: str

    def __post_init__(self):
        from mgmtfeat.store.table import TABLE_FORMATS

        bad = [m for m in self.modalities if m not in MODALITIES]
        if bad:
            raise ValueError(f"--modalities: unknown {', '.join(bad)}; choose from {', '.join(MODALITIES)}")
        if Path(self.out).suffix.lower() not in TABLE_FORMATS:
            raise ValueError(f"--out {self.out}: use a file name ending in {' or '.join(TABLE_FORMATS)}")


def _check(args: argparse.Namespace):
    """The store to export, after :class:`ExportOptions` checked the options."""
    from mgmtfeat.store import FeatureStore

    ExportOptions(tuple(args.modalities), args.out)
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
        from mgmtfeat.cli.plan import export_plan

        print(export_plan(_check(args), args.net, args.modalities, args.out, args.force))
        return 0

    return run_command(NAME, _parser(), argv, work, dry_run, lambda args: f"{args.out}.settings.yaml")


if __name__ == "__main__":
    sys.exit(main())
