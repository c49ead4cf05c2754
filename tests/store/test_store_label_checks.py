"""The store checks the labels it reads as strictly as those it writes (0 or 1, integers; -1: none)."""

import numpy as np
import pytest

from mgmtfeat.cli import cv
from mgmtfeat.store import FeatureStore, StoreError
from mgmtfeat.store.slices import write_slices

from conftest import write_random_store


def _relabel(store: FeatureStore, net: str, case_id: str, label) -> None:
    """Rewrite an entry's label as another tool (or a hand) might, keeping its features and settings digest."""
    path = store.case_path(net, case_id)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays["label"] = np.array(label)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def test_a_non_integer_label_is_refused_on_read_naming_the_case_value_and_fix(tmp_path):
    store = write_random_store(tmp_path / "store", n_cases=6)
    _relabel(store, "vivit", "case003", 0.7)  # read as 0 before, silently
    for read in (lambda: store.read_case("vivit", "case003"), lambda: store.labels("vivit"),
                 lambda: store.load("vivit")):
        with pytest.raises(StoreError) as info:
            read()
        message = str(info.value)
        assert "case case003" in message and "label 0.7 is not an integer" in message
        assert str(store.case_path("vivit", "case003")) in message
        assert "re-extract the case" in message and "--labels FILE --label-column COLUMN" in message
    assert "label 0.7 is not an integer" in store.verify_case("vivit", "case003")  # resumed extraction redoes it


def test_labels_outside_the_store_classes_are_refused_not_a_silent_three_class_task(tmp_path, capsys):
    store = write_random_store(tmp_path / "store", n_cases=12)
    for case_id in ("case001", "case004", "case007"):
        _relabel(store, "vivit", case_id, np.int8(2))
    with pytest.raises(StoreError, match=r"case case001: label 2 is not 0 or 1, the store's classes"):
        store.load("vivit")
    assert cv.main(["--features", str(store.root), "--model", "logistic", "--repeats", "1", "--folds", "2",
                    "--out", str(tmp_path / "cv"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "case case001: label 2 is not 0 or 1" in err and "--labels FILE --label-column COLUMN" in err
    assert not (tmp_path / "cv").exists()


@pytest.mark.parametrize("label", [np.int8(-1), np.int8(0), np.int8(1), np.float64(1.0), np.bool_(True)])
def test_what_the_store_writes_or_an_integral_value_reads_back(tmp_path, label):
    store = write_random_store(tmp_path / "store", n_cases=2)
    _relabel(store, "vivit", "case000", label)
    expected = None if label == -1 else int(label)
    assert store.read_case("vivit", "case000")[1] == expected


@pytest.mark.parametrize("label, message", [(0.7, "label 0.7 is not an integer"), (2, "label 2 is not 0 or 1"),
                                            (-1, "label -1 is not 0 or 1"), ("1", "label '1' is not 0 or 1")])
def test_write_refuses_what_read_refuses(tmp_path, label, message):
    store = write_random_store(tmp_path / "store", n_cases=1)
    features = {"t1": np.zeros(400, np.float32)}
    with pytest.raises(StoreError, match=message):
        store.write_case("vivit", "case009", features, label)
    store.write_provenance("slices", {"weights": "random test features", "pathway": "slices", "n_features": 4})
    with pytest.raises(StoreError, match=message):
        write_slices(store, "slices", "case009", np.zeros((2, 4), np.float32), np.arange(2), label)
