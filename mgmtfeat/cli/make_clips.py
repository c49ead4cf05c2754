"""``mgmtfeat make-clips``: convert a dataset folder into 150-frame tumour clips and previews.

    mgmtfeat make-clips --data DIR --out DIR [options]

Exit status 0 when every case converted (or was already done), 1 when any case failed
(see OUT/failures.csv), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mgmtfeat.cli.dataset import BOX_HELP, add_dataset_arguments, clip_settings, exclusions
from mgmtfeat.cli.options import add_force, add_jobs, add_out
from mgmtfeat.cli.run import command_parser, print_failures, run_command
from mgmtfeat.cli.config import SETTINGS_FILE

NAME = "make-clips"

_EPILOG = """\
outputs (in --out):
  clips/<case_id>.npz        uint8 (150, 128, 128) per modality (flair, t1, t1ce, t2, delta_t1, or --modalities)
                             + meta JSON (box, frames, geometry: what the 1 mm resampling did, notes)
  previews/<case_id>.png     tumour slice with the box in red, then clip frames, per modality
  videos/<case_id>/*.mp4     with --video mp4 (or .avi)
  cases.csv, failures.csv    finished cases; failed cases with file and reason
  settings.json              clip settings; a re-run with the same settings resumes
  settings.yaml              the command's options (re-run with --config OUT/settings.yaml)

""" + BOX_HELP


def _parser() -> argparse.ArgumentParser:
    p = command_parser(
        NAME,
        description="Convert a BraTS 2021, BraTS 2023+, RSNA-MICCAI DICOM or UCSF-PDGM folder, or a manifest CSV, "
                    "into clips on a 1 mm grid (one .npz per case) and previews. Resumable: finished cases are "
                    "skipped.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(p)
    add_out(p, required=True, help="output folder (created; re-runs resume in it)")
    p.add_argument("--video", choices=["mp4", "avi"], help="also write one video per clip")
    p.add_argument("--no-preview", action="store_true", help="do not write PNG previews")
    add_force(p, help="re-convert finished cases and overwrite clips made with other settings")
    add_jobs(p, help="cases converted in parallel processes")
    return p


def main(argv=None) -> int:
    """Run the command; returns the exit status."""

    def work(args):
        from mgmtfeat.clips.dataset import convert_dataset

        report = convert_dataset(args.data, args.out, clip_settings(args), exclude=exclusions(args),
                                 labels=args.labels, box_csv=args.box_csv, preview=not args.no_preview,
                                 video=args.video, force=args.force, progress=not args.quiet, jobs=args.jobs)
        print(f"{len(report.converted)} converted, {len(report.skipped)} already done, "
              f"{len(report.failed)} failed -> {report.out}")
        print_failures(report.failed)
        return 0 if report.ok else 1

    def dry_run(args):
        from mgmtfeat.cli.plan import dataset_plan
        from mgmtfeat.data.layouts import find_cases

        refs = find_cases(args.data, exclude=exclusions(args), labels=args.labels)
        done = lambda case_id: not args.force and (Path(args.out) / "clips" / f"{case_id}.npz").exists()  # noqa: E731
        print(dataset_plan(refs, done, args.out, "clips"))
        return 0

    return run_command(NAME, _parser(), argv, work, dry_run, lambda args: Path(args.out) / SETTINGS_FILE)


if __name__ == "__main__":
    sys.exit(main())
