"""What each inference rewrite of ViViT gives on this CPU, against the network as written, in one run.

Variants (all random weights, seed 0, the same input), timed alternately, ``--repeats`` rounds:

* ``as written``: ``create_backbone("vivit", fuse=False)``: transformers' modules, GELU as its
  eight-op ``gelu_fast``, attention through SDPA on strided q/k/v views;
* ``gelu``: GELU as one ``nn.GELU(approximate="tanh")`` kernel;
* ``gelu+qkv``: and one fused QKV projection, SDPA on strided views
  (:func:`mgmtfeat.backbones.blocks.attention.fuse_qkv`);
* ``gelu+qkv+contig``: the same with q, k, v copied to contiguous (N, heads, L, 64) first:
  ``fuse=True``, what ``create_backbone`` does by default;
* ``gelu-linear``: the network as written with the MLP's first linear and GELU as one oneDNN
  op (``torch.ops.mkldnn._linear_pointwise(..., "gelu", "tanh")``), where this torch has it
  (compare it with ``gelu``);
* ``compile`` (with ``--compile``): ``torch.compile`` (inductor, CPU) of the ``gelu`` network;
  its compile time is printed.

For each: median seconds per forward of one clip, the median over rounds of its time / the
``as written`` time of the same round (the load changes between rounds, less within one), the
GFLOP/s (attention products included: 2 x 448 GMAC for ViViT-B) and the largest absolute logit
difference from ``as written``. ``--layers`` cuts the encoder (quick trials; the FLOP count scales).

Usage::

    python benchmarks/bench_vivit_speed.py                       # ViViT-B, 32 x 224 px, 12 layers
    python benchmarks/bench_vivit_speed.py --layers 2 --repeats 3
    python benchmarks/bench_vivit_speed.py --layers 2 --compile
    python benchmarks/bench_vivit_speed.py --kernels              # one layer's SDPA and GEMM, ~30 s
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--layers", type=int, default=12, help="encoder layers (ViViT-B: 12)")
    p.add_argument("--repeats", type=int, default=3, help="rounds; each times every variant once")
    p.add_argument("--threads", type=int, help="torch threads (default: unchanged)")
    p.add_argument("--compile", action="store_true", help="also time torch.compile (inductor) of the gelu net")
    p.add_argument("--kernels", action="store_true",
                   help="only time one layer's kernels, alternated: SDPA on strided vs contiguous q/k/v, and SDPA "
                   "vs the MLP's GEMM (GFLOP/s)")
    return p


def kernels(args, rounds: int = 8) -> None:
    """One layer's attention kernel against its layouts and against a GEMM of the same layer, alternated."""
    import os

    import torch
    import torch.nn.functional as F

    if args.threads:
        torch.set_num_threads(args.threads)
    tokens, heads, dim = (args.frames // 2) * (args.size // 16) ** 2 + 1, 12, 64
    gen = torch.Generator().manual_seed(0)
    qkv = torch.randn(1, tokens, 3 * heads * dim, generator=gen).view(1, tokens, 3, heads, dim).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)  # strided views, as a fused QKV projection leaves them
    a, w = torch.randn(tokens, heads * dim, generator=gen), torch.randn(4 * heads * dim, heads * dim, generator=gen)
    flop = {"sdpa": 4 * heads * tokens * tokens * dim, "gemm": 2 * tokens * w.shape[0] * w.shape[1]}
    calls = {"sdpa strided": lambda: F.scaled_dot_product_attention(q, k, v),
             "sdpa contiguous": lambda: F.scaled_dot_product_attention(q.contiguous(), k.contiguous(), v.contiguous()),
             "gemm": lambda: F.linear(a, w)}
    rates = {name: [] for name in calls}
    with torch.inference_mode():
        for fn in calls.values():
            fn()
        for _ in range(rounds):
            for name, fn in calls.items():
                t0 = time.perf_counter()
                fn()
                rates[name].append(flop[name.split()[0]] / (time.perf_counter() - t0) / 1e9)
    med = {name: statistics.median(r) for name, r in rates.items()}
    ratio = lambda x, y: statistics.median(p / q for p, q in zip(rates[x], rates[y]))  # noqa: E731
    print(f"{tokens} tokens, {rounds} alternated rounds, load {os.getloadavg()[0]:.1f}: GFLOP/s (median) "
          + ", ".join(f"{n} {r:.0f}" for n, r in med.items()))
    print(f"contiguous / strided SDPA rate: {ratio('sdpa contiguous', 'sdpa strided'):.3f}; "
          f"SDPA (contiguous) / GEMM rate: {ratio('sdpa contiguous', 'gemm'):.3f}")


def _gelu_linear(hf) -> int:
    """The MLPs' fc1 + GELU as one oneDNN linear with a fused tanh-GELU; returns how many."""
    import torch
    import torch.nn as nn

    class GeluLinear(nn.Module):
        def __init__(self, fc):
            super().__init__()
            self.weight, self.bias = fc.weight, fc.bias

        def forward(self, x):
            return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "gelu", [], "tanh")

    count = 0
    for mod in hf.modules():
        if type(mod).__name__ == "VivitMLP":
            mod.fc1, mod.activation_fn = GeluLinear(mod.fc1), nn.Identity()
            count += 1
    return count


def _gelu_only(hf) -> None:
    """transformers' eight-op GELU as one ``nn.GELU(approximate="tanh")`` kernel, nothing else."""
    import torch.nn as nn

    for parent in list(hf.modules()):
        for name, child in list(parent.named_children()):
            if type(child).__name__ == "FastGELUActivation":
                setattr(parent, name, nn.GELU(approximate="tanh"))


def build(args) -> tuple[dict, object]:
    """({variant: callable(x) -> logits}, the ``gelu`` backbone)."""
    import torch

    from mgmtfeat.backbones import create_backbone
    from mgmtfeat.backbones.blocks.attention import fuse_qkv

    def bb(fuse=False, *steps):
        made = create_backbone("vivit", weights="random", num_frames=args.frames, size=args.size,
                               threads=args.threads, fuse=fuse, model_kwargs={"num_hidden_layers": args.layers})
        for step in steps:
            step(made.model.hf)
        return made

    variants = {"as written": bb(), "gelu": bb(False, _gelu_only),
                "gelu+qkv": bb(False, _gelu_only, lambda hf: fuse_qkv(hf, "strided")),
                "gelu+qkv+contig": bb(True)}  # fuse=True: what create_backbone does by default
    try:
        x = torch.zeros(1, 3, 8)
        torch.ops.mkldnn._linear_pointwise(x, torch.zeros(4, 8), None, "gelu", [], "tanh")
        variants["gelu-linear"] = bb(False, _gelu_linear)
    except (AttributeError, RuntimeError) as exc:
        print(f"no oneDNN GELU-fused linear in this torch: {exc}")
    return {name: b.forward for name, b in variants.items()}, variants["gelu"]


def _input(args, bb):
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, (1, args.frames, 64, 64), dtype=np.uint8)
    return bb.preprocess(clips)


def main(argv=None) -> int:
    import os

    import torch

    args = _parser().parse_args(argv)
    if args.kernels:
        kernels(args)
        return 0
    fns, gelu_bb = build(args)
    x = _input(args, gelu_bb)
    if args.compile:
        t0 = time.perf_counter()
        compiled = torch.compile(gelu_bb.model)
        with torch.inference_mode():
            compiled(x)
        print(f"torch.compile (inductor): first call {time.perf_counter() - t0:.1f} s (compile + one forward)")
        fns["compile"] = lambda t: compiled(t).float()
    tokens = (args.frames // 2) * (args.size // 16) ** 2 + 1
    d = 768
    gmac = (tokens - 1) * d * 1536 + args.layers * tokens * d * (4 * d + 2 * 3072 + 2 * tokens) + d * 400
    with torch.inference_mode():
        ref = fns["as written"](x)
        outs = {name: fn(x) for name, fn in fns.items()}  # warm-up
    times = {name: [] for name in fns}
    for _ in range(args.repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            with torch.inference_mode():
                fn(x)
            times[name].append(time.perf_counter() - t0)
    load = os.getloadavg()
    print(f"ViViT {args.frames}x{args.size}px, {args.layers} layers, {gmac / 1e9:.1f} GMAC per clip, "
          f"{torch.get_num_threads()} threads, {args.repeats} rounds, load {load[0]:.1f} {load[1]:.1f}")
    print(f"{'variant':16s} {'s/clip':>7s} {'x as written':>12s} {'GFLOP/s':>8s} {'max |dlogit|':>12s}")
    for name, ts in times.items():
        ratio = statistics.median(a / b for a, b in zip(times["as written"], ts))
        med = statistics.median(ts)
        diff = float((outs[name] - ref).abs().max())
        print(f"{name:16s} {med:7.2f} {ratio:12.3f} {2 * gmac / med / 1e9:8.1f} {diff:12.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
