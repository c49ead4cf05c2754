"""Benchmark one extraction pass for several nets against each net's bare forward pass.

On one synthetic cohort, in one process, it measures:

(a) each net's bare forward pass, ``backbone.forward(x)`` on ``x = backbone.preprocess(clips)`` of
    each case (preprocessing timed apart);
(b) ``extract --net A,B`` as one pass (each case read and clipped once, its clips fed to every net,
    features written to the store): the case loop's seconds, read-and-clip seconds and each net's
    forward seconds (preprocessing included);
(c) with ``--separate``, one single-net run per net over every case (each reads and clips again).

(a) and (b) alternate case by case, in turn order (bare first on even cases, the pass first on odd
ones): the one pass resumes the same store with one more case each time (``limit`` k + 1), so each
case is measured by both back to back and a changing load on a shared machine hits them alike.

It prints the ratio of the one pass to the sum of the bare forward passes (the overhead of
reading, clipping, preprocessing and storing; issue 15 asks for at most 1.1), overall and per case,
seconds per case, the largest difference between the stored features and the bare forward logits
(0: the same numbers), and the peak resident memory (``ru_maxrss``, both nets' extraction and bare
copies together). A one-case warm-up run (into a throwaway store) builds the pass's backbones and
lets oneDNN make its kernels, and each bare backbone gets one untimed call, so no timed figure
includes building a net or a first call. The load average before and after is printed, since other
work on a shared CPU skews the figures.

Usage::

    python benchmarks/bench_extract_multi.py            # I3D (its own weights) + random R(2+1)D, 3 cases, full size
    python benchmarks/bench_extract_multi.py --nets slowfast r2plus1d --weights random --net-frames 8 \\
        --net-size 64 --separate
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=3, help="synthetic cases (default 3)")
    p.add_argument("--shape", type=int, nargs=3, default=(96, 96, 64), metavar=("X", "Y", "Z"),
                   help="voxels per synthetic volume (clips are 150x128x128 whatever the volume)")
    p.add_argument("--nets", nargs="+", default=["i3d", "r2plus1d"], help="video nets of the one pass")
    p.add_argument("--weights", nargs="*", default=["r2plus1d=random"], metavar="[NET=]PATH",
                   help="as extract's --weights (default: r2plus1d=random, I3D with its own weights)")
    p.add_argument("--net-frames", type=int, default=None, help="override the nets' input frames")
    p.add_argument("--net-size", type=int, default=None, help="override the nets' input size")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: all cores)")
    p.add_argument("--separate", action="store_true", help="also time one single-net run per net")
    p.add_argument("--json", help="also write the results to this JSON file")
    return p


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _warm_up(settings, root: Path) -> None:
    """A one-case run into a throwaway store: the run's backbones built, oneDNN's kernels made."""
    from mgmtfeat.extraction import extract_features

    extract_features(replace(settings, out=str(root / f"warm-{Path(settings.out).name}"), limit=1), progress=False)


def _pass_case(settings, k: int, case_id: str) -> dict:
    """The one pass resumed on the store with case ``k`` added: its figures for that case."""
    from mgmtfeat.extraction import extract_features

    report = extract_features(replace(settings, limit=k + 1), progress=False)
    if report.done != [case_id]:
        raise SystemExit(f"case {case_id}: the pass did {report.done}, failed {report.failed[:1]}")
    return {"loop_s": report.seconds["total"], "read_and_clip_s": report.seconds["read_and_clip"],
            "forward_s": {net: part.seconds["forward"] for net, part in report.nets.items()}}


def _bare_case(ref, settings, backbones: dict) -> dict:
    """Reading and clipping, then each net's preprocessing and bare forward: seconds and logits of one case."""
    from mgmtfeat.extraction.worker import read_clips

    start = time.perf_counter()
    clips = read_clips(ref, settings.clip_settings)[0]
    row = {"read_and_clip_s": time.perf_counter() - start, "forward_s": {}, "preprocess_s": {}, "logits": {}}
    for net, backbone in backbones.items():
        start = time.perf_counter()
        x = backbone.preprocess(clips)
        middle = time.perf_counter()
        row["logits"][net] = backbone.forward(x).numpy()
        row["preprocess_s"][net], row["forward_s"][net] = middle - start, time.perf_counter() - middle
    return row


def _interleaved(settings, nets, refs, root: Path) -> tuple[list, list, float]:
    """(a) and (b) case by case, in turn order; the per-case rows of each and the largest feature gap."""
    from mgmtfeat.extraction.nets import net_settings
    from mgmtfeat.extraction.run import open_backbone
    from mgmtfeat.store import FeatureStore

    store = FeatureStore(settings.out)
    runs = net_settings(settings, nets, FeatureStore(root / "none"))
    backbones = {net: open_backbone(runs[net]) for net in nets}
    _warm_up(settings, root)
    _bare_case(refs[0], settings, backbones)  # untimed first call of each bare backbone
    passes, bares, gap = [], [], 0.0
    for k, ref in enumerate(refs):
        if k % 2 == 0:
            bares.append(_bare_case(ref, settings, backbones))
            passes.append(_pass_case(settings, k, ref.case_id))
        else:
            passes.append(_pass_case(settings, k, ref.case_id))
            bares.append(_bare_case(ref, settings, backbones))
        for net, logits in bares[-1].pop("logits").items():
            stored = np.stack(list(store.read_case(net, ref.case_id)[0].values()))
            gap = max(gap, float(np.abs(stored - logits).max()))
    return passes, bares, gap


def _separate(settings, nets, weights, root: Path) -> dict:
    """(c): one single-net run per net over every case, after its own warm-up."""
    from mgmtfeat.extraction import extract_features

    out = {}
    for net in nets:
        single = replace(settings, net=net, weights={net: weights[net]}, out=str(root / f"only-{net}"))
        _warm_up(single, root)
        out[net] = {"loop_s": extract_features(single, progress=False).seconds["total"]}
    return out


def _summary(passes, bares, nets) -> dict:
    one = {"loop_s": sum(p["loop_s"] for p in passes), "read_and_clip_s": sum(p["read_and_clip_s"] for p in passes),
           "forward_s": {net: sum(p["forward_s"][net] for p in passes) for net in nets}}
    bare = {net: {"forward_s": sum(b["forward_s"][net] for b in bares),
                  "preprocess_s": sum(b["preprocess_s"][net] for b in bares)} for net in nets}
    ratios = [p["loop_s"] / sum(b["forward_s"].values()) for p, b in zip(passes, bares)]
    return {"one_pass": one, "bare": bare, "bare_sum_s": sum(row["forward_s"] for row in bare.values()),
            "per_case_ratio": ratios, "cases": len(passes)}


def _print(args, result: dict) -> None:
    n, one, bare, separate = result["cases"], result["one_pass"], result["bare"], result["separate"]
    bare_sum = result["bare_sum_s"]
    print(f"{n} synthetic cases ({'x'.join(map(str, args.shape))} voxels), nets {', '.join(args.nets)}, weights "
          f"{' '.join(args.weights) or 'each net its own'}, {args.threads} threads; load average (1 min) before "
          f"{result['load'][0]:.1f}, after {result['load'][1]:.1f}")
    print(f"{'net':12s} {'bare fwd s':>10s} {'s/case':>7s} {'preproc s':>9s} {'1-pass fwd s':>12s}"
          + (f" {'separate loop s':>15s}" if separate else ""))
    for net, row in bare.items():
        print(f"{net:12s} {row['forward_s']:10.1f} {row['forward_s'] / n:7.2f} {row['preprocess_s']:9.2f} "
              f"{one['forward_s'][net]:12.1f}" + (f" {separate[net]['loop_s']:15.1f}" if separate else ""))
    print(f"sum of bare forwards: {bare_sum:.1f} s ({bare_sum / n:.2f} s per case)")
    print(f"one pass: case loop {one['loop_s']:.1f} s ({one['loop_s'] / n:.2f} s per case), of which reading and "
          f"clipping {one['read_and_clip_s']:.1f} s once ({one['read_and_clip_s'] / n:.2f} s per case)")
    print(f"ratio one pass / sum of bare forwards: {one['loop_s'] / bare_sum:.3f} (target <= 1.1); per case "
          + ", ".join(f"{r:.3f}" for r in result["per_case_ratio"]))
    if separate:
        total = sum(run["loop_s"] for run in separate.values())
        print(f"separate runs: case loops {total:.1f} s in all; one pass / separate: {one['loop_s'] / total:.3f}")
    print(f"largest difference between stored features and bare forward logits: {result['max_difference']:.3g}")
    print(f"peak resident memory (ru_maxrss): {result['peak_mb']:.0f} MB")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from mgmtfeat.data.layouts import find_cases
    from mgmtfeat.data.synthetic import write_cohort
    from mgmtfeat.extraction import ExtractionSettings
    from mgmtfeat.extraction.nets import check_video_nets, parse_weights

    check_video_nets(args.nets)
    weights = parse_weights(args.weights, args.nets)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-extract-multi-") as tmp:
        root = Path(tmp)
        data = write_cohort(root / "data", n_cases=args.cases, shape=tuple(args.shape), seed=0)
        settings = ExtractionSettings(data=str(data), out=str(root / "one-pass"), net=",".join(args.nets),
                                      weights=weights, threads=args.threads, num_frames=args.net_frames,
                                      size=args.net_size)
        passes, bares, gap = _interleaved(settings, args.nets, find_cases(str(data)), root)
        result = _summary(passes, bares, args.nets)
        result["separate"] = _separate(settings, args.nets, weights, root) if args.separate else None
    result.update(max_difference=gap, peak_mb=_peak_mb(), load=(load_before, os.getloadavg()[0]),
                  settings=vars(args))
    _print(args, result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
