"""Benchmark: seconds per case of the slice pathway (slice features, and an occlusion saliency map).

    python experiments/bench_slices.py --cases 6 --out results/bench-slices

On a synthetic BraTS-layout cohort (96 x 96 x 64 volumes, tumour ROI slices at 224 x 224), one
process: extraction of every case's ROI slices with each net (``i3d2d``: the real deflated Kinetics-400
I3D weights; ``resnet50``: random weights of the real architecture, the same cost as ImageNet
weights), then a logistic slice model fitted on the ``i3d2d`` features (5 fold models, fixed cutoff)
and one case's occlusion map (``mgmtfeat saliency`` defaults: patch 32, stride 16, 49 positions per
slice). Prints seconds per case, slices per case, seconds per slice and the peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from mgmtfeat import extract, fit, saliency_maps, synthetic


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
    seconds = _timed(saliency_maps.main, ["--model-dir", str(model), "--data", str(data), "--cases", case,
                                          "--out", str(out / "saliency"), "--force", "--quiet"])
    print(f"\nsaliency map of {case} (i3d2d slice model, patch 32, stride 16): {seconds:.0f} s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
