"""Saliency outputs: the map as a NIfTI on the input's grid and PNG overlays on its most salient slices."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mgmtfeat._io import atomic_path
from mgmtfeat.clips.make import to_frames
from mgmtfeat.data.nifti import write_nifti

__all__ = ["chosen_slices", "overlay", "peak_slice", "write_map", "write_overlays"]


def write_map(path: str | Path, saliency: np.ndarray, affine: np.ndarray, source: str | Path | None = None) -> Path:
    """Write a float32 map on the input's grid, atomically.

    Parameters
    ----------
    path : path-like
    saliency : np.ndarray, shape (X, Y, Z)
        On the canonical RAS+ grid the readers return.
    affine : np.ndarray, shape (4, 4)
        That grid's affine.
    source : path-like, optional
        The input NIfTI file: the map is turned back into its voxel order, so that it has the
        file's own shape and affine (an LPS file gets an LPS map). Otherwise (a DICOM series)
        the canonical grid is written.
    """
    import nibabel as nib

    data = np.asarray(saliency, np.float32)
    if source is not None and Path(source).is_file() and Path(source).name.endswith((".nii", ".nii.gz")):
        header = nib.load(str(source))
        ras = nib.orientations.axcodes2ornt("RAS")
        back = nib.orientations.ornt_transform(ras, nib.orientations.io_orientation(header.affine))
        data = nib.orientations.apply_orientation(data, back)
        affine = header.affine
    return write_nifti(path, np.ascontiguousarray(data), affine, dtype=np.float32)


def peak_slice(saliency: np.ndarray, brain: np.ndarray) -> int:
    """The canonical slice with the largest saliency summed over brain voxels (the middle of :func:`chosen_slices`).

    Summing over the brain (not the maximum) breaks the ties of tube patches, which give every
    slice of the clip's range the same values: the slice where the salient region has most
    brain wins.
    """
    per_slice = np.where(brain, np.clip(saliency, 0, None), 0).sum(axis=(0, 1))
    if not per_slice.any():  # nothing raised the probability: show where the map is largest in size
        per_slice = np.where(brain, np.abs(saliency), 0).sum(axis=(0, 1))
    return int(np.argmax(per_slice))


def chosen_slices(saliency: np.ndarray, brain: np.ndarray) -> list[int]:
    """:func:`peak_slice` and its two neighbours; neighbours outside the volume are dropped."""
    z = peak_slice(saliency, brain)
    return [k for k in (z - 1, z, z + 1) if 0 <= k < saliency.shape[2]]


def overlay(image: np.ndarray, saliency: np.ndarray, scale: float) -> np.ndarray:
    """RGB uint8 ``(rows, cols, 3)``: a grey display frame with red (drop > 0) and blue (drop < 0) over it.

    Parameters
    ----------
    image, saliency : np.ndarray, shape (rows, cols)
        One display frame of the volume and of the map (see :func:`mgmtfeat.clips.make.to_frames`).
    scale : float
        The map's largest absolute value over the volume (full colour), so slices compare.
    """
    brain = image[image != 0]
    lo, hi = np.percentile(brain, [1, 99]) if brain.size else (0.0, 1.0)
    grey = np.clip((image - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    strength = np.clip(saliency / max(scale, 1e-12), -1, 1)
    alpha = 0.6 * np.abs(strength)[:, :, None]
    colour = np.where((strength >= 0)[:, :, None], [1.0, 0.0, 0.0], [0.0, 0.3, 1.0])
    return np.rint((rgb * (1 - alpha) + colour * alpha) * 255).astype(np.uint8)


def write_overlays(path: str | Path, volume: np.ndarray, saliency: np.ndarray,
                   title: str = "occlusion saliency") -> tuple[Path, list[int]]:
    """Write a PNG of :func:`overlay` on :func:`chosen_slices`, side by side; returns it and the slices.

    Each tile is titled with its slice (the canonical RAS+ index, as in ``saliency.csv``'s
    ``overlay_slices``; the middle one is the peak); a colour bar gives the drop in probability that
    full red or blue stands for. The figure is at least 640 pixels wide, whatever the volume's size.

    Parameters
    ----------
    path : path-like
    volume, saliency : np.ndarray, shape (X, Y, Z)
        The image shown and its map, on the canonical grid.
    title : str
        Above the tiles (e.g. the case and the modality).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.colors import LinearSegmentedColormap, Normalize

    slices = chosen_slices(saliency, volume != 0)
    frames, maps = to_frames(volume), to_frames(saliency)
    scale = float(np.abs(saliency).max())
    fig, axes = plt.subplots(1, len(slices), figsize=(2.6 * len(slices) + 1.4, 3.2), squeeze=False)
    peak = peak_slice(saliency, volume != 0)
    for ax, z in zip(axes[0], slices):
        ax.imshow(overlay(frames[z].astype(np.float32), maps[z], scale), interpolation="nearest")
        ax.set_title(f"slice {z}" + (" (peak)" if z == peak else ""), fontsize=9)
        ax.axis("off")
    # the overlay's own colours: blue (masking raises P) - grey image - red (masking lowers P)
    cmap = LinearSegmentedColormap.from_list("drop", [(0.0, 0.3, 1.0), (0.5, 0.5, 0.5), (1.0, 0.0, 0.0)])
    bar = fig.colorbar(plt.cm.ScalarMappable(Normalize(-max(scale, 1e-12), max(scale, 1e-12)), cmap), ax=list(axes[0]),
                       fraction=0.04, pad=0.02)
    bar.set_label("drop in probability when masked", fontsize=8)
    fig.suptitle(title, fontsize=10)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path, slices
