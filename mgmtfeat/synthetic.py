"""``mgmtfeat synthetic``: write a seeded synthetic glioblastoma cohort in one public layout."""

from __future__ import annotations

import sys

from mgmtfeat.data.synthetic import write_cohort


def _parser():
    import argparse

    p = argparse.ArgumentParser(prog="python -m mgmtfeat.synthetic",
                                description="Write a seeded synthetic glioblastoma cohort in one public layout.")
    p.add_argument("--out", required=True, help="dataset folder to create (must be absent or empty)")
    p.add_argument("--layout", choices=["brats2021", "rsna_dicom", "ucsf_pdgm"], default="brats2021",
                   help="file layout (default %(default)s)")
    p.add_argument("--cases", type=int, default=8, help="number of cases, half methylated (default %(default)s)")
    p.add_argument("--shape", type=int, nargs=3, default=(64, 64, 40), metavar=("X", "Y", "Z"),
                   help="voxels per volume (default 64 64 40; BraTS size is 240 240 155)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    p.add_argument("--not-coregistered", action="store_true",
                   help="rsna_dicom: write T1w on another grid than T1wCE, as in the real data")
    return p


def main(argv=None) -> int:
    """Write the cohort; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        root = write_cohort(args.out, args.layout, args.cases, tuple(args.shape), args.seed,
                            coregistered=not args.not_coregistered)
    except (ValueError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.cases} {args.layout} cases to {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
