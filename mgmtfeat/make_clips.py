"""Command line: convert a dataset folder into 150-frame tumour clips and previews.

    python -m mgmtfeat.make_clips --data DIR --out DIR [options]

Exit status 0 when every case converted (or was already done), 1 when any case failed
(see OUT/failures.csv), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import sys

from mgmtfeat.clips import ClipSettings

_EPILOG = """\
outputs (in --out):
  clips/<case_id>.npz        uint8 (150, 128, 128) per modality (flair, t1, t1ce, t2, delta_t1) + meta JSON
  previews/<case_id>.png     tumour slice with the box in red, then clip frames, per modality
  videos/<case_id>/*.mp4     with --video mp4 (or .avi)
  cases.csv, failures.csv    finished cases; failed cases with file and reason
  settings.json              clip settings; a re-run with the same settings resumes

box placement: the 128x128 box's upper-left corner is the upper/left boundary of the whole
tumour (segmentation > 0) across all slices, clamped to the image, as in the paper. Without
a segmentation (RSNA DICOM) give --box-csv (columns case_id,row,col[,slice][,modality], frame
coordinates: rows anterior->posterior, columns patient right->left) or fall back to the
brain's extent (--box brain, also what --box auto does when neither is available).
"""


def _parser() -> argparse.ArgumentParser:
    d = ClipSettings()
    p = argparse.ArgumentParser(
        prog="python -m mgmtfeat.make_clips",
        description="Convert a BraTS 2021, RSNA-MICCAI DICOM or UCSF-PDGM folder into clips "
                    "(one .npz per case) and previews. Resumable: finished cases are skipped.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="dataset folder (layout detected from its case folders)")
    p.add_argument("--out", required=True, help="output folder (created; re-runs resume in it)")
    p.add_argument("--labels", help="label CSV (train_labels.csv or UCSF-PDGM metadata) when not beside the data")
    p.add_argument("--exclude", nargs="+", default=[], metavar="ID",
                   help="case ids to skip, e.g. 00109 or BraTS2021_00109")
    p.add_argument("--exclude-flagged", action="store_true",
                   help="also skip the cases the RSNA-MICCAI organisers flagged (00109, 00123, 00709)")
    p.add_argument("--box", choices=["auto", "seg", "csv", "brain"], default=d.box,
                   help="box source: segmentation, --box-csv, or brain extent; auto = seg if present, "
                        "else CSV row if any, else brain (default %(default)s)")
    p.add_argument("--box-csv", help="CSV of user boxes: case_id,row,col[,slice][,modality]")
    p.add_argument("--large-tumour", choices=["corner", "centre", "resize", "error"], default=d.large_tumour,
                   help="tumour larger than the box: keep the paper's corner (cut bottom/right), centre the "
                        "box on it, resize its bounding square into the box, or fail the case "
                        "(default %(default)s)")
    p.add_argument("--delta-grid", choices=["require", "resample"], default=d.delta_grid,
                   help="T1 and T1wCE on different grids: fail the case (require), or resample T1 onto "
                        "the T1wCE grid through the affines (not a registration) (default %(default)s)")
    p.add_argument("--frames", type=int, default=d.n_frames, help="frames per clip (default %(default)s)")
    p.add_argument("--box-size", type=int, default=d.box_size, help="box side in voxels (default %(default)s)")
    p.add_argument("--exact-percentiles", action="store_true",
                   help="compute the 1st/99th percentiles over all brain voxels instead of a "
                        f"{d.percentile_sample}-voxel regular subsample (slower)")
    p.add_argument("--video", choices=["mp4", "avi"], help="also write one video per clip")
    p.add_argument("--no-preview", action="store_true", help="do not write PNG previews")
    p.add_argument("--force", action="store_true",
                   help="re-convert finished cases and overwrite clips made with other settings")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    """Run the command; returns the exit status."""
    from mgmtfeat.cohort import RSNA_FLAGGED_IDS
    from mgmtfeat.convert import convert_dataset

    args = _parser().parse_args(argv)
    try:
        settings = ClipSettings(n_frames=args.frames, box_size=args.box_size, box=args.box,
                                large_tumour=args.large_tumour, delta_grid=args.delta_grid,
                                percentile_sample=0 if args.exact_percentiles else ClipSettings().percentile_sample)
        exclude = list(args.exclude) + (list(RSNA_FLAGGED_IDS) if args.exclude_flagged else [])
        report = convert_dataset(args.data, args.out, settings, exclude=exclude, labels=args.labels,
                                 box_csv=args.box_csv, preview=not args.no_preview, video=args.video,
                                 force=args.force, progress=not args.quiet)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(report.converted)} converted, {len(report.skipped)} already done, "
          f"{len(report.failed)} failed -> {report.out}")
    for failure in report.failed:
        print(f"  FAILED {failure['case_id']}: {failure['file']}: {failure['reason']}", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
