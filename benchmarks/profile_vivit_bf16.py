"""Where ViViT's time goes in float32 and in bfloat16: torch.profiler op tables of a reduced ViViT.

On a CPU without native bfloat16 (AVX2) bfloat16 is emulated and 20-50x slower, so the
full ViViT-B cannot be profiled in bfloat16 here. This script profiles ViViT-B cut to
``--layers`` encoder layers (default 1 of 12), random weights, built by
``create_backbone("vivit", ...)`` exactly as extraction builds it (so
``ViViT.prepare_dtype`` keeps the tubelet embedding in float32). Every op keeps the
shape it has in ViViT-B (32 frames of 224 px -> 3137 tokens, hidden 768, 12 heads of
64, MLP 3072, GELU "gelu_fast"), so each layer's op mix is ViViT-B's; only the number
of layers differs, and the last column scales the per-layer parts to the 12 layers of
ViViT-B (the embedding, classifier and output conversion run once).

For each dtype it prints the forward time (median of ``--repeats``, unprofiled), the
profiler's op table (self CPU time, the ``--top`` ops), then one table of self time
per part of the network, each aten op counted in the innermost module that ran it:
the tubelet convolution, the rest of the embedding, the q/k/v/o projections, the
attention core (``scaled_dot_product_attention`` and its reshapes), the MLP linears,
GELU, the layer norms, the residual adds. ``--attn eager`` runs transformers' eager
attention (matmul + softmax) instead of SDPA; ``--fuse off`` the network as transformers
writes it (GELU as transformers' eight-op ``gelu_fast``, as when ViViT's bfloat16 speed-up
was measured) instead of ``create_backbone``'s default (one ``nn.GELU(approximate="tanh")``).

Usage::

    python benchmarks/profile_vivit_bf16.py                  # ~1 min on 2 AVX2 cores
    python benchmarks/profile_vivit_bf16.py --fuse off           # GELU as transformers' eight ops
    python benchmarks/profile_vivit_bf16.py --attn eager
    python benchmarks/profile_vivit_bf16.py --dtypes float32 bfloat16 --layers 1 --attention-split
    python benchmarks/profile_vivit_bf16.py --frames 16 --size 128 --hidden 128 --layers 2   # seconds
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

#: parts that run once per forward, whatever the number of layers
ONCE = ("tubelet conv", "embedding (CLS, positions)", "classifier, output cast, other")
PARTS = ("tubelet conv", "embedding (CLS, positions)", "layer norm", "q/k/v/o projections",
         "attention core (SDPA)", "MLP linears", "GELU", "residual adds", "classifier, output cast, other")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=32, help="input frames (2-frame tubelets; default 32 as ViViT-B)")
    p.add_argument("--size", type=int, default=224, help="input size in pixels (16-px tubelets; default 224)")
    p.add_argument("--hidden", type=int, default=768, help="hidden size, heads of 64 (default 768 as ViViT-B)")
    p.add_argument("--layers", type=int, default=1, help="encoder layers profiled (default 1; ViViT-B has 12)")
    p.add_argument("--full-layers", type=int, default=12, help="layers the last column scales to (default 12)")
    p.add_argument("--attn", choices=("sdpa", "eager"), default="sdpa", help="attention implementation")
    p.add_argument("--fuse", choices=("on", "off"), default="on",
                   help="create_backbone(fuse=...): on runs GELU as one kernel, off as transformers' eight ops")
    p.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    p.add_argument("--repeats", type=int, default=2, help="unprofiled timed forwards per dtype (median)")
    p.add_argument("--top", type=int, default=12, help="rows of each profiler op table")
    p.add_argument("--threads", type=int, help="torch threads (default: unchanged)")
    p.add_argument("--attention-split", action="store_true",
                   help="also time scaled_dot_product_attention alone at head sizes 64 and 128 (see split_attention)")
    return p


def split_attention(args, repeats: int = 4) -> dict:
    """Seconds of ``scaled_dot_product_attention`` alone, ViViT-B's token count, per dtype and shape.

    Three shapes split the kernel's time into its GEMMs and the rest (the online softmax in
    float32): H heads of 64 (ViViT-B); H heads of 128 (twice the GEMM work, the same softmax
    work); H / 2 heads of 128 (the same GEMM work as ViViT-B, half the softmax work). Best of
    ``repeats``, the shapes interleaved.
    """
    import torch
    import torch.nn.functional as F

    heads, tokens = max(args.hidden // 64, 2), (args.frames // 2) * (args.size // 16) ** 2 + 1
    shapes = {f"{heads} x 64": (heads, 64), f"{heads} x 128": (heads, 128), f"{heads // 2} x 128": (heads // 2, 128)}
    out = {}
    gen = torch.Generator().manual_seed(0)
    for dtype in args.dtypes:
        qkv = {k: [torch.randn(1, h, tokens, d, generator=gen).to(getattr(torch, dtype)) for _ in range(3)]
               for k, (h, d) in shapes.items()}
        times = {k: [] for k in shapes}
        with torch.inference_mode():
            for q, k, v in qkv.values():
                F.scaled_dot_product_attention(q, k, v)  # warm-up
            for _ in range(repeats):
                for key, (q, k, v) in qkv.items():
                    t0 = time.perf_counter()
                    F.scaled_dot_product_attention(q, k, v)
                    times[key].append(time.perf_counter() - t0)
        out[dtype] = {key: min(t) for key, t in times.items()}
    return out


def build(args, dtype: str):
    """The cut ViViT backbone (random weights, seeded) in ``dtype``, one clip of input."""
    from mgmtfeat.backbones import create_backbone

    kwargs = {"hidden_size": args.hidden, "num_attention_heads": max(args.hidden // 64, 1),
              "num_hidden_layers": args.layers, "intermediate_size": 4 * args.hidden,
              "attn_implementation": args.attn}
    bb = create_backbone("vivit", pretrained=False, dtype=dtype, threads=args.threads, num_frames=args.frames,
                         size=args.size, model_kwargs=kwargs, fuse=args.fuse == "on")
    clips = np.random.default_rng(0).integers(0, 256, size=(1, 150, args.size, args.size), dtype=np.uint8)
    return bb, bb.preprocess(clips)


def label_modules(hf) -> None:
    """Wrap each module of interest in a profiler range named after its part of the network."""
    import torch.nn as nn
    from torch.profiler import record_function

    # by class and attribute name, which older transformers (encoder.layer, VivitSelfAttention,
    # VivitIntermediate) and newer ones (layers, VivitAttention with q_proj ..., VivitMLP) both fit
    parts = {}
    for name, module in hf.named_modules():
        kind = type(module).__name__
        if isinstance(module, nn.LayerNorm):
            parts[module] = "layer norm"
        elif "GELU" in kind or name.endswith(("activation_fn", "intermediate_act_fn")):
            parts[module] = "GELU"
        elif isinstance(module, nn.Linear) and not name.startswith("classifier"):
            parts[module] = "q/k/v/o projections" if ".attention." in name else "MLP linears"
        elif kind.endswith("Layer"):
            parts[module] = "residual adds"  # what a layer runs outside its submodules
        elif "Attention" in kind or kind.endswith("SelfOutput"):
            parts[module] = "attention core (SDPA)"  # ... outside the projections
        elif kind.endswith(("MLP", "Intermediate", "Output")) and "layer" in name:
            parts[module] = "MLP linears"
    parts[hf.vivit.embeddings] = "embedding (CLS, positions)"
    parts[hf.vivit.embeddings.patch_embeddings] = "tubelet conv"
    for module, part in parts.items():
        def enter(mod, args, part=part):
            mod._profile_range = record_function(f"part: {part}")
            mod._profile_range.__enter__()

        def leave(mod, args, out):
            mod._profile_range.__exit__(None, None, None)

        # first in, last out: prepare_dtype's float32 casts of the tubelet conv fall inside its range
        module.register_forward_pre_hook(enter, prepend=True)
        module.register_forward_hook(leave)


def part_of(event) -> str:
    """The innermost labelled part enclosing a profiler event."""
    node = event.cpu_parent
    while node is not None:
        if node.name.startswith("part: "):
            return node.name[len("part: "):]
        node = node.cpu_parent
    return "classifier, output cast, other"


def profile_dtype(args, dtype: str) -> dict:
    """Forward seconds (median), the profiler's op table and self milliseconds per part."""
    from torch.profiler import ProfilerActivity, profile

    bb, x = build(args, dtype)
    bb.forward(x)  # warm-up
    seconds = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        bb.forward(x)
        seconds.append(time.perf_counter() - t0)
    label_modules(bb.model.hf)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        bb.forward(x)
    ms = dict.fromkeys(PARTS, 0.0)
    for event in prof.events():
        if not event.name.startswith("part: "):
            ms[part_of(event)] += event.self_cpu_time_total / 1000
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top)
    hf = bb.model.hf
    return {"dtype": dtype, "seconds": statistics.median(seconds), "ms": ms, "table": table,
            "attn": hf.config._attn_implementation, "tokens": hf.vivit.embeddings.patch_embeddings.num_patches + 1}


def scaled(ms: dict, layers: int, full_layers: int) -> dict:
    """Milliseconds per part with the per-layer parts scaled from ``layers`` to ``full_layers`` layers."""
    return {part: t if part in ONCE else t * full_layers / layers for part, t in ms.items()}


def main(argv=None) -> int:
    import torch

    args = _parser().parse_args(argv)
    results = [profile_dtype(args, dtype) for dtype in args.dtypes]
    first = results[0]
    print(f"ViViT cut to {args.layers} layer(s): {first['tokens']} tokens, hidden {args.hidden}, "
          f"{max(args.hidden // 64, 1)} heads of 64, MLP {4 * args.hidden}, attention {first['attn']}, "
          f"fuse {args.fuse}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}")
    for r in results:
        print(f"\n=== {r['dtype']}: {r['seconds'] * 1000:.0f} ms per forward (median of {args.repeats}) ===")
        print(r["table"])
    print(f"self CPU time per part of the network: ms (share of the profiled forward) | share scaled to "
          f"{args.full_layers} layers")
    header = "".join(f" | {r['dtype'] + ' ms':>13s} {'%':>5s} {'%' + str(args.full_layers) + 'L':>6s}" for r in results)
    print(f"{'part':31s}{header}" + (" | bf16/f32" if len(results) == 2 else ""))
    for r in results:
        r["scaled"] = scaled(r["ms"], args.layers, args.full_layers)
    for part in PARTS:
        row = ""
        for r in results:
            total, total_scaled = sum(r["ms"].values()), sum(r["scaled"].values())
            row += (f" | {r['ms'][part]:13.1f} {100 * r['ms'][part] / total:5.1f} "
                    f"{100 * r['scaled'][part] / total_scaled:6.1f}")
        if len(results) == 2:
            a, b = results[0]["ms"][part], results[1]["ms"][part]
            row += f" | {b / a:8.1f}x" if a > 0 else " |        -"
        print(f"{part:31s}{row}")
    if len(results) == 2:
        ratio = results[1]["seconds"] / results[0]["seconds"]
        print(f"\n{results[1]['dtype']} / {results[0]['dtype']} forward time: {ratio:.2f}x")
    if args.attention_split:
        print("\nscaled_dot_product_attention alone (heads x head size), ms, best of 4:")
        for dtype, times in split_attention(args).items():
            print(f"{dtype:9s} " + "  ".join(f"{key}: {1000 * t:.0f}" for key, t in times.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
