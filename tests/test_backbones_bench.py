"""Helpers of benchmarks/bench_backbones.py: the FLOP count's unit, the peak estimate, worker options."""

import importlib.util
from pathlib import Path

import pytest
import torch

from mgmtfeat.backbones import create_backbone

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_backbones.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_backbones", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
