"""Image (2D) backbones: ResNet-50 with torchvision's names, the deflated I3D, kinds and slice input."""

import dataclasses

import numpy as np
import pytest
import torch

from mgmtfeat.backbones import (
    WeightsConfig,
    WeightsError,
    check_backbone_kind,
    create_backbone,
    get_weights_config,
    list_backbones,
)
from mgmtfeat.backbones import weight_sources
from mgmtfeat.backbones.i3d import InceptionI3d
from mgmtfeat.backbones.i3d2d import InceptionV1Deflated, deflate_i3d_state
from mgmtfeat.backbones.preprocess import check_slices, preprocess_slices
from mgmtfeat.backbones.resnet2d import ResNet, torchvision_filter
# pytest puts tests/ (no __init__.py) on sys.path, so the sibling module's helpers import by name
from test_pytorchvideo import _randomise, pytorchvideo_importable


def test_lists_and_kinds():
    assert list_backbones(kind="image") == ["i3d2d", "resnet50"]
    assert list_backbones() == ["i3d", "r2plus1d", "slowfast", "vivit"]  # the default stays the video nets
    assert set(list_backbones(kind=None)) == {"i3d", "r2plus1d", "slowfast", "vivit", "i3d2d", "resnet50"}
    assert get_weights_config("resnet50").kind == "image" and get_weights_config("i3d").kind == "video"
    assert check_backbone_kind("resnet50", "image").num_classes == 1000
    with pytest.raises(ValueError, match=r"'resnet50' is an image \(2D\) network.*slice pathway needs a video "
                       r"\(3D\) network.*use one of i3d, r2plus1d"):
        check_backbone_kind("resnet50", "video", pathway="the slice pathway")
    with pytest.raises(ValueError, match=r"'i3d' is a video \(3D\) network.*use one of i3d2d, resnet50"):
        check_backbone_kind("i3d", "image")
    with pytest.raises(ValueError, match="kind='3d'"):
        list_backbones(kind="3d")


def test_config_rules_for_image_networks():
    base = get_weights_config("resnet50")
    with pytest.raises(ValueError, match="kind 'slice'"):
        dataclasses.replace(base, kind="slice")
    with pytest.raises(ValueError, match="num_frames=8.*set num_frames=1"):
        dataclasses.replace(base, num_frames=8)
    with pytest.raises(ValueError, match="layout 'NCTHW' of a image network"):
        dataclasses.replace(base, layout="NCTHW")
    with pytest.raises(ValueError, match="bf16_ccc=1.5"):
        dataclasses.replace(base, bf16_ccc=1.5)
    assert isinstance(base, WeightsConfig) and base.to_dict()["kind"] == "image"


def test_resnet50_has_torchvision_keys_and_size():
    model = ResNet()
    state = model.state_dict()
    # torchvision's resnet50: 25,557,032 parameters; 320 state-dict entries (BN: weight, bias,
    # running_mean, running_var, num_batches_tracked)
    assert sum(p.numel() for p in model.parameters()) == 25_557_032
    assert len(state) == 320
    for key, shape in {"conv1.weight": (64, 3, 7, 7), "bn1.num_batches_tracked": (),
                       "layer1.0.conv1.weight": (64, 64, 1, 1), "layer1.0.downsample.0.weight": (256, 64, 1, 1),
                       "layer2.0.conv2.weight": (128, 128, 3, 3), "layer3.5.bn3.running_var": (1024,),
                       "layer4.2.conv3.weight": (2048, 512, 1, 1), "fc.weight": (1000, 2048),
                       "fc.bias": (1000,)}.items():
        assert tuple(state[key].shape) == shape, key
    # only the first block of each stage projects its shortcut; the stride is in conv2 (v1.5)
    assert sorted({k.rsplit(".", 2)[0] for k in state if ".downsample." in k}) == [
        "layer1.0.downsample", "layer2.0.downsample", "layer3.0.downsample", "layer4.0.downsample"]
    assert model.layer2[0].conv2.stride == (2, 2) and model.layer2[0].conv1.stride == (1, 1)


def _pytorchvideo_resnet():
    """pytorchvideo's 3D ResNet builder with one-frame kernels: an independent 2D ResNet-50 at T = 1."""
    with pytorchvideo_importable():
        resnet = pytest.importorskip("pytorchvideo.models.resnet")
        return resnet.create_resnet(
            model_depth=50, model_num_class=1000, dropout_rate=0.0, stem_conv_kernel_size=(1, 7, 7),
            stage_conv_a_kernel_size=((1, 1, 1),) * 4, head_pool_kernel_size=(1, 2, 2))


def _to_pytorchvideo(key):
    """torchvision key -> pytorchvideo key (stem blocks.0, stages blocks.1-4, head blocks.5)."""
    parts = key.split(".")
    if parts[0] in ("conv1", "bn1"):
        return f"blocks.0.{'conv' if parts[0] == 'conv1' else 'norm'}.{parts[-1]}"
    if parts[0] == "fc":
        return f"blocks.5.proj.{parts[-1]}"
    stage, block, layer = int(parts[0][5:]), parts[1], ".".join(parts[2:-1])
    name = {"conv1": "branch2.conv_a", "bn1": "branch2.norm_a", "conv2": "branch2.conv_b",
            "bn2": "branch2.norm_b", "conv3": "branch2.conv_c", "bn3": "branch2.norm_c",
            "downsample.0": "branch1_conv", "downsample.1": "branch1_norm"}[layer]
    return f"blocks.{stage}.res_blocks.{block}.{name}.{parts[-1]}"


def test_resnet50_matches_pytorchvideo_resnet_at_one_frame():
    ours = ResNet().eval()
    state = _randomise(ours.state_dict())
    ours.load_state_dict(state)
    theirs = _pytorchvideo_resnet().eval()
    mapped = {_to_pytorchvideo(k): (v.unsqueeze(2) if v.ndim == 4 else v) for k, v in state.items()}
    theirs.load_state_dict(mapped, strict=True)  # every key maps: same architecture, same shapes
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        a, b = ours(x), theirs(x[:, :, None])
    # same arithmetic in Conv2d vs Conv3d kernels: float32 rounding, relative ~1e-6 over 50 layers
    assert a.shape == (2, 1000) and b.shape == (2, 1000)
    assert (a - b).abs().max() <= 1e-4 * a.abs().max()


def test_resnet50_loads_torchvision_and_timm_files(tmp_path, monkeypatch):
    torch.manual_seed(0)
    state = _randomise(ResNet().state_dict(), seed=3)
    pth = tmp_path / "resnet50-0676ba61.pth"
    torch.save(state, pth)
    # unfused: the model holds the weights as loaded (a fused one holds batch norms folded into convolutions)
    bb = create_backbone("resnet50", weights=pth, fuse=False)
    assert bb.provenance["random_weights"] is False and "resnet50-0676ba61.pth" in bb.provenance["weights_id"]
    assert all(torch.equal(bb.model.state_dict()[k], v) for k, v in state.items())

    # a timm safetensors file without num_batches_tracked, found in the Hugging Face cache
    from safetensors.torch import save_file

    snapshot = tmp_path / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    save_file({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")},
              str(snapshot / "model.safetensors"))
    monkeypatch.setattr(weight_sources, "hf_cached_file", lambda repo, name: snapshot / name)
    cached = create_backbone("resnet50", fuse=False)
    assert cached.provenance["weights_id"] == "timm/resnet50.a1_in1k@abc123"
    assert len(cached.provenance["weights_sha256"]) == 64
    slices = np.random.default_rng(0).integers(0, 256, size=(2, 64, 64), dtype=np.uint8)
    np.testing.assert_array_equal(cached.extract(slices), bb.extract(slices))  # same weights, same kernels: exact

    monkeypatch.setattr(weight_sources, "hf_cached_file", lambda repo, name: None)
    with pytest.raises(WeightsError, match="not in the Hugging Face cache.*weights=PATH"):
        create_backbone("resnet50")
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, wrong)
    with pytest.raises(WeightsError, match="missing keys.*nothing was loaded"):
        create_backbone("resnet50", weights=wrong)


def test_torchvision_filter_unwraps_and_fills_counters():
    state = {"module.bn1.running_mean": torch.zeros(2), "module.bn1.weight": torch.ones(2)}
    out = torchvision_filter({"state_dict": state})
    assert set(out) == {"bn1.running_mean", "bn1.weight", "bn1.num_batches_tracked"}


def test_resnet50_extract_outputs_and_imagenet_preprocessing():
    bb = create_backbone("resnet50", pretrained=False, size=64)
    slices = np.random.default_rng(2).integers(0, 256, size=(3, 128, 128), dtype=np.uint8)
    logits, emb = bb.extract(slices), bb.extract(slices, return_embedding=True)
    assert logits.shape == (3, 1000) and emb.shape == (3, 2048) and np.isfinite(emb).all()
    prov = bb.provenance
    assert prov["random_weights"] is True and prov["layout"] == "NCHW" and prov["num_frames"] == 1
    # white and black slices -> (1 - mean) / std and (0 - mean) / std per ImageNet channel
    x = preprocess_slices(np.stack([np.full((32, 32), 255, np.uint8), np.zeros((32, 32), np.uint8)]),
                          get_weights_config("resnet50"))
    assert x.shape == (2, 3, 224, 224)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    # float32 arithmetic (a few roundings of 6e-8 relative) against float64 values: 1e-6 relative, while
    # another channel's mean or std is off by more than 1 %
    np.testing.assert_allclose(x[0, :, 5, 5].numpy(), (1 - mean) / std, rtol=1e-6)
    np.testing.assert_allclose(x[1, :, 5, 5].numpy(), -mean / std, rtol=1e-6)
    with pytest.raises(ValueError, match=r"clips.reshape\(-1, H, W\) for an image network"):
        bb.extract(np.zeros((1, 150, 64, 64), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        check_slices(np.zeros((1, 64, 64), np.float32))
    with pytest.raises(ValueError, match="image network, which takes one frame"):
        create_backbone("resnet50", pretrained=False, num_frames=8)


def test_deflated_state_sums_kernels_over_time_and_keeps_i3d_names():
    video = InceptionI3d()
    state = _randomise(video.state_dict())
    flat = deflate_i3d_state(state)
    image = InceptionV1Deflated()
    assert list(image.state_dict()) == list(state)  # same names, so I3D checkpoints deflate key by key
    image.load_state_dict(flat, strict=True)
    w = state["Conv3d_1a_7x7.conv.weight"]
    assert w.shape == (64, 3, 7, 7, 7) and flat["Conv3d_1a_7x7.conv.weight"].shape == (64, 3, 7, 7)
    # the same torch op on the same tensor, and a copy: bit-identical on any CPU
    torch.testing.assert_close(flat["Conv3d_1a_7x7.conv.weight"], w.sum(dim=2), rtol=0, atol=0)
    torch.testing.assert_close(flat["Mixed_5c.Branch_0.Conv3d_0a_1x1.bn.running_var"],
                               state["Mixed_5c.Branch_0.Conv3d_0a_1x1.bn.running_var"], rtol=0, atol=0)


def test_random_i3d2d_backbone_outputs():
    bb = create_backbone("i3d2d", pretrained=False)
    assert bb.kind == "image" and bb.provenance["random_weights"] is True
    slices = np.random.default_rng(0).integers(0, 256, size=(2, 128, 128), dtype=np.uint8)
    assert bb.extract(slices).shape == (2, 400)
    assert bb.extract(slices, return_embedding=True).shape == (2, 1024)
    # random weights are the deflation of the random I3D of the same seed
    video = create_backbone("i3d", pretrained=False).model.state_dict()
    # the 2D net folds its batch norm into the summed kernel, the video net sums its folded kernels: rounding
    # apart (observed 1.1e-8 for weights up to 0.07; sums of 3 terms, any CPU alike); 1e-6 absolute, while a
    # kernel summed over another axis, or not folded, is off by ~0.01
    torch.testing.assert_close(bb.model.state_dict()["Conv3d_2c_3x3.conv.weight"],
                               video["Conv3d_2c_3x3.conv.weight"].sum(dim=2), rtol=0, atol=1e-6)
