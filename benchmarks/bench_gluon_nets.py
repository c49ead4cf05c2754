"""Seconds per clip of the paper's GluonCV nets (random weights, real input size, one clip).

Each net runs one grey 150-frame 128-pixel clip, preprocessed as ``extract`` does, with the
paper's sampling (6 frames at 224 pixels) and with mgmtfeat's uniform sampling (32 frames at
224 pixels), in float32, fused (the default); bfloat16 too where the CPU computes it natively.
The first call warms up; the figure is the median of ``--repeats`` timed calls. The machine's
load average is printed beside the figures, since other work on the machine slows them.

    python benchmarks/bench_gluon_nets.py --repeats 3 --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

NETS = ("i3d_nl10_resnet101_v1_kinetics400", "slowfast_4x16_resnet50_kinetics400",
        "r2plus1d_v2_resnet152_kinetics400")


def seconds_per_clip(name: str, sampling: str, dtype: str, repeats: int, device: str) -> float:
    """Median seconds of ``Backbone.extract`` on one clip (after one warm-up call)."""
    from mgmtfeat.backbones import create_backbone

    bb = create_backbone(name, weights="random", sampling=sampling, dtype=dtype, device=device)
    clip = np.random.default_rng(0).integers(0, 256, size=(1, 150, 128, 128), dtype=np.uint8)
    bb.extract(clip)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        bb.extract(clip)
        if device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    import torch

    from mgmtfeat.backbones import native_bfloat16

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtypes = ["float32"] + (["bfloat16"] if args.device != "cpu" or native_bfloat16() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    for name in NETS:
        for sampling in ("paper", "uniform"):
            for dtype in dtypes:
                s = seconds_per_clip(name, sampling, dtype, args.repeats, args.device)
                print(f"{name:36s} {sampling:8s} {dtype:9s} {s:7.3f} s/clip", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
