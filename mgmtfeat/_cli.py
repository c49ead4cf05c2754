"""Command-line options shared by the commands that read a dataset folder and make clips."""

from __future__ import annotations

import argparse

from mgmtfeat.clips import ClipSettings

BOX_HELP = """\
box placement: the 128x128 box's upper-left corner is the upper/left boundary of the whole
tumour (segmentation > 0) across all slices, clamped to the image, as in the paper. Without
a segmentation (RSNA DICOM) give --box-csv (columns case_id,row,col[,slice][,modality], frame
coordinates: rows anterior->posterior, columns patient right->left) or fall back to the
brain's extent (--box brain, also what --box auto does when neither is available).
"""


def add_dataset_arguments(p: argparse.ArgumentParser) -> None:
    """``--data``, ``--labels``, exclusions and every clip setting (frames, box, percentiles, delta-T1)."""
    d = ClipSettings()
    p.add_argument("--data", required=True, help="dataset folder (layout detected from its case folders)")
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


def clip_settings(args: argparse.Namespace) -> ClipSettings:
    """The :class:`ClipSettings` the options of :func:`add_dataset_arguments` ask for."""
    return ClipSettings(n_frames=args.frames, box_size=args.box_size, box=args.box,
                        large_tumour=args.large_tumour, delta_grid=args.delta_grid,
                        percentile_sample=0 if args.exact_percentiles else ClipSettings().percentile_sample)


def exclusions(args: argparse.Namespace) -> list[str]:
    """Case ids to leave out: ``--exclude`` plus, with ``--exclude-flagged``, the RSNA flagged ids."""
    from mgmtfeat.data.layouts import RSNA_FLAGGED_IDS

    return list(args.exclude) + (list(RSNA_FLAGGED_IDS) if args.exclude_flagged else [])
