"""Tests for mgmtfeat.data.layouts: layout detection, ids, labels, exclusion."""

import dataclasses
import pickle

import pandas as pd
import pytest

from mgmtfeat.data import layouts as cohort, synthetic
from mgmtfeat.data.layouts import CaseRef, detect_layout, drop_brats_overlap, find_cases

SHAPE = (24, 24, 12)


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohorts")
    return {layout: synthetic.write_cohort(root / layout, layout, n_cases=5, shape=SHAPE, seed=3)
            for layout in cohort.LAYOUTS}


def test_brats_layout_ids_paths_and_labels(cohorts):
    root = cohorts["brats2021"]
    refs = find_cases(root)
    assert detect_layout(root) == "brats2021"
    assert len(refs) == 5
    labels = pd.read_csv(root / "train_labels.csv", dtype=str)
    expected = {f"BraTS2021_{int(i):05d}": int(v) for i, v in zip(labels.BraTS21ID, labels.MGMT_value)}
    assert {r.case_id: r.label for r in refs} == expected
    for ref in refs:
        assert ref.layout == "brats2021"
        assert set(ref.paths) == {"flair", "t1", "t1ce", "t2", "seg"}
        assert ref.paths["t1ce"].name == f"{ref.case_id}_t1ce.nii.gz"
        assert ref.paths["t1ce"].is_file()
    assert [r.case_id for r in refs] == sorted(r.case_id for r in refs)


def test_rsna_layout_under_train_with_series_folders(cohorts):
    root = cohorts["rsna_dicom"]
    refs = find_cases(root)
    assert detect_layout(root) == "rsna_dicom"
    assert all(len(r.case_id) == 5 and r.case_id.isdigit() for r in refs)
    assert all(set(r.paths) == {"flair", "t1", "t1ce", "t2"} for r in refs)  # no segmentation
    assert refs[0].paths["t1ce"].name == "T1wCE" and refs[0].paths["t1ce"].is_dir()
    assert {r.label for r in refs} == {0, 1}
    # pointing at train/ directly also works, with labels given explicitly
    again = find_cases(root / "train", labels=root / "train_labels.csv")
    assert [(r.case_id, r.label) for r in again] == [(r.case_id, r.label) for r in refs]


def test_ucsf_layout_metadata_conventions(cohorts):
    root = cohorts["ucsf_pdgm"]
    refs = find_cases(root)
    meta = pd.read_csv(root / "UCSF-PDGM-metadata_v2.csv", dtype=str)
    assert all(len(i.split("-")[-1]) == 3 for i in meta["ID"])  # 3 digits in the CSV
    assert all(len(r.case_id.split("-")[-1]) == 4 for r in refs)  # 4 in folders and ids
    status = {int(i.split("-")[-1]): s for i, s in zip(meta["ID"], meta["MGMT status"])}
    for ref in refs:
        want = {"positive": 1, "negative": 0}.get(status[ref.number])
        assert ref.label == want
        assert set(ref.paths) == {"flair", "t1", "t1ce", "t2", "seg"}
        assert ref.paths["seg"].name == f"{ref.case_id}_tumor_segmentation.nii.gz"
    assert sum(r.label is None for r in refs) == 1  # the indeterminate one
    overlapping = [r for r in refs if r.brats_id]
    assert len(overlapping) == 1 and overlapping[0].brats_id.startswith("BraTS2021_")
    kept = drop_brats_overlap(refs)
    assert len(kept) == 4 and overlapping[0] not in kept


def test_ucsf_metadata_values(tmp_path):
    path = tmp_path / "meta.csv"
    pd.DataFrame({"ID": ["UCSF-PDGM-004", "UCSF-PDGM-010", "UCSF-PDGM-011"],
                  "MGMT status": ["positive", "negative", "indeterminate"],
                  "BraTS21 ID": ["97", "", "BraTS2021_00123"]}).to_csv(path, index=False)
    table = cohort.read_ucsf_metadata(path)
    assert table.loc[4, "label"] == 1 and table.loc[10, "label"] == 0 and pd.isna(table.loc[11, "label"])
    assert table.loc[4, "brats_id"] == "BraTS2021_00097" and pd.isna(table.loc[10, "brats_id"])


def test_exclusion_by_number_or_full_id(cohorts):
    refs = find_cases(cohorts["brats2021"])
    first, second = refs[0], refs[1]
    kept = find_cases(cohorts["brats2021"], exclude=[first.case_id, f"{second.number:05d}"])
    assert [r.case_id for r in kept] == [r.case_id for r in refs[2:]]
    kept = find_cases(cohorts["rsna_dicom"], exclude=[int(find_cases(cohorts["rsna_dicom"])[0].case_id)])
    assert len(kept) == 4
    assert cohort.RSNA_FLAGGED_IDS == ("00109", "00123", "00709")


def test_no_cases_is_a_clear_error(tmp_path, cohorts):
    with pytest.raises(ValueError, match="no cases in"):
        find_cases(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        find_cases(tmp_path / "absent")
    all_ids = [r.case_id for r in find_cases(cohorts["brats2021"])]
    with pytest.raises(ValueError, match="no cases left"):
        find_cases(cohorts["brats2021"], exclude=all_ids)


def test_mixed_layouts_refused(tmp_path):
    (tmp_path / "BraTS2021_00001").mkdir()
    (tmp_path / "UCSF-PDGM-0004_nifti").mkdir()
    with pytest.raises(ValueError, match="mixes layouts"):
        detect_layout(tmp_path)


def test_bad_label_files(tmp_path, cohorts):
    bad = tmp_path / "labels.csv"
    bad.write_text("id,label\n1,0\n")
    with pytest.raises(ValueError, match="lacks column"):
        find_cases(cohorts["brats2021"], labels=bad)
    bad.write_text("BraTS21ID,MGMT_value\n00001,2\n")
    with pytest.raises(ValueError, match="MGMT_value .2.; accepted values are 0 .unmethylated. and 1"):
        find_cases(cohorts["brats2021"], labels=bad)
    with pytest.raises(ValueError, match="does not exist"):
        find_cases(cohorts["brats2021"], labels=tmp_path / "absent.csv")


def test_missing_modality_still_listed(tmp_path):
    root = synthetic.write_cohort(tmp_path / "b", "brats2021", n_cases=1, shape=SHAPE)
    ref = find_cases(root)[0]
    ref.paths["t2"].unlink()
    again = find_cases(root)[0]
    assert "t2" in again.paths and not again.paths["t2"].exists()  # load_case reports it


def test_caseref_is_frozen():
    ref = CaseRef("BraTS2021_00001", "brats2021", {"t1": "a.nii.gz"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.label = 1
    with pytest.raises(TypeError):
        ref.paths["t1"] = "b.nii.gz"
    with pytest.raises(ValueError, match="layout"):
        CaseRef("x", "nifti", {})
    assert len({ref, CaseRef("BraTS2021_00001", "brats2021", {"t1": "a.nii.gz"})}) == 1  # hashable
    again = pickle.loads(pickle.dumps(ref))
    assert again == ref and again.paths == ref.paths


def test_one_table_of_names_for_readers_and_writers(cohorts):
    for layout, root in cohorts.items():
        spec = cohort.LAYOUT_SPECS[layout]
        assert spec.name == layout and tuple(cohort.LAYOUT_SPECS) == cohort.LAYOUTS + (cohort.MANIFEST,)
        assert (root / spec.label_file).is_file()  # the writer's label file is the one the reader finds
        for ref in find_cases(root):
            assert ref.case_id == spec.case_id.format(number=ref.number)
            assert set(ref.paths) == set(spec.files)
            for modality, path in ref.paths.items():
                assert path == cohort.modality_path(root, layout, ref.case_id, modality) and path.exists()
    assert cohort.modality_path("d", "ucsf_pdgm", "UCSF-PDGM-0004", "t1ce").as_posix() == \
        "d/UCSF-PDGM-0004_nifti/UCSF-PDGM-0004_T1c.nii.gz"
    assert cohort.modality_path("d", "rsna_dicom", "00097", "flair").as_posix() == "d/train/00097/FLAIR"
    with pytest.raises(ValueError, match="has no 'seg' file"):
        cohort.modality_path("d", "rsna_dicom", "00097", "seg")
    with pytest.raises(ValueError, match="not one of"):
        cohort.modality_path("d", "nifti", "x", "t1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cohort.LAYOUT_SPECS["brats2021"].label_file = "labels.csv"


def test_required_segmentation_names_the_expected_file(cohorts, tmp_path):
    from mgmtfeat.data.errors import CaseError
    from mgmtfeat.data.volumes import load_case

    root = synthetic.write_cohort(tmp_path / "u", "ucsf_pdgm", n_cases=1, shape=SHAPE)
    ref = find_cases(root)[0]
    ref.paths["seg"].unlink()
    with pytest.raises(CaseError, match=f"add {ref.case_id}_tumor_segmentation.nii.gz or use --box brain"):
        load_case(find_cases(root)[0], seg="require")
