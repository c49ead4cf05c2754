"""Seconds to read one BraTS-size case (four modalities + segmentation, .nii.gz) and make its five clips.

Writes one synthetic 240x240x155 BraTS 2021 case into a temporary folder, then times
``load_case`` + ``make_clips`` (wall clock, best and median of ``--repeats``), and
each step separately.

    python benchmarks/bench_clips.py --repeats 5
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from mgmtfeat.data import layouts as cohort, synthetic, volumes
from mgmtfeat.clips import ClipSettings, make_clips


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (default 5)")
    parser.add_argument("--shape", type=int, nargs=3, default=(240, 240, 155), help="volume shape X Y Z")
    parser.add_argument("--exact", action="store_true",
                        help="exact percentiles over all brain voxels (percentile_sample=0)")
    return parser


def main(argv=None) -> None:
    args = _parser().parse_args(argv)
    settings = ClipSettings(percentile_sample=0) if args.exact else ClipSettings()
    with tempfile.TemporaryDirectory() as tmp:
        root = synthetic.write_cohort(Path(tmp) / "brats", "brats2021", n_cases=1, shape=tuple(args.shape), seed=1)
        ref = cohort.find_cases(root)[0]
        size = sum(p.stat().st_size for p in ref.paths.values()) / 1e6
        make_clips(volumes.load_case(ref), settings)  # warm-up (imports, caches)
        load_s, clip_s = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            case = volumes.load_case(ref)
            t1 = time.perf_counter()
            make_clips(case, settings)
            t2 = time.perf_counter()
            load_s.append(t1 - t0)
            clip_s.append(t2 - t1)
    total = np.add(load_s, clip_s)
    print(f"case {ref.case_id}: shape {tuple(args.shape)}, 5 files, {size:.1f} MB gzip, "
          f"percentile_sample={settings.percentile_sample}")
    print(f"load_case  median {np.median(load_s):.3f} s")
    print(f"make_clips median {np.median(clip_s):.3f} s")
    print(f"total      median {np.median(total):.3f} s, best {total.min():.3f} s over {args.repeats} runs")


if __name__ == "__main__":
    main()
