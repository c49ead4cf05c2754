"""Turn uint8 grey clips into the normalised tensor a backbone expects.

Everything here is derived from the backbone's :class:`WeightsConfig`: frame
sampling, resize, centre crop, grey to three channels, value range and layout.
"""

from __future__ import annotations

import numpy as np

from mgmtfeat.backbones.weights import WeightsConfig
from mgmtfeat.backbones.sampling import frame_indices, vivit_paper_input

__all__ = ["check_clips", "check_slices", "sample_indices", "preprocess", "preprocess_slices"]


def check_clips(clips) -> None:
    """Raise TypeError/ValueError unless ``clips`` is uint8 of shape (n_clips, n_frames, H, W).

    Any ``n_frames`` >= 1 is accepted: the clip maker's frame count is a setting (``--frames``,
    150 in the paper) and :func:`sample_indices` takes the network's frames from however many there are.
    """
    if not isinstance(clips, np.ndarray):
        raise TypeError(
            f"clips must be a numpy array, got {type(clips).__name__}; pass "
            "np.asarray(clips, dtype=np.uint8) of shape (n_clips, n_frames, H, W)"
        )
    if clips.dtype != np.uint8:
        raise TypeError(
            f"clips have dtype {clips.dtype}, expected uint8 (grey values 0-255 as the clip "
            "maker writes them); scale to 0-255 and cast with .astype(np.uint8)"
        )
    if clips.ndim != 4 or min(clips.shape[:2]) < 1:
        raise ValueError(
            f"clips have shape {clips.shape}, expected (n_clips >= 1, n_frames >= 1, H, W): "
            "one row per clip; add a leading axis for a single clip"
        )
    if min(clips.shape[2:]) < 8:
        raise ValueError(f"clip frames of {clips.shape[2]}x{clips.shape[3]} pixels are too small (< 8)")


def check_slices(slices) -> None:
    """Raise TypeError/ValueError unless ``slices`` is uint8 of shape (n_slices, H, W) or (n_slices, 3, H, W)."""
    if not isinstance(slices, np.ndarray) or slices.dtype != np.uint8:
        what = type(slices).__name__ if not isinstance(slices, np.ndarray) else f"dtype {slices.dtype}"
        raise TypeError(
            f"slices must be a uint8 numpy array (grey values 0-255), got {what}; pass "
            "np.asarray(slices).astype(np.uint8) of shape (n_slices, H, W)"
        )
    three_channel = slices.ndim == 4 and slices.shape[1] == 3
    if not (slices.ndim == 3 or three_channel) or slices.shape[0] < 1:
        hint = (f"a clip of shape {slices.shape} goes to a video network; take its frames with "
                "clips.reshape(-1, H, W) for an image network") if slices.ndim == 4 else \
            "add a leading axis for a single slice"
        raise ValueError(f"slices have shape {slices.shape}, expected (n_slices >= 1, H, W) grey or "
                         f"(n_slices >= 1, 3, H, W) three-channel; {hint}")
    if min(slices.shape[-2:]) < 8:
        raise ValueError(f"slices of {slices.shape[-2]}x{slices.shape[-1]} pixels are too small (< 8)")


def sample_indices(n_frames: int, config: WeightsConfig) -> np.ndarray:
    """Frame indices taken from a clip of ``n_frames`` frames (see :func:`.sampling.frame_indices`).

    Returns
    -------
    np.ndarray of int64, shape (config.num_frames,)
        ``"uniform"``: evenly spaced from the first to the last frame, rounded, so
        the sampled frames span the whole tumour box (repeats when the clip is
        shorter than the network input). ``"paper"``: the authors' frames.
    """
    return frame_indices(n_frames, config)


def preprocess(clips: np.ndarray, config: WeightsConfig, device="cpu", dtype=None):
    """Build the network input from grey uint8 clips.

    Parameters
    ----------
    clips : np.ndarray of uint8, shape (n_clips, n_frames, H, W)
        Clips as the clip maker writes them (n_frames = 150, H = W = 128 normally).
    config : WeightsConfig
        The backbone's config.
    device : str or torch.device
        Where the tensor goes.
    dtype : torch.dtype, optional
        Output dtype (default float32). Arithmetic is done in float32 first.

    Returns
    -------
    torch.Tensor
        ``(n_clips, 3, T, S, S)`` for layout ``"NCTHW"`` or ``(n_clips, T, 3, S, S)``
        for ``"NTCHW"``, with T = ``config.num_frames`` and S = ``config.size``,
        values ``(grey * rescale + offset - mean) / std``.
    """
    import torch

    check_clips(clips)
    if config.sampling == "paper" and config.paper == "vivit":  # the processor itself, as the authors ran it
        return vivit_paper_input(clips, config).to(device=device, dtype=dtype or torch.float32)
    idx = sample_indices(clips.shape[1], config)
    x = torch.from_numpy(np.ascontiguousarray(clips[:, idx])).to(device)
    x = _normalise(x, config)
    if config.layout == "NCTHW":
        x = x.permute(0, 2, 1, 3, 4)
    return x.contiguous().to(dtype or torch.float32)


def preprocess_slices(slices: np.ndarray, config: WeightsConfig, device="cpu", dtype=None):
    """Build the input of an image (2D) network from uint8 slices.

    Parameters
    ----------
    slices : np.ndarray of uint8, shape (n_slices, H, W) or (n_slices, 3, H, W)
        Grey images (each copied to the three channels), e.g. the frames of clips
        (``clips.reshape(-1, H, W)``), or three-channel images (e.g. T1wCE, T2, T2 of one slice,
        :func:`mgmtfeat.clips.slices.roi_slices`), channel c normalised with ``mean[c]``, ``std[c]``.
    config : WeightsConfig
        The image backbone's config (``kind="image"``, layout ``"NCHW"``).
    device, dtype
        As for :func:`preprocess`.

    Returns
    -------
    torch.Tensor, shape (n_slices, 3, S, S)
        Resized and cropped as the frames of :func:`preprocess`, values
        ``(value * rescale + offset - mean) / std`` per channel.
    """
    import torch

    check_slices(slices)
    x = torch.from_numpy(np.ascontiguousarray(slices)).to(device)
    if x.ndim == 3:  # grey: one channel, broadcast to three by the normalisation
        return _normalise(x[:, None], config)[:, 0].contiguous().to(dtype or torch.float32)
    # three channels: treat them as three frames, then keep frame c's normalised channel c
    x = _normalise(x, config)  # (n, 3 frames, 3 channels, S, S)
    return torch.diagonal(x, dim1=1, dim2=2).permute(0, 3, 1, 2).contiguous().to(dtype or torch.float32)


def _normalise(x, config: WeightsConfig):
    """(n, t, h, w) uint8 frames -> (n, t, 3, S, S) float32: resize, centre crop, normalise."""
    import torch
    import torch.nn.functional as F

    n, t, h, w = x.shape
    x = x.reshape(n * t, 1, h, w).float()
    # Resize so the shorter edge is resize_to (bilinear, as the reference pipelines).
    scale = config.resize_to / min(h, w)
    out_h, out_w = round(h * scale), round(w * scale)
    if (out_h, out_w) != (h, w):
        x = F.interpolate(x, size=(out_h, out_w), mode="bilinear", align_corners=False,
                          antialias=scale < 1)
    top, left = (out_h - config.size) // 2, (out_w - config.size) // 2
    x = x[:, :, top:top + config.size, left:left + config.size]
    x = x.reshape(n, t, 1, config.size, config.size) * config.rescale + config.offset
    mean = torch.tensor(config.mean, device=x.device).view(1, 1, 3, 1, 1)
    std = torch.tensor(config.std, device=x.device).view(1, 1, 3, 1, 1)
    return (x - mean) / std  # broadcasting the grey channel to 3 channels
