"""The canonical volume both readers return: RAS+ orientation, checked values.

Every volume comes out as float32 ``(X, Y, Z)`` in RAS+ orientation (nibabel's closest
canonical orientation): index 0 increases towards the patient's right (R), index 1
towards anterior (A) and index 2 towards superior (S), so axial slices are
``data[:, :, k]``. The 4x4 affine maps voxel indices to RAS millimetres.

:class:`Volume` is also exported by :mod:`mgmtfeat.data.volumes`; this module sits below the
NIfTI and DICOM readers so that they and ``load_case`` share it without an import circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from mgmtfeat.data.errors import CaseError

__all__ = ["Volume", "checked_volume"]


@dataclass(frozen=True, eq=False)
class Volume:
    """One image volume in canonical RAS+ orientation.

    Attributes
    ----------
    data : numpy.ndarray
        float32 ``(X, Y, Z)`` intensities (uint8 labels for a segmentation); axial slices
        are ``data[:, :, k]``.
    affine : numpy.ndarray
        float64 ``(4, 4)`` voxel index -> RAS millimetres.
    path : Path
        The file or series folder it was read from.
    """

    data: np.ndarray
    affine: np.ndarray
    path: Path

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.data.shape)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size along each axis, in millimetres."""
        return tuple(float(v) for v in np.linalg.norm(self.affine[:3, :3], axis=0))


def _canonical(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip/transpose ``data`` (views only) so its axes point to R, A, S; adjust the affine."""
    ornt = nib.orientations.io_orientation(affine)
    if np.array_equal(ornt, [[0, 1], [1, 1], [2, 1]]):
        return data, affine
    affine = affine @ nib.orientations.inv_ornt_aff(ornt, data.shape)
    return nib.orientations.apply_orientation(data, ornt), affine


def _check_values(case_id: str, path, data: np.ndarray, what: str) -> None:
    """Reject NaN/inf and all-zero volumes (cheap: integer data is always finite)."""
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        raise CaseError(case_id, path, f"{what} volume has {bad} NaN or infinite voxel(s); "
                        "fix or re-export the file")
    if not data.any():
        raise CaseError(case_id, path, f"{what} volume is all zero (empty image); re-export the file "
                        "or exclude the case")


def checked_volume(case_id: str, path, data: np.ndarray, affine: np.ndarray, what: str,
                   dtype=np.float32) -> Volume:
    """Check ``data``/``affine`` as read from a file and return them as a RAS+ :class:`Volume`.

    Parameters
    ----------
    case_id : str
        Used in error messages.
    path : str or Path
        The file or series folder, recorded in the volume and in error messages.
    data : numpy.ndarray
        ``(X, Y, Z)`` voxels in the file's orientation.
    affine : numpy.ndarray
        ``(4, 4)`` voxel index -> RAS millimetres.
    what : str
        What the volume is (``"flair"``, ``"segmentation"``), used in error messages.
    dtype : numpy dtype or None
        Output dtype (None keeps ``data.dtype``).

    Raises
    ------
    CaseError
        Singular or non-finite affine, NaN/inf voxels, all-zero volume.
    """
    if not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise CaseError(case_id, path, f"{what} affine is singular or not finite: {affine.tolist()}; "
                        "the header's qform/sform is broken")
    _check_values(case_id, path, data, what)
    data, affine = _canonical(data, affine)
    # order="K" keeps the file's (Fortran) memory order: one pass, no transposing copy.
    return Volume(np.array(data, dtype=dtype or data.dtype, order="K"), np.asarray(affine, dtype=np.float64),
                  Path(path))

