"""The options of the commands that read a dataset folder (``make-clips``, ``extract``): data, labels,
exclusions and every clip setting, and the :class:`~mgmtfeat.clips.ClipSettings` they ask for."""

from __future__ import annotations

import argparse

from mgmtfeat.cli.options import add_modalities, bounded_float
from mgmtfeat.clips import ClipSettings

__all__ = ["BOX_HELP", "add_dataset_arguments", "clip_settings", "exclusions"]

BOX_HELP = """\
box placement: the 128x128 box's upper-left corner is the upper/left boundary of the whole
tumour (segmentation > 0) across all slices, clamped to the image, as in the paper. Without
a segmentation (RSNA DICOM) give --box-csv (columns case_id,row,col[,slice][,modality], frame
coordinates: rows anterior->posterior, columns patient right->left) or fall back to the
brain's extent (--box brain, also what --box auto does when neither is available).
Segmentation-free mode (--box whole-brain): instead of a tumour box, the square over the
brain's whole in-plane extent (non-zero voxels) is resampled to the box size, with the same
frame rule centred on the brain's slices; use it for scans without a tumour mask or tumour.
"""


def add_dataset_arguments(p: argparse.ArgumentParser) -> None:
    """``--data``, ``--labels``, exclusions and every clip setting (frames, box, percentiles, delta-T1)."""
    d = ClipSettings()
    p.add_argument("--data", required=True, help="dataset folder (layout detected from its case folders: BraTS 2021, "
                   "BraTS 2023+, RSNA-MICCAI DICOM, UCSF-PDGM) or a manifest CSV (case_id,flair,t1,t1ce,t2,seg: "
                   "paths relative to it)")
    p.add_argument("--labels", help="label CSV (train_labels.csv, UCSF-PDGM metadata, or a case_id,mgmt table such "
                   "as the manifest) when not beside the data")
    p.add_argument("--exclude", nargs="+", default=[], metavar="ID",
                   help="case ids to skip, e.g. 00109 or BraTS2021_00109")
    p.add_argument("--exclude-flagged", action="store_true",
                   help="also skip the cases the RSNA-MICCAI organisers flagged (00109, 00123, 00709)")
    p.add_argument("--box", choices=["auto", "seg", "csv", "brain", "whole-brain"], default=d.box,
                   help="box source: tumour segmentation, --box-csv, or a box-size window centred on the "
                        "brain; auto = seg if present, else CSV row if any, else brain; whole-brain = "
                        "segmentation-free mode, the whole brain's extent resized into the box "
                        "(default %(default)s)")
    p.add_argument("--box-csv", help="CSV of user boxes: case_id,row,col[,slice][,modality]")
    p.add_argument("--large-tumour", choices=["corner", "centre", "resize", "error"], default=d.large_tumour,
                   help="tumour larger than the box: keep the paper's corner (cut bottom/right), centre the "
                        "box on it, resize its bounding square into the box, or fail the case "
                        "(default %(default)s)")
    p.add_argument("--delta-grid", choices=["require", "resample", "register"], default=d.delta_grid,
                   help="T1 and T1wCE on different grids: fail the case (require), or resample T1 onto "
                        "the T1wCE grid through the affines (not a registration); register: always register "
                        "T1 rigidly onto T1wCE (mutual information) before the subtraction, recorded in the clip "
                        "notes, a failed registration fails the case (default %(default)s)")
    p.add_argument("--frames", type=int, default=d.n_frames, help="frames per clip (default %(default)s)")
    p.add_argument("--box-size", type=int, default=d.box_size, help="box side in voxels (default %(default)s)")
    p.add_argument("--series-uid", nargs="+", default=[], metavar="UID", dest="series_uid",
                   help="RSNA DICOM: where a series folder mixes several series, read the one with this "
                        "SeriesInstanceUID (give one per such folder; folders holding one series ignore them)")
    add_modalities(p, default=None,
                   help="the clips to make, e.g. t1ce,t2,delta_t1 (default: all of flair,t1,t1ce,t2,delta_t1); series "
                   "a study leaves out are not read, so a cohort without them is not an error")
    p.add_argument("--spacing", default="1", type=_spacing, metavar="MM|native",
                   help="bring each case to MM mm isotropic voxels on its T1wCE grid before clips, as the paper's "
                   "150x128x128 clip assumes (default 1; 1 mm data such as BraTS pass unchanged); native keeps "
                   "each series' own grid")
    p.add_argument("--interpolation", choices=["linear", "bspline"], default=d.interpolation,
                   help="how images are resampled to --spacing (masks: nearest neighbour; default %(default)s)")
    p.add_argument("--antialias", action="store_true",
                   help="smooth each image before it is brought to a coarser grid (e.g. a 0.5 mm T1wCE to 1 mm), "
                   "with the Gaussian TorchIO's Resample(antialias=True) uses, so that its fine noise and texture do "
                   "not alias into the clips (off by default, as in TorchIO and MONAI; 1 mm data are untouched)")
    p.add_argument("--exact-percentiles", action="store_true",
                   help="compute the 1st/99th percentiles over all brain voxels instead of a "
                        f"{d.percentile_sample}-voxel regular subsample (slower)")


def _spacing(text: str) -> float | None:
    value = bounded_float(text, 0.0, float("inf"), False, "native", "give a voxel side in mm (e.g. 1) or 'native'")
    return None if value == "native" else value


def clip_settings(args: argparse.Namespace) -> ClipSettings:
    """The :class:`ClipSettings` the options of :func:`add_dataset_arguments` ask for."""
    return ClipSettings(n_frames=args.frames, box_size=args.box_size, box=args.box,
                        large_tumour=args.large_tumour, delta_grid=args.delta_grid,
                        series_uids=tuple(args.series_uid), spacing=args.spacing,
                        interpolation=args.interpolation, antialias=args.antialias,
                        modalities=tuple(args.modalities) if args.modalities else ClipSettings().modalities,
                        percentile_sample=0 if args.exact_percentiles else ClipSettings().percentile_sample)


def exclusions(args: argparse.Namespace) -> list[str]:
    """Case ids to leave out: ``--exclude`` plus, with ``--exclude-flagged``, the RSNA flagged ids."""
    from mgmtfeat.data.layouts import RSNA_FLAGGED_IDS

    return list(args.exclude) + (list(RSNA_FLAGGED_IDS) if args.exclude_flagged else [])
