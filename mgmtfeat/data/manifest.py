"""Read a cohort manifest: a CSV naming each case's files, the way pyradiomics takes a batch CSV.

Columns
    ``case_id`` (required), ``flair``, ``t1``, ``t1ce``, ``t2`` (the image series) and ``seg``
    (the tumour mask, optional). A cell holds a path relative to the manifest's folder (or
    absolute): a NIfTI file, or for an image a DICOM series folder. Any other column is case
    metadata (``mgmt``, ``site``, ``age``): the manifest is also a label file (``--labels
    cohort.csv``).
Checks of the whole table (a ``ValueError``: no case could be read with confidence)
    no ``case_id`` column; a column named twice; a column that looks like a series under
    another name (``T1c``, ``t1gd``, ``mask``, or any column whose cells name NIfTI files).
Checks of one case (recorded on its :class:`~mgmtfeat.data.layouts.CaseRef`; loading it
    raises :class:`~mgmtfeat.data.errors.CaseError`, the batch records it and goes on)
    an empty ``case_id``; a ``case_id`` on several rows; a missing file and an empty cell are
    found when the case is read, so that ``--modalities`` can leave a series out.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["MANIFEST_COLUMNS", "ManifestRow", "read_manifest"]

#: The columns that name files: the four image series and the mask.
MANIFEST_COLUMNS = ("flair", "t1", "t1ce", "t2", "seg")
# Names other tools give the same series (BraTS 2023, RSNA, pyradiomics' batch CSV).
_ALIASES = {
    "t1c": "t1ce", "t1gd": "t1ce", "t1wce": "t1ce", "t1_ce": "t1ce", "t1post": "t1ce", "t1n": "t1", "t1w": "t1",
    "t2w": "t2", "t2f": "flair", "t2flair": "flair", "t2_flair": "flair", "mask": "seg", "label_map": "seg",
    "segmentation": "seg", "tumor_segmentation": "seg", "image": "t1ce", "seg_path": "seg",
}
_NIFTI = re.compile(r"\.nii(\.gz)?$", re.IGNORECASE)


@dataclass(frozen=True)
class ManifestRow:
    """One case of a manifest.

    Attributes
    ----------
    case_id : str
    paths : dict
        Column (``flair`` ... ``seg``) -> absolute path, for the non-empty cells only.
    line : int
        Line in the CSV (1 = header).
    problem : str or None
        Why the case cannot be used (an empty or repeated ``case_id``), else None.
    """

    case_id: str
    paths: dict = field(hash=False)
    line: int
    problem: str | None = None


def _check_columns(path: Path, header: list[str], rows: list[dict]) -> None:
    names = [h.strip() for h in header]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"manifest {path}: column(s) {repeated} appear more than once; keep one column per name "
                         f"(case_id, {', '.join(MANIFEST_COLUMNS)}, then metadata)")
    if "case_id" not in names:
        raise ValueError(f"manifest {path} has no case_id column (columns: {names}); add one naming each case")
    for name in names:
        if name in MANIFEST_COLUMNS or name == "case_id":
            continue
        key = name.lower().replace("-", "_").replace(" ", "_")
        meant = key if key in MANIFEST_COLUMNS else _ALIASES.get(key) or _ALIASES.get(key.replace("_", ""))
        if meant is None and any(_NIFTI.search(str(r.get(name) or "").strip()) for r in rows):
            meant = "one of " + ", ".join(MANIFEST_COLUMNS)
        if meant:
            raise ValueError(f"manifest {path}: unknown column {name!r} names image files; rename it to {meant} "
                             f"(file columns are {', '.join(MANIFEST_COLUMNS)}; other columns are metadata)")


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Read and check a manifest (see the module docstring), one row per case id, in file order.

    Parameters
    ----------
    path : str or Path
        The manifest CSV.

    Returns
    -------
    list of ManifestRow

    Raises
    ------
    ValueError
        The file is missing or empty, or a column problem (no ``case_id``, a repeated or
        unknown column).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"manifest {path} does not exist; pass --data COHORT.csv or a dataset folder")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise ValueError(f"manifest {path} is empty; its first line names the columns "
                             "(case_id,flair,t1,t1ce,t2,seg)")
        body = [row for row in reader if any(cell.strip() for cell in row)]
    rows = [dict(zip([h.strip() for h in header], row)) for row in body]
    _check_columns(path, header, rows)
    lines: dict[str, list[int]] = {}
    out: dict[str, ManifestRow] = {}
    for line, row in enumerate(rows, start=2):
        case_id = (row.get("case_id") or "").strip()
        paths = {c: (path.parent / row[c].strip()).resolve() for c in MANIFEST_COLUMNS if (row.get(c) or "").strip()}
        if not case_id:
            case_id = f"line{line}"
            out[case_id] = ManifestRow(case_id, paths, line, f"manifest {path}, line {line}: the case_id cell is "
                                       "empty; name the case")
            continue
        lines.setdefault(case_id, []).append(line)
        out.setdefault(case_id, ManifestRow(case_id, paths, line))
    for case_id, where in lines.items():
        if len(where) > 1:
            out[case_id] = ManifestRow(case_id, {}, where[0], f"manifest {path}: case_id {case_id} is on lines "
                                       f"{', '.join(map(str, where))}; give each case one row (or distinct ids)")
    return list(out.values())
