"""Tests for mgmtfeat.data.volumes: load_case over NIfTI and DICOM layouts; CaseError."""

import pytest

from mgmtfeat.data import synthetic
from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.layouts import find_cases
from mgmtfeat.data.volumes import load_case


@pytest.fixture(scope="module")
def brats(tmp_path_factory):
    return synthetic.write_cohort(tmp_path_factory.mktemp("b") / "brats", "brats2021", n_cases=2,
                                  shape=(24, 24, 12), seed=5)


def test_load_case_nifti_and_dicom(brats, tmp_path):
    ref = find_cases(brats)[0]
    case = load_case(ref)
    assert set(case.volumes) == {"flair", "t1", "t1ce", "t2"}
    assert case.seg is not None and case.seg.shape == case.volumes["t1"].shape
    assert case.case_id == ref.case_id and case.label == ref.label
    assert load_case(ref, seg="ignore").seg is None
    rsna = synthetic.write_cohort(tmp_path / "rsna", "rsna_dicom", n_cases=1, shape=(24, 24, 12), seed=5)
    dcase = load_case(find_cases(rsna)[0])
    assert dcase.seg is None and dcase.volumes["t1ce"].shape == (24, 24, 12)
    with pytest.raises(CaseError, match="segmentation is absent"):
        load_case(find_cases(rsna)[0], seg="require")


def test_load_case_missing_modality(tmp_path):
    root = synthetic.write_cohort(tmp_path / "b", "brats2021", n_cases=1, shape=(24, 24, 12))
    ref = find_cases(root)[0]
    ref.paths["t1ce"].unlink()
    with pytest.raises(CaseError, match="missing") as info:
        load_case(ref)
    assert info.value.case_id == ref.case_id and info.value.file.endswith("_t1ce.nii.gz")


def test_case_error_fields_survive_pickling():
    import pickle

    err = pickle.loads(pickle.dumps(CaseError("00001", "a/b.dcm", "broken")))
    assert (err.case_id, err.file, err.reason) == ("00001", "a/b.dcm", "broken")
    assert str(err) == "case 00001, file a/b.dcm: broken"


def test_old_import_paths_still_work():
    from mgmtfeat.data import dicom, nifti
    from mgmtfeat.data.volumes import (SEG_LABELS, Case, Volume, load_dicom_series, load_nifti, same_grid,  # noqa: F401
                                       write_dicom_series, write_nifti)

    assert (load_nifti, write_nifti, SEG_LABELS) == (nifti.load_nifti, nifti.write_nifti, nifti.SEG_LABELS)
    assert (load_dicom_series, write_dicom_series) == (dicom.load_dicom_series, dicom.write_dicom_series)
