"""Frame-sampling presets: ``uniform`` (mgmtfeat's default) and ``paper`` (the authors' scripts).

``uniform`` takes ``num_frames`` evenly spaced frames from the first to the last, so a
network sees the whole tumour box. ``paper`` repeats what the authors' public scripts did
to their 150-frame videos (``codes/feat_extract_pytorch.py`` and
``codes/vivit_feature_extract_pytorch.py``):

* GluonCV CNNs (preset ``"gluoncv"``): frames ``range(0, 150, 25)`` (6 frames), short side
  resized to 256 (bilinear), centre crop 224, values to [0, 1], ImageNet mean and std;
* ViViT (preset ``"vivit"``): frames ``range(1, 150, 25)`` (6 frames), the last one repeated
  up to 32 frames, then transformers' ``VivitImageProcessor`` with its default settings
  (PIL resize of the uint8 frames to shortest edge 256, centre crop 224, ``x / 127.5 - 1``,
  then mean = std = 0.5), called as the authors called it.

A clip must have the paper's frame count range (the stride of 25 has to give 6 frames), so
``paper`` refuses a clip made with another ``--frames`` before any work.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mgmtfeat.backbones.weights import SAMPLINGS, WeightsConfig

__all__ = ["SAMPLINGS", "PAPER_STRIDE", "PAPER_FRAMES", "with_sampling", "frame_indices", "vivit_paper_input"]

#: The authors' frame step and the number of distinct frames it gives on a 150-frame video.
PAPER_STRIDE = 25
PAPER_FRAMES = 6
# preset -> (first frame, frames the net takes, input changes of the config)
_PRESETS = {
    "gluoncv": (0, PAPER_FRAMES, dict(size=224, resize_to=256, rescale=1 / 255, offset=0.0,
                                      mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))),
    "vivit": (1, 32, dict(size=224, resize_to=256, rescale=1 / 127.5, offset=-1.0,
                          mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))),
}


def with_sampling(name: str, config: WeightsConfig, sampling: str, paper_nets=()) -> WeightsConfig:
    """``config`` set up for ``sampling``: the paper preset's frames and input, or unchanged.

    ``paper_nets`` are the nets with a paper preset, named in the error for any other.

    Raises
    ------
    ValueError
        ``sampling`` is unknown, or ``"paper"`` for a net without a paper preset.
    """
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling {sampling!r} is not one of {SAMPLINGS}; use 'uniform' (the default) or "
                         "'paper' (the authors' frames, for the paper's nets)")
    if sampling == "uniform":
        return dataclasses.replace(config, sampling="uniform")
    if config.paper is None:
        raise ValueError(f"backbone {name!r} does not support sampling 'paper' (the authors ran only their "
                         f"GluonCV nets and ViViT); use one of {', '.join(paper_nets)} with "
                         "--sampling paper, or --sampling uniform")
    _, frames, inputs = _PRESETS[config.paper]
    return dataclasses.replace(config, sampling="paper", num_frames=frames, **inputs)


def frame_indices(n_frames: int, config: WeightsConfig) -> np.ndarray:
    """Indices of the frames taken from a clip of ``n_frames`` frames.

    Returns
    -------
    np.ndarray of int64, shape (config.num_frames,)
        ``"uniform"``: evenly spaced from the first to the last frame, rounded (repeats when
        the clip is shorter than the network input). ``"paper"``: ``range(first, n_frames, 25)``
        (first = 0 for the GluonCV nets, 1 for ViViT), the last index repeated up to the net's frames.

    Raises
    ------
    ValueError
        ``"paper"`` on a clip whose length does not give the paper's 6 frames.
    """
    if config.sampling == "uniform":
        return np.round(np.linspace(0, n_frames - 1, config.num_frames)).astype(np.int64)
    first = _PRESETS[config.paper][0]
    idx = np.arange(first, n_frames, PAPER_STRIDE, dtype=np.int64)
    if len(idx) != PAPER_FRAMES:
        raise ValueError(
            f"sampling 'paper' takes frames range({first}, n_frames, {PAPER_STRIDE}) of the paper's 150-frame "
            f"clips ({PAPER_FRAMES} frames); a clip of {n_frames} frames gives {len(idx)}. Make the clips with "
            "--frames 150 (the default), or use --sampling uniform"
        )
    return np.concatenate([idx, np.repeat(idx[-1:], config.num_frames - len(idx))])


def vivit_paper_input(clips: np.ndarray, config: WeightsConfig):
    """ViViT input of the authors' pipeline: their frames through ``VivitImageProcessor()``.

    Parameters
    ----------
    clips : np.ndarray of uint8, shape (n_clips, n_frames, H, W)
        Grey clips; each frame goes to the processor as an RGB image (grey in the three channels).
    config : WeightsConfig
        ViViT's config with ``sampling="paper"``.

    Returns
    -------
    torch.Tensor of float32, shape (n_clips, 32, 3, 224, 224)
        The processor's ``pixel_values`` (values -3 to 1).
    """
    import torch
    from transformers import VivitImageProcessor

    processor = VivitImageProcessor()  # the defaults, as in the checkpoint's preprocessor_config.json
    idx = frame_indices(clips.shape[1], config)
    out = []
    for clip in clips:
        frames = np.repeat(clip[idx][..., None], 3, axis=-1)  # (T, H, W, 3) uint8, as decoded from video
        out.append(processor(list(frames), return_tensors="pt")["pixel_values"][0])
    return torch.stack(out).float()
