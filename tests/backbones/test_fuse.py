"""Inference rewrites (``create_backbone(fuse=True)``): folded batch norms, fused ReLUs, implicit pool padding."""

import copy
import itertools

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mgmtfeat.backbones import create_backbone
from mgmtfeat.backbones.blocks import fuse
from mgmtfeat.backbones.blocks.fuse import conv_act, fold_batch_norm, fuse_for_inference
from mgmtfeat.backbones.i3d import InceptionI3d, _pool_padding, _same_pads
from mgmtfeat.backbones.i3d2d import InceptionV1Deflated
from mgmtfeat.backbones.r2plus1d import R2Plus1D
from mgmtfeat.backbones.resnet2d import ResNet
from mgmtfeat.backbones.slowfast import SlowFast

GEN = torch.Generator().manual_seed(0)


def _randomise_norms(model):
    """Batch-norm statistics and affine parameters far from the identity, so a wrong fold shows."""
    for module in model.modules():
        if hasattr(module, "running_var"):
            module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=GEN) * 0.5)
            module.running_var.copy_(torch.rand(module.running_var.shape, generator=GEN) * 2 + 0.2)
            module.bias.data.copy_(torch.randn(module.bias.shape, generator=GEN) * 0.3)
            if getattr(module, "weight", None) is not None:
                module.weight.data.copy_(torch.rand(module.weight.shape, generator=GEN) + 0.5)
    return model.eval()


def _close(a, b, rel=5e-6):
    # Folding rounds w * s once instead of rounding conv(x) and then the batch norm, and the fused
    # kernels order their float32 additions differently: rounding only, observed up to 3.7e-7 of the
    # logits' scale on the five nets below. One mis-folded batch norm among dozens is caught: its
    # mean or scale left out moves the logits by 7.7e-4 to 9e-2 of their scale, ten times its eps
    # by 7.5e-6 to 5.3e-5.
    assert a.shape == b.shape and (a - b).abs().max() <= rel * a.abs().max(), (a - b).abs().max()


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("affine", [True, False])
def test_fold_batch_norm_equals_conv_then_norm(dims, affine):
    conv = (nn.Conv3d if dims == 3 else nn.Conv2d)(6, 8, 3, padding=1, bias=affine)
    bn = _randomise_norms((nn.BatchNorm3d if dims == 3 else nn.BatchNorm2d)(8, eps=1e-3, affine=True))
    if not affine:  # I3D's batch norm: a bias, no scale
        bn.weight = None
    x = torch.randn((2, 6) + (5,) * dims, generator=GEN)
    with torch.inference_mode():
        expected = bn(conv(x))
        fold_batch_norm(conv, bn)
        _close(expected, conv(x), rel=1e-5)
    assert conv.bias is not None and not conv.weight.requires_grad


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("relu, residual", [(True, False), (False, False), (True, True), (False, True)])
def test_conv_act_fast_path_and_fallback_agree(channels_last, relu, residual):
    conv = nn.Conv3d(8, 6, (1, 3, 3), (1, 2, 2), padding=(0, 1, 1)).eval()
    x = torch.randn(2, 8, 3, 9, 9, generator=GEN)
    r = torch.randn(2, 6, 3, 5, 5, generator=GEN) if residual else None
    if channels_last:  # weights channels-last, the shortcut contiguous: the sum reads either layout
        x, conv.weight.data = x.contiguous(memory_format=torch.channels_last_3d), conv.weight.data.contiguous(
            memory_format=torch.channels_last_3d)
    expected = conv(x) + (r if residual else 0)
    expected = F.relu(expected) if relu else expected
    kept = r.clone() if residual else None
    with torch.inference_mode():  # oneDNN's fused operator where available
        fast = conv_act(conv, x, relu, r)
    with torch.no_grad(), torch.enable_grad():  # gradients on: the plain convolution and in-place ops
        slow = conv_act(conv, x, relu, r)
    if residual:  # the shortcut (a block's input) is read, never written
        assert torch.equal(r, kept)
    _close(expected.detach(), fast, rel=1e-6)
    _close(expected.detach(), slow.detach(), rel=1e-6)


def test_fused_operator_is_used_in_inference_only(monkeypatch):
    conv = nn.Conv2d(3, 4, 3)
    x = torch.randn(1, 3, 8, 8)
    with torch.inference_mode():
        assert fuse._onednn_ready(conv, x) == fuse._HAS_POINTWISE
        assert not fuse._onednn_ready(conv, x.bfloat16())  # oneDNN bfloat16 needs AVX-512: plain path
    assert not fuse._onednn_ready(conv, x)  # gradients on
    monkeypatch.setattr(fuse, "_HAS_POINTWISE", False)  # a torch without the operator still runs
    with torch.inference_mode():
        _close(F.relu(conv(x)), conv_act(conv, x), rel=1e-6)


@pytest.mark.parametrize("kernel, stride", [(3, 1), (3, 2), (2, 2), (1, 2), (3, 3), (5, 2), (4, 3)])
def test_implicit_pool_padding_gives_the_same_maxima_as_explicit_same_padding(kernel, stride):
    """'SAME' max pooling with -inf padding vs PyTorch's padding + ceil_mode, wherever the rule accepts."""
    accepted = 0
    for n in range(1, 30):
        x = torch.randn(1, 2, n, generator=GEN)
        explicit = F.max_pool1d(F.pad(x, _same_pads((n,), (kernel,), (stride,)), value=-float("inf")), kernel, stride)
        padding = _pool_padding((n,), (kernel,), (stride,))
        if padding is not None:
            implicit = F.max_pool1d(x, kernel, stride, padding=padding, ceil_mode=True)
            assert torch.equal(explicit, implicit), (n, kernel, stride)
            accepted += 1
    assert accepted > 0


def test_i3d_pools_all_run_without_a_padded_copy():
    # I3D's pools (MaxPool3d_2a, the inception branches, before Mixed_4b and Mixed_5b) at the sizes
    # they see with 16 to 64 frames of 224 px take the implicit padding
    pools = (((1, 3, 3), (1, 2, 2)), ((3, 3, 3), (1, 1, 1)), ((3, 3, 3), (2, 2, 2)), ((2, 2, 2), (2, 2, 2)))
    for t, hw, (kernel, stride) in itertools.product((4, 8, 16, 32), (7, 14, 28, 56, 112), pools):
        assert _pool_padding((t, hw, hw), kernel, stride) is not None, (t, hw, kernel, stride)
    # stride 1 with an even kernel pads after only: ceil_mode adds no window there, so it is refused
    assert _pool_padding((8,), (2,), (1,)) is None


@pytest.mark.parametrize("name, build, shape", [
    ("i3d", lambda: InceptionI3d(), (1, 3, 9, 224, 224)),  # the fewest frames its final pool takes
    ("i3d2d", lambda: InceptionV1Deflated(), (1, 3, 224, 224)),
    ("slowfast", lambda: SlowFast(depth=18), (2, 3, 16, 64, 64)),
    ("r2plus1d", lambda: R2Plus1D(depth=18), (2, 3, 8, 64, 64)),
    ("resnet50", lambda: ResNet(width=16), (2, 3, 64, 64)),
])
def test_fused_networks_agree_with_the_networks_as_written(name, build, shape):
    torch.manual_seed(0)
    plain = _randomise_norms(build())
    fused = copy.deepcopy(plain)
    assert fuse_for_inference(fused) > 0
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in fused.modules())
    x = torch.randn(shape, generator=GEN)
    with torch.inference_mode():  # the logits depend on every layer, the classifier included
        _close(plain(x), fused(x))


def test_backbone_records_whether_it_is_fused():
    with pytest.raises(ValueError, match="eval mode"):
        fuse_for_inference(R2Plus1D(depth=18).train())
    tiny = dict(pretrained=False, num_frames=8, size=64, model_kwargs={"depth": 18})
    assert create_backbone("r2plus1d", **tiny).fused
    plain = create_backbone("r2plus1d", fuse=False, **tiny)
    assert not plain.fused and plain.model.blocks[0].norm is not None
