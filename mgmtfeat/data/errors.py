"""Package error classes shared by the data-reading steps."""

from __future__ import annotations

from pathlib import Path


class CaseError(ValueError):
    """One case cannot be read or converted.

    Batch callers catch it, record ``case_id``, ``file`` and ``reason`` in a
    failures report and go on with the next case.

    Parameters
    ----------
    case_id : str
        Identifier of the case (``"BraTS2021_00097"``, ``"00097"``, ``"UCSF-PDGM-0004"``).
    file : str or Path or None
        The file or folder at fault, or None when the problem is not tied to one file.
    reason : str
        What is wrong, which rule it breaks and how to fix it.
    """

    def __init__(self, case_id: str, file: str | Path | None, reason: str):
        self.case_id = str(case_id)
        self.file = "" if file is None else str(file)
        self.reason = reason
        where = f", file {self.file}" if self.file else ""
        super().__init__(f"case {self.case_id}{where}: {reason}")

    def __reduce__(self):  # keep the three fields when pickled across processes
        return (type(self), (self.case_id, self.file or None, self.reason))
