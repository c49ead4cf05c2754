"""Read and check the MGMT label files of the public layouts (see :mod:`mgmtfeat.data.layouts`).

``train_labels.csv`` (BraTS 2021, RSNA-MICCAI)
    ``BraTS21ID`` (the case number, ``00097`` or ``97``) and ``MGMT_value``: ``0``
    (unmethylated) or ``1`` (methylated); ``0.0``/``1.0``, as a spreadsheet may save them,
    are read as 0/1.
UCSF-PDGM metadata CSV
    ``ID`` (``UCSF-PDGM-004``), ``MGMT status``: ``positive`` (1) or ``negative`` (0), any
    case; ``indeterminate``, ``unknown``, ``missing`` or a blank cell: no label (the case is
    kept, its label is None); ``BraTS21 ID``: the same patient's BraTS 2021 id, if any.

A label decides what a model learns, so a value that is not one of these is an error
naming the file, line, id and value rather than a guess (``0.7`` is not truncated, ``yes``
is not read as "no label"). One id listed twice with different labels is an error; an
identical repeated row is accepted with a warning. These rules are checked here once,
for every reader of these files.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from types import MappingProxyType

import pandas as pd

__all__ = ["BRATS_CASE_ID", "CASE_TABLE_NAMES", "MGMT_COLUMNS", "RSNA_LABEL_NAMES", "UCSF_LABEL_NAMES",
           "read_case_table", "read_rsna_labels", "read_ucsf_metadata"]

#: BraTS 2021 case id from its number (the UCSF metadata refers to BraTS cases by it).
BRATS_CASE_ID = "BraTS2021_{number:05d}"
#: The label file's names, as :class:`~mgmtfeat.data.layouts.LayoutSpec` fields: BraTS 2021 and RSNA.
RSNA_LABEL_NAMES = MappingProxyType(dict(label_file="train_labels.csv", label_glob="train_labels.csv",
                                         id_column="BraTS21ID", label_column="MGMT_value", label_id="{number:05d}"))
#: The same for UCSF-PDGM (its ``ID`` has three digits where folders have four).
UCSF_LABEL_NAMES = MappingProxyType(dict(label_file="UCSF-PDGM-metadata_v2.csv", label_glob="*metadata*.csv",
                                         id_column="ID", label_column="MGMT status",
                                         label_id="UCSF-PDGM-{number:03d}", brats_id_column="BraTS21 ID"))

#: The same for a table of cases by id (a manifest, the synthetic ``labels.csv``): ``case_id``, ``mgmt``.
CASE_TABLE_NAMES = MappingProxyType(dict(label_file="labels.csv", label_glob="labels.csv", id_column="case_id",
                                         label_column="mgmt", label_id="{case_id}"))
#: MGMT columns a case table may use, looked for in this order.
MGMT_COLUMNS = ("mgmt", "MGMT_value", "MGMT", "label")

_BINARY = re.compile(r"^([01])(\.0*)?$")  # 0, 1, 0.0, 1.00: never 0.7 or 2
_STATUS = {"positive": 1, "negative": 0}
_NO_STATUS = ("indeterminate", "unknown", "missing", "")
_SHOWN = 10  # problems listed in one error; the count says how many more


def _table(path: Path, columns: list[str], what: str) -> pd.DataFrame:
    # Text as written: a blank stays "", "NA" stays "NA", 0.70 stays "0.70" for the messages.
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = set(columns) - set(table.columns)
    if missing:
        raise ValueError(f"label file {path} lacks column(s) {sorted(missing)}; expected {what} with columns "
                         f"{','.join(columns)}")
    return table.apply(lambda column: column.str.strip())


def _raise(path: Path, problems: list[str]) -> None:
    if problems:
        more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
        raise ValueError(f"label file {path}: {len(problems)} problem(s){more}: " + "; ".join(problems[:_SHOWN]))


def _check_repeats(path: Path, rows: dict[int, list[tuple]], id_column: str, problems: list[str]) -> None:
    """Different values for one id -> a problem; the same values -> a warning (the row is kept once).

    ``rows`` maps a case number to its ``(line, id as written, values read, values as written)``.
    """
    for entries in rows.values():
        if len(entries) < 2:
            continue
        lines = ", ".join(str(line) for line, *_ in entries)
        ids = sorted({case for _, case, *_ in entries})
        if len({values for _, _, values, _ in entries}) > 1:
            shown = "; ".join(f"line {line}: {', '.join(map(repr, text))}" for line, _, _, text in entries)
            problems.append(f"{id_column} {' / '.join(ids)} is listed on lines {lines} with different values "
                            f"({shown}); keep the one correct row")
        else:
            warnings.warn(f"label file {path}: {id_column} {' / '.join(ids)} is listed on lines {lines} with the "
                          "same values; it is used once", stacklevel=3)


def read_rsna_labels(path: str | Path) -> dict[int, int]:
    """Read an RSNA-MICCAI ``train_labels.csv`` (the labels of the BraTS 2021 and RSNA layouts).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict
        ``BraTS21ID`` (int) to ``MGMT_value`` (0 or 1).

    Raises
    ------
    ValueError
        Missing columns; an id that is not a case number; a label other than 0 or 1; an id
        listed twice with different labels. The message names the file, lines, ids and values.
    """
    path = Path(path)
    id_column, label_column = RSNA_LABEL_NAMES["id_column"], RSNA_LABEL_NAMES["label_column"]
    table = _table(path, [id_column, label_column], "the RSNA-MICCAI train_labels.csv")
    problems, rows, labels = [], {}, {}
    for line, (case, value) in enumerate(zip(table[id_column], table[label_column]), start=2):
        if not re.fullmatch(r"[0-9]+", case):
            problems.append(f"line {line}: {id_column} {case!r} is not a case number (00097 or 97)")
            continue
        match = _BINARY.match(value)
        if match is None:
            problems.append(f"line {line}: {id_column} {case} has {label_column} {value!r}; accepted values are "
                            "0 (unmethylated) and 1 (methylated)")
            continue
        rows.setdefault(int(case), []).append((line, case, (match.group(1),), (value,)))
        labels[int(case)] = int(match.group(1))
    _check_repeats(path, rows, id_column, problems)
    _raise(path, problems)
    return labels


def read_ucsf_metadata(path: str | Path) -> pd.DataFrame:
    """Read the UCSF-PDGM metadata CSV.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    pandas.DataFrame
        Indexed by case number (int, ``UCSF-PDGM-004`` -> 4, unique) with columns ``label``
        (1 for ``positive``, 0 for ``negative``, None for no label) and ``brats_id``
        (``BraTS2021_XXXXX`` or None).

    Raises
    ------
    ValueError
        Missing columns; an ID without a number; an ``MGMT status`` not in the accepted
        values (see the module docstring); a ``BraTS21 ID`` that is not a BraTS 2021 id; a
        case listed twice with different values.
    """
    path = Path(path)
    id_column, label_column = UCSF_LABEL_NAMES["id_column"], UCSF_LABEL_NAMES["label_column"]
    brats_column = UCSF_LABEL_NAMES["brats_id_column"]
    table = _table(path, [id_column, label_column], "the UCSF-PDGM metadata CSV")
    brats_ids = table[brats_column] if brats_column in table.columns else [""] * len(table)
    problems, rows, records = [], {}, {}
    for line, (case, status, raw_brats) in enumerate(zip(table[id_column], table[label_column], brats_ids), start=2):
        digits = re.findall(r"\d+", case)
        if not digits:
            problems.append(f"line {line}: {id_column} {case!r} has no number (UCSF-PDGM-004)")
            continue
        if status.lower() in _STATUS:
            label = _STATUS[status.lower()]
        elif status.lower() in _NO_STATUS:
            label = None
        else:
            problems.append(f"line {line}: {id_column} {case} has {label_column} {status!r}; accepted values are "
                            "positive (methylated), negative (unmethylated), or indeterminate, unknown, missing "
                            "or blank for no label (any case)")
            continue
        try:
            brats = _brats_name(raw_brats) if raw_brats else None
        except ValueError as exc:
            problems.append(f"line {line}: {id_column} {case}: {exc}")
            continue
        number = int(digits[-1])
        rows.setdefault(number, []).append((line, case, (label, brats), (status, raw_brats)))
        records.setdefault(number, {"number": number, "label": label, "brats_id": brats})
    _check_repeats(path, rows, id_column, problems)
    _raise(path, problems)
    return pd.DataFrame(list(records.values()), columns=["number", "label", "brats_id"]).set_index("number")


def _brats_name(raw: str) -> str:
    """``97``, ``00097`` or ``BraTS2021_00097`` -> ``BraTS2021_00097``."""
    digits = re.findall(r"\d+", raw)
    if digits and (raw.startswith("BraTS2021_") or len(digits) == 1):
        return BRATS_CASE_ID.format(number=int(digits[-1]))
    raise ValueError(f"BraTS21 ID {raw!r} is not a BraTS 2021 id (BraTS2021_XXXXX or an integer)")


def read_case_table(path: str | Path) -> dict[str, tuple[int | None, str | None]]:
    """Read the MGMT labels of a table of cases by ``case_id`` (a manifest, ``labels.csv``), per case.

    Unlike the public label files, a bad value here fails only its case: the table is the
    user's own and the other cases go on.

    Parameters
    ----------
    path : str or Path
        CSV with ``case_id`` and one of :data:`MGMT_COLUMNS` (no label column: every label None).

    Returns
    -------
    dict
        ``case_id`` -> ``(label, problem)``: 0, 1 or None (blank cell), and None or what is wrong
        (a value outside the task's classes 0 and 1, or two rows with different values).

    Raises
    ------
    ValueError
        No ``case_id`` column.
    """
    path = Path(path)
    table = _table(path, ["case_id"], "a table of cases")
    column = next((c for c in MGMT_COLUMNS if c in table.columns), None)
    values = table[column] if column else [""] * len(table)
    found: dict[str, list[tuple[int, str]]] = {}
    for line, (case, value) in enumerate(zip(table["case_id"], values), start=2):
        found.setdefault(case, []).append((line, value))
    out = {}
    for case, rows in found.items():
        lines = ", ".join(str(line) for line, _ in rows)
        if len({v for _, v in rows}) > 1:
            out[case] = (None, f"label file {path}: case {case} is on lines {lines} with different {column} values "
                               f"{[v for _, v in rows]}; keep the one correct row")
            continue
        line, value = rows[0]
        match = _BINARY.match(value)
        if value == "":
            out[case] = (None, None)
        elif match is None:
            out[case] = (None, f"label file {path}, line {line}: {column} {value!r} is outside the task's classes "
                               "0 (unmethylated) and 1 (methylated); correct the cell or leave it blank (no label)")
        else:
            out[case] = (int(match.group(1)), None)
    return out
