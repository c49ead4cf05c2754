"""Find the cases of a dataset: layout, ids, file paths and MGMT labels, from one table of layouts.

Each entry of :data:`LAYOUT_SPECS` says everything about a layout: how its cases are listed
(case folders, or the rows of a manifest CSV), how a case is read (NIfTI files, DICOM series
folders, or either by path), its file names, its label file and how that is read, and its
segmentation labels. Readers (:func:`find_cases`, :func:`mgmtfeat.data.volumes.load_case`) and
the synthetic writers look everything up there, so a new layout is one entry plus its tests.

``brats2021``
    BraTS 2021 Task 1: ``BraTS2021_XXXXX/BraTS2021_XXXXX_{flair,t1,t1ce,t2,seg}.nii.gz``.
    Labels come from the RSNA-MICCAI ``train_labels.csv`` (``BraTS21ID`` integer,
    ``MGMT_value`` 0/1) placed in the dataset folder or passed as ``labels``.
``brats2023``
    BraTS 2023 and later (GLI, MET, MEN, PED, SSA): ``BraTS-GLI-00000-000/BraTS-GLI-00000-000-
    {t2f,t1n,t1c,t2w,seg}.nii.gz``; segmentation labels 1, 2, 3 (and 4, resection cavity, in
    2024), any label above 0 is tumour. Labels from a ``labels.csv`` (``case_id``, ``mgmt``).
``rsna_dicom``
    RSNA-MICCAI 2021 (Kaggle): ``train/XXXXX/{FLAIR,T1w,T1wCE,T2w}/Image-N.dcm`` and
    ``train_labels.csv``. ``paths`` then name series folders, not files.
``ucsf_pdgm``
    UCSF-PDGM: ``UCSF-PDGM-XXXX_nifti/UCSF-PDGM-XXXX_{T1,T1c,T2,FLAIR,tumor_segmentation}.nii.gz``
    and a metadata CSV (``*metadata*.csv``) whose ``ID`` has three digits
    (``UCSF-PDGM-004``) where folders have four, whose ``MGMT status`` is
    ``positive``/``negative``/other and whose ``BraTS21 ID`` marks patients also in BraTS 2021.
``manifest``
    A CSV (``--data cohort.csv``) with ``case_id``, ``flair``, ``t1``, ``t1ce``, ``t2``, ``seg``
    columns of paths relative to it (see :mod:`mgmtfeat.data.manifest`); labels from its own
    ``mgmt`` column unless ``labels`` is given.

The label files are read and checked by :mod:`mgmtfeat.data.labels` (accepted values,
repeated ids); its readers are importable from here too.

A case with a missing modality file is still listed (its expected path is kept) so
that loading it fails with a :class:`~mgmtfeat.data.errors.CaseError` a batch can record;
so is a case whose manifest row or label is wrong (``CaseRef.problem``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping

from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.labels import read_rsna_labels, read_ucsf_metadata
from mgmtfeat.data.layout_specs import (IMAGE_MODALITIES, LABEL_READERS, LAYOUT_SPECS, LAYOUTS, MANIFEST,
                                        RSNA_FLAGGED_IDS, LayoutSpec, case_files, modality_path)

__all__ = [
    "CaseError",
    "IMAGE_MODALITIES",
    "CaseRef",
    "LAYOUTS",
    "MANIFEST",
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

@dataclass(frozen=True)
class CaseRef:
    """Where one case's files are and what is known about it.

    Attributes
    ----------
    case_id : str
        ``BraTS2021_00097`` (brats2021), ``BraTS-GLI-00097-000`` (brats2023), ``00097``
        (rsna_dicom), ``UCSF-PDGM-0004`` (ucsf_pdgm), the ``case_id`` cell (manifest).
    layout : str
        One of :data:`LAYOUTS` or :data:`MANIFEST`.
    paths : Mapping[str, Path]
        Canonical modality name (``flair``, ``t1``, ``t1ce``, ``t2``, and ``seg`` where a
        segmentation file exists) to a NIfTI file or a DICOM series folder. In folder layouts
        image modalities are always present (their file may be missing on disk); in a manifest
        an empty cell leaves its modality out.
    label : int or None
        MGMT promoter methylation (1 methylated, 0 not), None when unknown.
    brats_id : str or None
        For UCSF-PDGM, the BraTS 2021 id of the same patient (``BraTS2021_00097``), if any.
    problem : tuple of str or None
        ``(file, reason)`` when the case is known to be unusable before reading it (a repeated
        manifest row, a label outside the task's classes): loading it raises that
        :class:`CaseError`, which a batch records.
    """

    case_id: str
    layout: str
    paths: Mapping[str, Path] = field(repr=False, hash=False)  # a read-only mapping is not hashable
    label: int | None = None
    brats_id: str | None = None
    problem: tuple[str, str] | None = None

    def __post_init__(self):
        if self.layout not in LAYOUT_SPECS:
            raise ValueError(f"layout {self.layout!r} is not one of {tuple(LAYOUT_SPECS)}")
        # A read-only mapping keeps the dataclass honestly frozen.
        object.__setattr__(self, "paths", MappingProxyType({k: Path(v) for k, v in self.paths.items()}))

    def __reduce__(self):  # mappingproxy cannot be pickled; send a plain dict (e.g. to dask workers)
        return (type(self), (self.case_id, self.layout, dict(self.paths), self.label, self.brats_id, self.problem))

    @property
    def number(self) -> int:
        """The case number (97 for ``BraTS2021_00097`` and ``BraTS-GLI-00097-000``, 4 for ``UCSF-PDGM-0004``);
        for a manifest id, its last integer."""
        spec = LAYOUT_SPECS[self.layout]
        match = spec.folder_pattern.match(spec.case_folder(self.case_id)) if spec.folder_pattern else None
        digits = [match.group(1)] if match else re.findall(r"\d+", self.case_id)
        if not digits:
            raise ValueError(f"case id {self.case_id!r} holds no number")
        return int(digits[-1])


def _dataset_dir(root: Path) -> Path:
    """The folder holding the case folders (``train/`` for a full RSNA download)."""
    for spec in LAYOUT_SPECS.values():
        under = root / spec.cases_under
        if spec.cases_under and under.is_dir() and any(spec.folder_pattern.match(p.name) for p in under.iterdir()):
            return under
    return root


def _folder_layouts() -> list[str]:
    return [k for k in LAYOUT_SPECS if LAYOUT_SPECS[k].cases == "folders"]


def detect_layout(root: str | Path) -> str:
    """Return the layout of a dataset folder, or ``manifest`` for a CSV file.

    Parameters
    ----------
    root : str or Path
        Dataset folder (the one holding case folders, or for RSNA its parent with ``train/``),
        or a manifest CSV.

    Returns
    -------
    str
        One of :data:`LAYOUTS`, or :data:`MANIFEST`.

    Raises
    ------
    ValueError
        When the path does not exist, holds no case folder, or mixes layouts.
    """
    root = Path(root)
    if root.is_file() and root.suffix.lower() == ".csv":
        return MANIFEST
    if not root.is_dir():
        raise ValueError(f"dataset {root} does not exist or is neither a folder nor a manifest .csv; pass --data "
                         "DIR or --data COHORT.csv")
    names = [p.name for p in _dataset_dir(root).iterdir() if p.is_dir()]
    layouts = [k for k in _folder_layouts() if any(LAYOUT_SPECS[k].folder_pattern.match(n) for n in names)]
    if not layouts:
        raise ValueError(
            f"no cases in {root}: expected folders named BraTS2021_XXXXX (BraTS 2021), BraTS-GLI-XXXXX-XXX "
            "(BraTS 2023+: GLI, MET, MEN, PED, SSA), XXXXX with FLAIR/T1w/T1wCE/T2w series (RSNA-MICCAI, possibly "
            "under train/) or UCSF-PDGM-XXXX_nifti (UCSF-PDGM); point --data at the folder that holds them, or "
            "list your cases in a manifest CSV (--data cohort.csv)"
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


def _find_label_file(root: Path, spec: LayoutSpec) -> Path | None:
    if spec.cases == "manifest":  # the manifest is its own label file
        return root
    # RSNA keeps train_labels.csv beside train/, so the parent is searched too.
    hits = [hit for folder in (root, root.parent) for hit in sorted(folder.glob(spec.label_glob))]
    return hits[0] if hits else None


def _folder_cases(spec: LayoutSpec, root: Path) -> list[tuple[str, int | None, dict, tuple | None]]:
    """``(case_id, number, paths, problem)`` of every case folder."""
    found = []
    folder = _dataset_dir(root)
    for case_dir in sorted(p for p in folder.iterdir() if p.is_dir() and spec.folder_pattern.match(p.name)):
        number = int(spec.folder_pattern.match(case_dir.name).group(1))
        # UCSF folders may carry 3 digits where ids carry 4; a BraTS 2023 id is its folder's name
        case_id = case_dir.name if spec.id_from_folder else spec.case_id.format(number=number)
        found.append((case_id, number, case_files(spec, case_dir, case_id), None))
    return found


def _manifest_cases(spec: LayoutSpec, root: Path) -> list[tuple[str, int | None, dict, tuple | None]]:
    from mgmtfeat.data.manifest import read_manifest

    return [(row.case_id, None, row.paths, (str(root), row.problem) if row.problem else None)
            for row in read_manifest(root)]


_CASE_LISTERS = MappingProxyType({"folders": _folder_cases, "manifest": _manifest_cases})


def find_cases(root: str | Path, exclude: Iterable[str | int] = (), labels: str | Path | None = None) -> list[CaseRef]:
    """List the cases of a dataset folder or manifest, sorted by id (a manifest: in its order).

    Parameters
    ----------
    root : str or Path
        Dataset folder in one of :data:`LAYOUTS`, or a manifest CSV.
    exclude : iterable of str or int
        Case ids to leave out, as full ids (``BraTS2021_00109``) or numbers
        (``"00109"``, ``109``), e.g. :data:`RSNA_FLAGGED_IDS`.
    labels : str or Path, optional
        Label file; by default the layout's (``train_labels.csv``, ``*metadata*.csv``,
        ``labels.csv``) in ``root`` or its parent when present (else labels are None), for a
        manifest the manifest itself.

    Returns
    -------
    list of CaseRef

    Raises
    ------
    ValueError
        When the folder holds no case (after exclusion), a manifest's columns are wrong, or a
        public label file is malformed.
    """
    root = Path(root)
    spec = LAYOUT_SPECS[detect_layout(root)]
    label_file = Path(labels) if labels is not None else _find_label_file(_dataset_dir(root), spec)
    if label_file is not None and not label_file.is_file():
        raise ValueError(f"label file {label_file} does not exist; pass an existing CSV or omit it")
    names, numbers = _exclusion_numbers(exclude)
    listed = _CASE_LISTERS[spec.cases](spec, root)  # first: a manifest's own errors before its labels'
    known = LABEL_READERS[spec.labels](label_file) if label_file is not None else {}
    refs = []
    for case_id, number, paths, problem in listed:
        if case_id in names or number in numbers or (number is None and case_id.isdigit() and int(case_id) in numbers):
            continue
        label, brats_id, label_problem = known.get(case_id if spec.labels == "case_table" else number, (None,) * 3)
        if problem is None and label_problem is not None:
            problem = (str(label_file), label_problem)
        refs.append(CaseRef(case_id, spec.name, paths, label, brats_id, problem))
    if not refs:
        raise ValueError(f"no cases left in {root} (layout {spec.name}) after excluding {sorted(map(str, exclude))}")
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
