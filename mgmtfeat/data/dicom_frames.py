"""The frames of a DICOM series folder, for :mod:`mgmtfeat.data.dicom`: files and their pixels.

:func:`read_frames` reads every file of a folder (never with ``force=True``; files that are
not DICOM are returned apart so the caller can warn) and gives one :class:`Frame` per
single-frame file or per frame of a multi-frame (Enhanced MR) file, whose geometry comes
from the per-frame and shared functional groups. :func:`frame_pixels` decodes a frame
(any transfer syntax pydicom has a decoder for: JPEG through the pylibjpeg plugins),
inverts MONOCHROME1 and applies the modality LUT or rescale through pydicom.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mgmtfeat.data.errors import CaseError

__all__ = ["Frame", "frame_pixels", "read_frames"]

_DICOMDIR = "1.2.840.10008.1.3.10"  # Media Storage Directory: an index of files, not an image
# A dataset written without preamble and 'DICM' starts with a group 0002 or 0008 tag (little endian).
_BARE_DATASET_STARTS = (b"\x02\x00", b"\x08\x00")


@dataclass(eq=False)
class Frame:
    """One slice: a single-frame file (``index`` None) or frame ``index`` of a multi-frame file.

    Attributes
    ----------
    ds : pydicom.dataset.Dataset
        The file's dataset.
    path : Path
        The file.
    index : int or None
        Frame number (0-based) in a multi-frame file.
    decoded : dict
        Shared by the frames of one file, so its pixel data is decoded once.
    """

    ds: object
    path: Path
    index: int | None = None
    decoded: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.path.name if self.index is None else f"{self.path.name} frame {self.index + 1}"

    def get(self, name: str, macro: str | None = None):
        """Attribute ``name``: in a multi-frame file from functional group ``macro`` (per frame, then
        shared), else (or when absent there) from the top level; None when absent."""
        if self.index is not None and macro:
            per_frame = self.ds.get("PerFrameFunctionalGroupsSequence") or []
            shared = self.ds.get("SharedFunctionalGroupsSequence") or []
            for groups in ([per_frame[self.index]] if per_frame else []) + list(shared[:1]):
                items = groups.get(macro)
                if items and items[0].get(name) not in (None, ""):
                    return items[0].get(name)
        return self.ds.get(name)


def _read_dicom(path: Path, case_id: str):
    """The dataset of ``path``, or None when the file is not DICOM at all (a stray text file)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    if path.stat().st_size == 0:
        raise CaseError(case_id, path, "DICOM file is empty (0 bytes); re-copy the series")
    try:
        return pydicom.dcmread(path)  # never force=True: a file without DICM prefix is refused
    except InvalidDicomError as exc:
        with open(path, "rb") as fh:
            start = fh.read(2)
        if start in _BARE_DATASET_STARTS:  # a slice written without its header: refusing beats a missing slice
            raise CaseError(case_id, path, f"not a DICOM Part 10 file (no 'DICM' prefix after the preamble: {exc}); "
                            "re-export the series as standard DICOM files") from None
        return None
    except Exception as exc:
        raise CaseError(case_id, path, f"cannot be read as DICOM ({type(exc).__name__}: {exc})") from None


def read_frames(folder: Path, case_id: str) -> tuple[list[Frame], list[Path]]:
    """Every frame in ``folder`` and the files skipped as not DICOM (or a DICOMDIR).

    Raises
    ------
    CaseError
        An unreadable DICOM file, a multi-frame file without per-frame functional groups,
        or a folder without any DICOM file.
    """
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    frames: list[Frame] = []
    skipped: list[Path] = []
    for path in files:
        ds = _read_dicom(path, case_id)
        if ds is None or str(ds.get("SOPClassUID", "")) == _DICOMDIR:
            skipped.append(path)
            continue
        n = int(ds.get("NumberOfFrames") or 1)
        per_frame = ds.get("PerFrameFunctionalGroupsSequence")
        if per_frame is None and n == 1:
            frames.append(Frame(ds, path))
            continue
        if per_frame is None or len(per_frame) != n:
            raise CaseError(case_id, path, f"multi-frame file with {n} frames has "
                            f"{'no' if per_frame is None else len(per_frame)} PerFrameFunctionalGroupsSequence "
                            "item(s), so frame positions are unknown; convert it with dcm2niix")
        decoded: dict = {}
        frames.extend(Frame(ds, path, i, decoded) for i in range(n))
    if not frames:
        what = f"only non-DICOM files ({', '.join(p.name for p in skipped[:5])})" if skipped else "no file"
        raise CaseError(case_id, folder, f"series folder holds {what}; it needs the series' DICOM files")
    return frames, skipped


def _stored_range(ds) -> tuple[int, int]:
    bits = int(ds.get("BitsStored") or ds.BitsAllocated)
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if int(ds.get("PixelRepresentation") or 0) else (0, 2 ** bits - 1)


def _modality_lut(frame: Frame, pix: np.ndarray) -> np.ndarray:
    """Stored values -> modality values through pydicom (LUT, else the frame's rescale)."""
    from pydicom.dataset import Dataset
    from pydicom.pixels import apply_modality_lut

    ds, view = frame.ds, Dataset()
    if hasattr(ds, "file_meta"):
        view.file_meta = ds.file_meta  # the endianness of an OW LUT
    if ds.get("ModalityLUTSequence"):
        view.ModalityLUTSequence = ds.ModalityLUTSequence
    else:
        slope = frame.get("RescaleSlope", "PixelValueTransformationSequence")
        intercept = frame.get("RescaleIntercept", "PixelValueTransformationSequence")
        if slope not in (None, "") or intercept not in (None, ""):  # an empty value means the identity
            view.RescaleSlope = slope if slope not in (None, "") else 1
            view.RescaleIntercept = intercept if intercept not in (None, "") else 0
    return apply_modality_lut(pix, view)


def frame_pixels(frame: Frame, case_id: str) -> np.ndarray:
    """The frame as a float32 ``(rows, columns)`` array of modality values (MONOCHROME1 inverted)."""
    ds, path = frame.ds, frame.path
    if "PixelData" not in ds:
        raise CaseError(case_id, path, "DICOM file has no PixelData; re-copy the series")
    if int(ds.get("SamplesPerPixel") or 1) != 1:
        raise CaseError(case_id, path, f"SamplesPerPixel is {ds.SamplesPerPixel} ({ds.get('PhotometricInterpretation')}); "
                        "only greyscale images are supported")
    if "pixels" not in frame.decoded:
        rows, cols, n = int(ds.Rows), int(ds.Columns), int(ds.get("NumberOfFrames") or 1)
        syntax = ds.file_meta.TransferSyntaxUID
        if not syntax.is_compressed:
            need = rows * cols * n * int(ds.BitsAllocated) // 8
            have = len(ds.PixelData)
            if have < need:
                raise CaseError(case_id, path, f"pixel data is incomplete: {have} bytes for {n} frame(s) of "
                                f"{rows}x{cols} at {ds.BitsAllocated} bits needs {need}; re-copy the file")
        try:
            frame.decoded["pixels"] = ds.pixel_array
        except Exception as exc:
            raise CaseError(case_id, path, f"pixel data ({syntax.name}) cannot be decoded ({type(exc).__name__}: "
                            f"{exc}); install the decoders (pip install pylibjpeg pylibjpeg-libjpeg "
                            "pylibjpeg-openjpeg) or decompress the series (gdcmconv --raw)") from None
    pix = frame.decoded["pixels"]
    if frame.index is not None and pix.ndim == 3:
        pix = pix[frame.index]
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":  # minimum is white: mirror the stored range
        lo, hi = _stored_range(ds)
        pix = (lo + hi) - pix.astype(np.int64)
    return np.asarray(_modality_lut(frame, pix), dtype=np.float32)
