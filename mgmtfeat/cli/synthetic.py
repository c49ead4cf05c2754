"""``mgmtfeat synthetic``: write a seeded synthetic brain-tumour cohort in one public layout.

Besides the layout's own MGMT label file, the cohort has ``labels.csv`` (case_id, mgmt,
tumour_type, site, age, sex) and a ``README.txt`` that says which signals its images carry.
"""

from __future__ import annotations

import sys

from pathlib import Path

from mgmtfeat.cli.options import add_out, add_seed
from mgmtfeat.cli.run import command_parser, run_command
from mgmtfeat.cli.config import SETTINGS_FILE
from mgmtfeat.data.phantoms import MGMT_EFFECT, TUMOUR_TYPES

NAME = "synthetic"


def _parser():
    p = command_parser(
        NAME, description="Write a seeded synthetic brain-tumour cohort in one public layout, with labels.csv "
        "(case_id, mgmt, tumour_type, site, age, sex) and a README.txt that says what its images carry: "
        "tumour types that differ strongly in shape, enhancement and oedema; a scanner effect per site; "
        "a weak, noisy MGMT signal (I3D features + logistic regression: AUC about 0.65-0.85).")
    add_out(p, required=True, help="dataset folder to create (must be absent or empty)")
    p.add_argument("--layout", choices=["brats2021", "brats2023", "rsna_dicom", "ucsf_pdgm"], default="brats2021",
                   help="file layout")
    p.add_argument("--cases", type=int, default=8,
                   help="number of cases; MGMT, tumour types and sites are each balanced")
    p.add_argument("--shape", type=int, nargs=3, default=[64, 64, 40], metavar=("X", "Y", "Z"),
                   help="voxels per volume (BraTS size is 240 240 155)")
    add_seed(p, help="random seed")
    p.add_argument("--sites", type=int, default=1, help="number of scanners (sites), each with its own intensity "
                   "scale/shift, contrast, enhancement, noise, bias field and blur")
    p.add_argument("--first-site", type=int, default=0,
                   help="index of the first site (0 = A); case numbers start at 1000 x this index, so a second "
                        "hospital (another --seed and --first-site) shares no case id with the first")
    p.add_argument("--tumour-types", type=int, default=3, choices=range(1, len(TUMOUR_TYPES) + 1),
                   help="tumour types, the first N of: " + ", ".join(TUMOUR_TYPES))
    p.add_argument("--mgmt-effect", type=float, default=MGMT_EFFECT,
                   help="strength of the MGMT signal: shift of a latent phenotype in noise SDs "
                   "(0: none; the default gives I3D + logistic regression an AUC of about 0.65-0.85)")
    p.add_argument("--spacing", type=float, nargs=3, default=None, metavar=("X", "Y", "Z"),
                   help="voxel size in mm (default 1 1 1, the public data's grid); e.g. 1.25 1.25 6 for clinical-style "
                   "thick slices, which make-clips and extract bring back to 1 mm")
    p.add_argument("--not-coregistered", action="store_true",
                   help="rsna_dicom: write T1w on another grid than T1wCE, as in the real data")
    return p


def main(argv=None) -> int:
    """Write the cohort; returns the exit status."""

    def work(args):
        from mgmtfeat.data.synthetic import write_cohort

        root = write_cohort(args.out, args.layout, args.cases, tuple(args.shape), args.seed,
                            spacing=tuple(args.spacing) if args.spacing else None, coregistered=not args.not_coregistered, n_sites=args.sites,
                            first_site=args.first_site, n_tumour_types=args.tumour_types,
                            mgmt_effect=args.mgmt_effect)
        print(f"wrote {args.cases} {args.layout} cases to {root}\n")
        print((root / "README.txt").read_text(), end="")
        return 0

    def dry_run(args):
        from mgmtfeat.cli.plan import synthetic_plan

        print(synthetic_plan(args.out, args.layout, args.cases, args.shape, args.seed))
        return 0

    return run_command(NAME, _parser(), argv, work, dry_run, lambda args: Path(args.out) / SETTINGS_FILE)


if __name__ == "__main__":
    sys.exit(main())
