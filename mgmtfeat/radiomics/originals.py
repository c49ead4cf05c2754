"""The images and the mask as pyradiomics reads them: each case's original files, unchanged.

``pyradiomics image.nii.gz mask.nii.gz --param params.yaml`` reads both files with
``SimpleITK.ReadImage``: the image keeps its voxel order (orientation), its direction cosines
and its pixel type (int16 stays int16), and pyradiomics places its resampling grid from that
geometry. mgmtfeat's own readers reorient to RAS and cast to float32 (:mod:`mgmtfeat.data`),
which changes pyradiomics' answer when the params resample (up to a few per cent on
anisotropic, non-RAS data), so radiomics reads the files again, here, exactly as pyradiomics does.

Inputs without a file of their own
    *delta-T1* (T1wCE - T1): both files are read as above, cast to float32 and subtracted voxel
    by voxel on the T1wCE file's grid, and the difference is written to a temporary NIfTI file
    with the T1wCE file's geometry, which is read back: pyradiomics gets exactly the image it
    would get from that file. T1 must be on the T1wCE file's grid (same size, voxels within
    0.1 mm); otherwise the case is refused (register T1 onto T1wCE first, or leave delta_t1 out).
    *DICOM series folders*: the series as SimpleITK's ``ImageSeriesReader`` reads it (GDCM's
    slice order, the series' own orientation and pixel type), the usual way a series reaches
    pyradiomics.
Mask
    The segmentation file read the same way; the chosen labels (the file's own label values, as
    pyradiomics' ``label`` means them; None: every label > 0) become a binary mask with label 1
    and the file's geometry. A mask whose grid matches the image only to 0.1 mm (headers written
    in float32 by different tools) takes the image's geometry, as pyradiomics' ``correctMask``
    would do; a mask on another grid is refused. A mask given as a :class:`Volume` (a box for a
    case without a segmentation) is resampled onto each image's grid by nearest neighbour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.volumes import Volume

__all__ = ["GRID_TOLERANCE_MM", "read_original", "grid_gap", "binary_mask", "mask_on", "delta_image"]

#: Largest distance (mm) between matching voxel corners of two grids held to be the same grid
#: (headers written in float32 by different tools differ by about 1e-5 mm).
GRID_TOLERANCE_MM = 0.1
#: ITK's own tolerance (relative to the spacing), below which pyradiomics accepts a mask unchanged.
_ITK_TOLERANCE = 1e-6


def read_original(path: str | Path, case_id: str, what: str, series_uids: tuple[str, ...] = ()):
    """The image of a file (``SimpleITK.ReadImage``) or of a DICOM series folder, as stored.

    Parameters
    ----------
    path : path-like
        NIfTI (or any ITK-readable) file, or a folder holding one DICOM series.
    case_id, what : str
        For error messages (``what`` is ``"t1ce"``, ``"seg"``, ...).
    series_uids : tuple of str
        DICOM: the series to read where the folder mixes several.

    Returns
    -------
    SimpleITK.Image
        3-D, in the file's voxel order, geometry and pixel type.

    Raises
    ------
    CaseError
        Missing or unreadable file, a folder with no or several DICOM series, not 3-D.
    """
    import SimpleITK as sitk

    path = Path(path)
    try:
        if path.is_dir():
            image = _read_series(path, case_id, what, series_uids)
        elif path.is_file():
            image = sitk.ReadImage(str(path))
        else:
            raise CaseError(case_id, path, f"the {what} file is missing; radiomics reads the original files")
    except RuntimeError as exc:  # ITK's reader exceptions
        raise CaseError(case_id, path, f"SimpleITK cannot read the {what} image ({str(exc).strip()[:200]}); "
                        "re-copy or re-convert the file") from None
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise CaseError(case_id, path, f"the {what} image is {image.GetDimension()}-D with "
                        f"{image.GetNumberOfComponentsPerPixel()} component(s); radiomics needs one 3-D scalar volume")
    return image


def _read_series(folder: Path, case_id: str, what: str, series_uids: tuple[str, ...]):
    import SimpleITK as sitk

    found = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    chosen = [u for u in found if u in series_uids] if series_uids else list(found)
    if len(chosen) != 1:
        fix = ("give the one to use with --series-uid" if len(chosen) > 1
               else "the folder holds no DICOM series of the given --series-uid" if found
               else "the folder holds no readable DICOM series")
        raise CaseError(case_id, folder, f"the {what} folder holds {len(found)} DICOM series "
                        f"({', '.join(found) or 'none'}); {fix}")
    return sitk.ReadImage(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), chosen[0]))


def grid_gap(a, b) -> float:
    """Largest distance (mm) between matching corner voxels of two SimpleITK images; inf for other sizes."""
    if a.GetSize() != b.GetSize():
        return float("inf")
    size = np.array(a.GetSize()) - 1
    corners = [tuple(int(v) for v in np.array(c) * size) for c in np.ndindex(2, 2, 2)]
    return max(float(np.linalg.norm(np.subtract(a.TransformIndexToPhysicalPoint(c), b.TransformIndexToPhysicalPoint(c))))
               for c in corners)


def _describe(image) -> str:
    return (f"{list(image.GetSize())} voxels of {np.round(image.GetSpacing(), 3).tolist()} mm, origin "
            f"{np.round(image.GetOrigin(), 2).tolist()}")


def binary_mask(seg, labels: tuple[int, ...] | None, case_id: str, path):
    """uint8 mask (1 = chosen labels) on the segmentation's own grid.

    Raises
    ------
    CaseError
        No voxel carries the chosen labels (the segmentation is empty, or the labels absent).
    """
    import SimpleITK as sitk

    data = sitk.GetArrayViewFromImage(seg)
    chosen = data > 0 if labels is None else np.isin(data, labels)
    if not chosen.any():
        present = sorted(int(v) for v in np.unique(data))
        what = ("the segmentation is empty (every voxel 0)" if present == [0] else
                f"the mask has no voxel with label(s) {'> 0' if labels is None else list(labels)}")
        raise CaseError(case_id, path, f"{what} (labels present: {present}); choose labels that exist "
                        "(--radiomics-label, the file's own values) or fix the segmentation")
    mask = sitk.GetImageFromArray(chosen.astype(np.uint8))
    mask.CopyInformation(seg)
    return mask


def mask_on(image, mask, case_id: str, image_path, mask_path, what: str):
    """The mask as pyradiomics should get it beside ``image``.

    Parameters
    ----------
    image : SimpleITK.Image
        The image described.
    mask : SimpleITK.Image or Volume
        Binary mask from :func:`binary_mask` (must share the image's grid), or a RAS
        :class:`Volume` (a box), resampled onto the image's grid by nearest neighbour.

    Raises
    ------
    CaseError
        A mask file on another grid than the image, or a box that leaves no voxel on it.
    """
    import SimpleITK as sitk

    if isinstance(mask, Volume):
        from mgmtfeat.clips.registration import to_sitk

        moved = sitk.Resample(to_sitk(mask, case_id=case_id), image, sitk.Transform(), sitk.sitkNearestNeighbor,
                              0, sitk.sitkUInt8)
        if not sitk.GetArrayViewFromImage(moved).any():
            raise CaseError(case_id, mask.path, f"the mask leaves no voxel on the {what} image's grid; "
                            "place the box inside the image")
        return moved
    gap = grid_gap(image, mask)
    if gap <= _ITK_TOLERANCE * min(image.GetSpacing()):
        return mask  # what pyradiomics reads from the file, unchanged
    if gap <= GRID_TOLERANCE_MM:
        fitted = sitk.Image(mask)
        fitted.CopyInformation(image)  # the same voxels; header rounding only
        return fitted
    raise CaseError(case_id, mask_path, f"mask grid ({_describe(mask)}) differs from the {what} image "
                    f"({_describe(image)}, {image_path}) by up to {gap:.3g} mm; pyradiomics needs the mask on "
                    f"the image's grid: resample or register the image onto the mask's grid "
                    "(mgmtfeat.clips.registration.register_rigid) and save it, or leave "
                    f"{what} out with --modalities")


def delta_image(t1ce, t1, case_id: str, paths: dict, folder: Path):
    """delta-T1 = float32(T1wCE) - float32(T1) on the T1wCE grid, as read back from a NIfTI file.

    Parameters
    ----------
    t1ce, t1 : SimpleITK.Image
        The original images (:func:`read_original`).
    paths : dict
        ``t1ce`` and ``t1`` paths, for error messages.
    folder : Path
        Where the temporary file ``delta_t1.nii`` is written (the caller removes it).

    Returns
    -------
    SimpleITK.Image
        float32, the T1wCE file's geometry (as a NIfTI header stores it).

    Raises
    ------
    CaseError
        T1 on another grid than T1wCE.
    """
    import SimpleITK as sitk

    gap = grid_gap(t1ce, t1)
    if gap > GRID_TOLERANCE_MM:
        raise CaseError(case_id, paths["t1"], f"T1 grid ({_describe(t1)}) differs from T1wCE ({_describe(t1ce)}, "
                        f"{paths['t1ce']}) by up to {gap:.3g} mm; delta-T1 needs both on one grid: register T1 "
                        "onto T1wCE (mgmtfeat.clips.registration.register_rigid) and save it, or leave delta_t1 "
                        "out with --modalities (e.g. --modalities flair,t1,t1ce,t2)")
    # float32 as the clips compute delta-T1; exact for int16 inputs
    diff = sitk.GetArrayFromImage(t1ce).astype(np.float32) - sitk.GetArrayFromImage(t1).astype(np.float32)
    image = sitk.GetImageFromArray(diff)
    image.CopyInformation(t1ce)
    path = Path(folder) / "delta_t1.nii"
    sitk.WriteImage(image, str(path))
    return sitk.ReadImage(str(path))
