"""Helpers of benchmarks/bench_backbones.py: the FLOP count's unit, the peak estimate, worker options."""

from pathlib import Path

import pytest
import torch

from mgmtfeat.backbones import create_backbone

from conftest import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_backbones.py"


@pytest.fixture(scope="module")
def bench():
    return load_script(SCRIPT)


def test_fvcore_counts_multiply_adds(bench):
    pytest.importorskip("fvcore")
    bb = create_backbone("resnet50", pretrained=False)
    macs = bench.count_macs(bb, torch.zeros(1, 3, 224, 224))
    # ResNet-50 at 224 px is 4.1 G multiply-adds (8.2 GFLOP): fvcore's "flops" are MACs, which is
    # why the benchmark reports 2 x MAC / s as FLOP/s
    assert 4.0e9 < macs < 4.2e9


def test_peak_estimate_and_worker_options(bench):
    peak, how = bench.cpu_peak_gflops(2)
    if Path("/proc/cpuinfo").is_file():
        assert peak > 0 and "2 cores" in how and "GHz" in how
    assert bench._worker_args(["--nets", "i3d", "vivit", "--clips", "2", "--json", "x.json", "--no-flops"]) == [
        "--clips", "2", "--no-flops"]
    assert bench._worker_args(["--nets", "i3d", "--fuse", "off", "on", "--forward-only"]) == [
        "--fuse", "off", "on", "--forward-only"]
    args = bench._parser().parse_args(["--fuse", "off", "on", "--forward-only"])
    assert args.fuse == ["off", "on"] and args.forward_only and bench._parser().parse_args([]).fuse == ["on"]
    assert bench.make_case(1, size=32).shape == (1, 150, 32, 32)


def test_gemm_rate_and_device_checks(bench):
    from mgmtfeat.backbones import native_bfloat16

    assert bench.gemm_rate("float32", 64) > 0
    assert bench.gemm_rate("int8", 64, "cuda") is None  # int8 is CPU-only: nothing is run
    assert (bench.gemm_rate("bfloat16", 64) is None) == (not native_bfloat16())
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit) as exit_:
            bench.main(["--device", "cuda", "--nets", "i3d"])
        assert exit_.value.code == 2


# ViViT's attention products, which fvcore alone skips (SDPA)

def _vivit_macs(frames, size, hidden, layers, mlp, heads, classes=400):
    """Multiply-adds of a ViViT forward, counted by hand: embedding, linears, attention, layer norms
    (fvcore's convention: 5 per element of an affine layer norm), classifier."""
    tokens = (frames // 2) * (size // 16) ** 2 + 1
    embed = (tokens - 1) * hidden * 3 * 2 * 16 * 16
    linears = layers * tokens * hidden * (4 * hidden + 2 * mlp)
    attention = layers * 2 * tokens * tokens * hidden  # Q K^T and A V over all heads
    norms = 5 * (2 * layers + 1) * tokens * hidden
    return embed + linears + attention + norms + hidden * classes, attention


def test_vivit_count_includes_attention_products(bench):
    pytest.importorskip("fvcore")
    # small, but with the attention products a third of the work, as in ViViT-B (363 of 903 GFLOP)
    kw = dict(hidden_size=16, num_hidden_layers=4, intermediate_size=32, num_attention_heads=2)
    bb = create_backbone("vivit", weights="random", num_frames=4, size=128, model_kwargs=kw)
    x = bb.preprocess(bench.make_case(1, size=128)[:, :4])
    total, attention = _vivit_macs(4, 128, 16, 4, 32, 2)
    macs = bench.count_macs(bb, x)
    # exact integers: fvcore counts each product's multiply-adds, the handle the attention's two;
    # the 1 % margin covers the layer norms' and the classifier head's small counts
    assert attention > 0.3 * total
    assert macs == total  # integer counts: exact


def test_sdpa_handle_counts_both_products(bench):
    pytest.importorskip("fvcore")
    import torch

    class Attn(torch.nn.Module):
        def forward(self, q, k, v):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v)

    from fvcore.nn import FlopCountAnalysis

    q, k, v = torch.zeros(1, 2, 5, 8), torch.zeros(1, 2, 7, 8), torch.zeros(1, 2, 7, 3)
    analysis = FlopCountAnalysis(Attn(), (q, k, v)).set_op_handle(
        "aten::scaled_dot_product_attention", bench.sdpa_macs)
    assert analysis.unsupported_ops_warnings(False).total() == 2 * 5 * 7 * 8 + 2 * 5 * 7 * 3
