"""Tests for mgmtfeat.data.labels: accepted MGMT values and repeated ids in the three layouts' label files."""

import warnings

import pandas as pd
import pytest

from mgmtfeat.data import labels, layouts, synthetic
from mgmtfeat.data.layouts import find_cases

HEADER = "BraTS21ID,MGMT_value"


def _assert_error(read, path, *fragments):
    """``read(path)`` raises a ValueError whose message names the file and holds each fragment."""
    with pytest.raises(ValueError) as info:
        read(path)
    for fragment in (str(path), *fragments):
        assert fragment in str(info.value)


def _write(path, *lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_readers_stay_importable_from_layouts():
    assert layouts.read_rsna_labels is labels.read_rsna_labels
    assert layouts.read_ucsf_metadata is labels.read_ucsf_metadata
    assert layouts.LAYOUT_SPECS["rsna_dicom"].label_column == "MGMT_value"


def test_rsna_labels_read_as_written(tmp_path):
    path = _write(tmp_path / "l.csv", HEADER, "00001,0", "2,1", " 00003 , 1.0 ", "4,0.0")
    assert labels.read_rsna_labels(path) == {1: 0, 2: 1, 3: 1, 4: 0}


@pytest.mark.parametrize("value", ["0.7", "2", "yes", "-1", "", "1.5", "NA"])
def test_a_label_other_than_0_or_1_is_an_error_naming_file_line_id_value(tmp_path, value):
    path = _write(tmp_path / "l.csv", HEADER, "00001,1", f"00002,{value}")
    _assert_error(labels.read_rsna_labels, path, f"line 3: BraTS21ID 00002 has MGMT_value {value!r}",
                  "accepted values are 0 (unmethylated) and 1 (methylated)")


def test_every_bad_row_is_listed_at_once(tmp_path):
    path = _write(tmp_path / "l.csv", HEADER, "x7,1", "00002,0.7", "00003,yes")
    with pytest.raises(ValueError, match=r"3 problem\(s\).*'x7' is not a case number.*'0.7'.*'yes'"):
        labels.read_rsna_labels(path)


def test_one_id_with_two_labels_is_an_error_naming_both(tmp_path):
    path = _write(tmp_path / "l.csv", HEADER, "00001,0", "00002,1", "1,1")  # 00001 and 1 are one case
    _assert_error(labels.read_rsna_labels, path,
                  "BraTS21ID 00001 / 1 is listed on lines 2, 4 with different values (line 2: '0'; line 4: '1')")


def test_an_identical_repeated_row_is_used_once_with_a_warning(tmp_path):
    path = _write(tmp_path / "l.csv", HEADER, "00001,1", "00002,0", "00001,1.0")
    with pytest.warns(UserWarning, match="BraTS21ID 00001 is listed on lines 2, 4 with the same values"):
        assert labels.read_rsna_labels(path) == {1: 1, 2: 0}


def test_the_checks_apply_through_find_cases_in_every_rsna_label_layout(tmp_path):
    for layout in ("brats2021", "rsna_dicom"):
        root = synthetic.write_cohort(tmp_path / layout, layout, n_cases=2, shape=(16, 16, 8), seed=4)
        first = find_cases(root)[0].number
        bad = _write(tmp_path / f"{layout}.csv", HEADER, f"{first},0", f"{first},1")
        with pytest.raises(ValueError, match="different values"):
            find_cases(root, labels=bad)


def _meta(path, ids, status, brats=None):
    table = {"ID": ids, "MGMT status": status}
    if brats is not None:
        table["BraTS21 ID"] = brats
    pd.DataFrame(table).to_csv(path, index=False)
    return path


def test_ucsf_status_any_case_and_no_label_values(tmp_path):
    path = _meta(tmp_path / "m.csv", ["UCSF-PDGM-004", "UCSF-PDGM-005", "UCSF-PDGM-006", "UCSF-PDGM-007",
                                      "UCSF-PDGM-008"], ["Positive", "NEGATIVE", "indeterminate", "", "Unknown"])
    table = labels.read_ucsf_metadata(path)
    assert table.loc[4, "label"] == 1 and table.loc[5, "label"] == 0
    assert table.loc[[6, 7, 8], "label"].isna().all()


@pytest.mark.parametrize("status", ["methylated", "yes", "1", "pos"])
def test_an_unknown_ucsf_status_is_named(tmp_path, status):
    path = _meta(tmp_path / "m.csv", ["UCSF-PDGM-004", "UCSF-PDGM-005"], ["positive", status])
    _assert_error(labels.read_ucsf_metadata, path, f"line 3: ID UCSF-PDGM-005 has MGMT status {status!r}",
                  "accepted values are positive (methylated), negative (unmethylated)")


def test_a_repeated_ucsf_id_is_a_clear_error_or_a_warning_when_identical(tmp_path):
    path = _meta(tmp_path / "m.csv", ["UCSF-PDGM-004", "UCSF-PDGM-0004"], ["positive", "negative"])
    with pytest.raises(ValueError, match=r"ID UCSF-PDGM-0004 / UCSF-PDGM-004 is listed on lines 2, 3 with "
                                         r"different values \(line 2: 'positive', ''; line 3: 'negative', ''\)"):
        labels.read_ucsf_metadata(path)
    path = _meta(tmp_path / "m.csv", ["UCSF-PDGM-004", "UCSF-PDGM-004"], ["positive", "positive"], ["", "97"])
    with pytest.raises(ValueError, match="different values"):  # same label, another BraTS id
        labels.read_ucsf_metadata(path)
    path = _meta(tmp_path / "m.csv", ["UCSF-PDGM-004", "UCSF-PDGM-004", "UCSF-PDGM-005"],
                 ["positive", "Positive", "negative"], ["97", "BraTS2021_00097", ""])
    with pytest.warns(UserWarning, match="ID UCSF-PDGM-004 is listed on lines 2, 3 with the same values"):
        table = labels.read_ucsf_metadata(path)
    assert table.index.is_unique and table.loc[4, "label"] == 1 and table.loc[4, "brats_id"] == "BraTS2021_00097"


def test_ucsf_checks_apply_through_find_cases(tmp_path):
    root = synthetic.write_cohort(tmp_path / "u", "ucsf_pdgm", n_cases=2, shape=(16, 16, 8), seed=5)
    meta = next(root.glob("*metadata*.csv"))
    table = pd.read_csv(meta, dtype=str, keep_default_na=False)
    table.loc[1, "MGMT status"] = "methylated"
    table.to_csv(meta, index=False)
    with pytest.raises(ValueError, match="MGMT status 'methylated'"):
        find_cases(root)


def test_a_clean_file_reads_without_warning(tmp_path):
    path = _write(tmp_path / "l.csv", HEADER, "00001,0", "00002,1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert labels.read_rsna_labels(path) == {1: 0, 2: 1}
