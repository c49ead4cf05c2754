"""``sampling="paper"``: the authors' frames and preprocessing, checked against their own pipelines.

The GluonCV nets' input is compared with GluonCV's own video transforms as the authors composed
them (``codes/feat_extract_pytorch.py``); ViViT's input and logits with the authors' frame
indices through ``VivitImageProcessor`` (``codes/vivit_feature_extract_pytorch.py``).
"""

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from mgmtfeat.backbones import create_backbone, get_weights_config, paper_backbones
from mgmtfeat.backbones.preprocess import preprocess
from mgmtfeat.backbones.sampling import frame_indices, with_sampling

GLUON = ["i3d_nl10_resnet101_v1_kinetics400", "r2plus1d_v2_resnet152_kinetics400",
         "slowfast_4x16_resnet50_kinetics400"]


def _real_looking_clip(n_frames=150, size=128, seed=0):
    """A grey uint8 clip with smooth anatomy-like structure: a bright ellipse, a dark core, texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size - 0.5
    frames = []
    for t in range(n_frames):
        r = 0.25 + 0.15 * np.sin(np.pi * t / n_frames)
        body = np.exp(-((xx / 0.4) ** 2 + (yy / 0.3) ** 2) * 3) * 180
        lesion = 60 * np.exp(-((xx - 0.05) ** 2 + (yy + 0.02) ** 2) / (2 * (r / 3) ** 2))
        frames.append(body + lesion + rng.normal(0, 6, (size, size)))
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)[None]


def test_paper_frames_of_each_preset():
    assert paper_backbones() == sorted(GLUON + ["vivit"])
    for name in GLUON:
        config = with_sampling(name, get_weights_config(name), "paper")
        assert frame_indices(150, config).tolist() == [0, 25, 50, 75, 100, 125]
        assert (config.size, config.resize_to, config.mean) == (224, 256, (0.485, 0.456, 0.406))
    vivit = with_sampling("vivit", get_weights_config("vivit"), "paper")
    assert frame_indices(150, vivit).tolist() == [1, 26, 51, 76, 101] + [126] * 27
    assert frame_indices(150, get_weights_config("vivit")).tolist() == \
        np.round(np.linspace(0, 149, 32)).astype(int).tolist()  # uniform stays the default


@pytest.mark.parametrize("n_frames", [100, 200])
def test_a_clip_without_the_papers_frame_count_is_refused(n_frames):
    config = with_sampling("vivit", get_weights_config("vivit"), "paper")
    with pytest.raises(ValueError, match=rf"a clip of {n_frames} frames gives \d\. Make the clips with --frames 150"):
        frame_indices(n_frames, config)


def test_unsupported_sampling_is_refused_before_any_work():
    with pytest.raises(ValueError, match=r"'i3d' does not support sampling 'paper'.*i3d_nl10_resnet101.*vivit"):
        create_backbone("i3d", weights="random", sampling="paper")
    with pytest.raises(ValueError, match=r"sampling 'every' is not one of \('uniform', 'paper'\)"):
        create_backbone("ircsn", weights="random", sampling="every")
    with pytest.raises(ValueError, match="sampling 'paper' fixes the frames and size.*leave num_frames unset"):
        create_backbone("vivit", weights="random", sampling="paper", num_frames=8)


@pytest.fixture
def gluon_transforms():
    """GluonCV's video transforms, imported without its package init. Where absent, ``cv2`` is a
    stand-in that refuses to run (the authors' Resize(256) is a no-op on their 256-pixel frames, so
    it is not called) and ``torchvision`` an empty one (used only by ColorJitter, not here)."""
    spec = importlib.util.find_spec("gluoncv")
    if spec is None:
        pytest.skip("gluoncv 0.10.5.post0 is not installed (make venv installs it for the tests)")
    root = Path(list(spec.submodule_search_locations)[0]) / "torch" / "data" / "transforms"
    names = {"_gluoncv_transforms": root, "_gluoncv_transforms.videotransforms": root / "videotransforms"}
    added = {}
    for name, folder in names.items():
        added[name] = types.ModuleType(name)
        added[name].__path__ = [str(folder)]
    cv2 = types.ModuleType("cv2")
    cv2.INTER_LINEAR = cv2.INTER_NEAREST = None
    cv2.resize = lambda *a, **k: pytest.fail("cv2.resize called: the frames were not 256 pixels")
    standins = {"cv2": cv2, "torchvision": types.ModuleType("torchvision")}
    standins = {name: module for name, module in standins.items() if importlib.util.find_spec(name) is None}
    added.update(standins)
    sys.modules.update(added)
    try:
        base = "_gluoncv_transforms.videotransforms."
        modules = (importlib.import_module(base + "video_transforms"), importlib.import_module(base + "volume_transforms"))
    finally:  # the modules keep what they imported; nothing stays in sys.modules for other tests
        for name in [n for n in sys.modules if n.startswith("_gluoncv_transforms")] + list(standins):
            sys.modules.pop(name, None)
    return modules


def test_gluon_paper_input_equals_the_authors_gluoncv_transforms(gluon_transforms):
    """On 256-pixel frames (the size of the authors' videos) the input is GluonCV's, frame for frame."""
    video_transforms, volume_transforms = gluon_transforms
    clip = _real_looking_clip(size=256)
    transform_fn = video_transforms.Compose([  # the authors' composition, verbatim in its arguments
        video_transforms.Resize(256, interpolation="bilinear"), video_transforms.CenterCrop(size=(224, 224)),
        volume_transforms.ClipToTensor(),
        video_transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    frames = np.repeat(clip[0][list(range(0, 150, 25))][..., None], 3, axis=-1)  # decord's (T, H, W, 3) uint8
    expected = transform_fn(frames)[None]
    config = with_sampling("slowfast_gluon", get_weights_config("slowfast_gluon"), "paper")
    got = preprocess(clip, config)  # what Backbone.preprocess runs
    assert got.shape == expected.shape == (1, 3, 6, 224, 224)
    # x * (1/255) against x / 255 and the normalisation's own order: a few float32 ulps of values up to ~2.6
    torch.testing.assert_close(got, expected.float(), rtol=0, atol=1e-6)


def test_vivit_paper_logits_equal_the_authors_pipeline():
    """The authors' ViViT flow (their frame indices, RGB uint8 frames, VivitImageProcessor, the model) on a
    real-looking clip gives the logits of ``create_backbone('vivit', sampling='paper')``."""
    from transformers import VivitImageProcessor

    # a small random ViViT at the real input (32 frames of 224 pixels): the processor's semantics are what is tested
    small = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    bb = create_backbone("vivit", weights="random", sampling="paper", model_kwargs=small)
    clip = _real_looking_clip()
    # the authors' sample_frame_indices for a video shorter than 800 frames, then the last frame repeated to 32
    indices = np.array(range(1, 150, 25), dtype=np.int64)
    for _ in range(32 - len(indices)):
        indices = np.append(indices, indices[-1])
    video = np.repeat(clip[0][indices][..., None], 3, axis=-1)
    inputs = VivitImageProcessor()(list(video), return_tensors="pt")
    x = bb.preprocess(clip)
    assert x.shape == (1, 32, 3, 224, 224) and float(x.min()) >= -3 and float(x.max()) <= 1
    torch.testing.assert_close(x, inputs["pixel_values"], rtol=0, atol=0)  # the processor itself: bit for bit
    with torch.inference_mode():
        expected = bb.model.hf(**inputs).logits
    got = torch.from_numpy(bb.extract(clip))
    # the same input through the same float32 model: equal up to the rounding of another batch layout
    assert (got - expected).abs().max() <= 1e-4 * expected.abs().max()
    assert bb.provenance["sampling"] == "paper" and bb.frame_indices(150) == indices.tolist()
