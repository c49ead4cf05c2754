"""Benchmark feature extraction in-process against a Dask LocalCluster on the same cohort.

The same synthetic cohort is extracted into two fresh stores: once in this process with torch using
every core, once with ``--scheduler local:N`` (N worker processes, cores/N torch threads each). It
prints, per mode, the wall time end to end (backbone loading and cluster start included), the
wall time of the case loop alone, seconds per case and the speed-up over the first row (``--single``
adds in-process with one thread), the largest difference between
the two stores' features (thread counts change the order of float sums), and the load average of
the machine before and after, since other work on a shared CPU skews the figures.

Usage::

    python benchmarks/bench_distributed.py                       # I3D, real weights, 6 cases, local:2
    python benchmarks/bench_distributed.py --net slowfast --weights random --net-frames 8 --net-size 64 --cases 12
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=6, help="synthetic cases to extract")
    p.add_argument("--shape", type=int, nargs=3, default=(64, 64, 40), metavar=("X", "Y", "Z"),
                   help="voxels per synthetic volume (clips are 150x128x128 whatever the volume)")
    p.add_argument("--net", default="i3d", help="backbone")
    p.add_argument("--weights", default=None, help="weights ('random' for random weights; default: the net's own)")
    p.add_argument("--net-frames", type=int, default=None, help="override the net's input frames")
    p.add_argument("--net-size", type=int, default=None, help="override the net's input size")
    p.add_argument("--workers", type=int, default=2, help="N of local:N")
    p.add_argument("--single", action="store_true",
                   help="also time in-process with one torch thread (separates thread contention from Dask)")
    p.add_argument("--json", help="also write the results to this JSON file")
    return p


def _run(settings, label: str) -> dict:
    from mgmtfeat.extraction import extract_features

    start = time.perf_counter()
    report = extract_features(settings, progress=False)
    wall = time.perf_counter() - start
    if report.failed or len(report.done) == 0:
        raise SystemExit(f"{label}: {len(report.failed)} cases failed: {report.failed[:2]}")
    return {"mode": label, "cases": len(report.done), "wall_s": wall, "loop_s": report.seconds["total"],
            "per_case_s": report.seconds["total"] / len(report.done), "forward_s": report.seconds["forward"]}


def _max_difference(a: Path, b: Path, net: str) -> float:
    from mgmtfeat.store import FeatureStore

    left, right = FeatureStore(a), FeatureStore(b)
    worst = 0.0
    for case_id in left.case_ids(net):
        fa, fb = left.read_case(net, case_id)[0], right.read_case(net, case_id)[0]
        worst = max(worst, *(float(np.max(np.abs(fa[m] - fb[m]))) for m in fa))
    return worst


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from mgmtfeat.extraction import ExtractionSettings
    from mgmtfeat.data.synthetic import write_cohort

    cores = os.cpu_count() or 1
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as tmp:
        root = Path(tmp)
        data = write_cohort(root / "data", n_cases=args.cases, shape=tuple(args.shape), seed=0)
        common = dict(data=str(data), net=args.net, weights=args.weights, num_frames=args.net_frames,
                      size=args.net_size)
        rows = [
            _run(ExtractionSettings(out=str(root / "here"), threads=cores, **common), f"in-process ({cores} threads)"),
            _run(ExtractionSettings(out=str(root / "dask"), scheduler=f"local:{args.workers}", **common),
                 f"local:{args.workers} ({max(1, cores // args.workers)} thread each)"),
        ]
        if args.single:
            rows.append(_run(ExtractionSettings(out=str(root / "one"), threads=1, **common), "in-process (1 thread)"))
        difference = _max_difference(root / "here", root / "dask", args.net)
    load_after = os.getloadavg()
    print(f"{args.cases} synthetic cases, net {args.net} ({args.weights or 'its own weights'}), {cores} cores; "
          f"load average (1/5 min) before {load_before[0]:.1f}/{load_before[1]:.1f}, "
          f"after {load_after[0]:.1f}/{load_after[1]:.1f}")
    print(f"{'mode':28s} {'wall s':>8s} {'loop s':>8s} {'s/case':>8s} {'speed-up':>8s}")
    for row in rows:
        print(f"{row['mode']:28s} {row['wall_s']:8.1f} {row['loop_s']:8.1f} {row['per_case_s']:8.2f} "
              f"{rows[0]['loop_s'] / row['loop_s']:8.2f}")
    print(f"largest feature difference between the two stores: {difference:.3g}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "max_difference": difference, "cores": cores,
                                               "load_before": load_before, "load_after": load_after,
                                               "settings": vars(args)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
