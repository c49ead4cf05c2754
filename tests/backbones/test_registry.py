"""Registry, weights configs, preprocessing and the Backbone wrapper."""

import numpy as np
import pytest
import torch

from mgmtfeat.backbones import (
    WeightsConfig,
    create_backbone,
    get_weights_config,
    list_backbones,
)
from mgmtfeat.backbones.preprocess import check_clips, preprocess, sample_indices


def test_list_backbones():
    assert list_backbones() == ["i3d", "r2plus1d", "slowfast", "vivit"]
    assert "slowfast_8x8" in list_backbones(all_variants=True)


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match=r"unknown backbone 'x3d'.*i3d.*r2plus1d.*slowfast.*vivit"):
        create_backbone("x3d")


def test_weights_configs():
    i3d = get_weights_config("i3d")
    assert (i3d.source, i3d.num_frames, i3d.size) == ("package", 32, 224)
    assert len(i3d.sha256) == 64
    vivit = get_weights_config("vivit")
    assert (vivit.source, vivit.location, vivit.num_frames, vivit.layout) == (
        "hf", "google/vivit-b-16x2-kinetics400", 32, "NTCHW")
    assert get_weights_config("slowfast").location.endswith("SLOWFAST_4x16_R50.pyth")
    assert get_weights_config("slowfast_8x8").location.endswith("SLOWFAST_8x8_R50.pyth")
    assert get_weights_config("r2plus1d").num_frames == 16
    with pytest.raises(ValueError, match="source"):
        WeightsConfig("x", "ftp", "", None, 8, 32, 32, 1.0, 0.0, (0,) * 3, (1,) * 3)


def test_sample_indices_span_the_clip():
    idx = sample_indices(150, get_weights_config("i3d"))
    assert idx[0] == 0 and idx[-1] == 149 and len(idx) == 32
    assert np.all(np.diff(idx) > 0)


@pytest.mark.parametrize("bad, exc, match", [
    (np.zeros((2, 150, 16, 16), np.float32), TypeError, "dtype float32"),
    (np.zeros((150, 16, 16), np.uint8), ValueError, "shape"),
    (np.zeros((1, 0, 16, 16), np.uint8), ValueError, "n_frames >= 1"),
    ([[0]], TypeError, "numpy array"),
])
def test_bad_clips(bad, exc, match):
    with pytest.raises(exc, match=match):
        check_clips(bad)


def test_preprocess_values_and_layouts():
    clips = np.zeros((2, 150, 128, 128), np.uint8)
    clips[0] = 255
    x = preprocess(clips, get_weights_config("i3d"))
    assert x.shape == (2, 3, 32, 224, 224) and x.dtype == torch.float32
    assert torch.allclose(x[0], torch.ones(())) and torch.allclose(x[1], -torch.ones(()))
    v = preprocess(clips, get_weights_config("vivit"))
    assert v.shape == (2, 32, 3, 224, 224)
    # 255 / 127.5 - 1 = 1 -> (1 - 0.5) / 0.5 = 1; 0 -> (-1 - 0.5) / 0.5 = -3
    assert torch.allclose(v[0], torch.ones(())) and torch.allclose(v[1], torch.full((), -3.0))


def test_preprocess_centre_crop_matches_vivit_processor():
    """Our resize + crop + normalisation against transformers' VivitImageProcessor."""
    from transformers import VivitImageProcessor

    # smooth, asymmetric image so the two bilinear implementations agree closely
    # and a wrong crop offset or flip would show
    yy, xx = np.mgrid[0:128, 0:128]
    frame = (127 + 100 * np.sin(xx / 9.0) * np.cos(yy / 13.0) + 0.2 * xx).clip(0, 255).astype(np.uint8)
    clips = np.broadcast_to(frame, (1, 150, 128, 128)).copy()
    ours = preprocess(clips, get_weights_config("vivit"))[0, 0].numpy()  # (3, 224, 224)
    proc = VivitImageProcessor()  # defaults = the checkpoint's preprocessor_config.json
    rgb = np.repeat(clips[0, 0][..., None], 3, axis=-1)
    theirs = proc([[rgb]], return_tensors="np")["pixel_values"][0, 0]
    assert theirs.shape == ours.shape
    assert np.abs(ours - theirs).mean() < 0.01 and np.abs(ours - theirs).max() < 0.1


def test_extract_shapes_provenance_and_oom_retry(monkeypatch):
    torch.manual_seed(0)
    bb = create_backbone("r2plus1d", pretrained=False, num_frames=8, size=64)
    clips = np.random.default_rng(1).integers(0, 256, size=(3, 150, 64, 64), dtype=np.uint8)
    out = bb.extract(clips)
    assert out.shape == (3, 400) and out.dtype == np.float32 and np.isfinite(out).all()
    assert not bb.runs_as_one_batch()  # a video net on the CPU runs one clip per call
    # one batch of 3 against 3 calls: other oneDNN kernels, float32 sums ordered otherwise (a few ulp);
    # 1e-4 holds on any CPU, while a clip given another's logits is off by O(1)
    np.testing.assert_allclose(bb.extract(clips, batch=True), out, rtol=1e-4, atol=1e-4)
    emb = bb.extract(clips, return_embedding=True)
    assert emb.shape == (3, 2048)
    prov = bb.provenance
    assert prov["random_weights"] is True and prov["weights_id"] == "random"
    assert (prov["net"], prov["num_frames"], prov["size"], prov["dtype"]) == ("r2plus1d", 8, 64, "float32")

    real_run = bb._run
    calls = []

    def flaky(batch, return_embedding):
        calls.append(len(batch))
        if len(batch) > 1:
            raise RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 9 GB")
        return real_run(batch, return_embedding)

    monkeypatch.setattr(bb, "_run", flaky)
    retried = bb.extract(clips, batch=True)  # on the CPU a video net runs clips one by one unless asked
    assert calls == [3, 1, 1, 1]
    # batches of 1 instead of 3: oneDNN may pick other kernels, whose float32 sums are ordered otherwise
    # (a few ulp); 1e-4 holds on any CPU, while a clip given another's logits is off by O(1)
    np.testing.assert_allclose(retried, out, rtol=1e-4, atol=1e-4)

    def broken(batch, return_embedding):
        raise RuntimeError("some other failure")

    monkeypatch.setattr(bb, "_run", broken)
    with pytest.raises(RuntimeError, match="some other failure"):
        bb.extract(clips, batch=True)


def test_create_backbone_argument_errors():
    with pytest.raises(ValueError, match="dtype"):
        create_backbone("r2plus1d", pretrained=False, dtype="float16")
    with pytest.raises(ValueError, match="pretrained=False conflicts"):
        create_backbone("r2plus1d", weights="some.pyth", pretrained=False)
    with pytest.raises(ValueError, match="model_kwargs"):
        create_backbone("r2plus1d", model_kwargs={"depth": 18})


def test_bfloat16_backbone_close_to_float32():
    torch.manual_seed(0)
    clips = np.random.default_rng(2).integers(0, 256, size=(2, 150, 64, 64), dtype=np.uint8)
    fp32 = create_backbone("r2plus1d", pretrained=False, num_frames=8, size=64)
    bf16 = create_backbone("r2plus1d", pretrained=False, num_frames=8, size=64, dtype="bfloat16")
    bf16.model.load_state_dict(fp32.model.state_dict())
    a, b = fp32.extract(clips), bf16.extract(clips)
    assert b.dtype == np.float32 and bf16.provenance["dtype"] == "bfloat16"
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.95


@pytest.mark.parametrize("n_frames", [1, 12, 150, 300])
def test_any_clip_frame_count_is_sampled_to_the_net_frames(n_frames):
    config = get_weights_config("i3d")
    clips = np.zeros((1, n_frames, 32, 32), np.uint8)
    check_clips(clips)
    assert preprocess(clips, config).shape[2] == config.num_frames  # NCTHW
    idx = sample_indices(n_frames, config)
    assert idx[0] == 0 and idx[-1] == n_frames - 1
