"""Benchmark the backbones on one case (five clips) on the CPU or a GPU: dtypes, memory layouts, fusion, FLOP rate.

For each network and each (dtype, memory layout, fusion) asked for it reports, in the same run:

* seconds per clip of the bare forward pass (preprocessed tensor already built) and
  seconds per case (``Backbone.extract`` on the case's clips, preprocessing included;
  not with ``--forward-only``), medians over ``--repeats``; the variants of a net are
  timed alternately, so a changing machine load hits them alike;
* the channels-last speed-up (contiguous / channels-last forward time, same dtype and
  fusion) and the speed-up over "before", the network as written: contiguous layout,
  ``fuse=False`` (``create_backbone(fuse=True)`` folds batch norms into the
  convolutions and fuses ReLUs; ``--fuse off on`` times both);
* the FLOP count of one clip's forward pass (fvcore, which counts one multiply-add as
  one "flop": the table shows GMAC; ``scaled_dot_product_attention``, which fvcore skips,
  is counted by :func:`sdpa_macs`: ViViT-B's attention products are 181 of its 448 GMAC)
  and the achieved GFLOP/s = 2 x MAC / forward seconds per clip;
* that rate as a share of the same dtype's GEMM rate (``GEMM/s``, ``%GEMM``): an n x n
  product (``--gemm-size``, default 4096) timed once per repeat beside the nets, in the
  same worker, so the same load hits both;
* beside the machine's float32 peak estimated as
  cores x GHz x 32 FLOP/cycle (AVX2: 8 float32 lanes x 2 for a fused multiply-add x 2
  FMA units; 64 with AVX-512), GHz read from /proc/cpuinfo (the nominal clock a VM
  reports; turbo would raise the peak);
* peak resident memory of the process while extracting (VmHWM, reset before each run; each network
  runs in its own subprocess and holds all its variants' weights, so the figure
  includes them), and the forward pass's own peak above the memory resident before it
  (``fwd GB``: activations and workspace, the part a variant changes; on a GPU, the peak of
  GPU memory allocated by the forward above what was allocated before it);
* for bfloat16 and int8, Lin's concordance correlation coefficient (CCC) of its logits with
  the float32 ones, the figures recorded as ``WeightsConfig.bf16_ccc`` and
  ``mgmtfeat.backbones.quantize.INT8_CCC`` (``--dtypes float32 int8``: ViViT only).

I3D runs with its real Kinetics-400 weights; the other nets with random weights (no
downloads here), labelled in the output. The clips are smooth seeded pseudo-volumes
(bright blobs on a dark background) so features are not those of white noise. On a CPU
without native bfloat16 (AVX2) bfloat16 is emulated and 20-50x slower: time it only on
small inputs there (``--size 64 --frames 8``).

``--device cuda`` runs the same on a GPU: timings wait for the GPU (``torch.cuda.synchronize``),
the GEMM rate is the GPU's in each dtype (bfloat16 where ``torch.cuda.is_bf16_supported()``), the
clips of a case run as one batch as extraction runs them there (``--clips 5``), and the CPU peak
and ``%peak`` are left empty. int8 is CPU-only and is refused for a GPU.

Usage::

    python benchmarks/bench_backbones.py                 # all four nets, float32 and bfloat16
    python benchmarks/bench_backbones.py --nets i3d slowfast r2plus1d --dtypes float32 --clips 2
    python benchmarks/bench_backbones.py --nets slowfast r2plus1d --dtypes float32 bfloat16 --size 64 --frames 8
    # ViViT in float32 and int8, as written and fused, with its share of each dtype's GEMM rate
    python benchmarks/bench_backbones.py --nets vivit --dtypes float32 int8 --layouts contiguous \
        --fuse off on --clips 1 --repeats 3 --forward-only
    # on a GPU: every net, float32 and bfloat16, a case's five clips as one batch
    python benchmarks/bench_backbones.py --device cuda --dtypes float32 bfloat16 --layouts contiguous channels_last \
        --clips 5 --repeats 3 --forward-only
    # before (contiguous, unfused) -> now (channels-last, fused), and the two steps between
    python benchmarks/bench_backbones.py --nets i3d slowfast r2plus1d --dtypes float32 \
        --layouts contiguous channels_last --fuse off on --clips 2 --repeats 3 --forward-only
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

from mgmtfeat.backbones import check_device
from mgmtfeat.evaluation import concordance_correlation

DTYPES = ("float32", "bfloat16", "int8")  # int8: opt-in, ViViT only (mgmtfeat.backbones.quantize)
LAYOUTS = ("contiguous", "channels_last")
FUSE = ("off", "on")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nets", nargs="+", default=["i3d", "slowfast", "r2plus1d", "vivit"],
                   help="networks to benchmark (default: all four video nets)")
    p.add_argument("--dtypes", nargs="+", default=list(DTYPES[:2]), choices=DTYPES)
    p.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=LAYOUTS)
    p.add_argument("--fuse", nargs="+", default=["on"], choices=FUSE,
                   help="create_backbone(fuse=...): on (default), off (the network as written) or both")
    p.add_argument("--forward-only", action="store_true",
                   help="time the bare forward pass only, not Backbone.extract on the case (halves the run)")
    p.add_argument("--clips", type=int, default=5, help="clips per case (default 5)")
    p.add_argument("--frames", type=int, help="override the net's input frames (small trials)")
    p.add_argument("--size", type=int, help="override the net's input size in pixels (small trials)")
    p.add_argument("--repeats", type=int, default=2, help="timed repeats per case (median is reported)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default: cpu)")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="torch threads (default: all cores)")
    p.add_argument("--no-flops", action="store_true", help="skip the fvcore FLOP count and the GEMM rate")
    p.add_argument("--gemm-size", type=int, default=4096,
                   help="n of the n x n GEMM whose rate (per dtype, once per repeat beside the nets) each "
                   "net's GFLOP/s is compared with (default 4096)")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--worker", metavar="NET", help=argparse.SUPPRESS)
    return p


def cpu_peak_gflops(cores: int) -> tuple[float, str]:
    """Estimated float32 peak of ``cores`` cores in GFLOP/s, and how it was estimated."""
    mhz, flags = [], set()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("cpu MHz"):
                    mhz.append(float(line.split(":")[1]))
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":")[1].split())
    except OSError:
        return float("nan"), "no /proc/cpuinfo: peak unknown"
    ghz = max(mhz) / 1000 if mhz else float("nan")
    per_cycle = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= flags else 8
    how = (f"{cores} cores x {ghz:.3f} GHz (/proc/cpuinfo cpu MHz) x {per_cycle} float32 FLOP/cycle "
           f"({'AVX-512' if per_cycle == 64 else 'AVX2' if per_cycle == 32 else 'SSE'}: "
           f"{per_cycle // 4} lanes x 2 (FMA) x 2 FMA units)")
    return cores * ghz * per_cycle, how


def sdpa_macs(inputs, outputs) -> int:
    """fvcore handle of ``aten::scaled_dot_product_attention``: the multiply-adds of its two products.

    q (..., L, E), k (..., S, E), v (..., S, Ev): Q K^T is L x S x E multiply-adds per head and
    softmax(Q K^T) V is L x S x Ev; the softmax and scaling (a few ops per score) are not counted,
    as fvcore counts no elementwise op. fvcore has no handle of its own for this op and skipped it,
    leaving out ViViT-B's 363 of 903 GFLOP.
    """
    from fvcore.nn.jit_handles import get_shape

    q, k, v = (get_shape(inputs[i]) for i in range(3))
    lead = int(np.prod(q[:-1]))  # batch x heads x L
    return lead * k[-2] * q[-1] + lead * k[-2] * v[-1]


def count_macs(bb, x) -> float | None:
    """fvcore's count of one clip's forward (multiply-adds), or None where it cannot trace the net.

    Attention through ``scaled_dot_product_attention`` is counted by :func:`sdpa_macs`; eager
    attention's ``matmul`` / ``bmm`` fvcore counts itself.
    """
    try:
        import torch
        from fvcore.nn import FlopCountAnalysis
    except ImportError:
        return None
    try:
        # with gradients on, a fused net traces through plain convolutions (fvcore cannot read
        # oneDNN's fused operator); nothing is differentiated
        with torch.enable_grad():
            analysis = FlopCountAnalysis(bb.model, x[:1])
            analysis.set_op_handle("aten::scaled_dot_product_attention", sdpa_macs)
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            return float(analysis.total())
    except Exception as exc:  # a net fvcore cannot trace still gets its timings
        print(f"fvcore could not count {bb.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def synchronize(device: str) -> None:
    """Wait for the work queued on ``device`` (a GPU runs asynchronously; the CPU needs nothing)."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def gemm_rate(dtype: str, n: int, device: str = "cpu") -> float | None:
    """GFLOP/s of one n x n by n x n product in ``dtype`` (2 n^3 FLOP) on ``device``, after a warm-up.

    int8 (CPU only): a dynamically quantised n -> n linear on n rows
    (:mod:`mgmtfeat.backbones.quantize`, activation quantisation included), as the int8 network
    runs its linears. None for bfloat16 where it is emulated (minutes per product on a CPU, and no
    rate worth comparing) and for int8 on a GPU.
    """
    import torch

    from mgmtfeat.backbones import native_bfloat16_on

    if (dtype == "bfloat16" and not native_bfloat16_on(device)) or (dtype == "int8" and device != "cpu"):
        return None
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen)
    if dtype == "int8":
        from mgmtfeat.backbones.quantize import quantize_linears

        op = quantize_linears(torch.nn.Sequential(torch.nn.Linear(n, n, bias=False)))
    else:
        a = a.to(device=device, dtype=getattr(torch, dtype))
        b = torch.randn(n, n, generator=gen).to(device=device, dtype=a.dtype)
        op = lambda x: x @ b  # noqa: E731
    with torch.inference_mode():
        op(a)
        synchronize(device)
        t0 = time.perf_counter()
        op(a)
        synchronize(device)
        return 2 * n ** 3 / (time.perf_counter() - t0) / 1e9


def make_case(n_clips: int = 5, seed: int = 0, size: int | None = None) -> np.ndarray:
    """Smooth uint8 clips (n_clips, 150, 128, 128): Gaussian blobs plus mild noise.

    A ``size`` under 128 makes the frames that size instead (small trials).
    """
    rng = np.random.default_rng(seed)
    edge = min(size or 128, 128)
    z, y, x = np.mgrid[0:150, 0:edge, 0:edge].astype(np.float32)
    y, x = y * 128 / edge, x * 128 / edge
    clips = np.empty((n_clips, 150, edge, edge), np.uint8)
    for i in range(n_clips):
        vol = np.zeros((150, edge, edge), np.float32)
        for _ in range(6):
            c = rng.uniform([20, 20, 20], [130, 108, 108])
            s = rng.uniform(8, 30)
            vol += rng.uniform(0.3, 1.0) * np.exp(-((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) / (2 * s * s))
        vol += rng.normal(0, 0.03, vol.shape).astype(np.float32)
        clips[i] = np.clip(vol / vol.max() * 255, 0, 255).astype(np.uint8)
    return clips


def _peak_rss_gb(reset: bool = False, field: str = "VmHWM") -> float:
    """Peak resident memory of this process in GB (``field="VmRSS"``: the current one).

    On Linux the peak (VmHWM) can be reset by writing 5 to /proc/self/clear_refs,
    which gives one peak per phase; elsewhere the process-wide maxrss is used.
    """
    try:
        if reset:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024 ** 2
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def _gpu_memory_gb(device: str, reset: bool = False, peak: bool = False) -> float:
    """GPU memory allocated now, or its peak since the last reset, in GB (``reset`` starts a new peak)."""
    import torch

    if reset:
        torch.cuda.reset_peak_memory_stats(device)
    return (torch.cuda.max_memory_allocated(device) if peak else torch.cuda.memory_allocated(device)) / 1024 ** 3


def run_worker(net: str, args) -> dict:
    """Time every (dtype, layout, fuse) variant of one network, interleaved; returns rows keyed by variant."""
    import torch

    from mgmtfeat.backbones import create_backbone

    on_gpu = torch.device(args.device).type == "cuda"
    weights = None if net == "i3d" else "random"
    sizes = {k: v for k, v in (("num_frames", args.frames), ("size", args.size)) if v is not None}
    clips = make_case(args.clips, size=args.size)
    backbones, inputs, rows = {}, {}, {}
    for dtype in args.dtypes:
        for layout in args.layouts:
            for fuse in args.fuse:
                key = f"{dtype}/{layout}/{fuse}"
                _peak_rss_gb(reset=True)
                t0 = time.perf_counter()
                bb = create_backbone(net, weights=weights, dtype=dtype, threads=args.threads, device=args.device,
                                     channels_last=layout == "channels_last", fuse=fuse == "on", **sizes)
                build_s = time.perf_counter() - t0
                inputs[key] = bb.preprocess(clips)
                bb.forward(inputs[key]).cpu()  # warm-up (oneDNN primitives or cuDNN plans, allocator)
                backbones[key] = bb
                rows[key] = {"net": net, "dtype": dtype, "layout": layout, "fuse": fuse, "build_s": build_s,
                             "threads": torch.get_num_threads(), "clips": len(clips),
                             "num_frames": bb.config.num_frames, "size": bb.config.size,
                             "random_weights": bb.provenance["random_weights"], "case_s": [], "forward_s": [],
                             "peak_rss_gb": _peak_rss_gb(), "forward_extra_gb": 0.0}
    gemm = {dtype: [] for dtype in args.dtypes}
    for _ in range(args.repeats):
        for dtype in (() if args.no_flops else args.dtypes):  # the GEMM rate beside the nets, same load
            gemm[dtype].append(gemm_rate(dtype, args.gemm_size, args.device))
        for key, bb in backbones.items():
            row = rows[key]
            _peak_rss_gb(reset=True)
            if not args.forward_only:
                t0 = time.perf_counter()
                bb.extract(clips)
                row["case_s"].append(time.perf_counter() - t0)
            resident = _gpu_memory_gb(args.device, reset=True) if on_gpu else _peak_rss_gb(reset=True, field="VmRSS")
            synchronize(args.device)
            t0 = time.perf_counter()
            row["logits"] = bb.forward(inputs[key]).cpu().numpy().tolist()  # .cpu() waits for the GPU
            row["forward_s"].append(time.perf_counter() - t0)
            host_peak = _peak_rss_gb()
            peak = _gpu_memory_gb(args.device, peak=True) if on_gpu else host_peak
            row["peak_rss_gb"] = max(row["peak_rss_gb"], host_peak)
            row["forward_extra_gb"] = max(row["forward_extra_gb"], peak - resident)
    macs = None
    if not args.no_flops:
        # the unfused network's arithmetic (fvcore also counts its batch norms), the same for every row
        first = next((bb for key, bb in backbones.items() if key.endswith("/off") and bb.dtype != "int8"),
                     next(iter(backbones.values())))
        macs = count_macs(first, first.preprocess(clips[:1]).float())
    for row in rows.values():
        row["case_s"] = float(np.median(row["case_s"])) if row["case_s"] else None
        row["forward_s"] = float(np.median(row["forward_s"]))
        row["clip_s"] = row["forward_s"] / row["clips"]
        row["gmac_per_clip"] = macs / 1e9 if macs else None
        row["gflops"] = 2 * macs / 1e9 / row["clip_s"] if macs else None
        rates = [r for r in gemm.get(row["dtype"], []) if r is not None]
        row["gemm_gflops"] = float(np.median(rates)) if rates else None
        row["gemm_size"] = args.gemm_size
        row["gemm_share"] = row["gflops"] / row["gemm_gflops"] if row["gflops"] and row["gemm_gflops"] else None
    return rows


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        check_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    if args.worker:
        print(json.dumps(run_worker(args.worker, args)))
        return 0
    peak, how = cpu_peak_gflops(args.threads) if args.device == "cpu" else (float("nan"), f"not estimated on {args.device}")
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"machine peak (float32): {peak:.1f} GFLOP/s = {how}" if peak == peak else f"machine peak: {how}")
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {args.clips} clips per case, "
          f"{args.repeats} repeats, {args.threads} threads, device {args.device}")
    print(f"{'net':9s} {'dtype':9s} {'layout':13s} {'fuse':4s} {'weights':7s} {'input':>8s} {'clip s':>7s} "
          f"{'case s':>7s} {'CL x':>5s} {'x bef':>5s} {'GMAC':>6s} {'GFLOP/s':>7s} {'%peak':>5s} {'peak GB':>7s} "
          f"{'fwd GB':>6s} {'CCC':>7s} {'GEMM/s':>6s} {'%GEMM':>5s}")
    results = []
    forwarded = [a for a in (argv if argv is not None else sys.argv[1:])]
    for net in args.nets:
        cmd = [sys.executable, __file__, "--worker", net, *_worker_args(forwarded)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{net} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        rows = json.loads(proc.stdout.strip().splitlines()[-1])
        for key, r in rows.items():
            plain = rows.get(f"{r['dtype']}/contiguous/{r['fuse']}")
            r["channels_last_speedup"] = (plain["forward_s"] / r["forward_s"]
                                          if plain and r["layout"] == "channels_last" else None)
            before = rows.get(f"{r['dtype']}/contiguous/off")  # the network as written
            r["speedup_over_before"] = before["forward_s"] / r["forward_s"] if before and before is not r else None
            ref = rows.get(f"float32/{r['layout']}/{r['fuse']}")
            r["bf16_ccc"] = (float(concordance_correlation(np.ravel(ref["logits"]), np.ravel(r["logits"])))
                             if ref and r["dtype"] != "float32" else None)  # Lin's CCC over all logits
            of_peak = 100 * r["gflops"] / peak if r["gflops"] and peak == peak else None  # peak is NaN on a GPU
            fmt = lambda v, spec: format(v, spec) if v is not None else "-".rjust(int(spec.split(".")[0]))  # noqa: E731
            print(f"{net:9s} {r['dtype']:9s} {r['layout']:13s} {r['fuse']:4s} "
                  f"{'random' if r['random_weights'] else 'real':7s} "
                  f"{r['num_frames']:>3d}x{r['size']:<4d} {r['clip_s']:7.2f} {fmt(r['case_s'], '7.2f')} "
                  f"{fmt(r['channels_last_speedup'], '5.2f')} {fmt(r['speedup_over_before'], '5.2f')} "
                  f"{fmt(r['gmac_per_clip'], '6.1f')} "
                  f"{fmt(r['gflops'], '7.1f')} {fmt(of_peak, '5.1f')} "
                  f"{r['peak_rss_gb']:7.2f} {r['forward_extra_gb']:6.2f} {fmt(r['bf16_ccc'], '7.4f')} "
                  f"{fmt(r['gemm_gflops'], '6.0f')} {fmt(r['gemm_share'] and 100 * r['gemm_share'], '5.1f')}",
                  flush=True)
        for r in rows.values():
            r.pop("logits")
            results.append({**r, "machine_peak_gflops": peak, "peak_estimate": how})
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(results, fh, indent=2)
        os.replace(tmp, args.json)
    return 0


def _worker_args(argv) -> list[str]:
    """The command-line options passed on to each worker (all but --nets and --json)."""
    out, skip = [], False
    for arg in argv:
        if arg.startswith("--"):
            skip = arg in ("--nets", "--json")
        if not skip:
            out.append(arg)
    return out


if __name__ == "__main__":
    sys.exit(main())
