"""One case's volumes: :class:`Case`, :func:`load_case` (the layout's reader for each modality), grids.

Every volume is float32 ``(X, Y, Z)`` in RAS+ orientation (see :class:`Volume`); the
readers are :mod:`mgmtfeat.data.nifti` and :mod:`mgmtfeat.data.dicom` (re-exported
here).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from mgmtfeat.data.canonical_volume import Volume
from mgmtfeat.data.dicom import load_dicom_series, write_dicom_series
from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.layouts import IMAGE_MODALITIES, LAYOUT_SPECS, CaseRef, LayoutSpec
from mgmtfeat.data.nifti import SEG_LABELS, load_nifti, load_segmentation, write_nifti

__all__ = [
    "SEG_LABELS",
    "Case",
    "Volume",
    "load_case",
    "load_dicom_series",
    "load_nifti",
    "same_grid",
    "write_dicom_series",
    "write_nifti",
]


@dataclass(eq=False)
class Case:
    """The volumes of one case.

    Attributes
    ----------
    ref : CaseRef
        Where it came from (id, layout, label).
    volumes : dict
        ``flair``, ``t1``, ``t1ce``, ``t2`` (those read) -> :class:`Volume`.
    seg : Volume or None
        Tumour segmentation (uint8 labels, the layout's; above 0 is tumour) on the image grid, or None.
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


def same_grid(a: Volume, b: Volume, atol_mm: float = 0.1) -> bool:
    """True when two volumes share shape and affine (within ``atol_mm`` millimetres)."""
    return a.shape == b.shape and bool(np.allclose(a.affine, b.affine, atol=atol_mm))


def _reader(spec: LayoutSpec, path, series_uids: tuple[str, ...]):
    """The layout's reader for one series: NIfTI file, DICOM series folder, or by what the path is."""
    kind = ("dicom" if path.is_dir() else "nifti") if spec.reader == "by_path" else spec.reader
    if kind == "dicom":
        return partial(load_dicom_series, series_uids=series_uids)
    if kind == "nifti":
        return load_nifti
    raise ValueError(f"layout {spec.name}: reader {spec.reader!r} has no series reader; add one to "
                     "mgmtfeat/data/volumes.py (_reader)")


def load_case(ref: CaseRef, seg: str = "auto", series_uids: tuple[str, ...] = (),
              modalities: tuple[str, ...] = IMAGE_MODALITIES) -> Case:
    """Read the image modalities (and the segmentation) of one case, through its layout's reader.

    Parameters
    ----------
    ref : CaseRef
        From :func:`mgmtfeat.data.layouts.find_cases`.
    seg : {"auto", "require", "ignore"}
        ``auto`` reads the segmentation when the case has one, ``require`` fails
        without one, ``ignore`` never reads it.
    series_uids : tuple of str
        DICOM layouts: the series to read where a series folder mixes several
        (see :func:`load_dicom_series`).
    modalities : tuple of str
        The image series to read (``ClipSettings.images``); the others are left out on purpose.

    Returns
    -------
    Case
        ``volumes`` holds ``modalities``.

    Raises
    ------
    CaseError
        A problem found when the case was listed (``ref.problem``), or any unreadable, missing or
        implausible file (see :func:`load_nifti`, :func:`load_dicom_series`, :func:`load_segmentation`).
    """
    if seg not in ("auto", "require", "ignore"):
        raise ValueError(f"seg={seg!r} is not one of 'auto', 'require', 'ignore'")
    if ref.problem is not None:
        raise CaseError(ref.case_id, *ref.problem)
    spec = LAYOUT_SPECS[ref.layout]
    volumes = {}
    for modality in modalities:
        path = ref.paths.get(modality)
        if path is None or not path.exists():
            what = "has no file" if path is None else "file (or series folder) is missing"
            raise CaseError(ref.case_id, path, f"{modality} {what}; " + spec.missing.format(modality=modality))
        volumes[modality] = _reader(spec, path, series_uids)(path, ref.case_id, modality)
    segmentation = None
    if seg != "ignore" and "seg" in ref.paths:
        segmentation = load_segmentation(ref.paths["seg"], ref.case_id, spec.seg_labels)
    elif seg == "require":
        expected = (f"add {spec.file_name(ref.case_id, 'seg')} or use --box brain" if "seg" in spec.files
                    else f"the {ref.layout} layout has none here; give one (manifest: a seg column) or use "
                         "--box brain, --box whole-brain or --box-csv")
        raise CaseError(ref.case_id, None, f"tumour segmentation is absent but required; {expected}")
    return Case(ref, volumes, segmentation)
