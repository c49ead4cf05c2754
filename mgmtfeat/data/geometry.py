"""Bring a case to the geometry the paper assumes: 1 mm isotropic voxels on its T1wCE grid (SimpleITK).

The clips' 150 frames and 128 x 128 box are counted in voxels, so they cover 150 x 128 x 128 mm
only on a 1 mm grid, which BraTS-style data already have. :func:`to_spacing` therefore leaves
1 mm data alone (bit for bit) and resamples anything else:

Reference grid
    The T1wCE (else the first of T1, T2, FLAIR the case has) keeps its orientation and the
    footprint of its voxels; its spacing becomes ``spacing`` mm on every axis (a 0.78 x 0.78 x
    6.5 mm series of 256 x 256 x 24 becomes about 200 x 200 x 156 voxels of 1 mm). Already at
    that spacing: the grid is kept as it is.
Other series
    A series on another grid than the reference is resampled onto the reference grid through
    the scanner coordinates of both (the affines): series of one session share them, and this
    is exact, fast and deterministic. Motion between series is not corrected here; for delta-T1,
    ``--delta-grid register`` still registers T1 rigidly onto T1wCE after this step.
Interpolation
    Images: linear (default) or B-spline (third order; its overshoot outside the head is cut
    back to zero where the linear result is zero, so the zero background that the clips use as
    the brain mask stays zero). Masks: nearest neighbour, so labels stay labels.
Anti-aliasing (``antialias=True``, ``--antialias``; off by default, as in TorchIO and MONAI)
    Before an image is brought to a coarser grid (a 0.45 mm T1wCE to 1 mm), it is smoothed
    along each axis that gets coarser with the Gaussian of Cardoso et al. (MICCAI 2015) that
    TorchIO's ``Resample(antialias=True)`` uses: sigma = s sqrt((k^2 - 1) / (8 ln 2)) mm for a
    voxel side s and a factor k = spacing / s > 1. Without it, linear interpolation takes every
    second or third voxel's neighbourhood and the fine series' noise and texture alias into the
    1 mm clips. Masks are never smoothed. 1 mm data are untouched either way.
Masks
    A segmentation must be on its reference image's grid (same shape and affine within 0.1 mm);
    otherwise the case fails, since a mask on another grid would outline other voxels.
Thick slices
    A series with a voxel side above :data:`THICK_SLICE_MM` is kept and resampled, but warned
    about and recorded: most of its 1 mm slices are then interpolated, not measured.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np

from mgmtfeat.data.canonical_volume import Volume
from mgmtfeat.data.errors import CaseError

__all__ = ["THICK_SLICE_MM", "REFERENCE_ORDER", "target_grid", "antialias_sigmas", "resample", "to_sitk", "to_spacing",
           "RAS_LPS_FLIP"]

#: A voxel side (mm) above which a series counts as thick-sliced (warned and recorded).
THICK_SLICE_MM = 5.0
#: The series whose grid the others follow, in order of preference.
REFERENCE_ORDER = ("t1ce", "t1", "t2", "flair")
_TOLERANCE_MM = 1e-3  # spacings this close to the target count as the target (header rounding)
#: The 4x4 map between RAS (nibabel) and LPS (SimpleITK, DICOM) coordinates: x and y negated; its own inverse.
RAS_LPS_FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])


def to_sitk(volume: Volume | np.ndarray, affine: np.ndarray | None = None, case_id: str = "?", path=None):
    """A SimpleITK image with the voxels and geometry of a RAS :class:`Volume`.

    Parameters
    ----------
    volume : Volume or numpy.ndarray
        ``(X, Y, Z)`` voxels (with ``affine`` when an array).
    affine : numpy.ndarray, optional
        ``(4, 4)`` voxel -> RAS mm; default ``volume.affine``.
    case_id, path
        For error messages.

    Returns
    -------
    SimpleITK.Image
        Same voxels (``image[i, j, k] == data[i, j, k]``), spacing in mm, LPS origin and direction.

    Raises
    ------
    CaseError
        An affine with shear (not a rotation times a scaling): SimpleITK cannot represent it.
    """
    import SimpleITK as sitk

    data = volume.data if isinstance(volume, Volume) else np.asarray(volume)
    affine = np.asarray(volume.affine if affine is None else affine, dtype=np.float64)
    path = volume.path if path is None and isinstance(volume, Volume) else path
    lps = (RAS_LPS_FLIP @ affine)[:3]
    spacing = np.linalg.norm(lps[:, :3], axis=0)
    direction = lps[:, :3] / spacing
    if not np.allclose(direction.T @ direction, np.eye(3), atol=1e-4):
        raise CaseError(case_id, path, "the affine has shear (its axes are not orthogonal); SimpleITK "
                        "needs orthogonal voxel axes: reslice the volume onto an orthogonal grid")
    # numpy (X, Y, Z) -> SimpleITK's (z, y, x) array order, so that index (i, j, k) is data[i, j, k]
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(data, (2, 1, 0))))
    image.SetSpacing([float(v) for v in spacing])
    image.SetOrigin([float(v) for v in lps[:, 3]])
    image.SetDirection([float(v) for v in direction.ravel()])
    return image




def _same_grid(a: Volume, b: Volume, atol_mm: float = 0.1) -> bool:
    return a.shape == b.shape and bool(np.allclose(a.affine, b.affine, atol=atol_mm))


def target_grid(reference: Volume, spacing: float) -> tuple[tuple[int, int, int], np.ndarray]:
    """The ``spacing`` mm grid over ``reference``'s voxels: same axes, same footprint.

    Parameters
    ----------
    reference : Volume
    spacing : float
        Voxel side in mm.

    Returns
    -------
    shape : tuple of int
        ``(X, Y, Z)``: ``round(n * old_spacing / spacing)`` per axis, at least 1.
    affine : numpy.ndarray
        ``(4, 4)`` voxel -> RAS mm; the footprint's first corner is kept.
    """
    old = np.asarray(reference.spacing)
    axes = reference.affine[:3, :3] / old
    shape = tuple(max(1, int(round(n * s / spacing))) for n, s in zip(reference.shape, old))
    affine = np.eye(4)
    affine[:3, :3] = axes * spacing
    # voxel centres sit half a voxel inside the footprint: move the first centre by half the change
    affine[:3, 3] = reference.affine[:3, 3] + axes @ ((spacing - old) / 2)
    return shape, affine


def antialias_sigmas(source_spacing, spacing: float) -> np.ndarray:
    """Gaussian sigma (mm) per axis that smooths a ``source_spacing`` series before it goes to ``spacing`` mm.

    Cardoso et al., "Scale factor point spread function matching: beyond aliasing in image
    resampling", MICCAI 2015, as TorchIO's ``Resample(antialias=True)`` computes it.

    Parameters
    ----------
    source_spacing : sequence of float, shape (3,)
        Voxel sides in mm of the series.
    spacing : float
        Isotropic voxel side of the target grid.

    Returns
    -------
    numpy.ndarray of float, shape (3,)
        ``s * sqrt((k**2 - 1) / (8 ln 2))`` with ``k = spacing / s``; 0 where ``k <= 1`` (no
        smoothing along an axis that keeps or gains resolution).
    """
    source = np.asarray(source_spacing, dtype=np.float64)
    factor = np.maximum(spacing / source, 1.0)
    return source * np.sqrt((factor ** 2 - 1) / (8 * np.log(2)))


def _smoothed(image, sigmas: np.ndarray):
    """``image`` smoothed with a Gaussian of ``sigmas`` mm per axis, by SimpleITK's recursive Gaussian.

    The filter TorchIO uses (``SmoothingRecursiveGaussian``), one axis at a time and only along the
    axes to smooth: TorchIO also passes over the others with a sigma of 1e-9 mm, which changes no
    voxel (a test compares the two) and cost a third of the time on a 512 x 512 x 155 series.
    """
    import SimpleITK as sitk

    for axis, sigma in enumerate(sigmas):
        if sigma > 0:
            gaussian = sitk.RecursiveGaussianImageFilter()
            gaussian.SetSigma(float(sigma))
            gaussian.SetDirection(axis)
            image = gaussian.Execute(image)
    return image


def resample(volume: Volume, shape, affine: np.ndarray, interpolation: str = "linear", case_id: str = "?",
             what: str = "image", antialias: bool = False) -> Volume:
    """``volume`` resampled onto the grid ``(shape, affine)`` through scanner coordinates (0 outside).

    Parameters
    ----------
    volume : Volume
        ``(X, Y, Z)`` float32 image, or uint8 labels with ``interpolation="nearest"``.
    shape : tuple of int
    affine : numpy.ndarray
        ``(4, 4)`` voxel -> RAS mm of the target grid.
    interpolation : {"linear", "bspline", "nearest"}
    case_id, what : str
        For error messages.
    antialias : bool
        Smooth the image first along each axis the target grid makes coarser
        (:func:`antialias_sigmas`); never with ``nearest`` (labels). The target grid's voxels must
        be cubes (the isotropic grids :func:`target_grid` makes).

    Returns
    -------
    Volume
        ``shape`` voxels, float32 (uint8 for ``nearest``), same ``path``.
    """
    import SimpleITK as sitk

    methods = {"linear": sitk.sitkLinear, "bspline": sitk.sitkBSpline, "nearest": sitk.sitkNearestNeighbor}
    if interpolation not in methods:
        raise ValueError(f"interpolation={interpolation!r} is not one of {tuple(methods)}")
    lps = (RAS_LPS_FLIP @ affine)[:3]
    spacing = np.linalg.norm(lps[:, :3], axis=0)
    image = to_sitk(volume, case_id=case_id)
    pixel = sitk.sitkUInt8 if interpolation == "nearest" else sitk.sitkFloat32
    if antialias and interpolation != "nearest":
        sigmas = antialias_sigmas(volume.spacing, float(spacing.min()))
        if sigmas.any():
            image = _smoothed(sitk.Cast(image, sitk.sitkFloat32), sigmas)

    def run(method):
        out = sitk.Resample(image, [int(n) for n in shape], sitk.Transform(), methods[method],
                            [float(v) for v in lps[:, 3]], [float(v) for v in spacing],
                            [float(v) for v in (lps[:, :3] / spacing).ravel()], 0.0, pixel)
        return np.transpose(sitk.GetArrayFromImage(out), (2, 1, 0))  # (z, y, x) -> (X, Y, Z)

    data = run(interpolation)
    if interpolation == "bspline":  # B-spline rings around the head's edge: keep the zero background zero
        data = np.where(run("linear") == 0, np.float32(0), data)
    if not data.any():
        raise CaseError(case_id, volume.path, f"{what} falls outside the reference grid once resampled (no voxel "
                        "left); its scanner coordinates do not overlap the T1wCE's: check the headers")
    return Volume(np.asfortranarray(data), np.asarray(affine, dtype=np.float64), volume.path)


def _is_at(volume: Volume, spacing: float) -> bool:
    return bool(np.allclose(volume.spacing, spacing, rtol=0, atol=_TOLERANCE_MM))


def to_spacing(case, spacing: float | None = 1.0, interpolation: str = "linear", antialias: bool = False):
    """The case on a ``spacing`` mm isotropic grid (see the module docstring), and what was done.

    Parameters
    ----------
    case : mgmtfeat.data.volumes.Case
    spacing : float or None
        Target voxel side in mm; None returns the case unchanged (native grid).
    interpolation : {"linear", "bspline"}
        For images; masks are resampled by nearest neighbour.
    antialias : bool
        Smooth an image before it is brought to a coarser grid (see the module docstring).

    Returns
    -------
    case : Case
        A new case (unchanged volumes are the same objects, so 1 mm data pass bit for bit).
    record : dict
        JSON-able: ``spacing_mm``, ``interpolation``, ``reference``, ``grid_shape``, ``resampled``
        (modality -> its former ``spacing`` and ``shape``), ``thick_slices`` (modality -> its
        largest voxel side in mm), ``antialias`` (modality -> the sigmas in mm it was smoothed with;
        only with ``antialias``) and ``notes`` (one line per thick-sliced series, and one naming the
        series brought to a coarser grid without anti-aliasing).

    Raises
    ------
    CaseError
        The segmentation is not on the reference's grid, or a series does not overlap it.
    """
    if spacing is None:
        return case, {"spacing_mm": None}
    name = next(m for m in REFERENCE_ORDER if m in case.volumes)
    reference = case.volumes[name]
    shape, affine = (reference.shape, reference.affine) if _is_at(reference, spacing) else \
        target_grid(reference, spacing)
    volumes, resampled, thick, finer, notes = {}, {}, {}, {}, []
    for modality, volume in case.volumes.items():
        if volume.shape == tuple(shape) and np.allclose(volume.affine, affine, atol=0.1):  # as same_grid
            volumes[modality] = volume
            continue
        resampled[modality] = {"spacing": [round(v, 4) for v in volume.spacing], "shape": list(volume.shape)}
        volumes[modality] = resample(volume, shape, affine, interpolation, case.case_id, modality, antialias)
        sigmas = antialias_sigmas(volume.spacing, spacing)
        if sigmas.any():
            finer[modality] = [round(float(v), 4) for v in sigmas]
        if max(volume.spacing) > THICK_SLICE_MM:
            thick[modality] = round(max(volume.spacing), 3)
    for side in sorted(set(thick.values())):  # one note per slice thickness, naming its series
        names = ", ".join(m for m, v in thick.items() if v == side)
        notes.append(f"{names}: {side:g} mm slices are thicker than {THICK_SLICE_MM:g} mm; kept, but most of the "
                     f"{spacing:g} mm slices are interpolated")
        warnings.warn(f"case {case.case_id}: {notes[-1]}", stacklevel=3)
    if finer and not antialias:
        notes.append(f"{', '.join(finer)}: brought to a coarser {spacing:g} mm grid without anti-aliasing (their "
                     "fine detail and noise alias into it); --antialias smooths them first")
    seg = case.seg
    if seg is not None:
        if not _same_grid(seg, reference):
            raise CaseError(case.case_id, seg.path, f"the segmentation's grid (shape {seg.shape}, spacing "
                            f"{[round(v, 3) for v in seg.spacing]}) differs from the {name} image's (shape "
                            f"{reference.shape}, spacing {[round(v, 3) for v in reference.spacing]}); a mask must be "
                            f"on its image's grid: save it on the {name} file's grid (same shape and affine)")
        if name in resampled:
            seg = resample(seg, shape, affine, "nearest", case.case_id, "segmentation")
    record = {"spacing_mm": spacing, "interpolation": interpolation, "reference": name, "grid_shape": list(shape),
              "resampled": resampled, "thick_slices": thick, "notes": notes}
    if antialias:
        record["antialias"] = finer
    return replace(case, volumes=volumes, seg=seg), record
