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

__all__ = [
    "CaseError",
    "CaseRef",
    "LAYOUTS",
    "RSNA_FLAGGED_IDS",
    "detect_layout",
    "drop_brats_overlap",
    "find_cases",
    "read_rsna_labels",
    "read_ucsf_metadata",
]

#: Layout names, in detection order.
LAYOUTS = ("brats2021", "rsna_dicom", "ucsf_pdgm")
#: Image modalities (canonical names) every case must have.
IMAGE_MODALITIES = ("flair", "t1", "t1ce", "t2")
#: Cases the RSNA-MICCAI organisers flagged as problematic (pass them as ``exclude``).
RSNA_FLAGGED_IDS = ("00109", "00123", "00709")

_BRATS_DIR = re.compile(r"^BraTS2021_(\d{5})$")
_RSNA_DIR = re.compile(r"^(\d{5})$")
_UCSF_DIR = re.compile(r"^UCSF-PDGM-(\d{3,4})_nifti$")
_BRATS_SUFFIX = {"flair": "flair", "t1": "t1", "t1ce": "t1ce", "t2": "t2", "seg": "seg"}
_RSNA_SERIES = {"flair": "FLAIR", "t1": "T1w", "t1ce": "T1wCE", "t2": "T2w"}
_UCSF_SUFFIX = {"flair": "FLAIR", "t1": "T1", "t1ce": "T1c", "t2": "T2", "seg": "tumor_segmentation"}


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
    if (root / "train").is_dir() and any(_RSNA_DIR.match(p.name) for p in (root / "train").iterdir()):
        return root / "train"
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
    found = {
        "brats2021": any(_BRATS_DIR.match(n) for n in names),
        "rsna_dicom": any(_RSNA_DIR.match(n) for n in names),
        "ucsf_pdgm": any(_UCSF_DIR.match(n) for n in names),
    }
    layouts = [k for k, v in found.items() if v]
    if not layouts:
        raise ValueError(
            f"no cases in {root}: expected folders named BraTS2021_XXXXX (BraTS 2021), XXXXX with "
            "FLAIR/T1w/T1wCE/T2w series (RSNA-MICCAI, possibly under train/) or UCSF-PDGM-XXXX_nifti "
            "(UCSF-PDGM); point --data at the folder that holds them"
        )
    if len(layouts) > 1:
        raise ValueError(f"dataset folder {root} mixes layouts {layouts}; keep one dataset per folder")
    return layouts[0]


def read_rsna_labels(path: str | Path) -> dict[int, int]:
    """Read an RSNA-MICCAI ``train_labels.csv``.

    Returns
    -------
    dict
        ``BraTS21ID`` (int) to ``MGMT_value`` (0 or 1).
    """
    path = Path(path)
    table = pd.read_csv(path, dtype=str)
    missing = {"BraTS21ID", "MGMT_value"} - set(table.columns)
    if missing:
        raise ValueError(f"label file {path} lacks column(s) {sorted(missing)}; expected BraTS21ID,MGMT_value")
    labels: dict[int, int] = {}
    for row, (case, value) in enumerate(zip(table["BraTS21ID"], table["MGMT_value"]), start=2):
        try:
            case_n, label = int(str(case).strip()), int(str(value).strip())
        except ValueError:
            raise ValueError(f"label file {path}, line {row}: BraTS21ID {case!r} / MGMT_value {value!r} "
                             "are not integers") from None
        if label not in (0, 1):
            raise ValueError(f"label file {path}, line {row}: MGMT_value {label} is not 0 or 1")
        labels[case_n] = label
    return labels


def read_ucsf_metadata(path: str | Path) -> pd.DataFrame:
    """Read the UCSF-PDGM metadata CSV.

    Returns
    -------
    pandas.DataFrame
        Indexed by case number (int, ``UCSF-PDGM-004`` -> 4) with columns ``label``
        (1 for ``positive``, 0 for ``negative``, None otherwise) and ``brats_id``
        (``BraTS2021_XXXXX`` or None).
    """
    path = Path(path)
    table = pd.read_csv(path, dtype=str)
    missing = {"ID", "MGMT status"} - set(table.columns)
    if missing:
        raise ValueError(f"metadata file {path} lacks column(s) {sorted(missing)}; "
                         "expected the UCSF-PDGM metadata CSV with ID and MGMT status")
    rows = []
    for line, (case, status) in enumerate(zip(table["ID"], table["MGMT status"]), start=2):
        digits = re.findall(r"\d+", str(case))
        if not digits:
            raise ValueError(f"metadata file {path}, line {line}: ID {case!r} has no number")
        status = str(status).strip().lower()
        label = 1 if status == "positive" else 0 if status == "negative" else None
        brats = None
        if "BraTS21 ID" in table.columns:
            raw = table["BraTS21 ID"].iloc[line - 2]
            if isinstance(raw, str) and raw.strip():
                brats = _brats_name(raw.strip())
        rows.append({"number": int(digits[-1]), "label": label, "brats_id": brats})
    return pd.DataFrame(rows, columns=["number", "label", "brats_id"]).set_index("number")


def _brats_name(raw: str) -> str:
    """``97``, ``00097`` or ``BraTS2021_00097`` -> ``BraTS2021_00097``."""
    digits = re.findall(r"\d+", raw)
    if raw.startswith("BraTS2021_") or len(digits) == 1:
        return f"BraTS2021_{int(digits[-1]):05d}"
    raise ValueError(f"BraTS21 ID {raw!r} is not a BraTS 2021 id (BraTS2021_XXXXX or an integer)")


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
    candidates = [root, root.parent]
    pattern = "*metadata*.csv" if layout == "ucsf_pdgm" else "train_labels.csv"
    for folder in candidates:
        hits = sorted(folder.glob(pattern))
        if hits:
            return hits[0]
    return None


def find_cases(
    root: str | Path,
    exclude: Iterable[str | int] = (),
    labels: str | Path | None = None,
) -> list[CaseRef]:
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
    builder = {"brats2021": _brats_case, "rsna_dicom": _rsna_case, "ucsf_pdgm": _ucsf_case}[layout]
    pattern = {"brats2021": _BRATS_DIR, "rsna_dicom": _RSNA_DIR, "ucsf_pdgm": _UCSF_DIR}[layout]
    if layout == "ucsf_pdgm":
        meta = read_ucsf_metadata(label_file) if label_file is not None else None
    else:
        meta = read_rsna_labels(label_file) if label_file is not None else None
    refs = []
    for case_dir in sorted(p for p in folder.iterdir() if p.is_dir() and pattern.match(p.name)):
        ref = builder(case_dir, meta)
        if ref.case_id in names or ref.number in numbers:
            continue
        refs.append(ref)
    if not refs:
        raise ValueError(f"no cases left in {root} (layout {layout}) after excluding {sorted(map(str, exclude))}")
    return refs


def _brats_case(case_dir: Path, labels: dict[int, int] | None) -> CaseRef:
    case_id = case_dir.name
    paths = {m: case_dir / f"{case_id}_{s}.nii.gz" for m, s in _BRATS_SUFFIX.items()}
    if not paths["seg"].exists():
        del paths["seg"]
    number = int(_BRATS_DIR.match(case_id).group(1))
    return CaseRef(case_id, "brats2021", paths, None if labels is None else labels.get(number))


def _rsna_case(case_dir: Path, labels: dict[int, int] | None) -> CaseRef:
    paths = {m: case_dir / s for m, s in _RSNA_SERIES.items()}
    return CaseRef(case_dir.name, "rsna_dicom", paths, None if labels is None else labels.get(int(case_dir.name)))


def _ucsf_case(case_dir: Path, meta: pd.DataFrame | None) -> CaseRef:
    number = int(_UCSF_DIR.match(case_dir.name).group(1))
    case_id = f"UCSF-PDGM-{number:04d}"
    paths = {m: case_dir / f"{case_id}_{s}.nii.gz" for m, s in _UCSF_SUFFIX.items()}
    if not paths["seg"].exists():
        del paths["seg"]
    label = brats = None
    if meta is not None and number in meta.index:
        row = meta.loc[number]
        label = None if pd.isna(row["label"]) else int(row["label"])
        brats = None if pd.isna(row["brats_id"]) else row["brats_id"]
    return CaseRef(case_id, "ucsf_pdgm", paths, label, brats)


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
