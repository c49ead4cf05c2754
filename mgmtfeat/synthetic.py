"""``mgmtfeat synthetic``: write a seeded synthetic glioblastoma cohort in one public layout."""

from __future__ import annotations

import sys

from pathlib import Path

from mgmtfeat._cli import command_parser, run_command
from mgmtfeat._config import SETTINGS_FILE

NAME = "synthetic"


def _parser():
    p = command_parser(NAME, description="Write a seeded synthetic glioblastoma cohort in one public layout.")
    p.add_argument("--out", required=True, help="dataset folder to create (must be absent or empty)")
    p.add_argument("--layout", choices=["brats2021", "rsna_dicom", "ucsf_pdgm"], default="brats2021",
                   help="file layout")
    p.add_argument("--cases", type=int, default=8, help="number of cases, half methylated")
    p.add_argument("--shape", type=int, nargs=3, default=[64, 64, 40], metavar=("X", "Y", "Z"),
                   help="voxels per volume (BraTS size is 240 240 155)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--not-coregistered", action="store_true",
                   help="rsna_dicom: write T1w on another grid than T1wCE, as in the real data")
    return p


def main(argv=None) -> int:
    """Write the cohort; returns the exit status."""

    def work(args):
        from mgmtfeat.data.synthetic import write_cohort

        root = write_cohort(args.out, args.layout, args.cases, tuple(args.shape), args.seed,
                            coregistered=not args.not_coregistered)
        print(f"wrote {args.cases} {args.layout} cases to {root}")
        return 0

    def dry_run(args):
        from mgmtfeat._plan import synthetic_plan

        print(synthetic_plan(args.out, args.layout, args.cases, args.shape, args.seed))
        return 0

    return run_command(NAME, _parser(), argv, work, dry_run, lambda args: Path(args.out) / SETTINGS_FILE)


if __name__ == "__main__":
    sys.exit(main())
