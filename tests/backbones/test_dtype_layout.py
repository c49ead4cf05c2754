"""``dtype="auto"`` (bfloat16 only on native hardware and for nets measured close) and channels-last layouts."""

import dataclasses

import numpy as np
import pytest
import torch

from mgmtfeat.backbones import cpu, registry, create_backbone, get_weights_config, resolve_dtype

TINY = dict(pretrained=False, num_frames=8, size=64)


@pytest.fixture
def native(monkeypatch):
    """Set what ``native_bfloat16()`` answers, so the choice does not depend on this CPU."""

    def set_native(value: bool):
        monkeypatch.setattr(cpu, "native_bfloat16", lambda: value)

    return set_native


def test_recorded_bf16_concordance():
    ccc = {name: get_weights_config(name).bf16_ccc for name in ("i3d", "slowfast", "r2plus1d", "vivit")}
    assert ccc == {"i3d": 0.9999, "slowfast": 1.0, "r2plus1d": 1.0, "vivit": 1.0}
    # not measured: auto keeps float32
    assert get_weights_config("slowfast_8x8").bf16_ccc is None
    assert get_weights_config("resnet50").bf16_ccc is None and get_weights_config("i3d2d").bf16_ccc is None


def test_auto_takes_bfloat16_only_on_native_hardware_for_measured_nets(native, monkeypatch):
    native(True)
    assert [resolve_dtype(n) for n in ("i3d", "slowfast", "r2plus1d", "vivit")] == ["bfloat16"] * 4
    assert resolve_dtype("slowfast_8x8") == resolve_dtype("resnet50") == resolve_dtype("i3d2d") == "float32"
    assert resolve_dtype("i3d", "float32") == "float32"  # an explicit dtype is kept
    # a recorded concordance under 0.999 keeps float32
    builder, config = registry._REGISTRY["r2plus1d"]
    monkeypatch.setitem(registry._REGISTRY, "r2plus1d", (builder, dataclasses.replace(config, bf16_ccc=0.998)))
    assert resolve_dtype("r2plus1d") == "float32"
    native(False)  # emulated bfloat16 (AVX2): never, whatever the concordance
    assert [resolve_dtype(n) for n in ("i3d", "slowfast", "vivit")] == ["float32"] * 3
    assert resolve_dtype("i3d", "bfloat16") == "bfloat16"
    with pytest.raises(ValueError, match=r"dtype 'float16' is not supported.*'auto'"):
        resolve_dtype("i3d", "float16")


@pytest.mark.parametrize("is_native, expected", [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_dtype_is_used_and_recorded_in_provenance(native, is_native, expected):
    native(is_native)
    bb = create_backbone("r2plus1d", dtype="auto", model_kwargs={"depth": 18}, **TINY)
    assert bb.dtype == str(expected).split(".")[1] == bb.provenance["dtype"]
    assert next(bb.model.parameters()).dtype == expected
    clips = np.random.default_rng(0).integers(0, 256, size=(1, 150, 32, 32), dtype=np.uint8)
    assert bb.extract(clips).dtype == np.float32  # outputs stay float32 (a tiny net: emulated bf16 is fine)


def _agree(a, b):
    # channels-last changes oneDNN's blocking and so the order of float32 additions, and fusing
    # rounds folded kernels once (these random nets' batch norms are near the identity): rounding
    # only (observed up to 1e-6 relative); 1e-4 of the output scale, while a transposed or
    # mis-strided tensor gives errors of the output's own size (folding is tested against
    # non-trivial batch norms in test_backbones_fuse.py)
    assert a.shape == b.shape and np.abs(a - b).max() <= 1e-4 * np.abs(a).max(), np.abs(a - b).max()


@pytest.mark.parametrize("name, kwargs", [
    ("slowfast", dict(model_kwargs={"depth": 18}, **TINY)),
    ("r2plus1d", dict(model_kwargs={"depth": 18}, **TINY)),
    ("resnet50", dict(pretrained=False, size=64)),
    ("i3d2d", dict(pretrained=False)),
])
def test_channels_last_agrees_with_contiguous(name, kwargs):
    # the default (channels-last, fused) against the network as written
    plain = create_backbone(name, channels_last=False, fuse=False, **kwargs)
    fast = create_backbone(name, channels_last=True, **kwargs)
    rank = 5 if fast.kind == "video" else 4
    fmt = torch.channels_last_3d if rank == 5 else torch.channels_last
    convs = [p for p in fast.model.parameters() if p.ndim == rank]
    assert convs and all(p.is_contiguous(memory_format=fmt) and not p.is_contiguous() for p in convs
                         if p.shape[1] > 1 and p.shape[-1] > 1)
    rng = np.random.default_rng(0)
    shape = (2, 150, 64, 64) if fast.kind == "video" else (2, 64, 64)
    clips = rng.integers(0, 256, size=shape, dtype=np.uint8)
    _agree(plain.extract(clips), fast.extract(clips))
    _agree(plain.extract(clips, return_embedding=True), fast.extract(clips, return_embedding=True))


def test_channels_last_i3d_features_agree():
    """I3D's final pool needs 224 px; its feature maps are compared at 64 px instead (cheap)."""
    plain = create_backbone("i3d", pretrained=False, channels_last=False, fuse=False)
    fast = create_backbone("i3d", pretrained=False, channels_last=True)
    assert fast.channels_last and fast.model.Conv3d_1a_7x7.conv.weight.is_contiguous(
        memory_format=torch.channels_last_3d)
    x = torch.rand(1, 3, 16, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        a = plain.model.features(x)
        b = fast.model.features(x.contiguous(memory_format=torch.channels_last_3d))
    _agree(a.numpy(), b.numpy())


def test_config_flag_is_the_default_layout():
    for name in ("i3d", "slowfast", "r2plus1d", "vivit", "resnet50", "i3d2d"):
        config = get_weights_config(name)
        bb_flag = create_backbone(name, **(dict(pretrained=False) if name != "vivit" else
                                           dict(pretrained=False, num_frames=2, size=32,
                                                model_kwargs={"hidden_size": 32, "num_hidden_layers": 1,
                                                              "num_attention_heads": 2,
                                                              "intermediate_size": 32})))
        assert bb_flag.channels_last is config.channels_last, name
    assert get_weights_config("r2plus1d").channels_last  # measured faster in float32 ...
    tiny = dict(model_kwargs={"depth": 18}, **TINY)
    assert create_backbone("r2plus1d", **tiny).channels_last
    # ... but not measured in native bfloat16, which keeps the contiguous layout unless asked
    assert not create_backbone("r2plus1d", dtype="bfloat16", **tiny).channels_last
    assert create_backbone("r2plus1d", dtype="bfloat16", channels_last=True, **tiny).channels_last
