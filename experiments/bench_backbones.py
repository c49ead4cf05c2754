"""Benchmark the Kinetics-400 backbones on one case (five clips) on the CPU.

For each network and dtype (float32, bfloat16) it reports, in the same run:

* seconds per case: ``Backbone.extract`` on the five 150x128x128 uint8 clips of a
  case (preprocessing included), median over ``--repeats``;
* the bare forward time of those five clips (preprocessed tensor already built);
* their ratio (end-to-end / bare forward);
* peak resident memory while extracting (VmHWM, reset before each dtype's run;
  each network runs in its own subprocess; the figure includes both dtypes'
  weights, which stay loaded so the two dtypes can be timed alternately and a
  changing machine load hits both alike);
* the bfloat16 speed-up and Lin's concordance correlation coefficient (CCC)
  between the bfloat16 and float32 logits of the case.

I3D runs with its real Kinetics-400 weights; ViViT, SlowFast and R(2+1)D with
random weights (no downloads here), which is labelled in the output. The clips are
smooth seeded pseudo-volumes (bright blobs on a dark background) so features are
not those of white noise.

Usage::

    python experiments/bench_backbones.py                 # all four nets
    python experiments/bench_backbones.py --nets i3d vivit --repeats 3 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from mgmtfeat.evaluation import concordance_correlation

DTYPES = ("float32", "bfloat16")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nets", nargs="+", default=["i3d", "slowfast", "r2plus1d", "vivit"],
                   help="networks to benchmark (default: all four)")
    p.add_argument("--repeats", type=int, default=2, help="timed repeats per case (median is reported)")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="torch threads (default: all cores)")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--worker", metavar="NET", help=argparse.SUPPRESS)
    return p


def make_case(n_clips: int = 5, seed: int = 0) -> np.ndarray:
    """Five smooth uint8 clips (n_clips, 150, 128, 128): Gaussian blobs plus mild noise."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[0:150, 0:128, 0:128].astype(np.float32)
    clips = np.empty((n_clips, 150, 128, 128), np.uint8)
    for i in range(n_clips):
        vol = np.zeros((150, 128, 128), np.float32)
        for _ in range(6):
            c = rng.uniform([20, 20, 20], [130, 108, 108])
            s = rng.uniform(8, 30)
            vol += rng.uniform(0.3, 1.0) * np.exp(-((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) / (2 * s * s))
        vol += rng.normal(0, 0.03, vol.shape).astype(np.float32)
        clips[i] = np.clip(vol / vol.max() * 255, 0, 255).astype(np.uint8)
    return clips


def _peak_rss_gb(reset: bool = False) -> float:
    """Peak resident memory of this process in GB.

    On Linux the peak (VmHWM) can be reset by writing 5 to /proc/self/clear_refs,
    which gives one peak per phase; elsewhere the process-wide maxrss is used.
    """
    try:
        if reset:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024 ** 2
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def run_worker(net: str, repeats: int, threads: int) -> dict:
    """Time one network in float32 and bfloat16, interleaved so machine load hits both alike."""
    import torch

    from mgmtfeat.backbones import create_backbone

    weights = None if net == "i3d" else "random"
    clips = make_case()
    backbones, rows = {}, {}
    for dtype in DTYPES:
        _peak_rss_gb(reset=True)
        torch.manual_seed(0)  # the same random weights in both dtypes
        t0 = time.perf_counter()
        backbones[dtype] = create_backbone(net, weights=weights, dtype=dtype, threads=threads)
        build_s = time.perf_counter() - t0
        backbones[dtype].extract(clips)  # warm-up (oneDNN primitive creation, allocator)
        rows[dtype] = {"net": net, "dtype": dtype, "build_s": build_s, "threads": torch.get_num_threads(),
                       "random_weights": backbones[dtype].provenance["random_weights"],
                       "case_s": [], "forward_s": [], "peak_rss_gb": _peak_rss_gb()}
    for _ in range(repeats):
        for dtype, bb in backbones.items():
            row = rows[dtype]
            _peak_rss_gb(reset=True)
            t0 = time.perf_counter()
            row["logits"] = bb.extract(clips).tolist()
            row["case_s"].append(time.perf_counter() - t0)
            x = bb.preprocess(clips)
            t0 = time.perf_counter()
            bb.forward(x)
            row["forward_s"].append(time.perf_counter() - t0)
            del x
            row["peak_rss_gb"] = max(row["peak_rss_gb"], _peak_rss_gb())
    for row in rows.values():
        row["case_s"] = float(np.median(row["case_s"]))
        row["forward_s"] = float(np.median(row["forward_s"]))
    return rows


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(args.worker, args.repeats, args.threads)))
        return 0
    results = []
    print(f"{'net':10s} {'dtype':9s} {'weights':8s} {'case s':>7s} {'fwd s':>7s} {'case/fwd':>8s} "
          f"{'peak GB':>7s} {'bf16 x':>6s} {'CCC':>7s}")
    for net in args.nets:
        cmd = [sys.executable, __file__, "--worker", net, "--repeats", str(args.repeats),
               "--threads", str(args.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{net} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        rows = json.loads(proc.stdout.strip().splitlines()[-1])
        speedup = rows["float32"]["case_s"] / rows["bfloat16"]["case_s"]
        # Lin's CCC over all logits of the case, flattened (the package's one CCC)
        agreement = float(concordance_correlation(np.ravel(rows["float32"]["logits"]),
                                                  np.ravel(rows["bfloat16"]["logits"])))
        for dtype, r in rows.items():
            extra = (f"{speedup:6.2f} {agreement:7.4f}" if dtype == "bfloat16" else "")
            print(f"{net:10s} {dtype:9s} {'random' if r['random_weights'] else 'real':8s} "
                  f"{r['case_s']:7.2f} {r['forward_s']:7.2f} {r['case_s'] / r['forward_s']:8.3f} "
                  f"{r['peak_rss_gb']:7.2f} {extra}", flush=True)
            r.pop("logits")
            results.append({**r, "bf16_speedup": speedup, "bf16_ccc": agreement})
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(results, fh, indent=2)
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
