"""Assemble a DICOM series into one RAS+ volume the way careful converters do, with checks; write a series.

One SeriesInstanceUID per folder, slices sorted by ImagePositionPatient along the slice
normal, with consistent orientation, spacing and slice increments (a missing slice is an
error), RescaleSlope/Intercept applied, never read with ``force=True``. Every failure
raises :class:`~mgmtfeat.data.errors.CaseError` naming the case, the file and the reason.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from mgmtfeat._io import atomic_path
from mgmtfeat.data._canonical import Volume, checked_volume
from mgmtfeat.data.errors import CaseError

__all__ = ["load_dicom_series", "write_dicom_series"]

_ORIENT_TOL = 1e-4   # direction cosines written with ~6 significant digits
_POS_TOL_MM = 0.05   # position tolerance; DICOM DS strings carry about 0.01 mm


def _read_dicom(path: Path, case_id: str):
    import pydicom
    from pydicom.errors import InvalidDicomError

    if path.stat().st_size == 0:
        raise CaseError(case_id, path, "DICOM file is empty (0 bytes); re-copy the series")
    try:
        return pydicom.dcmread(path)  # never force=True: a file without DICM prefix is refused
    except InvalidDicomError as exc:
        raise CaseError(case_id, path, f"not a DICOM Part 10 file (no 'DICM' prefix after the preamble: {exc}); "
                        "re-export the series as standard DICOM files") from None
    except Exception as exc:
        raise CaseError(case_id, path, f"cannot be read as DICOM ({type(exc).__name__}: {exc})") from None


def _attr(ds, name: str, case_id: str, path: Path):
    value = getattr(ds, name, None)
    if value is None or value == "":
        raise CaseError(case_id, path, f"DICOM attribute {name} is missing; a volume cannot be built without it")
    return value


def _pixels(ds, case_id: str, path: Path) -> np.ndarray:
    """The frame as a float32 ``(rows, columns)`` array after RescaleSlope/Intercept."""
    if "PixelData" not in ds:
        raise CaseError(case_id, path, "DICOM file has no PixelData; re-copy the series")
    if int(getattr(ds, "NumberOfFrames", 1) or 1) != 1 or int(getattr(ds, "SamplesPerPixel", 1)) != 1:
        raise CaseError(case_id, path, "only single-frame greyscale MR images are supported "
                        "(NumberOfFrames 1, SamplesPerPixel 1)")
    rows, cols = int(ds.Rows), int(ds.Columns)
    if not ds.file_meta.TransferSyntaxUID.is_compressed:
        need = rows * cols * int(ds.BitsAllocated) // 8
        have = len(ds.PixelData)
        if have < need:
            raise CaseError(case_id, path, f"pixel data is incomplete: {have} bytes for {rows}x{cols} "
                            f"at {ds.BitsAllocated} bits needs {need}; re-copy the file")
    try:
        pix = ds.pixel_array
    except Exception as exc:
        raise CaseError(case_id, path, f"pixel data cannot be decoded ({type(exc).__name__}: {exc})") from None
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    out = pix.astype(np.float32)
    if slope != 1 or intercept != 0:
        out = out * np.float32(slope) + np.float32(intercept)
    return out


def load_dicom_series(folder: str | Path, case_id: str = "?", what: str = "image") -> Volume:
    """Build one volume from a folder holding a single DICOM series.

    Slices are sorted by ImagePositionPatient projected on the slice normal (never by
    file name or SliceLocation). The series must have one SeriesInstanceUID, one
    ImageOrientationPatient, one PixelSpacing and one matrix size, slice positions
    along the normal (no gantry tilt) and equal increments (a missing slice is an
    error). RescaleSlope/Intercept are applied.

    Parameters
    ----------
    folder : str or Path
        Series folder (all regular files in it are read).
    case_id, what : str
        Used in error messages.

    Returns
    -------
    Volume
        float32 ``(X, Y, Z)`` in RAS+ orientation.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CaseError(case_id, folder, f"{what} series folder is missing; every case needs FLAIR, T1w, T1wCE and T2w")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if len(files) < 2:
        raise CaseError(case_id, folder, f"{what} series has {len(files)} file(s); at least 2 slices are needed")
    sets = [(_read_dicom(p, case_id), p) for p in files]
    uids = sorted({str(_attr(ds, "SeriesInstanceUID", case_id, p)) for ds, p in sets})
    if len(uids) > 1:
        raise CaseError(case_id, folder, f"folder mixes {len(uids)} SeriesInstanceUIDs ({', '.join(uids[:3])}); "
                        "keep one series per folder")
    ds0, p0 = sets[0]
    iop0 = np.array(_attr(ds0, "ImageOrientationPatient", case_id, p0), dtype=float)
    ps0 = np.array(_attr(ds0, "PixelSpacing", case_id, p0), dtype=float)
    size0 = (int(_attr(ds0, "Rows", case_id, p0)), int(_attr(ds0, "Columns", case_id, p0)))
    row_dir, col_dir = iop0[:3], iop0[3:]
    if abs(np.linalg.norm(row_dir) - 1) > 1e-3 or abs(np.linalg.norm(col_dir) - 1) > 1e-3 \
            or abs(row_dir @ col_dir) > 1e-3:
        raise CaseError(case_id, p0, f"ImageOrientationPatient {iop0.tolist()} is not two orthonormal vectors")
    positions = []
    for ds, p in sets:
        iop = np.array(_attr(ds, "ImageOrientationPatient", case_id, p), dtype=float)
        if np.abs(iop - iop0).max() > _ORIENT_TOL:
            raise CaseError(case_id, p, f"ImageOrientationPatient {iop.tolist()} differs from {iop0.tolist()} "
                            f"({p0.name}); the stack is inconsistently oriented")
        ps = np.array(_attr(ds, "PixelSpacing", case_id, p), dtype=float)
        if np.abs(ps - ps0).max() > 1e-4:
            raise CaseError(case_id, p, f"PixelSpacing {ps.tolist()} differs from {ps0.tolist()} ({p0.name})")
        if (int(ds.Rows), int(ds.Columns)) != size0:
            raise CaseError(case_id, p, f"matrix {int(ds.Rows)}x{int(ds.Columns)} differs from {size0[0]}x{size0[1]}")
        positions.append(np.array(_attr(ds, "ImagePositionPatient", case_id, p), dtype=float))
    positions = np.array(positions)
    normal = np.cross(row_dir, col_dir)
    depth = positions @ normal
    order = np.argsort(depth, kind="stable")
    depth, positions = depth[order], positions[order]
    steps = np.diff(depth)
    names = [sets[i][1].name for i in order]
    dup = np.flatnonzero(steps < _POS_TOL_MM)
    if dup.size:
        i = int(dup[0])
        raise CaseError(case_id, folder, f"slices {names[i]} and {names[i + 1]} share the position "
                        f"{positions[i].round(3).tolist()}; the folder holds duplicate slices")
    step = float(np.median(steps))
    off = np.flatnonzero(np.abs(steps - step) > max(_POS_TOL_MM, 0.01 * step))
    if off.size:
        i = int(off[0])
        gap = steps[i] / step
        kind = (f"about {round(gap) - 1} missing slice(s)" if gap > 1.5 and abs(gap - round(gap)) < 0.1
                else "an inconsistent slice increment")
        raise CaseError(case_id, folder, f"{kind} between {names[i]} and {names[i + 1]}: increment "
                        f"{steps[i]:.3f} mm where the series uses {step:.3f} mm; the series is incomplete")
    offsets = positions - positions[0]
    in_plane = offsets - np.outer(offsets @ normal, normal)
    worst = float(np.linalg.norm(in_plane, axis=1).max())
    if worst > max(_POS_TOL_MM, 1e-3 * float(np.abs(depth[-1] - depth[0]))):
        raise CaseError(case_id, folder, f"slice positions drift {worst:.2f} mm off the slice normal (tilted "
                        "stack, e.g. gantry tilt); resample it to an orthogonal grid first")
    stack = np.stack([_pixels(sets[i][0], case_id, sets[i][1]) for i in order], axis=-1)
    data = stack.transpose(1, 0, 2)  # (columns i, rows j, slices k)
    lps = np.eye(4)
    lps[:3, 0] = row_dir * ps0[1]    # column index runs along the row direction
    lps[:3, 1] = col_dir * ps0[0]
    lps[:3, 2] = normal * step
    lps[:3, 3] = positions[0]
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps  # DICOM LPS -> RAS
    return checked_volume(case_id, folder, data, affine, what)


# Orientation codes (column axis, row axis, slice axis) of each plane as scanners write them.
_PLANE_CODES = {"axial": ("L", "P", "S"), "coronal": ("L", "I", "P"), "sagittal": ("P", "I", "R")}


def _ds(value: float) -> str:
    """A decimal string that fits DICOM's 16-character DS limit."""
    text = f"{value:.8g}"
    return text if len(text) <= 16 else f"{value:.6g}"


def write_dicom_series(
    folder: str | Path,
    data: np.ndarray,
    affine: np.ndarray,
    *,
    plane: str = "axial",
    series_uid: str | None = None,
    study_uid: str | None = None,
    patient_id: str = "anonymous",
    description: str = "",
    series_number: int = 1,
    slope: float = 1.0,
    intercept: float = 0.0,
    reverse_numbering: bool = True,
) -> Path:
    """Write a volume as an MR DICOM series ``Image-1.dcm``... with pydicom, atomically.

    Parameters
    ----------
    folder : str or Path
        Series folder to create (must not exist yet).
    data : numpy.ndarray
        ``(X, Y, Z)`` intensities, any orientation described by ``affine``.
    affine : numpy.ndarray
        ``(4, 4)`` voxel -> RAS mm.
    plane : {"axial", "coronal", "sagittal"}
        Acquisition plane to write the slices in.
    series_uid, study_uid : str, optional
        UIDs (generated when omitted).
    slope, intercept : float
        Stored pixel = round((value - intercept) / slope) as int16; readers apply them back.
    reverse_numbering : bool
        Number files from the last slice along the normal to the first, as many
        scanners do, so that readers cannot rely on file names.

    Returns
    -------
    Path
        The series folder.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    if plane not in _PLANE_CODES:
        raise ValueError(f"plane {plane!r} is not one of {sorted(_PLANE_CODES)}")
    folder = Path(folder)
    if folder.exists():
        raise FileExistsError(f"series folder {folder} already exists; remove it first")
    target = nib.orientations.axcodes2ornt(_PLANE_CODES[plane])
    ornt = nib.orientations.ornt_transform(nib.orientations.io_orientation(affine), target)
    vol = nib.orientations.apply_orientation(np.asarray(data), ornt)
    aff = np.asarray(affine, float) @ nib.orientations.inv_ornt_aff(ornt, np.shape(data))
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ aff
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    row_dir, col_dir = lps[:3, 0] / spacing[0], lps[:3, 1] / spacing[1]
    stored = np.round((vol - intercept) / slope)
    if stored.min() < -32768 or stored.max() > 32767:
        raise ValueError("values do not fit int16 with this slope/intercept; raise slope")
    stored = stored.astype("<i2")
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    frame_uid = generate_uid(entropy_srcs=[study_uid, "frame"])
    n = vol.shape[2]
    # Slices go to a hidden sibling folder renamed at the end: no half-written series.
    with atomic_path(folder, folder=True) as tmp:
        for k in range(n):
            sop_uid = generate_uid(entropy_srcs=[series_uid, str(k)])
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = MRImageStorage
            meta.MediaStorageSOPInstanceUID = sop_uid
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.preamble = b"\0" * 128
            ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, sop_uid
            ds.Modality = "MR"
            ds.PatientID = patient_id
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
            ds.FrameOfReferenceUID = frame_uid
            ds.SeriesDescription = description
            ds.SeriesNumber = series_number
            ds.InstanceNumber = k + 1
            position = lps[:3, :3] @ np.array([0.0, 0.0, k]) + lps[:3, 3]
            ds.ImagePositionPatient = [_ds(v) for v in position]
            ds.ImageOrientationPatient = [_ds(v) for v in (*row_dir, *col_dir)]
            ds.PixelSpacing = [_ds(spacing[1]), _ds(spacing[0])]  # row spacing, column spacing
            ds.SliceThickness = _ds(spacing[2])
            ds.SliceLocation = _ds(float(position @ np.cross(row_dir, col_dir)))
            ds.Rows, ds.Columns = vol.shape[1], vol.shape[0]
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
            ds.RescaleSlope, ds.RescaleIntercept = _ds(slope), _ds(intercept)
            ds.PixelData = np.ascontiguousarray(stored[:, :, k].T).tobytes()
            number = n - k if reverse_numbering else k + 1
            ds.save_as(tmp / f"Image-{number}.dcm", enforce_file_format=True)
    return folder
