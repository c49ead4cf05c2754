"""The table of layouts: :class:`LayoutSpec` and :data:`LAYOUT_SPECS`, one entry per layout.

Each entry says how a layout's cases are listed, how a case is read, its file names, its label
file and how that is read, and its segmentation labels (the layouts are described in
:mod:`mgmtfeat.data.layouts`, which re-exports these names). Readers and synthetic writers look
everything up here; no reader falls back on another layout's behaviour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping

import pandas as pd

from mgmtfeat.data.labels import (BRATS_CASE_ID, CASE_TABLE_NAMES, RSNA_LABEL_NAMES, UCSF_LABEL_NAMES,
                                  read_case_table, read_rsna_labels, read_ucsf_metadata)

__all__ = ["IMAGE_MODALITIES", "LABEL_READERS", "LAYOUTS", "MANIFEST", "LAYOUT_SPECS", "LayoutSpec", "RSNA_FLAGGED_IDS",
           "case_files", "modality_path"]

#: Dataset-folder layouts, in detection order (each also has synthetic writers).
LAYOUTS = ("brats2021", "brats2023", "rsna_dicom", "ucsf_pdgm")
#: The layout of a manifest CSV (``--data cohort.csv``): a table of files of any layout.
MANIFEST = "manifest"
#: Image modalities (canonical names) a case may have.
IMAGE_MODALITIES = ("flair", "t1", "t1ce", "t2")
#: Cases the RSNA-MICCAI organisers flagged as problematic (pass them as ``exclude``).
RSNA_FLAGGED_IDS = ("00109", "00123", "00709")
_READERS = ("nifti", "dicom", "by_path")  # by_path: a folder is a DICOM series, a file NIfTI
_CASE_SOURCES = ("folders", "manifest")


@dataclass(frozen=True)
class LayoutSpec:
    """Everything one layout needs: the one table readers and the synthetic writers share.

    Attributes
    ----------
    name : str
        One of :data:`LAYOUTS` or :data:`MANIFEST`.
    case_id, label_id : str
        Case id, and the case's reference in the label file, from the case number (format
        strings: ``"UCSF-PDGM-{number:04d}"``, ``"UCSF-PDGM-{number:03d}"``); writers use them.
    folder : str
        Case folder name from the case id (``"{case_id}_nifti"``); ``folder_pattern`` matches
        such names, its group 1 is the case number.
    files : Mapping[str, str]
        Canonical modality (``flair``, ``t1``, ``t1ce``, ``t2``, ``seg`` where the layout has
        one) -> name in the case folder from the case id (``"{case_id}_t1ce.nii.gz"``).
    reader : {"nifti", "dicom", "by_path"}
        How a series is read: NIfTI files, DICOM series folders, or by what the path is.
    cases : {"folders", "manifest"}
        How cases are listed: case folders, or the rows of a manifest CSV.
    cases_under : str
        Subfolder of the dataset folder holding the case folders (``"train"``), or ``""``.
    labels : {"rsna", "ucsf", "case_table"}
        How the label file is read (:data:`LABEL_READERS`).
    label_file, label_glob : str
        The label file's name (writers), and the pattern that finds it in the dataset folder or
        its parent (readers).
    id_column, label_column, brats_id_column : str
        Label file columns: the case, the MGMT status, the same patient's BraTS 2021 id (None:
        no such column).
    seg_labels : tuple of int or None
        Segmentation labels accepted (None: any integer 0..255); every label above 0 is tumour.
    enhancing_label : int
        The enhancing-tumour label (4 in BraTS 2021, 3 from BraTS 2023): synthetic writers use it.
    id_from_folder : bool
        The case id is the folder name itself (BraTS 2023: challenge, patient and time point).
    stored_lps : bool
        Synthetic writers store volumes LPS, as this layout's files are.
    missing : str
        The fix to suggest for a series a case lacks (``{modality}`` is filled in).
    """

    name: str
    case_id: str
    folder: str
    folder_pattern: re.Pattern | None
    files: Mapping[str, str] = field(hash=False)  # a read-only mapping is not hashable
    reader: str
    cases: str
    cases_under: str
    labels: str
    label_file: str
    label_glob: str
    id_column: str
    label_column: str
    label_id: str
    brats_id_column: str | None = None
    seg_labels: tuple[int, ...] | None = (0, 1, 2, 4)
    enhancing_label: int = 4
    id_from_folder: bool = False
    stored_lps: bool = False
    missing: str = "add the file, or leave {modality} out with --modalities"

    def __post_init__(self):
        if self.reader not in _READERS or self.cases not in _CASE_SOURCES or self.labels not in LABEL_READERS:
            raise ValueError(f"layout {self.name}: reader {self.reader!r}, cases {self.cases!r} or labels "
                             f"{self.labels!r} is not one of {_READERS}, {_CASE_SOURCES}, {tuple(LABEL_READERS)}; a "
                             "new one needs its reader: a series reader in mgmtfeat/data/volumes.py (_reader) listed "
                             "in _READERS, or a label reader in LABEL_READERS (mgmtfeat/data/layout_specs.py)")

    @property
    def series_folders(self) -> bool:
        """Whether every series is a DICOM folder."""
        return self.reader == "dicom"

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


def _rsna_labels(path: Path) -> dict:
    return {n: (label, None, None) for n, label in read_rsna_labels(path).items()}


def _ucsf_labels(path: Path) -> dict:
    meta = read_ucsf_metadata(path)
    return {n: (None if pd.isna(label) else int(label), None if pd.isna(brats) else brats, None)
            for n, label, brats in zip(meta.index, meta["label"], meta["brats_id"])}


def _case_table_labels(path: Path) -> dict:
    return {case: (label, None, problem) for case, (label, problem) in read_case_table(path).items()}


#: Label readers by :attr:`LayoutSpec.labels`: file -> ``{key: (label, brats_id, problem)}``, keyed by
#: case number (``rsna``, ``ucsf``) or case id (``case_table``).
LABEL_READERS: Mapping[str, Callable[[Path], dict]] = MappingProxyType(
    {"rsna": _rsna_labels, "ucsf": _ucsf_labels, "case_table": _case_table_labels})
_NIFTI_NAMES = "{{case_id}}_{name}.nii.gz"

#: Every layout, by layout name.
LAYOUT_SPECS: Mapping[str, LayoutSpec] = MappingProxyType({
    "brats2021": LayoutSpec(
        "brats2021", BRATS_CASE_ID, "{case_id}", re.compile(r"^BraTS2021_(\d{5})$"),
        _names(_NIFTI_NAMES, {"flair": "flair", "t1": "t1", "t1ce": "t1ce", "t2": "t2", "seg": "seg"}),
        reader="nifti", cases="folders", cases_under="", labels="rsna", stored_lps=True, **RSNA_LABEL_NAMES),
    "brats2023": LayoutSpec(
        "brats2023", "BraTS-GLI-{number:05d}-000", "{case_id}",
        re.compile(r"^BraTS-(?:GLI|MET|MEN|PED|SSA)-(\d{5})-\d{3}$"),
        _names("{{case_id}}-{name}.nii.gz", {"flair": "t2f", "t1": "t1n", "t1ce": "t1c", "t2": "t2w", "seg": "seg"}),
        reader="nifti", cases="folders", cases_under="", labels="case_table", seg_labels=(0, 1, 2, 3, 4),
        enhancing_label=3, id_from_folder=True, stored_lps=True,
        missing="every BraTS 2023 case has -t2f, -t1n, -t1c and -t2w files: add it, or leave {modality} out "
                "with --modalities", **CASE_TABLE_NAMES),
    "rsna_dicom": LayoutSpec(
        "rsna_dicom", "{number:05d}", "{case_id}", re.compile(r"^(\d{5})$"),
        _names("{name}", {"flair": "FLAIR", "t1": "T1w", "t1ce": "T1wCE", "t2": "T2w"}),
        reader="dicom", cases="folders", cases_under="train", labels="rsna", **RSNA_LABEL_NAMES),
    "ucsf_pdgm": LayoutSpec(
        "ucsf_pdgm", "UCSF-PDGM-{number:04d}", "{case_id}_nifti", re.compile(r"^UCSF-PDGM-(\d{3,4})_nifti$"),
        _names(_NIFTI_NAMES, {"flair": "FLAIR", "t1": "T1", "t1ce": "T1c", "t2": "T2", "seg": "tumor_segmentation"}),
        reader="nifti", cases="folders", cases_under="", labels="ucsf", **UCSF_LABEL_NAMES),
    "manifest": LayoutSpec(
        "manifest", "{case_id}", "", None, MappingProxyType({}), reader="by_path", cases="manifest", cases_under="",
        labels="case_table", seg_labels=None,
        missing="give the case's {modality} column an existing NIfTI file or DICOM series folder (a path relative "
                "to the manifest), or leave {modality} out with --modalities", **CASE_TABLE_NAMES),
})


def modality_path(root: str | Path, layout: str, case_id: str, modality: str) -> Path:
    """Where ``modality`` of ``case_id`` lives in a dataset folder of ``layout`` (readers and writers agree).

    Parameters
    ----------
    root : str or Path
        Dataset folder (for ``rsna_dicom``, the one holding ``train/``).
    layout, case_id, modality : str
        A folder layout of :data:`LAYOUTS`; ``BraTS2021_00097``, ``00097`` or ``UCSF-PDGM-0004``;
        ``flair``, ``t1``, ``t1ce``, ``t2`` or ``seg``.

    Returns
    -------
    Path
        A NIfTI file, or for ``rsna_dicom`` a series folder.
    """
    if layout not in LAYOUT_SPECS:
        raise ValueError(f"layout {layout!r} is not one of {tuple(LAYOUT_SPECS)}")
    spec = LAYOUT_SPECS[layout]
    return Path(root) / spec.cases_under / spec.case_folder(case_id) / spec.file_name(case_id, modality)


def case_files(spec: LayoutSpec, case_dir: Path, case_id: str) -> dict[str, Path]:
    """Every modality path of a case folder of a layout: modality -> path.

    Parameters
    ----------
    spec : LayoutSpec
        The layout's spec (its file names).
    case_dir : Path
        The case's folder.
    case_id : str
        The case's id, as the file names spell it.

    Returns
    -------
    dict of str to Path
        One path per modality of ``spec.files``, whether the file exists or not (the reader says
        which is missing); the segmentation only when its file exists, as it is optional.
    """
    paths = {m: case_dir / spec.file_name(case_id, m) for m in spec.files}
    if "seg" in paths and not paths["seg"].exists():
        del paths["seg"]
    return paths
