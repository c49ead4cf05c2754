"""Step 1, dataset folder -> cases -> volumes: layouts and labels (layouts), NIfTI (nifti) and DICOM (dicom)
readers, cases (volumes), synthetic cohorts (synthetic).

>>> from mgmtfeat.data import find_cases, load_case
>>> case = load_case(find_cases("data/brats")[0])   # volumes in RAS, checked
"""

from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.layouts import LAYOUTS, RSNA_FLAGGED_IDS, CaseRef, detect_layout, find_cases
from mgmtfeat.data.volumes import Case, Volume, load_case

__all__ = ["CaseError", "CaseRef", "LAYOUTS", "RSNA_FLAGGED_IDS", "Case", "Volume", "detect_layout", "find_cases",
           "load_case"]
