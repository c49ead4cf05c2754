"""Step 1, dataset folder or manifest -> cases -> volumes: the table of layouts (layout_specs) and finding
cases (layouts), manifests (manifest), labels (labels), NIfTI (nifti) and DICOM (dicom) readers, cases
(volumes), the 1 mm grid (geometry), synthetic cohorts (synthetic).

>>> from mgmtfeat.data import find_cases, load_case
>>> case = load_case(find_cases("data/brats")[0])   # volumes in RAS, checked
"""

from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.layouts import LAYOUTS, MANIFEST, RSNA_FLAGGED_IDS, CaseRef, detect_layout, find_cases
from mgmtfeat.data.volumes import Case, Volume, load_case

__all__ = ["CaseError", "CaseRef", "LAYOUTS", "MANIFEST", "RSNA_FLAGGED_IDS",
           "Case", "Volume", "detect_layout", "find_cases",
           "load_case"]
