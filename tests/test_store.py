import json
import os

import numpy as np
import pytest

from mgmtfeat import MODALITIES
from mgmtfeat.store import FeatureStore, StoreError

from conftest import write_random_store


def _features(value=0.5):
    return {m: np.full(400, value, np.float32) for m in MODALITIES}


def test_write_reload_and_provenance(tmp_path):
    store = write_random_store(tmp_path / "s", n_cases=6)
    data = store.load()
    assert data.X.shape == (6, 5, 400) and data.X.dtype == np.float32
    assert data.case_ids == tuple(sorted(data.case_ids))
    assert data.inputs == tuple(f"vivit:{m}" for m in MODALITIES)
    assert data.y.tolist() == [0, 1, 0, 1, 0, 1]
    record = store.provenance("vivit")
    assert record["weights"] == "random test features" and "package_version" in record and "created" in record
    assert store.labels("vivit")["index"].tolist() == list(range(6))


def test_rewrite_does_not_duplicate(tmp_path):
    store = FeatureStore(tmp_path)
    store.write_provenance("i3d", {"w": 1})
    store.write_case("i3d", "a", _features(0.1), 1)
    store.write_case("i3d", "a", _features(0.2), 1)
    assert store.case_ids("i3d") == ["a"]
    assert store.load("i3d").X[0, 0, 0] == pytest.approx(0.2)
    assert not [p for p in (tmp_path / "i3d" / "cases").iterdir() if p.suffix != ".npz"]


def test_atomic_write_leaves_old_entry_when_interrupted(tmp_path, monkeypatch):
    store = FeatureStore(tmp_path)
    store.write_provenance("i3d", {})
    store.write_case("i3d", "a", _features(0.1), 0)

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(KeyboardInterrupt):
        store.write_case("i3d", "a", _features(0.9), 0)
    monkeypatch.undo()
    features, label, _ = store.read_case("i3d", "a")
    assert features["t1"][0] == pytest.approx(0.1) and label == 0
    assert sorted(p.name for p in (tmp_path / "i3d" / "cases").iterdir()) == ["a.npz"]


def test_provenance_mismatch_is_refused(tmp_path):
    store = FeatureStore(tmp_path)
    store.write_provenance("i3d", {"frames": 64})
    store.write_provenance("i3d", {"frames": 64})  # same settings: fine
    with pytest.raises(StoreError, match="differing: frames"):
        store.write_provenance("i3d", {"frames": 32})
    assert store.write_provenance("i3d", {"frames": 32}, replace=True)["frames"] == 32
    assert store.check_provenance("i3d", {"frames": 32})["frames"] == 32  # checks, writes nothing
    with pytest.raises(StoreError, match="differing: frames"):
        store.check_provenance("i3d", {"frames": 64})
    assert store.check_provenance("r2plus1d", {"frames": 64}) is None and store.nets() == ["i3d"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: f.update(t1=np.zeros(399, np.float32)), "expected 400 feature values"),
        (lambda f: f["t1"].__setitem__(3, np.nan), "NaN or infinite"),
        (lambda f: f["t1"].__setitem__(3, np.inf), "NaN or infinite"),
        (lambda f: f.update(pd=np.zeros(400, np.float32)), "unknown modality"),
    ],
)
def test_bad_vectors_are_refused_and_nothing_is_written(tmp_path, change, message):
    store = FeatureStore(tmp_path)
    features = _features()
    change(features)
    with pytest.raises(StoreError, match=message):
        store.write_case("i3d", "case1", features, 1)
    assert store.case_ids("i3d") == []


def test_bad_labels_and_ids(tmp_path):
    store = FeatureStore(tmp_path)
    with pytest.raises(StoreError, match="label 2 is not 0 or 1"):
        store.write_case("i3d", "c", _features(), 2)
    with pytest.raises(StoreError, match="not usable as a file name"):
        store.write_case("i3d", "../evil", _features(), 1)


def test_missing_store_net_and_modality(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        FeatureStore(tmp_path / "nowhere").load()
    store = write_random_store(tmp_path / "s", n_cases=4)
    with pytest.raises(StoreError, match="no features of net 'i3d'.*mgmtfeat.extract"):
        store.load("i3d")
    store.write_case("vivit", "partial", {"t1": np.zeros(400, np.float32)}, 1)
    with pytest.raises(StoreError, match=r"partial.npz: case partial has no vivit features for flair, t1ce, t2, delta_t1"):
        store.load()
    assert store.load(modalities=["t1"]).X.shape == (5, 1, 400)


def test_nan_on_disk_is_caught_at_load(tmp_path):
    store = write_random_store(tmp_path, n_cases=4)
    path = store.case_path("vivit", "case001")
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["t2"][5] = np.nan
    np.savez(path, **arrays)
    with pytest.raises(StoreError, match="case001.npz.*NaN"):
        store.load()


def test_unlabelled_cases_and_multi_net(tmp_path):
    store = write_random_store(tmp_path, n_cases=4)
    store.write_case("vivit", "unlabelled", _features(), None)
    assert len(store.load().y) == 4
    assert len(store.load(require_labels=False).y) == 5
    write_random_store(tmp_path, n_cases=3, net="i3d")
    both = store.load(["vivit", "i3d"], modalities=["t1ce"])
    assert both.inputs == ("vivit:t1ce", "i3d:t1ce") and both.X.shape == (3, 2, 400)
    assert both.select(["i3d:t1ce"]).X.shape == (3, 1, 400)
    with pytest.raises(StoreError, match="ambiguous"):
        both.select(["t1ce"])


def test_feature_files_hold_no_pickles(tmp_path):
    store = write_random_store(tmp_path, n_cases=2)
    with np.load(store.case_path("vivit", "case000"), allow_pickle=False) as npz:
        assert json.loads(str(npz["meta"])) == {"index": 0}


def test_the_store_owns_its_failures_and_folds_paths(tmp_path):
    import csv

    store = FeatureStore(tmp_path / "s")
    path = store.write_failures("i3d", [{"case_id": "b", "file": "b/t1.nii.gz", "reason": "truncated"},
                                        {"case_id": "a", "file": "a/t2.nii.gz", "reason": "missing"}])
    assert path == store.failures_path("i3d") == tmp_path / "s" / "i3d" / "failures.csv"
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["case_id"] for r in rows] == ["a", "b"] and rows[0]["reason"] == "missing"  # sorted, whatever the order
    store.write_failures("i3d", [])
    assert path.read_text() == "case_id,file,reason\n"  # the last run had none
    assert store.nets() == []  # a failures table alone does not make a net
    assert store.folds_path("k5-r4-seed0-abc") == tmp_path / "s" / "folds" / "k5-r4-seed0-abc.csv"
    with pytest.raises(StoreError, match="not a valid file name"):
        store.folds_path("../elsewhere")
