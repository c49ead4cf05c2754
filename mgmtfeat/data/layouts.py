"""Find the cases of a dataset folder: layout, ids, file paths and MGMT labels.

Three public layouts are recognised:

``brats2021``
    BraTS 2021 Task 1: ``BraTS2021_XXXXX/BraTS2021_XXXXX_{flair,t1,t1ce,t2,seg}.nii.gz``.
    Labels come from the RSNA-MICCAI ``train_labels.csv`` (``BraTS21ID`` integer,
    ``MGMT_value`` 0/1) placed in the dataset folder or passed as ``labels``.
``rsna_dicom``
    RSNA-MICCAI 2021 (Kaggle): ``train/XXXXX/{FLAIR,T1w,T1wCE,T2w}/Image-N.dcm`` and
    ``train_labels.csv``. ``paths`` then name series folders, not files.
``ucsf_pdgm``
    UCSF-PDGM: ``UCSF-PDGM-XXXX_nifti/UCSF-PDGM-XXXX_{T1,T1c,T2,FLAIR,tumor_segmentation}.nii.gz``
    and a metadata CSV (``*metadata*.csv``) whose ``ID`` has three digits
    (``UCSF-PDGM-004``) where folders have four, whose ``MGMT status`` is
    ``positive``/``negative``/other and whose ``BraTS21 ID`` marks patients also in BraTS 2021.

The label files are read and checked by :mod:`mgmtfeat.data.labels` (accepted values,
repeated ids); its readers are importable from here too.

A case with a missing modality file is still listed (its expected path is kept) so
that loading it fails with a :class:`~mgmtfeat.data.errors.CaseError` a batch can record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping

import pandas as pd

from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.labels import (BRATS_CASE_ID, RSNA_LABEL_NAMES, UCSF_LABEL_NAMES, read_rsna_labels,
                                  read_ucsf_metadata)

__all__ = [
    "CaseError",
    "CaseRef",
    "LAYOUTS",
    "RSNA_FLAGGED_IDS",
    "LAYOUT_SPECS",
    "LayoutSpec",
    "detect_layout",
    "drop_brats_overlap",
    "find_cases",
    "modality_path",
    "read_rsna_labels",
    "read_ucsf_metadata",
]

#: Layout names, in detection order.
LAYOUTS = ("brats2021", "rsna_dicom", "ucsf_pdgm")
#: Image modalities (canonical names) every case must have.
IMAGE_MODALITIES = ("flair", "t1", "t1ce", "t2")
#: Cases the RSNA-MICCAI organisers flagged as problematic (pass them as ``exclude``).
RSNA_FLAGGED_IDS = ("00109", "00123", "00709")


@dataclass(frozen=True)
class LayoutSpec:
    """The names one public layout uses: the one table readers and the synthetic writers share.

    Attributes
    ----------
    name : str
        One of :data:`LAYOUTS`.
    case_id, label_id : str
        Case id, and the case's reference in the label file, from the case number (format
        strings: ``"UCSF-PDGM-{number:04d}"``, ``"UCSF-PDGM-{number:03d}"``).
    folder : str
        Case folder name from the case id (``"{case_id}_nifti"``); ``folder_pattern`` matches
        such names, its group 1 is the case number.
    files : Mapping[str, str]
        Canonical modality (``flair``, ``t1``, ``t1ce``, ``t2``, ``seg`` where the layout has
        one) -> name in the case folder from the case id (``"{case_id}_t1ce.nii.gz"``): a
        NIfTI file, or a DICOM series folder when ``series_folders``.
    cases_under : str
        Subfolder of the dataset folder holding the case folders (``"train"``), or ``""``.
    label_file, label_glob : str
        The label file's name (writers), and the pattern that finds it in the dataset folder or
        its parent (readers).
    id_column, label_column, brats_id_column : str
        Label file columns: the case, the MGMT status, the same patient's BraTS 2021 id (None:
        no such column).
    """

    name: str
    case_id: str
    folder: str
    folder_pattern: re.Pattern
    files: Mapping[str, str] = field(hash=False)  # a read-only mapping is not hashable
    series_folders: bool
    cases_under: str
    label_file: str
    label_glob: str
    id_column: str
    label_column: str
    label_id: str
    brats_id_column: str | None = None

    def case_folder(self, case_id: str) -> str:
        """Name of the folder holding ``case_id``'s files."""
        return self.folder.format(case_id=case_id)

    def file_name(self, case_id: str, modality: str) -> str:
        """Name of ``modality``'s file (or series folder) inside the case folder."""
        if modality not in self.files:
            raise ValueError(f"layout {self.name} has no {modality!r} file; it has {sorted(self.files)}")
        return self.files[modality].format(case_id=case_id)


def _names(template: str, names: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType({m: template.format(name=n) for m, n in names.items()})


#: The file names of every layout, by layout name.
LAYOUT_SPECS: Mapping[str, LayoutSpec] = MappingProxyType({
    "brats2021": LayoutSpec(
        "brats2021", BRATS_CASE_ID, "{case_id}", re.compile(r"^BraTS2021_(\d{5})$"),
        _names("{{case_id}}_{name}.nii.gz", {"flair": "flair", "t1": "t1", "t1ce": "t1ce", "t2": "t2", "seg": "seg"}),
        series_folders=False, cases_under="", **RSNA_LABEL_NAMES),
    "rsna_dicom": LayoutSpec(
        "rsna_dicom", "{number:05d}", "{case_id}", re.compile(r"^(\d{5})$"),
        _names("{name}", {"flair": "FLAIR", "t1": "T1w", "t1ce": "T1wCE", "t2": "T2w"}),
        series_folders=True, cases_under="train", **RSNA_LABEL_NAMES),
    "ucsf_pdgm": LayoutSpec(
        "ucsf_pdgm", "UCSF-PDGM-{number:04d}", "{case_id}_nifti", re.compile(r"^UCSF-PDGM-(\d{3,4})_nifti$"),
        _names("{{case_id}}_{name}.nii.gz",
               {"flair": "FLAIR", "t1": "T1", "t1ce": "T1c", "t2": "T2", "seg": "tumor_segmentation"}),
        series_folders=False, cases_under="", **UCSF_LABEL_NAMES),
})


def modality_path(root: str | Path, layout: str, case_id: str, modality: str) -> Path:
    """Where ``modality`` of ``case_id`` lives in a dataset folder of ``layout`` (readers and writers agree).

    Parameters
    ----------
    root : str or Path
        Dataset folder (for ``rsna_dicom``, the one holding ``train/``).
    layout, case_id, modality : str
        One of :data:`LAYOUTS`; ``BraTS2021_00097``, ``00097`` or ``UCSF-PDGM-0004``; ``flair``,
        ``t1``, ``t1ce``, ``t2`` or ``seg``.

    Returns
    -------
    Path
        A NIfTI file, or for ``rsna_dicom`` a series folder.
    """
    if layout not in LAYOUT_SPECS:
        raise ValueError(f"layout {layout!r} is not one of {LAYOUTS}")
    spec = LAYOUT_SPECS[layout]
    return Path(root) / spec.cases_under / spec.case_folder(case_id) / spec.file_name(case_id, modality)


def _case_files(spec: LayoutSpec, case_dir: Path, case_id: str) -> dict[str, Path]:
    """Every modality path of a case found in ``case_dir``; a segmentation only when its file exists."""
    paths = {m: case_dir / spec.file_name(case_id, m) for m in spec.files}
    if "seg" in paths and not paths["seg"].exists():
        del paths["seg"]
    return paths


@dataclass(frozen=True)
class CaseRef:
    """Where one case's files are and what is known about it.

    Attributes
    ----------
    case_id : str
        ``BraTS2021_00097`` (brats2021), ``00097`` (rsna_dicom), ``UCSF-PDGM-0004`` (ucsf_pdgm).
    layout : str
        One of :data:`LAYOUTS`.
    paths : Mapping[str, Path]
        Canonical modality name (``flair``, ``t1``, ``t1ce``, ``t2``, and ``seg`` where a
        segmentation file exists) to a NIfTI file or, for ``rsna_dicom``, a series folder.
        Image modalities are always present; their file may be missing on disk.
    label : int or None
        MGMT promoter methylation (1 methylated, 0 not), None when unknown.
    brats_id : str or None
        For UCSF-PDGM, the BraTS 2021 id of the same patient (``BraTS2021_00097``), if any.
    """

    case_id: str
    layout: str
    paths: Mapping[str, Path] = field(repr=False, hash=False)  # a read-only mapping is not hashable
    label: int | None = None
    brats_id: str | None = None

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r} is not one of {LAYOUTS}")
        # A read-only mapping keeps the dataclass honestly frozen.
        object.__setattr__(self, "paths", MappingProxyType({k: Path(v) for k, v in self.paths.items()}))

    def __reduce__(self):  # mappingproxy cannot be pickled; send a plain dict (e.g. to dask workers)
        return (type(self), (self.case_id, self.layout, dict(self.paths), self.label, self.brats_id))

    @property
    def number(self) -> int:
        """The integer part of the id (97 for ``BraTS2021_00097``, 4 for ``UCSF-PDGM-0004``)."""
        return int(re.findall(r"\d+", self.case_id)[-1])


def _dataset_dir(root: Path) -> Path:
    """The folder holding the case folders (``train/`` for a full RSNA download)."""
    rsna = LAYOUT_SPECS["rsna_dicom"]
    under = root / rsna.cases_under
    if under.is_dir() and any(rsna.folder_pattern.match(p.name) for p in under.iterdir()):
        return under
    return root


def detect_layout(root: str | Path) -> str:
    """Return the layout of a dataset folder.

    Parameters
    ----------
    root : str or Path
        Dataset folder (the one holding case folders, or for RSNA its parent with ``train/``).

    Returns
    -------
    str
        One of :data:`LAYOUTS`.

    Raises
    ------
    ValueError
        When the folder does not exist, holds no case folder, or mixes layouts.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"dataset folder {root} does not exist or is not a folder; pass --data DIR")
    names = [p.name for p in _dataset_dir(root).iterdir() if p.is_dir()]
    layouts = [k for k in LAYOUTS if any(LAYOUT_SPECS[k].folder_pattern.match(n) for n in names)]
    if not layouts:
        raise ValueError(
            f"no cases in {root}: expected folders named BraTS2021_XXXXX (BraTS 2021), XXXXX with "
            "FLAIR/T1w/T1wCE/T2w series (RSNA-MICCAI, possibly under train/) or UCSF-PDGM-XXXX_nifti "
            "(UCSF-PDGM); point --data at the folder that holds them"
        )
    if len(layouts) > 1:
        raise ValueError(f"dataset folder {root} mixes layouts {layouts}; keep one dataset per folder")
    return layouts[0]


def _exclusion_numbers(exclude: Iterable[str | int]) -> tuple[set[str], set[int]]:
    """Split exclusions into full ids and bare numbers (``"00109"``, ``109``)."""
    names, numbers = set(), set()
    for item in exclude:
        text = str(item).strip()
        if text.isdigit():
            numbers.add(int(text))
        elif text:
            names.add(text)
    return names, numbers


def _find_label_file(root: Path, layout: str) -> Path | None:
    # RSNA keeps train_labels.csv beside train/, so the parent is searched too.
    hits = [hit for folder in (root, root.parent) for hit in sorted(folder.glob(LAYOUT_SPECS[layout].label_glob))]
    return hits[0] if hits else None


def find_cases(root: str | Path, exclude: Iterable[str | int] = (), labels: str | Path | None = None) -> list[CaseRef]:
    """List the cases of a dataset folder, sorted by id.

    Parameters
    ----------
    root : str or Path
        Dataset folder in one of :data:`LAYOUTS`.
    exclude : iterable of str or int
        Case ids to leave out, as full ids (``BraTS2021_00109``) or numbers
        (``"00109"``, ``109``), e.g. :data:`RSNA_FLAGGED_IDS`.
    labels : str or Path, optional
        Label file; by default ``train_labels.csv`` (BraTS, RSNA) or ``*metadata*.csv``
        (UCSF-PDGM) in ``root`` or its parent, when present (else labels are None).

    Returns
    -------
    list of CaseRef

    Raises
    ------
    ValueError
        When the folder holds no case (after exclusion) or a label file is malformed.
    """
    root = Path(root)
    layout = detect_layout(root)
    folder = _dataset_dir(root)
    label_file = Path(labels) if labels is not None else _find_label_file(folder, layout)
    if label_file is not None and not label_file.is_file():
        raise ValueError(f"label file {label_file} does not exist; pass an existing CSV or omit it")
    names, numbers = _exclusion_numbers(exclude)
    spec = LAYOUT_SPECS[layout]
    labels_by_number, brats_by_number = {}, {}
    if label_file is not None and layout == "ucsf_pdgm":
        meta = read_ucsf_metadata(label_file)
        labels_by_number = {n: int(v) for n, v in meta["label"].items() if not pd.isna(v)}
        brats_by_number = {n: v for n, v in meta["brats_id"].items() if not pd.isna(v)}
    elif label_file is not None:
        labels_by_number = read_rsna_labels(label_file)
    refs = []
    for case_dir in sorted(p for p in folder.iterdir() if p.is_dir() and spec.folder_pattern.match(p.name)):
        number = int(spec.folder_pattern.match(case_dir.name).group(1))
        case_id = spec.case_id.format(number=number)  # UCSF folders may carry 3 digits, ids carry 4
        if case_id in names or number in numbers:
            continue
        refs.append(CaseRef(case_id, layout, _case_files(spec, case_dir, case_id), labels_by_number.get(number),
                            brats_by_number.get(number)))
    if not refs:
        raise ValueError(f"no cases left in {root} (layout {layout}) after excluding {sorted(map(str, exclude))}")
    return refs


def drop_brats_overlap(refs: Iterable[CaseRef]) -> list[CaseRef]:
    """Drop UCSF-PDGM cases that are also in BraTS 2021 (needed for an external validation).

    Parameters
    ----------
    refs : iterable of CaseRef

    Returns
    -------
    list of CaseRef
        The cases whose ``brats_id`` is None.
    """
    return [r for r in refs if r.brats_id is None]
