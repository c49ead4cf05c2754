"""The same features on every CPU: float32 unless asked, the CPU caps `make test-avx2` sets, bfloat16 on tiny nets."""

import inspect

import numpy as np
import pytest
import torch

from mgmtfeat.cli import extract
from mgmtfeat.backbones import create_backbone, native_bfloat16
from mgmtfeat.data.synthetic import write_cohort
from mgmtfeat.extraction.nets import run_dtype
from mgmtfeat.extraction.run import ExtractionSettings
from mgmtfeat.store import FeatureStore

FAST = ["--net", "slowfast", "--weights", "random", "--net-frames", "8", "--net-size", "64", "--threads", "1", "--quiet"]


@pytest.fixture
def bf16_cpu(monkeypatch):
    """A CPU with native bfloat16 (AVX-512 BF16), whatever this one is, and no ISA cap in the environment."""
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512_BF16")
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(name, raising=False)


def test_native_bfloat16_honours_the_cpu_caps(bf16_cpu, monkeypatch):
    assert native_bfloat16()
    for cap in ("AVX2", "avx512_core", "AVX512_CORE_VNNI", "SSE41"):  # oneDNN capped below AVX512_CORE_BF16
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
        assert not native_bfloat16(), cap
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")  # a cap above bfloat16 leaves it native
    assert native_bfloat16()
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setenv("DNNL_MAX_CPU_ISA", "AVX2")  # oneDNN's older name of the variable
    assert not native_bfloat16()
    monkeypatch.delenv("DNNL_MAX_CPU_ISA")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")  # ATEN_CPU_CAPABILITY=avx2
    assert not native_bfloat16()


def test_float32_is_the_default_even_where_bfloat16_is_native(bf16_cpu, tmp_path):
    assert native_bfloat16()
    assert ExtractionSettings(data=".", out=".").dtype == "float32"
    assert inspect.signature(create_backbone).parameters["dtype"].default == "float32"
    assert extract._parser().parse_args(["--data", "d"]).dtype == "float32"
    data = write_cohort(tmp_path / "brats", layout="brats2021", n_cases=1, shape=(48, 48, 24), seed=1)
    assert extract.main(["--data", str(data), "--out", str(tmp_path / "store"), *FAST]) == 0
    assert FeatureStore(tmp_path / "store").provenance("slowfast")["dtype"] == "float32"
    # the opt-in auto still takes bfloat16 on this (pretended) CPU
    assert run_dtype(FeatureStore(tmp_path / "new"), ExtractionSettings(data=".", out=".", net="slowfast",
                                                                     dtype="auto")) == "bfloat16"


def test_a_store_resumed_in_another_dtype_is_refused_naming_both(tmp_path, capsys):
    data = write_cohort(tmp_path / "brats", layout="brats2021", n_cases=2, shape=(48, 48, 24), seed=1)
    out = tmp_path / "store"
    assert extract.main(["--data", str(data), "--out", str(out), "--limit", "1", *FAST]) == 0
    assert extract.main(["--data", str(data), "--out", str(out), *FAST, "--dtype", "bfloat16"]) == 2
    err = capsys.readouterr().err
    assert "differing: dtype 'float32' in the store, 'bfloat16' now" in err and "--force" in err


@pytest.mark.parametrize("name", ["r2plus1d", "slowfast"])
def test_the_bfloat16_path_runs_on_tiny_inputs_on_any_cpu(name):
    """Emulated on AVX2 (slowly), native on AVX-512 BF16: tiny random nets keep it tested everywhere."""
    tiny = dict(pretrained=False, num_frames=8, size=32, model_kwargs={"depth": 18})
    clips = np.random.default_rng(0).integers(0, 256, size=(2, 16, 32, 32), dtype=np.uint8)
    ref = create_backbone(name, **tiny).extract(clips)
    bb = create_backbone(name, dtype="bfloat16", **tiny)
    assert bb.dtype == "bfloat16" == bb.provenance["dtype"] and next(bb.model.parameters()).dtype == torch.bfloat16
    out = bb.extract(clips)
    assert out.dtype == np.float32 and out.shape == ref.shape
    # bfloat16 keeps 8 mantissa bits (each op rounds by up to 2^-9 relative), so the logits of 18 layers agree
    # in pattern, not to a float tolerance. Observed (emulated, AVX2): correlation 0.99999, largest error 0.5 % of
    # the logits' scale; native kernels order their sums otherwise but round alike. 0.999 and 5 % hold on every
    # CPU, while a mis-cast or transposed input decorrelates the logits (~0) and moves them by their own size.
    assert np.corrcoef(out.ravel(), ref.ravel())[0, 1] > 0.999
    assert np.abs(out - ref).max() <= 0.05 * np.abs(ref).max()
