"""One case's volumes: :class:`Case`, :func:`load_case` (the layout's reader for each modality), grids.

Every volume is float32 ``(X, Y, Z)`` in RAS+ orientation (see :class:`Volume`); the
readers are :mod:`mgmtfeat.data.nifti` and :mod:`mgmtfeat.data.dicom` (re-exported
here).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from mgmtfeat.data._canonical import Volume
from mgmtfeat.data.dicom import load_dicom_series, write_dicom_series
from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.layouts import IMAGE_MODALITIES, LAYOUT_SPECS, CaseRef
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


def same_grid(a: Volume, b: Volume, atol_mm: float = 0.1) -> bool:
    """True when two volumes share shape and affine (within ``atol_mm`` millimetres)."""
    return a.shape == b.shape and bool(np.allclose(a.affine, b.affine, atol=atol_mm))


def load_case(ref: CaseRef, seg: str = "auto", series_uids: tuple[str, ...] = ()) -> Case:
    """Read the four image modalities (and the segmentation) of one case.

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
    spec = LAYOUT_SPECS[ref.layout]
    reader = partial(load_dicom_series, series_uids=series_uids) if spec.series_folders else load_nifti
    volumes = {}
    for modality in IMAGE_MODALITIES:
        if modality not in ref.paths:
            raise CaseError(ref.case_id, None, f"modality {modality} has no path; every case needs {IMAGE_MODALITIES}")
        volumes[modality] = reader(ref.paths[modality], ref.case_id, modality)
    segmentation = None
    if seg != "ignore" and "seg" in ref.paths:
        segmentation = load_segmentation(ref.paths["seg"], ref.case_id)
    elif seg == "require":
        expected = (f"add {spec.file_name(ref.case_id, 'seg')} or use --box brain" if "seg" in spec.files
                    else f"the {ref.layout} layout has none; use --box brain or --box-csv")
        raise CaseError(ref.case_id, None, f"tumour segmentation is absent but required; {expected}")
    return Case(ref, volumes, segmentation)
