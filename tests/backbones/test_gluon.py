"""The paper's GluonCV nets against GluonCV's own model code (gluoncv 0.10.5.post0).

GluonCV's package init refuses torch >= 2, so its model files are loaded directly from the
installed wheel (``gluoncv/torch/model_zoo/action_recognition/*.py``) under a private package
name whose parents are empty stand-ins: its ``__init__`` files never run. Same random weights
and batch-norm statistics, same input -> same logits, fused and not; same state-dict keys.

Tolerance: the largest logit difference is at most 1e-4 of the largest logit. The ports run
the same float32 operations, but folded batch norms, fused ReLU / residual sums and oneDNN's
convolution algorithms round in another order; over 50 to 150 layers that reaches ~1e-6 to
1e-5 of the logits' scale, whatever the CPU. Any architectural difference (a stride, a block,
a missing non-local block, another slow-pathway rule) moves the logits by their whole scale.
"""

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from mgmtfeat.backbones import WeightsError, create_backbone, get_weights_config
from mgmtfeat.backbones.gluon_store import looks_like

from test_pytorchvideo import _randomise

_PRIVATE = "_gluoncv_reference"


@pytest.fixture(scope="module")
def gluon():
    """GluonCV's action-recognition model modules, imported without the gluoncv package init."""
    spec = importlib.util.find_spec("gluoncv")
    if spec is None:
        pytest.skip("gluoncv 0.10.5.post0 is not installed (make venv installs it for the tests)")
    root = Path(list(spec.submodule_search_locations)[0]) / "torch"
    packages = {"": root.parent, ".torch": root, ".torch.utils": root / "utils",
                ".torch.model_zoo": root / "model_zoo",
                ".torch.model_zoo.action_recognition": root / "model_zoo" / "action_recognition"}
    for suffix, folder in packages.items():  # empty stand-ins: their __init__ files never run
        module = types.ModuleType(_PRIVATE + suffix)
        module.__path__ = [str(folder)]
        sys.modules[_PRIVATE + suffix] = module
    try:
        base = f"{_PRIVATE}.torch.model_zoo.action_recognition."
        yield types.SimpleNamespace(**{name: importlib.import_module(base + name)
                                       for name in ("i3d_resnet", "slowfast", "r2plus1dv2")})
    finally:
        for name in [n for n in sys.modules if n.startswith(_PRIVATE)]:
            del sys.modules[name]


def _gluon_i3d_nl10(gluon, depth=101):
    """GluonCV's i3d_nl10_resnet{depth}_v1_kinetics400 as its constructor builds it, not inflated."""
    from mgmtfeat.backbones.gluon_i3d import I3D_NL10_PATTERNS

    inflate, nonlocal_ = I3D_NL10_PATTERNS[depth]
    # pretrained=True only skips the ImageNet inflation (which would download torchvision weights)
    return gluon.i3d_resnet.I3D_ResNetV1(
        num_classes=400, depth=depth, pretrained=True, pretrained_base=True, out_indices=[3],
        inflate_freq=inflate, nonlocal_stages=(1, 2), nonlocal_cfg=dict(nonlocal_type="gaussian"),
        nonlocal_freq=nonlocal_)


def _gluon_slowfast(gluon, layers=(3, 4, 6, 3)):
    """GluonCV's slowfast_4x16_resnet50_kinetics400 (the arguments of its constructor function)."""
    return gluon.slowfast.SlowFast(num_classes=400, layers=list(layers), alpha=8, beta_inv=8,
                                   fusion_conv_channel_ratio=2, fusion_kernel_size=5, width_per_group=64,
                                   num_groups=1, slow_temporal_stride=16, fast_temporal_stride=2,
                                   slow_frames=4, fast_frames=32)


def _gluon_r2plus1d(gluon, layers=(3, 8, 36, 3)):
    """GluonCV's r2plus1d_v2_resnet152_kinetics400 (``block_nums`` as given), batch norms (USE_AFFINE off)."""
    m = gluon.r2plus1dv2
    return m.ResNet_R2plus1Dv2(m.Bottleneck_R2plus1Dv2, num_classes=400, block_nums=list(layers), use_affine=False)


def _randomise_small(model, seed):
    """Random batch-norm statistics and affine terms, biases and classifier (tensors of rank <= 2).

    The convolutions keep GluonCV's own initialisation (copied into the port), so only small
    tensors are drawn; GluonCV's zero-initialised non-local batch norms get random scales.
    """
    state = model.state_dict()
    small = {k: v for k, v in state.items() if v.ndim <= 2}
    model.load_state_dict({**state, **_randomise(small, seed=seed)})
    return model.eval()


def _within_scale(got, expected):
    """Largest difference within 1e-4 of the largest logit (see the module docstring)."""
    scale = expected.abs().max()
    assert scale > 1e-3  # a real signal, not logits that vanished
    assert (got - expected).abs().max() <= 1e-4 * scale, float((got - expected).abs().max() / scale)


# name -> (our builder at a reduced size GluonCV's constructor also takes, GluonCV's, input shape)
def _cases(gluon):
    from mgmtfeat.backbones.gluon_i3d import GluonI3D
    from mgmtfeat.backbones.gluon_r2plus1d import GluonR2Plus1D
    from mgmtfeat.backbones.gluon_slowfast import GluonSlowFast

    return {
        # GluonCV's own i3d_nl10_resnet50_v1 configuration: same blocks, 10 non-local blocks
        "i3d_nl10_resnet101_v1_kinetics400": (lambda: GluonI3D(depth=50), lambda: _gluon_i3d_nl10(gluon, 50),
                                              (1, 3, 8, 32, 32)),
        # T=16: the slow pathway takes frames 0 and 8 (GluonCV's x[:, :, ::8]), not pytorchvideo's linspace
        "slowfast_4x16_resnet50_kinetics400": (lambda: GluonSlowFast(layers=(1, 1, 1, 1)),
                                               lambda: _gluon_slowfast(gluon, (1, 1, 1, 1)), (2, 3, 16, 32, 32)),
        "r2plus1d_v2_resnet152_kinetics400": (lambda: GluonR2Plus1D(layers=(1, 1, 1, 1)),
                                              lambda: _gluon_r2plus1d(gluon, (1, 1, 1, 1)), (2, 3, 8, 32, 32)),
    }


NAMES = ["i3d_nl10_resnet101_v1_kinetics400", "slowfast_4x16_resnet50_kinetics400", "r2plus1d_v2_resnet152_kinetics400"]


@pytest.mark.parametrize("name", NAMES)
def test_full_size_state_dict_keys_and_shapes(gluon, name):
    """At full size (built on the meta device: no memory, no initialisation) GluonCV's keys and shapes."""
    from mgmtfeat.backbones import registry

    full = {NAMES[0]: lambda: _gluon_i3d_nl10(gluon), NAMES[1]: lambda: _gluon_slowfast(gluon),
            NAMES[2]: lambda: _gluon_r2plus1d(gluon)}[name]
    registry.get_weights_config(name)  # loads the families
    builder, config = registry._REGISTRY[name]
    with torch.device("meta"):
        theirs = full().state_dict()
        ours = builder(config, "random", {})[0].state_dict()
    assert sorted(ours) == sorted(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in theirs)
    if name == NAMES[0]:
        assert sum(k.endswith(".nonlocal_block.theta.weight") for k in theirs) == 10


@pytest.mark.parametrize("name", NAMES)
def test_logits_equal_gluoncv_fused_and_not(gluon, name, tmp_path):
    """GluonCV's state dict, saved to a file, loads strictly into the port; same logits fused or not."""
    from mgmtfeat.backbones import registry
    from mgmtfeat.backbones.backbone import Backbone
    from mgmtfeat.backbones.gluon_store import load_gluon_weights

    ours_fn, theirs_fn, shape = _cases(gluon)[name]
    theirs = _randomise_small(theirs_fn(), seed=len(name))
    path = tmp_path / f"{name}.pth"
    torch.save(theirs.state_dict(), path)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = theirs(x)
    assert expected.shape == (shape[0], 400)
    config = registry.get_weights_config(name)
    for fuse, channels_last in ((False, False), (True, True)):
        with torch.device("meta"):  # no initialisation: the file's tensors are assigned
            model = ours_fn()
        info = load_gluon_weights(model, config, path, name)
        assert info["weights_id"].endswith(f"(local {path.name})") and len(info["sha256"]) == 64
        if not fuse:  # loaded strictly: the same tensors
            assert all(torch.equal(model.state_dict()[k], v) for k, v in theirs.state_dict().items())
        bb = Backbone(name, model, config, info, fuse=fuse, channels_last=channels_last)
        assert bb.fused is fuse
        _within_scale(bb.forward(x), expected)


def test_another_nets_checkpoint_is_refused_with_what_it_looks_like(gluon, tmp_path):
    slowfast = tmp_path / "slowfast.pth"
    torch.save(_gluon_slowfast(gluon, (1, 1, 1, 1)).state_dict(), slowfast)
    with pytest.raises(WeightsError, match=r"slowfast\.pth do not fit .*missing keys \[first_stage.*unexpected "
                       r"keys \[fast_bn1.*looks like GluonCV SlowFast ResNet-\? \(blocks \(1, 1, 1, 1\)\), "
                       r"not i3d_nl10_resnet101"):
        create_backbone("i3d_nl10", weights=slowfast)
    r2 = tmp_path / "short.pth"
    torch.save(_gluon_r2plus1d(gluon, (1, 1, 1, 1)).state_dict(), r2)
    with pytest.raises(WeightsError, match=r"short\.pth do not fit.*missing keys \[layer1\.1\..*looks like "
                       r"GluonCV R\(2\+1\)D v2 ResNet-\?"):
        create_backbone("ircsn", weights=r2)
    with torch.device("meta"):  # full-size state dicts, named without memory
        assert looks_like(_gluon_i3d_nl10(gluon, depth=50).state_dict()) == \
            "GluonCV I3D ResNet-50 with 10 non-local blocks"
        assert looks_like(_gluon_r2plus1d(gluon).state_dict()) == "GluonCV R(2+1)D v2 ResNet-152"
        assert looks_like(_gluon_slowfast(gluon).state_dict()) == "GluonCV SlowFast ResNet-50"


def test_names_aliases_and_configs():
    for alias, name in (("i3d_nl10", "i3d_nl10_resnet101_v1_kinetics400"),
                        ("slowfast_gluon", "slowfast_4x16_resnet50_kinetics400"),
                        ("ircsn", "r2plus1d_v2_resnet152_kinetics400"),
                        ("r2plus1d_v2", "r2plus1d_v2_resnet152_kinetics400")):
        assert get_weights_config(alias) is get_weights_config(name)
        config = get_weights_config(name)
        assert config.location.endswith(f"/torch/models/{name}-{config.sha1[:8]}.pth") and config.paper == "gluoncv"
    # the existing names keep meaning mgmtfeat's nets
    assert get_weights_config("i3d").weights_id.startswith("i3d-kinetics400-deepmind")
    assert get_weights_config("slowfast").weights_id == "pytorchvideo SLOWFAST_4x16_R50"
    assert get_weights_config("r2plus1d").weights_id == "pytorchvideo R2PLUS1D_16x4_R50"
    bb = create_backbone("slowfast_gluon", weights="random", num_frames=8, size=32)
    assert bb.name == "slowfast_4x16_resnet50_kinetics400" and bb.provenance["net"] == bb.name
    clips = np.random.default_rng(0).integers(0, 256, size=(1, 150, 40, 40), dtype=np.uint8)
    out = bb.extract(clips)
    assert out.shape == (1, 400) and out.dtype == np.float32 and np.isfinite(out).all()


def test_looks_like_other_checkpoints():
    assert "pytorchvideo" in looks_like({"blocks.0.conv.weight": 0})
    assert "Inception-I3D" in looks_like({"Conv3d_1a_7x7.conv.weight": 0})
    assert looks_like({"x": 0}) == "no GluonCV action-recognition net"


def test_model_store_download_checks_sha1(tmp_path, monkeypatch):
    import dataclasses

    from mgmtfeat.backbones import registry

    monkeypatch.setenv("MGMTFEAT_CACHE", str(tmp_path / "cache"))
    server = tmp_path / "server"
    server.mkdir()
    from mgmtfeat.backbones.gluon_slowfast import GluonSlowFast

    path = server / "slowfast_4x16_resnet50_kinetics400-1d1eadb2.pth"
    torch.save(GluonSlowFast(layers=(1, 1, 1, 1)).state_dict(), path)
    builder, config = registry._REGISTRY[registry.canonical_name("slowfast_gluon")]
    wrong = dataclasses.replace(config, location=path.as_uri(), sha1="0" * 40)
    monkeypatch.setitem(registry._REGISTRY, "slowfast_4x16_resnet50_kinetics400", (builder, wrong))
    with pytest.raises(WeightsError, match=r"has sha1 [0-9a-f]{40}, expected 0{40}"):
        create_backbone("slowfast_gluon")
    builder, _ = registry._REGISTRY["slowfast_4x16_resnet50_kinetics400"]
    assert list((tmp_path / "cache").iterdir()) == []  # the wrong file is not kept
    import hashlib

    right = dataclasses.replace(wrong, sha1=hashlib.sha1(path.read_bytes()).hexdigest())
    # the file holds a reduced SlowFast: the builder makes the same (GluonCV's constructor takes layers=)
    small = lambda config, weights, kwargs: builder(config, weights, {"layers": (1, 1, 1, 1)})  # noqa: E731
    monkeypatch.setitem(registry._REGISTRY, "slowfast_4x16_resnet50_kinetics400", (small, right))
    bb = create_backbone("slowfast_gluon", fuse=False)
    assert bb.provenance["weights_id"] == "gluoncv slowfast_4x16_resnet50_kinetics400"
    assert bb.provenance["weights_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [path.name]


def test_families_register_themselves_and_names_stay_unique(monkeypatch):
    from mgmtfeat.backbones import registry, register_backbone

    registry.get_weights_config("i3d")  # every public module of the package imported once
    assert {"i3d", "vivit", "resnet50", "i3d2d", "r2plus1d_v2_resnet152_kinetics400"} <= set(registry._REGISTRY)
    config = get_weights_config("ircsn")
    for name, aliases in (("ircsn", ()), ("another", ("i3d_nl10",)), ("i3d", ())):
        with pytest.raises(ValueError, match="is already registered"):
            register_backbone(name, config, aliases=aliases)(lambda *a: None)
    assert "another" not in registry._REGISTRY  # a refused registration leaves nothing behind
    with pytest.raises(ValueError, match=r"unknown backbone 'x3d'.*aliases: i3d_nl10, ircsn"):
        create_backbone("x3d")
