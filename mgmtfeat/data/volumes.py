"""Read NIfTI files and DICOM series into one canonical orientation, with checks; write both.

Every volume comes out as float32 ``(X, Y, Z)`` in RAS+ orientation (nibabel's closest
canonical orientation): index 0 increases towards the patient's right (R), index 1
towards anterior (A) and index 2 towards superior (S), so axial slices are
``data[:, :, k]``. The 4x4 affine maps voxel indices to RAS millimetres.

Reading is strict because nibabel reads lazily and does not check a gzip CRC: a
damaged file must fail at load, not later with wrong voxels. Every failure raises
:class:`~mgmtfeat.data.errors.CaseError` naming the case, the file and the reason.
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from mgmtfeat._io import atomic_write_bytes
from mgmtfeat.data.layouts import IMAGE_MODALITIES, CaseRef
from mgmtfeat.data.errors import CaseError

__all__ = [
    "SEG_LABELS",
    "Case",
    "Volume",
    "load_case",
    "load_dicom_series",
    "load_nifti",
    "load_segmentation",
    "same_grid",
    "write_dicom_series",
    "write_nifti",
]

_GZIP_MAGIC = b"\x1f\x8b"
_NIFTI2_MAGIC = b"n+2\0\r\n\x1a\n"
#: Segmentation labels accepted (BraTS 2021 / UCSF-PDGM: 1 necrotic core, 2 oedema, 4 enhancing).
SEG_LABELS = (0, 1, 2, 4)


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


@dataclass(eq=False)
class Case:
    """The volumes of one case.

    Attributes
    ----------
    ref : CaseRef
        Where it came from (id, layout, label).
    volumes : dict
        ``flair``, ``t1``, ``t1ce``, ``t2`` -> :class:`Volume`.
    seg : Volume or None
        Tumour segmentation (uint8 labels 0/1/2/4) on the image grid, or None.
    """

    ref: CaseRef
    volumes: dict[str, Volume]
    seg: Volume | None = None

    @property
    def case_id(self) -> str:
        return self.ref.case_id

    @property
    def label(self) -> int | None:
        return self.ref.label


# ----------------------------------------------------------------------------- helpers

def _fail(case_id: str, path, reason: str) -> CaseError:
    return CaseError(case_id, path, reason)


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
        raise _fail(case_id, path, f"{what} volume has {bad} NaN or infinite voxel(s); "
                    "fix or re-export the file")
    if not data.any():
        raise _fail(case_id, path, f"{what} volume is all zero (empty image); re-export the file "
                    "or exclude the case")


def _finish(case_id: str, path, data: np.ndarray, affine: np.ndarray, what: str,
            dtype=np.float32) -> Volume:
    if not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise _fail(case_id, path, f"{what} affine is singular or not finite: {affine.tolist()}; "
                    "the header's qform/sform is broken")
    _check_values(case_id, path, data, what)
    data, affine = _canonical(data, affine)
    # order="K" keeps the file's (Fortran) memory order: one pass, no transposing copy.
    return Volume(np.array(data, dtype=dtype or data.dtype, order="K"), np.asarray(affine, dtype=np.float64),
                  Path(path))


# ----------------------------------------------------------------------------- NIfTI

def _nifti_bytes(path: Path, case_id: str) -> bytes:
    """The whole uncompressed file; the gzip CRC and length are checked here."""
    if not path.is_file():
        raise _fail(case_id, path, "file is missing; every case needs flair, t1, t1ce and t2")
    raw = path.read_bytes()
    if not raw:
        raise _fail(case_id, path, "file is empty (0 bytes); re-copy it")
    if path.name.endswith(".gz"):
        if raw[:2] != _GZIP_MAGIC:
            raise _fail(case_id, path, f"named .gz but does not start with the gzip magic 1f8b "
                        f"(starts with {raw[:4].hex()}); re-copy or rename it")
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise _fail(case_id, path, f"gzip stream is truncated or corrupt ({exc}); re-copy the file") from None
    return raw


def load_nifti(path: str | Path, case_id: str = "?", what: str = "image", dtype=np.float32) -> Volume:
    """Read a ``.nii`` or ``.nii.gz`` file completely and reorient it to RAS+.

    Parameters
    ----------
    path : str or Path
        NIfTI-1 or NIfTI-2 single file.
    case_id : str
        Case id used in error messages.
    what : str
        What the file is (``"flair"``, ``"seg"``), used in error messages.
    dtype : numpy dtype or None
        Output dtype (float32 for images; None keeps the file's dtype).

    Returns
    -------
    Volume
        ``(X, Y, Z)`` data in RAS+ orientation.

    Raises
    ------
    CaseError
        Missing, empty, truncated or corrupt file, wrong magic, not 3-D, NaN or all zero.
    """
    path = Path(path)
    raw = _nifti_bytes(path, case_id)
    if len(raw) >= 348 and raw[344:348] in (b"n+1\0",) and 348 in (
            int.from_bytes(raw[:4], "little"), int.from_bytes(raw[:4], "big")):
        klass = nib.Nifti1Image
    elif len(raw) >= 540 and raw[4:12] == _NIFTI2_MAGIC:
        klass = nib.Nifti2Image
    else:
        raise _fail(case_id, path, "not a single-file NIfTI image (wrong header size or magic; "
                    "expected 'n+1' or 'n+2'); convert it to .nii.gz")
    try:
        header = klass.header_class.from_fileobj(io.BytesIO(raw))
        shape = tuple(int(s) for s in header.get_data_shape())
        need = int(header.get_data_offset()) + int(np.prod(shape)) * header.get_data_dtype().itemsize
        if len(raw) < need:
            raise _fail(case_id, path, f"voxel data is truncated: {len(raw)} bytes, header needs {need}; "
                        "re-copy the file")
        img = klass.from_bytes(raw)
        data = np.asanyarray(img.dataobj)
    except CaseError:
        raise
    except Exception as exc:  # nibabel raises many types on malformed headers
        raise _fail(case_id, path, f"cannot be read as NIfTI ({type(exc).__name__}: {exc})") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise _fail(case_id, path, f"{what} has shape {data.shape}; a 3-D volume is required")
    return _finish(case_id, path, data, img.affine, what, dtype)


def load_segmentation(path: str | Path, case_id: str = "?") -> Volume:
    """Read a tumour segmentation (labels 0, 1, 2, 4) as a uint8 :class:`Volume`.

    Raises
    ------
    CaseError
        Unreadable file, non-integer or unknown labels, or no tumour voxel at all.
    """
    path = Path(path)
    try:
        vol = load_nifti(path, case_id, "segmentation", dtype=None)
    except CaseError as exc:
        if "all zero" in exc.reason:
            raise _fail(case_id, path, "segmentation is empty (no tumour voxel); the 128x128 box needs "
                        "the tumour: fix the segmentation or use --box brain / --box-csv") from None
        raise
    data = vol.data
    lo, hi = data.min(), data.max()
    if lo < 0 or hi > max(SEG_LABELS) or (data.dtype.kind == "f" and not np.array_equal(data, np.rint(data))):
        raise _fail(case_id, path, f"segmentation values span {lo:g}..{hi:g}; labels must be integers in "
                    f"{SEG_LABELS} (1 necrotic core, 2 oedema, 4 enhancing)")
    labels = data.astype(np.uint8, copy=False)
    counts = np.bincount(np.ravel(labels, order="K"), minlength=max(SEG_LABELS) + 1)
    # bincount is exact and much faster than np.unique on a 9-million-voxel volume
    bad = [v for v in np.flatnonzero(counts) if v not in SEG_LABELS]
    if bad:
        raise _fail(case_id, path, f"segmentation has label(s) {bad} outside {SEG_LABELS}; (BraTS 2023 "
                    "files use 3 for enhancing tumour: relabel 3 -> 4)")
    return Volume(labels, vol.affine, path)


def write_nifti(path: str | Path, data: np.ndarray, affine: np.ndarray, dtype=None,
                compresslevel: int = 4) -> Path:
    """Write ``data`` as a NIfTI-1 file (gzip when the name ends in ``.gz``), atomically.

    Parameters
    ----------
    path : str or Path
        Output file.
    data : numpy.ndarray
        ``(X, Y, Z)`` voxels.
    affine : numpy.ndarray
        ``(4, 4)`` voxel -> RAS mm.
    dtype : numpy dtype, optional
        On-disk dtype (default: ``data.dtype``).
    """
    path = Path(path)
    img = nib.Nifti1Image(np.asarray(data, dtype=dtype or data.dtype), np.asarray(affine, float))
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    payload = img.to_bytes()
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, compresslevel=compresslevel, mtime=0)
    atomic_write_bytes(path, payload)
    return path


# ----------------------------------------------------------------------------- DICOM

_ORIENT_TOL = 1e-4   # direction cosines written with ~6 significant digits
_POS_TOL_MM = 0.05   # position tolerance; DICOM DS strings carry about 0.01 mm


def _read_dicom(path: Path, case_id: str):
    import pydicom
    from pydicom.errors import InvalidDicomError

    if path.stat().st_size == 0:
        raise _fail(case_id, path, "DICOM file is empty (0 bytes); re-copy the series")
    try:
        return pydicom.dcmread(path)  # never force=True: a file without DICM prefix is refused
    except InvalidDicomError as exc:
        raise _fail(case_id, path, f"not a DICOM Part 10 file (no 'DICM' prefix after the preamble: {exc}); "
                    "re-export the series as standard DICOM files") from None
    except Exception as exc:
        raise _fail(case_id, path, f"cannot be read as DICOM ({type(exc).__name__}: {exc})") from None


def _attr(ds, name: str, case_id: str, path: Path):
    value = getattr(ds, name, None)
    if value is None or value == "":
        raise _fail(case_id, path, f"DICOM attribute {name} is missing; a volume cannot be built without it")
    return value


def _pixels(ds, case_id: str, path: Path) -> np.ndarray:
    """The frame as a float32 ``(rows, columns)`` array after RescaleSlope/Intercept."""
    if "PixelData" not in ds:
        raise _fail(case_id, path, "DICOM file has no PixelData; re-copy the series")
    if int(getattr(ds, "NumberOfFrames", 1) or 1) != 1 or int(getattr(ds, "SamplesPerPixel", 1)) != 1:
        raise _fail(case_id, path, "only single-frame greyscale MR images are supported "
                    "(NumberOfFrames 1, SamplesPerPixel 1)")
    rows, cols = int(ds.Rows), int(ds.Columns)
    if not ds.file_meta.TransferSyntaxUID.is_compressed:
        need = rows * cols * int(ds.BitsAllocated) // 8
        have = len(ds.PixelData)
        if have < need:
            raise _fail(case_id, path, f"pixel data is incomplete: {have} bytes for {rows}x{cols} "
                        f"at {ds.BitsAllocated} bits needs {need}; re-copy the file")
    try:
        pix = ds.pixel_array
    except Exception as exc:
        raise _fail(case_id, path, f"pixel data cannot be decoded ({type(exc).__name__}: {exc})") from None
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
        raise _fail(case_id, folder, f"{what} series folder is missing; every case needs FLAIR, T1w, T1wCE and T2w")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if len(files) < 2:
        raise _fail(case_id, folder, f"{what} series has {len(files)} file(s); at least 2 slices are needed")
    sets = [(_read_dicom(p, case_id), p) for p in files]
    uids = sorted({str(_attr(ds, "SeriesInstanceUID", case_id, p)) for ds, p in sets})
    if len(uids) > 1:
        raise _fail(case_id, folder, f"folder mixes {len(uids)} SeriesInstanceUIDs ({', '.join(uids[:3])}); "
                    "keep one series per folder")
    ds0, p0 = sets[0]
    iop0 = np.array(_attr(ds0, "ImageOrientationPatient", case_id, p0), dtype=float)
    ps0 = np.array(_attr(ds0, "PixelSpacing", case_id, p0), dtype=float)
    size0 = (int(_attr(ds0, "Rows", case_id, p0)), int(_attr(ds0, "Columns", case_id, p0)))
    row_dir, col_dir = iop0[:3], iop0[3:]
    if abs(np.linalg.norm(row_dir) - 1) > 1e-3 or abs(np.linalg.norm(col_dir) - 1) > 1e-3 \
            or abs(row_dir @ col_dir) > 1e-3:
        raise _fail(case_id, p0, f"ImageOrientationPatient {iop0.tolist()} is not two orthonormal vectors")
    positions = []
    for ds, p in sets:
        iop = np.array(_attr(ds, "ImageOrientationPatient", case_id, p), dtype=float)
        if np.abs(iop - iop0).max() > _ORIENT_TOL:
            raise _fail(case_id, p, f"ImageOrientationPatient {iop.tolist()} differs from {iop0.tolist()} "
                        f"({p0.name}); the stack is inconsistently oriented")
        ps = np.array(_attr(ds, "PixelSpacing", case_id, p), dtype=float)
        if np.abs(ps - ps0).max() > 1e-4:
            raise _fail(case_id, p, f"PixelSpacing {ps.tolist()} differs from {ps0.tolist()} ({p0.name})")
        if (int(ds.Rows), int(ds.Columns)) != size0:
            raise _fail(case_id, p, f"matrix {int(ds.Rows)}x{int(ds.Columns)} differs from {size0[0]}x{size0[1]}")
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
        raise _fail(case_id, folder, f"slices {names[i]} and {names[i + 1]} share the position "
                    f"{positions[i].round(3).tolist()}; the folder holds duplicate slices")
    step = float(np.median(steps))
    off = np.flatnonzero(np.abs(steps - step) > max(_POS_TOL_MM, 0.01 * step))
    if off.size:
        i = int(off[0])
        gap = steps[i] / step
        kind = (f"about {round(gap) - 1} missing slice(s)" if gap > 1.5 and abs(gap - round(gap)) < 0.1
                else "an inconsistent slice increment")
        raise _fail(case_id, folder, f"{kind} between {names[i]} and {names[i + 1]}: increment "
                    f"{steps[i]:.3f} mm where the series uses {step:.3f} mm; the series is incomplete")
    offsets = positions - positions[0]
    in_plane = offsets - np.outer(offsets @ normal, normal)
    worst = float(np.linalg.norm(in_plane, axis=1).max())
    if worst > max(_POS_TOL_MM, 1e-3 * float(np.abs(depth[-1] - depth[0]))):
        raise _fail(case_id, folder, f"slice positions drift {worst:.2f} mm off the slice normal (tilted "
                    "stack, e.g. gantry tilt); resample it to an orthogonal grid first")
    stack = np.stack([_pixels(sets[i][0], case_id, sets[i][1]) for i in order], axis=-1)
    data = stack.transpose(1, 0, 2)  # (columns i, rows j, slices k)
    lps = np.eye(4)
    lps[:3, 0] = row_dir * ps0[1]    # column index runs along the row direction
    lps[:3, 1] = col_dir * ps0[0]
    lps[:3, 2] = normal * step
    lps[:3, 3] = positions[0]
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps  # DICOM LPS -> RAS
    return _finish(case_id, folder, data, affine, what)


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
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Slices go to a hidden sibling folder renamed at the end: no half-written series.
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
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
        os.replace(tmp, folder)
    except BaseException:
        for p in tmp.glob("*"):
            p.unlink()
        tmp.rmdir()
        raise
    return folder


# ----------------------------------------------------------------------------- cases

def same_grid(a: Volume, b: Volume, atol_mm: float = 0.1) -> bool:
    """True when two volumes share shape and affine (within ``atol_mm`` millimetres)."""
    return a.shape == b.shape and bool(np.allclose(a.affine, b.affine, atol=atol_mm))


def load_case(ref: CaseRef, seg: str = "auto") -> Case:
    """Read the four image modalities (and the segmentation) of one case.

    Parameters
    ----------
    ref : CaseRef
        From :func:`mgmtfeat.data.layouts.find_cases`.
    seg : {"auto", "require", "ignore"}
        ``auto`` reads the segmentation when the case has one, ``require`` fails
        without one, ``ignore`` never reads it.

    Returns
    -------
    Case

    Raises
    ------
    CaseError
        Any unreadable, missing or implausible file (see :func:`load_nifti`,
        :func:`load_dicom_series`, :func:`load_segmentation`).
    """
    if seg not in ("auto", "require", "ignore"):
        raise ValueError(f"seg={seg!r} is not one of 'auto', 'require', 'ignore'")
    reader = load_dicom_series if ref.layout == "rsna_dicom" else load_nifti
    volumes = {}
    for modality in IMAGE_MODALITIES:
        if modality not in ref.paths:
            raise _fail(ref.case_id, None, f"modality {modality} has no path; every case needs {IMAGE_MODALITIES}")
        volumes[modality] = reader(ref.paths[modality], ref.case_id, modality)
    segmentation = None
    if seg != "ignore" and "seg" in ref.paths:
        segmentation = load_segmentation(ref.paths["seg"], ref.case_id)
    elif seg == "require":
        expected = {"rsna_dicom": "the RSNA DICOM layout has none; use --box brain or --box-csv"}.get(
            ref.layout, "add the *_seg.nii.gz / *_tumor_segmentation.nii.gz file or use --box brain")
        raise _fail(ref.case_id, None, f"tumour segmentation is absent but required; {expected}")
    return Case(ref, volumes, segmentation)
