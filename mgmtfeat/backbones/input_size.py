"""Check a backbone's input size (frames, pixels) against its kernels and strides before any clip runs.

A network whose kernels, strides or pathways need more frames or pixels than it is given fails deep
inside torch ("Kernel size can't be greater than actual input size"), after data were read. Here a
batch of **zero** clips of the configured size runs through the network first: torch works out every
layer's output shape (and raises where one does not fit) without computing anything, so the check
costs milliseconds. When it fails, the same probe finds the smallest frame count and frame size the
network accepts, and the error names them.

A network whose layers are built for one input size (ViViT's position embeddings), or which cannot run a
batch of zero (transformers' attention reshapes with -1), says its smallest input itself through a
``smallest_input() -> (frames, pixels)`` method of its module, and is not probed.
"""

from __future__ import annotations

__all__ = ["check_input_size", "InputSizeError"]

#: Smallest frame side the clip checks allow (``preprocess.check_clips``).
_MIN_PIXELS = 8
#: Search bounds: no registered network needs more (I3D, the largest, needs 9 frames of 193 px).
_MAX_FRAMES, _MAX_PIXELS = 256, 1024


class InputSizeError(ValueError):
    """The input size a backbone was built for does not fit its kernels and strides."""


def _probe(model, config, frames: int, pixels: int) -> str | None:
    """Why a zero-clip batch of ``frames`` x ``pixels`` x ``pixels`` fails in ``model`` (None: it fits).

    ``model`` is the network as built (float32, before folding and channels-last): its zero-batch
    convolutions take torch's shape-only path (about 20 ms for a whole network), while fused oneDNN
    calls would prepare their kernels (seconds).
    """
    import torch

    if config.kind == "image":
        shape = (0, 3, pixels, pixels)
    elif config.layout == "NTCHW":
        shape = (0, frames, 3, pixels, pixels)
    else:
        shape = (0, 3, frames, pixels, pixels)
    try:
        with torch.inference_mode():
            model(torch.zeros(shape))
    except (RuntimeError, ValueError, IndexError) as err:
        return str(err).splitlines()[0] if str(err) else type(err).__name__
    return None


def _first(fits, start: int, stop: int, step: int = 1) -> int | None:
    """The first value from ``start`` towards ``stop`` (exclusive) for which ``fits`` holds."""
    return next((v for v in range(start, stop, step) if fits(v)), None)


def _least(fits, low: int, high: int) -> int | None:
    """The smallest value in [low, high] for which ``fits`` holds, ``fits`` being monotonic (frame sizes)."""
    if not fits(high):
        return None
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if fits(middle) else (middle + 1, high)
    return high


def _search(model, config, frames: int, pixels: int) -> dict:
    """Smallest accepted frames and pixels, and the accepted frame counts nearest the given one.

    Frame counts are scanned one by one: they need not be monotonic (SlowFast's two pathways pair
    only some counts: 8-11 and 16 frames fit, 12 does not). Frame sizes are (every stride pads).
    """
    video = config.kind == "video"
    fits_frames = (lambda f: _probe(model, config, f, _MAX_PIXELS) is None) if video else (lambda f: True)
    found = {"frames": _first(fits_frames, 1, _MAX_FRAMES + 1) if video else 1, "near_frames": []}
    if not fits_frames(frames):
        below, above = _first(fits_frames, frames - 1, 0, -1), _first(fits_frames, frames + 1, _MAX_FRAMES + 1)
        found["near_frames"] = [v for v in (below, above) if v is not None]
    at = frames if not found["near_frames"] else found["near_frames"][-1]  # a frame count that fits
    found["pixels"] = _least(lambda p: _probe(model, config, at, p) is None, _MIN_PIXELS, _MAX_PIXELS)
    return found


def _own_check(own, frames: int, pixels: int) -> tuple[str | None, dict]:
    """The check of a network that states its smallest input (``smallest_input()``) instead of being probed."""
    least_frames, least_pixels = own()
    found = {"frames": least_frames, "pixels": least_pixels, "near_frames": []}
    if frames >= least_frames and pixels >= least_pixels:
        return None, found
    return "", found  # the message names the smallest input; there is no torch error to quote


def check_input_size(model, name: str, config, default_frames: int, default_pixels: int) -> None:
    """Raise :class:`InputSizeError` unless ``model`` accepts clips (slices) of ``config``'s size.

    Parameters
    ----------
    model : torch.nn.Module
        The network as built, in eval mode; it takes ``(N, 3, T, S, S)`` (layout ``NCTHW``),
        ``(N, T, 3, S, S)`` (``NTCHW``) or, for an image network, ``(N, 3, S, S)``.
    name : str
        The backbone's name, for the message.
    config : WeightsConfig
        Its config, with any ``num_frames``/``size`` override: the input it will take.
    default_frames, default_pixels : int
        The net's own input size (before overrides), named in the message.

    Raises
    ------
    InputSizeError
        The input is smaller than the network's kernels and strides allow (or, for SlowFast, a frame
        count its two pathways cannot pair); the message names the given size, the torch reason, the
        smallest size the network accepts and the options that set it.
    """
    video = config.kind == "video"
    frames, pixels = (config.num_frames if video else 1), config.size
    own = getattr(model, "smallest_input", None)
    if own is not None:  # layers built for one size (ViViT): its own rule, no probe
        reason, found = _own_check(own, frames, pixels)
    else:
        reason, found = _probe(model, config, frames, pixels), None
    if reason is None:
        return
    found = found or _search(model, config, frames, pixels)
    given = (f"{frames} frame{'s' * (frames != 1)} of {pixels}x{pixels} pixels" if video
             else f"images of {pixels}x{pixels} pixels")
    f_least = f"{found['frames']}" if found["frames"] else f"more than {_MAX_FRAMES}"
    p_least = f"{found['pixels']}x{found['pixels']}" if found["pixels"] else f"more than {_MAX_PIXELS}x{_MAX_PIXELS}"
    least = f"at least {f_least} frames and {p_least} pixels" if video else f"at least {p_least} pixels"
    near = (f"; the accepted frame counts nearest {frames} are {' and '.join(map(str, found['near_frames']))}"
            if found["near_frames"] and found["frames"] and frames > found["frames"] else "")
    options = "--net-frames/--net-size (num_frames=/size= of create_backbone)" if video else \
        "--net-size (size= of create_backbone)"
    default = f"{default_frames} frames of {default_pixels} px" if video else f"{default_pixels} px"
    raise InputSizeError(
        f"{name} cannot take {given}: its kernels and strides need {least}{near}"
        f"{f' (torch: {reason})' if reason else ''}. "
        f"Give {options} accordingly, or leave them out for the net's own input ({default})."
    )
