"""Benchmark: seconds per case of slice features and of occlusion saliency maps (slice and clip models).

    python benchmarks/bench_slices.py --cases 6 --out results/bench-slices

On a synthetic BraTS-layout cohort (96 x 96 x 64 volumes, tumour ROI slices at 224 x 224), one
process: extraction of every case's ROI slices with each net (``i3d2d``: the real deflated Kinetics-400
I3D weights; ``resnet50``: random weights of the real architecture, the same cost as ImageNet
weights), then a logistic slice model fitted on the ``i3d2d`` features (5 fold models, fixed cutoff)
and one case's occlusion map (``mgmtfeat saliency`` defaults: patch 32, stride 16, 49 positions per
slice); then the same for the clip pathway: I3D (real weights, 32 frames) on every case, a logistic
model on its features, and one case's map (49 clip forwards of I3D). Prints seconds per case, slices
per case, seconds per slice and per map, and the peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from mgmtfeat.cli import extract, fit, saliency, synthetic


def _timed(function, argv) -> float:
    start = time.perf_counter()
    status = function(argv)
    if status != 0:
        raise SystemExit(f"{function.__module__} {' '.join(argv)} exited with {status}")
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=6)
    parser.add_argument("--nets", default="i3d2d,resnet50")
    parser.add_argument("--out", default="results/bench-slices")
    args = parser.parse_args(argv)
    out = Path(args.out)
    data = out / "data"
    if not data.is_dir():
        synthetic.main(["--out", str(data), "--cases", str(args.cases), "--shape", "96", "96", "64", "--quiet"])
    print("| net | weights | s / case | slices / case | s / slice |\n|---|---|---|---|---|")
    from mgmtfeat.store import FeatureStore
    from mgmtfeat.store.slices import load_slices

    for net in args.nets.split(","):
        weights = ["--weights", "random"] if net == "resnet50" else []
        seconds = _timed(extract.main, ["--pathway", "slices", "--net", net, *weights, "--data", str(data),
                                        "--out", str(out / "store"), "--force", "--quiet"])
        n_slices = len(load_slices(FeatureStore(out / "store"), net).X)
        print(f"| {net} | {'random' if weights else 'Kinetics-400 I3D, deflated'} | {seconds / args.cases:.1f} | "
              f"{n_slices / args.cases:.1f} | {seconds / n_slices:.3f} |")
    model = out / "model"
    _timed(fit.main, ["--features", str(out / "store"), "--net", "i3d2d", "--model", "logistic", "--fold-models", "2",
                      "--cutoff", "0.5", "--model-dir", str(model), "--force", "--quiet"])
    case = sorted(p.name for p in data.iterdir() if p.is_dir())[0]
    seconds = _timed(saliency.main, ["--model-dir", str(model), "--data", str(data), "--cases", case,
                                          "--out", str(out / "saliency"), "--force", "--quiet"])
    n_slices = len(load_slices(FeatureStore(out / "store"), "i3d2d", cases=[case]).X)
    print(f"\nsaliency map of {case}, i3d2d slice model, patch 32, stride 16 ({n_slices} slices x 49 positions): "
          f"{seconds:.0f} s")
    seconds = _timed(extract.main, ["--net", "i3d", "--data", str(data), "--out", str(out / "store"), "--force",
                                    "--quiet"])
    print(f"i3d clip features: {seconds / args.cases:.1f} s per case (five clips)")
    _timed(fit.main, ["--features", str(out / "store"), "--net", "i3d", "--model", "logistic", "--model-dir",
                      str(out / "clip-model"), "--force", "--quiet"])
    seconds = _timed(saliency.main, ["--model-dir", str(out / "clip-model"), "--data", str(data), "--cases",
                                          case, "--out", str(out / "clip-saliency"), "--force", "--quiet"])
    print(f"saliency map of {case}, i3d clip model, patch 32, stride 16 (49 clip forwards): {seconds:.0f} s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
