"""``mgmtfeat saliency``: occlusion maps of a model folder's probability on cases of a dataset.

    mgmtfeat saliency --model-dir DIR --data DATASET --cases ID[,ID] --out OUT [--modality t1ce]
                      [--patch N --stride N] [--frame-patch N] [--fill mean|zero]

Exit status 0 when every map was written, 2 for bad input (unknown case or modality, a model that
does not take the modality, outputs already there without --force).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mgmtfeat.cli.options import add_force, add_out, csv_list
from mgmtfeat.cli.run import command_parser, run_command

NAME = "saliency"

_EPILOG = """\
outputs (in --out), per case:
  CASE_saliency.nii.gz   float32 drop in P(positive) on the occluded series' grid (same shape and affine;
                         the T1wCE for t1ce and delta_t1); patches overlapping a voxel are averaged, 0 where
                         no patch reached (outside the clip's box and frames)
  CASE_saliency.png      the slice with the largest saliency and its two neighbours, red = masking lowers
                         P(positive), blue = raises it
  CASE_patches.csv       each patch's clip box (frames f0:f1, rows r0:r1, columns c0:c1), probability, drop
  saliency.csv           one row per case: probability, largest drop, patches, seconds

slice models (fitted on `extract --pathway slices` features): each ROI slice's --modality channel(s) are
masked patch by patch and the drop is that slice's probability (mean of the fold models) minus the masked one;
the map then varies along the slice axis too. Cost: one 2D forward per slice and patch position.

cost: one network forward of one clip per patch position and net (plus one of the five clips): with the
defaults (patch 32, stride 16, all frames: 49 positions on a 128 box) 49 s for a case with I3D on two CPU
cores (measured, benchmarks/bench_slices.py); --stride 32 gives 16 positions. A slice model: one 2D
forward per slice and position, 83 s for a case of 38 slices with i3d2d.
"""


def _parser() -> argparse.ArgumentParser:
    from mgmtfeat.saliency.occlusion import FILLS, OcclusionSettings

    d = OcclusionSettings()
    p = command_parser(
        NAME,
        description="Occlusion saliency: mask one modality's clip patch by patch, recompute that modality's "
        "features with the model's backbone (the other inputs keep their features) and the model's probability "
        "of the positive class, and map the drop back onto the MRI as a NIfTI and PNG overlays. The backbone and "
        "the clip settings come from the model folder's record of its features.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", required=True, metavar="DIR", help="binary model folder written by `mgmtfeat fit`")
    p.add_argument("--data", required=True, help="dataset folder holding the cases")
    p.add_argument("--cases", required=True, type=csv_list, metavar="ID[,ID]", help="case ids, as the dataset names them")
    add_out(p, required=True, help="output folder")
    p.add_argument("--modality", default="t1ce", help="the clip to occlude (one of the model's inputs)")
    p.add_argument("--patch", type=int, default=d.patch, help="in-plane patch side, box pixels")
    p.add_argument("--stride", type=int, default=d.stride, help="step between patches, box pixels")
    p.add_argument("--frame-patch", type=int, default=d.frame_patch,
                   help="frames per patch (3D patches; multiplies the forwards); 0 = all frames")
    p.add_argument("--fill", choices=FILLS, default=d.fill,
                   help="masked voxels take the clip's mean grey value (removes structure, keeps brightness) or 0")
    p.add_argument("--batch", type=int, default=d.batch,
                   help="masked clips per forward (memory: about 0.15 GB per I3D clip); 0 = all of a case")
    p.add_argument("--box-csv", default=None, help="the box CSV the model's clips were made with, if any")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    add_force(p, help="replace these cases' outputs in --out")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``mgmtfeat saliency``; returns the exit status (2 for bad input)."""

    def work(args):
        from mgmtfeat.saliency import OcclusionSettings, run_saliency

        settings = OcclusionSettings(patch=args.patch, stride=args.stride, frame_patch=args.frame_patch,
                                     fill=args.fill, batch=args.batch)
        results = run_saliency(args.model_dir, args.data, args.cases, args.out, args.modality, settings,
                               box_csv=args.box_csv, force=args.force, threads=args.threads)
        for r in results:
            print(f"{r.case_id}: P(positive) {r.p0:.3f}, largest drop {r.drops.max():.3f} over {len(r.boxes)} "
                  f"patches, {r.seconds:.0f} s -> {Path(args.out) / (r.case_id + '_saliency.nii.gz')}")
        return 0

    return run_command(NAME, _parser(), argv, work, None, lambda args: Path(args.out) / "settings.yaml")


if __name__ == "__main__":
    sys.exit(main())
