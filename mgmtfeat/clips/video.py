"""Clip export for people to look at: MP4/AVI videos, PNG montages and previews; read videos back.

The feature path uses the in-memory uint8 frames; videos here go through a lossy codec
and are for viewing (or for computing features "the paper's way" from video files,
through :func:`read_video`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mgmtfeat import MODALITIES, MODALITY_LABELS
from mgmtfeat._io import atomic_path
from mgmtfeat.clips.make import CaseClips, to_frames
from mgmtfeat.clips.placement import Placement
from mgmtfeat.data.volumes import Case, same_grid

__all__ = ["montage", "montage_frames", "read_video", "write_montage", "write_preview", "write_video"]

_CODECS = {".mp4": "libx264", ".avi": "mpeg4"}


def _check_clip(clip: np.ndarray, what: str = "clip") -> np.ndarray:
    clip = np.asarray(clip)
    if clip.dtype != np.uint8 or clip.ndim != 3:
        raise TypeError(f"{what} must be uint8 (frames, height, width), got {clip.dtype} {clip.shape}")
    return clip


def write_video(clip: np.ndarray, path: str | Path, fps: int = 15, quality: int = 8) -> Path:
    """Write a uint8 ``(frames, height, width)`` clip as an MP4 (H.264) or AVI (MPEG-4) file.

    Parameters
    ----------
    clip : numpy.ndarray
        uint8 ``(frames, height, width)``; height and width should be multiples of 16
        (128 is) so that the codec does not resize frames.
    path : str or Path
        Output file ending in ``.mp4`` or ``.avi``; written atomically.
    fps : int
        Frames per second.
    quality : int
        imageio-ffmpeg quality, 0 (worst) to 10 (best).
    """
    import imageio.v2 as imageio

    clip = _check_clip(clip)
    path = Path(path)
    codec = _CODECS.get(path.suffix.lower())
    if codec is None:
        raise ValueError(f"video file {path} must end in .mp4 or .avi")
    with atomic_path(path) as tmp:  # the temporary name keeps the suffix: ffmpeg picks the container from it
        writer = imageio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec=codec,
                                    quality=quality, macro_block_size=16,
                                    ffmpeg_log_level="error", pixelformat="yuv420p")
        with writer:
            for frame in clip:
                writer.append_data(np.repeat(frame[:, :, None], 3, axis=2))
    return path


def read_video(path: str | Path) -> np.ndarray:
    """Read a video file into a uint8 ``(frames, height, width)`` clip (grey: mean of RGB)."""
    import imageio.v2 as imageio

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise ValueError(f"video file {path} is missing or empty")
    try:
        with imageio.get_reader(path, format="FFMPEG") as reader:
            frames = [np.asarray(f) for f in reader]
    except Exception as exc:  # imageio-ffmpeg raises OSError/RuntimeError/IndexError on bad files
        raise ValueError(f"video file {path} cannot be decoded ({type(exc).__name__}: {exc})") from None
    if not frames:
        raise ValueError(f"video file {path} holds no frame")
    video = np.stack(frames)
    if video.ndim == 4:
        video = np.rint(video[..., :3].mean(axis=3)).astype(np.uint8)
    return video


def montage_frames(clip: np.ndarray, n_tiles: int) -> np.ndarray:
    """Indices of ``n_tiles`` evenly spaced frames between the first and last non-blank frame of ``clip``."""
    filled = np.flatnonzero(np.asarray(clip).reshape(len(clip), -1).any(axis=1))
    first, last = (filled[0], filled[-1]) if filled.size else (0, len(clip) - 1)
    return np.linspace(first, last, n_tiles).round().astype(int)


def montage(clip: np.ndarray, n_tiles: int = 16, columns: int = 4) -> np.ndarray:
    """Evenly spaced frames of a clip tiled into one uint8 ``(rows*h, columns*w)`` image.

    Frames are taken between the first and last non-blank frame, so zero padding of a
    short volume does not fill the montage.
    """
    clip = _check_clip(clip)
    index = montage_frames(clip, n_tiles)
    rows = -(-n_tiles // columns)
    h, w = clip.shape[1:]
    out = np.zeros((rows * h, columns * w), dtype=np.uint8)
    for k, i in enumerate(index):
        r, c = divmod(k, columns)
        out[r * h:(r + 1) * h, c * w:(c + 1) * w] = clip[i]
    return out


def _write_png(image: np.ndarray, path: Path) -> Path:
    import imageio.v2 as imageio

    if path.suffix.lower() != ".png":
        raise ValueError(f"image file {path} must end in .png")
    with atomic_path(path) as tmp:
        imageio.imwrite(tmp, image, format="PNG")
    return path


def write_montage(clip: np.ndarray, path: str | Path, n_tiles: int = 16, columns: int = 4) -> Path:
    """Write :func:`montage` of a clip as a PNG, atomically."""
    return _write_png(montage(clip, n_tiles, columns), Path(path))


def _slice_with_box(case: Case, case_clips: CaseClips, modality: str, height: int) -> tuple[np.ndarray, int]:
    """RGB ``(height, w, 3)`` frame through the tumour (or the clip's middle) with the box in red, and its frame index.

    The frame is resized to ``height`` rows first and the 2-pixel outline drawn after, so
    that resizing cannot drop it.
    """
    from scipy.ndimage import zoom

    source = "t1ce" if modality == "delta_t1" else modality
    place = Placement.from_dict(case_clips.meta["clips"][modality])  # also from a clip file read back
    frames = to_frames(case.volumes[source].data)
    z = (place.slice_start + place.slice_stop) // 2
    if place.source == "seg":
        z = place.extent.centre_slice
    z = int(np.clip(z, 0, frames.shape[0] - 1))
    frame = frames[z].astype(np.float32)
    if modality == "delta_t1" and same_grid(case.volumes["t1"], case.volumes["t1ce"]):
        frame = frame - to_frames(case.volumes["t1"].data)[z]  # else: T1wCE stands in for the preview
    brain = frame[frame != 0]
    lo, hi = np.percentile(brain, [1, 99]) if brain.size else (0.0, 1.0)
    grey = np.clip((frame - lo) / max(hi - lo, 1e-6) * 255, 0, 255)
    grey[frame == 0] = 0
    factor = height / grey.shape[0]
    grey = zoom(grey, factor, order=1)[:height].astype(np.uint8)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    h, w = grey.shape
    r0, c0, side = (v * factor for v in (place.row0, place.col0, place.side))
    top, bottom = int(np.clip(round(r0), 0, h - 2)), int(np.clip(round(r0 + side) - 2, 0, h - 2))
    left, right = int(np.clip(round(c0), 0, w - 2)), int(np.clip(round(c0 + side) - 2, 0, w - 2))
    red = np.array([255, 0, 0], np.uint8)
    rgb[top:top + 2, left:right + 2] = red
    rgb[bottom:bottom + 2, left:right + 2] = red
    rgb[top:bottom + 2, left:left + 2] = red
    rgb[top:bottom + 2, right:right + 2] = red
    return rgb, z


def write_preview(case: Case, case_clips: CaseClips, path: str | Path, n_tiles: int = 6) -> Path:
    """Write a PNG preview: per modality (named at the left), the full slice through the tumour with
    the box in red, then ``n_tiles`` evenly spaced frames of the clip, each titled with its frame
    number. Slice and clip tiles are scaled to the clip's height.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"image file {path} must end in .png")
    names = [m for m in MODALITIES if m in case_clips.clips]  # --modalities may leave some out
    size = case_clips.clips[names[0]].shape[1]
    fig, axes = plt.subplots(len(names), n_tiles + 1, figsize=(1.25 * (n_tiles + 1) + 0.6,
                                                                      1.35 * len(names) + 0.5), squeeze=False)
    for row, modality in zip(axes, names):
        full, z = _slice_with_box(case, case_clips, modality, size)
        row[0].imshow(full, interpolation="nearest")
        row[0].set_title(f"slice {z} (box in red)", fontsize=7)
        clip = case_clips.clips[modality]
        for ax, frame in zip(row[1:], montage_frames(clip, n_tiles)):
            ax.imshow(clip[frame], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_title(f"frame {frame}", fontsize=7)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(MODALITY_LABELS.get(modality, modality), fontsize=9)
    fig.suptitle(f"{case.case_id}: slice through the tumour (box in red), then clip frames", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path
