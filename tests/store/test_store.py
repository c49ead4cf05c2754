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
    assert store.load("i3d").X[0, 0, 0] == np.float32(0.2)  # stored as float32 and read back unchanged
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
    assert features["t1"][0] == np.float32(0.1) and label == 0  # stored as float32 and read back unchanged
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
    both = store.load(["vivit", "i3d"], modalities=["t1ce"], intersect=True)
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


# -- integrity: settings digests, damaged entries, fusion, one extraction per net ------------------

def test_each_entry_records_the_digest_of_the_settings_that_made_it(tmp_path):
    store = write_random_store(tmp_path / "a", n_cases=3, net="i3d")
    digest = store.settings_digest("i3d")
    assert store.provenance("i3d")["settings_digest"] == digest and len(digest) == 64
    with np.load(store.case_path("i3d", "case000")) as npz:
        assert str(npz["settings_digest"]) == digest
    # the digest covers what shapes the numbers, not when or by which version the record was written
    other = FeatureStore(tmp_path / "b")
    other.write_provenance("i3d", {"weights": "random test features"})
    assert other.settings_digest("i3d") == digest


def test_an_entry_copied_from_a_store_with_other_settings_is_refused(tmp_path):
    import shutil

    store = write_random_store(tmp_path / "a", n_cases=4, net="i3d")
    other = FeatureStore(tmp_path / "b")
    other.write_provenance("i3d", {"weights": "random test features", "clips": {"box_size": 64}})
    other.write_case("i3d", "stranger", _features(), 1)
    shutil.copy(other.case_path("i3d", "stranger"), store.case_path("i3d", "stranger"))
    with pytest.raises(StoreError) as info:
        store.load("i3d")
    message = str(info.value)
    assert "stranger.npz" in message and "other settings" in message
    assert other.settings_digest("i3d") in message and store.settings_digest("i3d") in message
    assert "delete it and re-extract" in message.lower()
    assert "other settings" in store.verify_case("i3d", "stranger") and store.verify_case("i3d", "case000") is None


def test_entries_left_from_before_a_forced_provenance_are_refused(tmp_path):
    store = write_random_store(tmp_path, n_cases=3, net="i3d")
    store.write_provenance("i3d", {"weights": "other weights"}, replace=True)
    store.write_case("i3d", "case000", _features(), 0)  # re-extracted with the new settings
    assert store.verify_case("i3d", "case000") is None
    with pytest.raises(StoreError, match="case001.npz: entry of case case001 was made with other settings"):
        store.load("i3d")


def test_an_entry_needs_a_provenance_to_record(tmp_path):
    with pytest.raises(StoreError, match="has no provenance.json; write the provenance"):
        FeatureStore(tmp_path).write_case("i3d", "a", _features(), 1)


@pytest.mark.parametrize("damage", [lambda data: b"", lambda data: data[: len(data) // 2], lambda data: b"x" * 100])
def test_a_damaged_entry_is_refused_naming_it_and_the_fix(tmp_path, damage):
    store = write_random_store(tmp_path, n_cases=3)
    path = store.case_path("vivit", "case001")
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(StoreError, match=r"case001.npz: damaged feature entry of case case001 .*delete it and re-extract"):
        store.load()
    assert "damaged" in store.verify_case("vivit", "case001") and store.verify_case("vivit", "case000") is None


def test_a_damaged_provenance_is_named(tmp_path):
    store = write_random_store(tmp_path, n_cases=2)
    path = tmp_path / "vivit" / "provenance.json"
    path.write_text(path.read_text()[:20])
    for action in (store.load, lambda: store.provenance("vivit"), lambda: store.check_provenance("vivit", {})):
        with pytest.raises(StoreError, match=r"provenance.json: damaged provenance file .*--force"):
            action()


def _with_clips(root, net, n_cases, **clips):
    store = FeatureStore(root)
    store.write_provenance(net, {"weights": "w", "clips": {"box_size": 128, "n_frames": 150, **clips}})
    for i in range(n_cases):
        store.write_case(net, f"case{i:03d}", _features(i / 10), i % 2)
    return store


def test_nets_with_different_clip_settings_are_not_fused(tmp_path):
    _with_clips(tmp_path, "i3d", 4)
    store = _with_clips(tmp_path, "slowfast", 4, box_size=64)
    with pytest.raises(StoreError, match=r"i3d and slowfast .*different clip settings \(box_size: i3d=128, slowfast=64\)"):
        store.load(["i3d", "slowfast"])
    with pytest.raises(StoreError, match="different clip settings"):
        store.load(["i3d", "slowfast"], intersect=True)  # intersect is about cases, never about settings
    assert store.load("slowfast").X.shape == (4, 5, 400)


def test_nets_with_different_cases_are_refused_unless_intersect(tmp_path, caplog):
    _with_clips(tmp_path, "i3d", 8)
    store = _with_clips(tmp_path, "slowfast", 6)
    with pytest.raises(StoreError) as info:
        store.load(["i3d", "slowfast"])
    message = str(info.value)
    assert "i3d 8 cases, slowfast 6 cases" in message and "slowfast lacks case006, case007" in message
    assert "--intersect" in message
    with caplog.at_level("WARNING", logger="mgmtfeat"):
        data = store.load(["i3d", "slowfast"], intersect=True)
    assert len(data.case_ids) == 6 and "using the 6 cases common to all nets" in caplog.text


def test_one_extraction_per_net_claims_it(tmp_path):
    store = FeatureStore(tmp_path)
    with store.claim("i3d") as claim:
        assert claim.path == tmp_path / "i3d" / "extract.lock"
        assert json.loads(claim.path.read_text())["pid"] == os.getpid()
        with pytest.raises(StoreError) as info:
            with store.claim("i3d"):
                pass
        message = str(info.value)
        assert str(claim.path) in message and f"process {os.getpid()}" in message and "delete" in message
        with store.claim("slowfast"):  # other nets are free
            pass
    assert not claim.path.exists()
    with store.claim("i3d"):  # released
        pass


def test_the_claim_of_a_killed_run_is_taken_over_only_on_its_own_host(tmp_path, caplog):
    import socket
    import subprocess
    import sys

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock = tmp_path / "i3d" / "extract.lock"
    lock.parent.mkdir()
    lock.write_text(json.dumps({"pid": int(finished.stdout), "host": "elsewhere", "started": "x"}))
    with pytest.raises(StoreError, match="process .* on host elsewhere.*delete"):  # cannot tell: refused
        with FeatureStore(tmp_path).claim("i3d"):
            pass
    lock.write_text(json.dumps({"pid": int(finished.stdout), "host": socket.gethostname(), "started": "x"}))
    with caplog.at_level("WARNING", logger="mgmtfeat"):
        with FeatureStore(tmp_path).claim("i3d"):
            assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert "which no longer runs (a killed run)" in caplog.text
    assert sorted(p.name for p in lock.parent.iterdir()) == []


def test_an_unchanged_failures_table_is_not_rewritten(tmp_path, monkeypatch):
    import mgmtfeat.store.store as module

    store = FeatureStore(tmp_path)
    rows = [{"case_id": "b", "file": "b/t1.nii.gz", "reason": "truncated"}]
    store.write_failures("i3d", rows)

    def refuse(*args):
        raise PermissionError(13, "Permission denied", str(args[0]))

    monkeypatch.setattr(module, "write_failures_csv", refuse)
    store.write_failures("i3d", list(rows))  # already right: nothing written
    with pytest.raises(PermissionError):
        store.write_failures("i3d", [])
