"""Read NIfTI files in full and reorient them to RAS+, with checks; write NIfTI files.

Reading is strict because nibabel reads lazily and does not check a gzip CRC: a
damaged file must fail at load, not later with wrong voxels. Every failure raises
:class:`~mgmtfeat.data.errors.CaseError` naming the case, the file and the reason.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from mgmtfeat._io import atomic_write_bytes
from mgmtfeat.data.canonical_volume import Volume, checked_volume
from mgmtfeat.data.errors import CaseError

__all__ = ["SEG_LABELS", "load_nifti", "load_segmentation", "write_nifti"]

_GZIP_MAGIC = b"\x1f\x8b"
_NIFTI2_MAGIC = b"n+2\0\r\n\x1a\n"
#: Segmentation labels accepted (BraTS 2021 / UCSF-PDGM: 1 necrotic core, 2 oedema, 4 enhancing).
SEG_LABELS = (0, 1, 2, 4)


def _nifti_bytes(path: Path, case_id: str) -> bytes:
    """The whole uncompressed file; the gzip CRC and length are checked here."""
    if not path.is_file():
        raise CaseError(case_id, path, "file is missing; every case needs flair, t1, t1ce and t2")
    raw = path.read_bytes()
    if not raw:
        raise CaseError(case_id, path, "file is empty (0 bytes); re-copy it")
    if path.name.endswith(".gz"):
        if raw[:2] != _GZIP_MAGIC:
            raise CaseError(case_id, path, f"named .gz but does not start with the gzip magic 1f8b "
                            f"(starts with {raw[:4].hex()}); re-copy or rename it")
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise CaseError(case_id, path, f"gzip stream is truncated or corrupt ({exc}); re-copy the file") from None
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
        raise CaseError(case_id, path, "not a single-file NIfTI image (wrong header size or magic; "
                        "expected 'n+1' or 'n+2'); convert it to .nii.gz")
    try:
        header = klass.header_class.from_fileobj(io.BytesIO(raw))
        shape = tuple(int(s) for s in header.get_data_shape())
        need = int(header.get_data_offset()) + int(np.prod(shape)) * header.get_data_dtype().itemsize
        if len(raw) < need:
            raise CaseError(case_id, path, f"voxel data is truncated: {len(raw)} bytes, header needs {need}; "
                            "re-copy the file")
        img = klass.from_bytes(raw)
        data = np.asanyarray(img.dataobj)
    except CaseError:
        raise
    except Exception as exc:  # nibabel raises many types on malformed headers
        raise CaseError(case_id, path, f"cannot be read as NIfTI ({type(exc).__name__}: {exc})") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise CaseError(case_id, path, f"{what} has shape {data.shape}; a 3-D volume is required")
    return checked_volume(case_id, path, data, img.affine, what, dtype)


def load_segmentation(path: str | Path, case_id: str = "?", labels: tuple[int, ...] | None = SEG_LABELS) -> Volume:
    """Read a tumour segmentation as a uint8 :class:`Volume`; every label above 0 is tumour.

    Parameters
    ----------
    path : str or Path
    case_id : str
        Used in error messages.
    labels : tuple of int or None
        Labels accepted (the layout's :attr:`~mgmtfeat.data.layouts.LayoutSpec.seg_labels`;
        default BraTS 2021's 0, 1, 2, 4); None: any integer 0..255.

    Raises
    ------
    CaseError
        Unreadable file, non-integer or unknown labels, or no tumour voxel at all.
    """
    path = Path(path)
    if path.is_dir():
        raise CaseError(case_id, path, "the segmentation is a folder; a mask must be one NIfTI file (convert a "
                        "DICOM SEG or RTSTRUCT to .nii.gz on the image's grid)")
    try:
        vol = load_nifti(path, case_id, "segmentation", dtype=None)
    except CaseError as exc:
        if "all zero" in exc.reason:
            raise CaseError(case_id, path, "segmentation is empty (no tumour voxel); the 128x128 box needs "
                            "the tumour: fix the segmentation or use --box brain / --box-csv") from None
        raise
    data = vol.data
    top = 255 if labels is None else max(labels)
    accepted = "0..255" if labels is None else f"{labels}"
    lo, hi = data.min(), data.max()
    if lo < 0 or hi > top or (data.dtype.kind == "f" and not np.array_equal(data, np.rint(data))):
        raise CaseError(case_id, path, f"segmentation values span {lo:g}..{hi:g}; labels must be integers in "
                        f"{accepted} (0 background, any label above 0 tumour)")
    out = data.astype(np.uint8, copy=False)
    counts = np.bincount(np.ravel(out, order="K"), minlength=top + 1)
    # bincount is exact and much faster than np.unique on a 9-million-voxel volume
    bad = [int(v) for v in np.flatnonzero(counts) if labels is not None and v not in labels]
    if bad:
        raise CaseError(case_id, path, f"segmentation has label(s) {bad} outside {accepted}; (BraTS 2023 "
                        "files use 3 for enhancing tumour: name the case folders as BraTS 2023 does, "
                        "BraTS-GLI-XXXXX-XXX, or relabel 3 -> 4)")
    return Volume(out, vol.affine, path)


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
