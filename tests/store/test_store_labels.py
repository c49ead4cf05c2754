"""Task labels read from label CSVs (store/labels.py)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from mgmtfeat.store.labels import LabelError, read_task_labels

IDS = [f"BraTS2021_{n:05d}" for n in (2, 5, 12, 97)]


def _csv(tmp_path, text, name="labels.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_store_labels_drop_unlabelled_and_keep_binary_encoding(caplog):
    with caplog.at_level(logging.WARNING, logger="mgmtfeat"):
        task = read_task_labels(None, ["a", "b", "c", "d"], store_labels=[1, -1, 0, 1])
    assert task.case_ids == ("a", "c", "d") and task.y.tolist() == [1, 0, 1]
    assert task.classes == (0, 1) and task.positive_class == 1 and task.source == "store" and task.n_unlisted == 1
    assert "1 of 4 store cases have no label" in caplog.text


def test_rsna_labels_match_brats_ids_by_number(tmp_path, caplog):
    path = _csv(tmp_path, "BraTS21ID,MGMT_value\n2,1\n5,0\n12,1\n97,0\n1000,1\n1001,0\n1002,1\n")
    with caplog.at_level(logging.WARNING, logger="mgmtfeat"):
        task = read_task_labels(path, IDS)
    assert task.case_ids == tuple(IDS) and task.y.tolist() == [1, 0, 1, 0] and task.positive_class == 1
    assert task.unknown_ids == ("1000", "1001", "1002")
    assert "3 label-file id(s) are not in the store and are dropped: 1000, 1001, 1002" in caplog.text


def test_bare_numeric_store_ids_match_too(tmp_path):
    path = _csv(tmp_path, "BraTS21ID,MGMT_value\n00002,1\n00005,0\n")
    assert read_task_labels(path, ["00002", "00005"]).y.tolist() == [1, 0]


def test_ucsf_status_is_text_with_positive_the_second_sorted_name(tmp_path):
    path = _csv(tmp_path, "ID,MGMT status\nUCSF-PDGM-004,positive\nUCSF-PDGM-010,negative\n")
    task = read_task_labels(path, ["UCSF-PDGM-0004", "UCSF-PDGM-0010"])
    assert task.classes == ("negative", "positive") and task.positive_class == "positive"
    assert task.y.tolist() == [1, 0]


def test_positive_class_goes_last_and_text_names_integer_classes(tmp_path):
    path = _csv(tmp_path, "case_id,label\na,1\nb,0\nc,0\n")
    task = read_task_labels(path, ["a", "b", "c"], positive_class="0")
    assert task.classes == (1, 0) and task.positive_class == 0 and task.y.tolist() == [0, 1, 1]


def test_multiclass_text_labels_sorted_and_counted(tmp_path):
    path = _csv(tmp_path, "case_id,grade,label\na,GBM,0\nb,astro,1\nc,oligo,1\nd,GBM,0\n")
    task = read_task_labels(path, ["a", "b", "c", "d", "e"], label_column="grade")
    assert task.classes == ("GBM", "astro", "oligo") and task.positive_class is None and not task.binary
    assert task.y.tolist() == [0, 1, 2, 0] and task.counts() == {"GBM": 2, "astro": 1, "oligo": 1}
    assert task.n_unlisted == 1 and task.source.endswith(":grade")


def test_check_folds_names_the_small_class(tmp_path):
    path = _csv(tmp_path, "case_id,label\na,x\nb,x\nc,y\nd,y\ne,z\n")
    task = read_task_labels(path, list("abcde"))
    task.check_folds(1)
    with pytest.raises(LabelError, match=r"'z' \(1 cases\) have fewer cases than the 2 folds"):
        task.check_folds(2)


def test_identical_duplicate_rows_are_kept_once(tmp_path):
    path = _csv(tmp_path, "case_id,label\na,1\na,1\nb,0\n")
    assert read_task_labels(path, ["a", "b"]).y.tolist() == [1, 0]


@pytest.mark.parametrize("text, kwargs, message", [
    ("case_id,label\na,1\nb,0\n", {"label_column": "grade"}, r"no label column 'grade'; its columns: case_id, label"),
    ("case_id,outcome\na,1\nb,0\n", {}, r"none of the default label columns .* its columns: case_id, outcome"),
    ("patient,label\na,1\nb,0\n", {}, r"none of the default id columns .* its columns: patient, label"),
    ("case_id,label\na,1\nb,1\n", {}, r"every labelled case has the class 1 \(2 cases\)"),
    ("case_id,label\na,1\na,0\nb,0\n", {}, r"1 case\(s\) listed more than once with different labels .*a: \['0', '1'\]"),
    ("case_id,label\na,1\nb,\n", {}, r"missing case_id or label on line\(s\) \[3\]"),
    ("case_id,label\na,1\nb,0\n", {"positive_class": "2"}, r"positive class 2 is not a class of the task; classes: \[0, 1\]"),
    ("case_id,label\na,x\nb,y\nc,z\n", {"positive_class": "x"}, r"positive class applies to a binary task"),
    ("case_id,label\nq,1\nr,0\n", {}, r"no store case has a label"),
])
def test_bad_label_files_are_refused_with_the_reason(tmp_path, text, kwargs, message):
    with pytest.raises(LabelError, match=message):
        read_task_labels(_csv(tmp_path, text), ["a", "b", "c"], **kwargs)


def test_missing_file_and_ambiguous_numbers(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv does not exist"):
        read_task_labels(tmp_path / "nope.csv", ["a"])
    path = _csv(tmp_path, "BraTS21ID,MGMT_value\n4,1\n")
    with pytest.raises(LabelError, match="BraTS2021_00004 and UCSF-PDGM-0004 share the number 4"):
        read_task_labels(path, ["BraTS2021_00004", "UCSF-PDGM-0004"])


def test_labels_follow_store_order_not_file_order(tmp_path):
    path = _csv(tmp_path, "case_id,label\nc,b\na,a\nb,b\n")
    task = read_task_labels(path, ["a", "b", "c"])
    assert task.case_ids == ("a", "b", "c")
    np.testing.assert_array_equal(task.y, [0, 1, 1])
