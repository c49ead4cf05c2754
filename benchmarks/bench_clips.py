"""Seconds to read one BraTS-size case (four modalities + segmentation, .nii.gz) and make its five clips.

Writes one synthetic 240x240x155 BraTS 2021 case into a temporary folder, then times
``load_case``, the geometry step (``to_spacing``: to 1 mm on the T1wCE grid, a no-op on 1 mm
data) and ``make_clips`` (wall clock, best and median of ``--repeats``), and each step separately.
``--voxel`` writes the case with other voxel sides, e.g. a 512 x 512 in-plane series of 0.45 mm,
which the geometry step brings to 1 mm (``--antialias`` smooths it first).

    python benchmarks/bench_clips.py --repeats 5
    python benchmarks/bench_clips.py --shape 512 512 155 --voxel 0.45 0.45 1 --repeats 3 [--antialias]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from mgmtfeat.data import layouts as cohort, synthetic, volumes
from mgmtfeat.data.geometry import to_spacing
from mgmtfeat.clips import ClipSettings, make_clips


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (default 5)")
    parser.add_argument("--shape", type=int, nargs=3, default=(240, 240, 155), help="volume shape X Y Z")
    parser.add_argument("--exact", action="store_true",
                        help="exact percentiles over all brain voxels (percentile_sample=0)")
    parser.add_argument("--voxel", type=float, nargs=3, default=None, metavar=("X", "Y", "Z"),
                        help="voxel sides in mm of the written case (default 1 1 1)")
    parser.add_argument("--antialias", action="store_true", help="smooth before bringing a finer case to 1 mm")
    return parser


def main(argv=None) -> None:
    args = _parser().parse_args(argv)
    settings = ClipSettings(percentile_sample=0 if args.exact else ClipSettings().percentile_sample,
                            antialias=args.antialias)
    voxel = tuple(args.voxel) if args.voxel else None
    with tempfile.TemporaryDirectory() as tmp:
        root = synthetic.write_cohort(Path(tmp) / "brats", "brats2021", n_cases=1, shape=tuple(args.shape), seed=1,
                                      spacing=voxel)
        ref = cohort.find_cases(root)[0]
        size = sum(p.stat().st_size for p in ref.paths.values()) / 1e6

        def one_case():
            t0 = time.perf_counter()
            case = volumes.load_case(ref)
            t1 = time.perf_counter()
            case, record = to_spacing(case, settings.spacing, settings.interpolation, settings.antialias)
            t2 = time.perf_counter()
            make_clips(case, settings)
            return t1 - t0, t2 - t1, time.perf_counter() - t2, record

        one_case()  # warm-up (imports, caches)
        load_s, geometry_s, clip_s, record = zip(*(one_case() for _ in range(args.repeats)))
    total = np.add(np.add(load_s, geometry_s), clip_s)
    print(f"case {ref.case_id}: shape {tuple(args.shape)}, voxel {voxel or (1.0, 1.0, 1.0)} mm, 5 files, {size:.1f} MB "
          f"gzip, percentile_sample={settings.percentile_sample}, antialias={settings.antialias}; grid after the "
          f"geometry step {tuple(record[-1]['grid_shape'])}")
    print(f"load_case  median {np.median(load_s):.3f} s")
    print(f"geometry   median {np.median(geometry_s):.3f} s")
    print(f"make_clips median {np.median(clip_s):.3f} s")
    print(f"total      median {np.median(total):.3f} s, best {total.min():.3f} s over {args.repeats} runs")


if __name__ == "__main__":
    main()
