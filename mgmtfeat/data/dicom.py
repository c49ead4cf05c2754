"""Assemble a DICOM series into one RAS+ volume the way careful converters do, with checks; write a series.

One SeriesInstanceUID and one FrameOfReferenceUID per folder (``series_uids`` picks one
series where a folder mixes several), single-frame or multi-frame (Enhanced MR) files,
any transfer syntax pydicom can decode (JPEG through the pylibjpeg plugins), frames sorted
by ImagePositionPatient along the slice normal, with consistent orientation, spacing and
slice increments (a missing slice is an error, gantry tilt and multi-volume folders are
named), MONOCHROME1 inverted and the modality LUT or RescaleSlope/Intercept applied
through pydicom, never read with ``force=True``. Files without the DICM prefix that are
not DICOM (``README-Series.txt``) are skipped with a warning. Every failure raises
:class:`~mgmtfeat.data.errors.CaseError` naming the case, the file, the reason and the fix.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterable

import nibabel as nib
import numpy as np

from mgmtfeat._io import atomic_path
from mgmtfeat.data.canonical_volume import Volume, checked_volume
from mgmtfeat.data.dicom_frames import Frame, frame_pixels, read_frames
from mgmtfeat.data.errors import CaseError

__all__ = ["load_dicom_series", "write_dicom_series"]

_ORIENT_TOL = 1e-4   # direction cosines written with ~6 significant digits
_POS_TOL_MM = 0.05   # position tolerance; DICOM DS strings carry about 0.01 mm
# Tags that tell the volumes of a multi-volume series apart, in the order they are tried.
_VOLUME_TAGS = ("TemporalPositionIdentifier", "TemporalPositionIndex", "AcquisitionNumber", "EchoNumbers",
                "StackID", "TriggerTime")


def _attr(frame: Frame, name: str, case_id: str, macro: str | None = None):
    value = frame.get(name, macro)
    if value is None or value == "":
        raise CaseError(case_id, frame.path, f"DICOM attribute {name} is missing in {frame.name}; "
                        "a volume cannot be built without it")
    return value


def _one_series(frames: list[Frame], folder: Path, case_id: str, series_uids: Iterable[str]) -> list[Frame]:
    """The frames of the folder's one series, or of the series ``series_uids`` names."""
    by_uid: dict[str, list[Frame]] = {}
    for frame in frames:
        by_uid.setdefault(str(_attr(frame, "SeriesInstanceUID", case_id)), []).append(frame)
    if len(by_uid) == 1:
        return frames
    chosen = [uid for uid in by_uid if uid in set(series_uids)]
    if len(chosen) == 1:
        return by_uid[chosen[0]]
    listing = "; ".join(f"{uid} ({str(group[0].ds.get('SeriesDescription', '')) or 'no SeriesDescription'}, "
                        f"{len(group)} slices)" for uid, group in sorted(by_uid.items(), key=lambda kv: -len(kv[1])))
    raise CaseError(case_id, folder, f"folder mixes {len(by_uid)} series: {listing}; pick one with --series-uid UID "
                    "(series_uids=... in load_case; the largest comes first above) or move the other series "
                    "out of the folder")


def _same_frame_of_reference(frames: list[Frame], case_id: str) -> None:
    first = {}
    for frame in frames:
        uid = frame.ds.get("FrameOfReferenceUID")
        if uid:
            first.setdefault(str(uid), frame)
    if len(first) > 1:
        (uid_a, a), (uid_b, b) = list(first.items())[:2]
        raise CaseError(case_id, b.path, f"FrameOfReferenceUID {uid_b} ({b.name}) differs from {uid_a} ({a.name}): "
                        "the slices are not in one patient coordinate system; keep one acquisition per folder")


def _position_groups(depth: np.ndarray) -> np.ndarray:
    """Index of each frame's position: frames within the position tolerance share one."""
    order = np.argsort(depth, kind="stable")
    group = np.empty(len(depth), dtype=np.int64)
    group[order] = np.concatenate([[0], np.cumsum(np.diff(depth[order]) >= _POS_TOL_MM)])
    return group


def _volume_key(frames: list[Frame], group: np.ndarray, k: int) -> str | None:
    """How ``k`` volumes at the same positions are told apart: a tag, or InstanceNumber ranges."""
    n = len(frames) // k
    for tag in _VOLUME_TAGS:
        values = np.array([str(frame.get(tag, "FrameContentSequence") or "") for frame in frames])
        keys = sorted(set(values.tolist()), key=lambda v: (len(v), v))  # 2 before 10
        if "" not in keys and len(keys) == k and all(len(set(group[values == v])) == n for v in keys):
            return f"{tag} ({', '.join(keys[:6])}{', ...' if k > 6 else ''})"
    numbers = [frame.get("InstanceNumber") for frame in frames]
    if frames[0].index is None and all(v not in (None, "") for v in numbers):
        blocks = np.argsort([int(v) for v in numbers], kind="stable").reshape(k, n)
        if all(len(set(group[b])) == n for b in blocks):
            ranges = ", ".join(f"{numbers[b[0]]}-{numbers[b[-1]]}" for b in blocks[:4])
            return f"InstanceNumber ranges ({ranges}{', ...' if k > 4 else ''})"
    return None


def _refuse_repeats(frames: list[Frame], depth: np.ndarray, positions: np.ndarray, folder: Path, case_id: str,
                    what: str) -> None:
    """Several frames at one position: a multi-volume acquisition (named) or duplicate slices."""
    group = _position_groups(depth)
    sizes = np.bincount(group)
    if sizes.max() == 1:
        return
    k = int(sizes.max())
    key = _volume_key(frames, group, k) if (sizes == k).all() else None
    if key is not None:
        raise CaseError(case_id, folder, f"{what} folder holds {k} volumes of {len(sizes)} slices under one "
                        f"SeriesInstanceUID (a multi-volume acquisition such as fMRI or diffusion), told apart by "
                        f"{key}; copy one volume's files into a series folder of their own (or export that volume "
                        "alone) and point the case at it")
    same = np.flatnonzero(group == int(np.argmax(sizes)))[:2]
    a, b = frames[same[0]], frames[same[1]]
    raise CaseError(case_id, folder, f"slices {a.name} and {b.name} share the position "
                    f"{positions[same[0]].round(3).tolist()}; the folder holds duplicate slices; remove one copy")


def load_dicom_series(folder: str | Path, case_id: str = "?", what: str = "image",
                      series_uids: Iterable[str] = ()) -> Volume:
    """Build one volume from a folder holding a single DICOM series.

    Frames (one per single-frame file, or each frame of a multi-frame file) are sorted by
    ImagePositionPatient projected on the slice normal (never by file name or
    SliceLocation). The series must have one SeriesInstanceUID, one FrameOfReferenceUID,
    one ImageOrientationPatient, one PixelSpacing and one matrix size, one frame per
    position (several volumes under one UID are named and refused), slice positions along
    the normal (gantry tilt is named and refused) and equal increments (a missing slice is
    an error). MONOCHROME1 is inverted; the modality LUT or RescaleSlope/Intercept applied.

    Parameters
    ----------
    folder : str or Path
        Series folder (all regular files in it are read; non-DICOM files are skipped with a warning).
    case_id, what : str
        Used in error messages.
    series_uids : iterable of str
        SeriesInstanceUIDs to keep where the folder mixes several series (the one of them
        found in the folder is read); ignored for a folder holding one series.

    Returns
    -------
    Volume
        float32 ``(X, Y, Z)`` in RAS+ orientation.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CaseError(case_id, folder, f"{what} series folder is missing; every case needs FLAIR, T1w, T1wCE and T2w")
    frames, skipped = read_frames(folder, case_id)
    if skipped:
        warnings.warn(f"case {case_id}: {what} series folder {folder} holds {len(skipped)} file(s) that are not "
                      f"DICOM images, skipped: {', '.join(p.name for p in skipped[:5])}", stacklevel=2)
    frames = _one_series(frames, folder, case_id, series_uids)
    if len(frames) < 2:
        raise CaseError(case_id, folder, f"{what} series has {len(frames)} slice(s); at least 2 slices are needed")
    _same_frame_of_reference(frames, case_id)
    f0 = frames[0]
    iop0 = np.array(_attr(f0, "ImageOrientationPatient", case_id, "PlaneOrientationSequence"), dtype=float)
    ps0 = np.array(_attr(f0, "PixelSpacing", case_id, "PixelMeasuresSequence"), dtype=float)
    size0 = (int(_attr(f0, "Rows", case_id)), int(_attr(f0, "Columns", case_id)))
    row_dir, col_dir = iop0[:3], iop0[3:]
    if abs(np.linalg.norm(row_dir) - 1) > 1e-3 or abs(np.linalg.norm(col_dir) - 1) > 1e-3 \
            or abs(row_dir @ col_dir) > 1e-3:
        raise CaseError(case_id, f0.path, f"ImageOrientationPatient {iop0.tolist()} is not two orthonormal vectors")
    positions = []
    for frame in frames:
        iop = np.array(_attr(frame, "ImageOrientationPatient", case_id, "PlaneOrientationSequence"), dtype=float)
        if np.abs(iop - iop0).max() > _ORIENT_TOL:
            raise CaseError(case_id, frame.path, f"ImageOrientationPatient {iop.tolist()} of {frame.name} differs "
                            f"from {iop0.tolist()} ({f0.name}); the stack is inconsistently oriented")
        ps = np.array(_attr(frame, "PixelSpacing", case_id, "PixelMeasuresSequence"), dtype=float)
        if np.abs(ps - ps0).max() > 1e-4:
            raise CaseError(case_id, frame.path, f"PixelSpacing {ps.tolist()} of {frame.name} differs from "
                            f"{ps0.tolist()} ({f0.name})")
        if (int(frame.ds.Rows), int(frame.ds.Columns)) != size0:
            raise CaseError(case_id, frame.path, f"matrix {int(frame.ds.Rows)}x{int(frame.ds.Columns)} differs "
                            f"from {size0[0]}x{size0[1]}")
        positions.append(np.array(_attr(frame, "ImagePositionPatient", case_id, "PlanePositionSequence"), dtype=float))
    positions = np.array(positions)
    normal = np.cross(row_dir, col_dir)
    depth = positions @ normal
    _refuse_repeats(frames, depth, positions, folder, case_id, what)
    order = np.argsort(depth, kind="stable")
    depth, positions = depth[order], positions[order]
    names = [frames[i].name for i in order]
    # Tilt before increments: a tilted CT often has variable spacing too, and the tilt is the cause to name.
    offsets = positions - positions[0]
    in_plane = offsets - np.outer(offsets @ normal, normal)
    worst = float(np.linalg.norm(in_plane, axis=1).max())
    if worst > max(_POS_TOL_MM, 1e-3 * float(np.abs(depth[-1] - depth[0]))):
        angle = float(np.degrees(np.arctan2(np.linalg.norm(in_plane[-1]), depth[-1] - depth[0])))
        raise CaseError(case_id, folder, f"gantry tilt of {angle:.1f} degrees: slice positions drift {worst:.2f} mm "
                        "off the slice normal, so slices are sheared, not supported; resample with dcm2niix "
                        "(it corrects tilt) or export the series untilted")
    steps = np.diff(depth)
    step = float(np.median(steps))
    off = np.flatnonzero(np.abs(steps - step) > max(_POS_TOL_MM, 0.01 * step))
    if off.size:
        i = int(off[0])
        gap = steps[i] / step
        kind = (f"about {round(gap) - 1} missing slice(s)" if gap > 1.5 and abs(gap - round(gap)) < 0.1
                else "an inconsistent slice increment")
        raise CaseError(case_id, folder, f"{kind} between {names[i]} and {names[i + 1]}: increment "
                        f"{steps[i]:.3f} mm where the series uses {step:.3f} mm; the series is incomplete")
    stack = np.stack([frame_pixels(frames[i], case_id) for i in order], axis=-1)
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
