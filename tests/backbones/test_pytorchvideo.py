"""SlowFast and R(2+1)D against pytorchvideo's own builders.

Same random weights, same input -> same logits; same state-dict keys and shapes as
the hub configurations whose Kinetics-400 checkpoints we load. pytorchvideo is a
test dependency (``pip install --no-deps pytorchvideo==0.1.5`` plus ``fvcore``);
its model package imports ``torchvision.ops.RoIAlign`` for detection heads only,
so a stand-in is used when torchvision cannot be imported.
"""

import contextlib
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn as nn

from mgmtfeat.backbones import create_backbone
from mgmtfeat.backbones.r2plus1d import R2Plus1D
from mgmtfeat.backbones.slowfast import SlowFast, pack_pathways


def _torchvision_standin():
    """Module objects for ``torchvision`` / ``torchvision.ops`` whose RoIAlign refuses to run."""
    tv = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")

    class RoIAlign(nn.Module):
        def __init__(self, *args, **kwargs):
            raise RuntimeError("torchvision stand-in: RoIAlign is not available in these tests")

    ops.RoIAlign = RoIAlign
    tv.ops = ops
    return {"torchvision": tv, "torchvision.ops": ops}


@contextlib.contextmanager
def pytorchvideo_importable():
    """Let pytorchvideo's model package import where torchvision cannot; remove the stand-in after."""
    standin = {}
    try:
        import torchvision.ops  # noqa: F401
    except Exception:  # absent, or its compiled operators fail on this torch
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        standin = _torchvision_standin()
        sys.modules.update(standin)
    try:
        yield
    finally:
        for name in standin:  # leave no stand-in behind for other test modules
            sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def pv():
    with pytorchvideo_importable():
        pytest.importorskip("fvcore")
        slowfast = pytest.importorskip("pytorchvideo.models.slowfast")
        r2plus1d = pytest.importorskip("pytorchvideo.models.r2plus1d")
        yield types.SimpleNamespace(create_slowfast=slowfast.create_slowfast,
                                    create_r2plus1d=r2plus1d.create_r2plus1d)


def _randomise(state, seed=0):
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in state.items():
        if not value.dtype.is_floating_point:
            out[key] = value
        elif key.endswith("running_var"):
            out[key] = torch.rand(value.shape, generator=gen) + 0.5
        else:
            out[key] = torch.randn(value.shape, generator=gen) * 0.1
    return out


def _same_keys_and_shapes(ours, theirs):
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    assert all(a[k].shape == b[k].shape for k in a)


# (our variant, pytorchvideo kwargs of the published Kinetics-400 checkpoint)
SLOWFAST = {
    "4x16": dict(slowfast_fusion_conv_kernel_size=(5, 1, 1), slowfast_fusion_conv_stride=(8, 1, 1),
                 head_pool_kernel_sizes=((4, 7, 7), (32, 7, 7))),
    "8x8": dict(slowfast_fusion_conv_kernel_size=(7, 1, 1)),
}


@pytest.mark.parametrize("variant", ["4x16", "8x8"])
def test_slowfast_parity(pv, variant):
    ours = SlowFast(variant).eval()
    _same_keys_and_shapes(ours, pv.create_slowfast(model_depth=50, **SLOWFAST[variant]))
    # global pooling instead of the fixed (T, 7, 7) pool so a small input fits; no parameters change
    theirs = pv.create_slowfast(model_depth=50, head_pool=nn.AdaptiveAvgPool3d,
                                **{k: v for k, v in SLOWFAST[variant].items() if k != "head_pool_kernel_sizes"})
    state = _randomise(ours.state_dict())
    ours.load_state_dict(state)
    theirs.load_state_dict(state)
    theirs.eval()
    x = torch.randn(2, 3, 16, 64, 64, generator=torch.Generator().manual_seed(1))
    alpha = ours.alpha
    with torch.inference_mode():
        expected = theirs(pack_pathways(x, alpha))
        got = ours(x)
    assert got.shape == (2, 400)
    # the same arithmetic by two implementations of some 50 layers: float32 sums ordered differently (and by
    # the CPU's vector width), observed ~1e-6; 1e-4 holds on any CPU while a misplaced layer is off by O(1)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert expected.abs().max() > 0.1  # not a trivially small output


def test_r2plus1d_parity(pv):
    ours = R2Plus1D().eval()
    _same_keys_and_shapes(ours, pv.create_r2plus1d(dropout_rate=0.5))
    theirs = pv.create_r2plus1d(dropout_rate=0.5, head_pool=nn.AdaptiveAvgPool3d, head_activation=None)
    state = _randomise(ours.state_dict(), seed=3)
    ours.load_state_dict(state)
    theirs.load_state_dict(state)
    theirs.eval()
    x = torch.randn(2, 3, 8, 64, 64, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():  # as for SlowFast: float32 summation order only, 1e-4
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-4)


def test_pytorchvideo_checkpoint_file_loads_unchanged(pv, tmp_path):
    """A checkpoint saved as pytorchvideo's model zoo files are ({"model_state": ...}) loads as is."""
    theirs = pv.create_slowfast(model_depth=50, head_pool=nn.AdaptiveAvgPool3d,
                                slowfast_fusion_conv_kernel_size=(5, 1, 1), slowfast_fusion_conv_stride=(8, 1, 1))
    theirs.load_state_dict(_randomise(theirs.state_dict(), seed=5))
    theirs.eval()
    path = tmp_path / "SLOWFAST_4x16_R50.pyth"
    torch.save({"model_state": theirs.state_dict(), "epoch": 196}, path)
    bb = create_backbone("slowfast", weights=path, num_frames=16, size=64)
    assert bb.provenance["random_weights"] is False and len(bb.provenance["weights_sha256"]) == 64
    clips = np.random.default_rng(6).integers(0, 256, size=(2, 150, 64, 64), dtype=np.uint8)
    x = bb.preprocess(clips)
    with torch.inference_mode():
        expected = theirs(pack_pathways(x, 8)).numpy()
    # ours is fused and channels-last, theirs as written: float32 summation order only (see above), 1e-4
    np.testing.assert_allclose(bb.extract(clips), expected, rtol=1e-4, atol=1e-4)
