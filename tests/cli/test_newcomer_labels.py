"""A continuous column given as the label is refused as such, not turned into hundreds of classes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mgmtfeat.store.labels import LabelError, read_task_labels

IDS = [f"case{i:03d}" for i in range(60)]


def _csv(tmp_path, values, column="age"):
    path = tmp_path / "covariates.csv"
    pd.DataFrame({"case_id": IDS, column: values}).to_csv(path, index=False)
    return path


def test_fractional_ages_are_refused_naming_column_and_distinct_values(tmp_path):
    ages = np.round(np.linspace(31.5, 80.2, len(IDS)), 1)
    with pytest.raises(LabelError, match=r"column 'age' is continuous: 60 distinct numbers from 31.5 to 80.2 \(not "
                                         r"all integers\).*--label-column"):
        read_task_labels(_csv(tmp_path, ages), IDS, "age")


def test_many_integer_values_are_refused_too(tmp_path):
    ages = 30 + np.arange(len(IDS)) % 45  # 45 distinct whole-year ages
    with pytest.raises(LabelError, match=r"'age' is continuous: 45 distinct numbers from 30 to 74 \(more than 20 "
                                         "classes\\)"):
        read_task_labels(_csv(tmp_path, ages), IDS, "age")


def test_class_codes_and_text_classes_still_make_tasks(tmp_path):
    grades = np.arange(len(IDS)) % 3 + 2  # WHO grades 2, 3, 4
    assert read_task_labels(_csv(tmp_path, grades, "grade"), IDS, "grade").classes == (2, 3, 4)
    names = np.array([f"type{i}" for i in range(30)])[np.arange(len(IDS)) % 30]  # text names are classes
    assert len(read_task_labels(_csv(tmp_path, names, "kind"), IDS, "kind").classes) == 30


def test_a_class_of_one_case_does_not_ask_for_one_fold(tmp_path):
    labels = ["a"] * 30 + ["b"] * 29 + ["c"]
    task = read_task_labels(_csv(tmp_path, labels, "kind"), IDS, "kind")
    with pytest.raises(LabelError, match=r"'c' \(1 cases\) have fewer cases than the 5 folds; no number of folds "
                                         "fits a class of one case") as err:
        task.check_folds(5)
    assert "at most 1" not in str(err.value)


def test_cv_refuses_a_continuous_label_column(tmp_path, capsys):
    from conftest import write_random_store

    from mgmtfeat.cli import cv

    store = write_random_store(tmp_path / "store", n_cases=40)
    path = tmp_path / "clinical.csv"
    pd.DataFrame({"case_id": store.case_ids("vivit"), "age": np.linspace(40.5, 79.5, 40)}).to_csv(path, index=False)
    assert cv.main(["--features", str(store.root), "--labels", str(path), "--label-column", "age", "--model",
                    "logistic", "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "'age' is continuous: 40 distinct numbers" in err and not (tmp_path / "out").exists()
