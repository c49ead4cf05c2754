"""The slice pathway: ROI slices, per-slice embeddings in the store, and the patient-level predictive index."""

import json

import numpy as np
import pandas as pd
import pytest

from mgmtfeat.cli import cv, extract
from mgmtfeat.backbones import get_weights_config
from mgmtfeat.backbones.preprocess import preprocess_slices
from mgmtfeat.clips import ClipSettings, make_clips
from mgmtfeat.clips.slices import SliceSettings, roi_slices
from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.layouts import find_cases
from mgmtfeat.data.synthetic import write_cohort
from mgmtfeat.data.volumes import load_case
from mgmtfeat.evaluation import EvaluationError, make_folds
from mgmtfeat.evaluation.predictive_index import (cross_validate_slices, predictive_index, split_slices, vote,
                                                  youden_cutoff)
from mgmtfeat.experiments.base import make_estimator_factory
from mgmtfeat.store import FeatureStore, StoreError
from mgmtfeat.store.slices import SliceSet, load_slices, read_slices, write_slices

# a random-weight ResNet-50 at 32 x 32 pixels keeps the extraction tests to seconds
FAST = ["--pathway", "slices", "--net", "resnet50", "--weights", "random", "--net-size", "32", "--threads", "1",
        "--quiet"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("data") / "brats", layout="brats2021", n_cases=9, shape=(48, 48, 24),
                        seed=1)


@pytest.fixture(scope="module")
def case_clips(cohort):
    return make_clips(load_case(find_cases(cohort)[0]), ClipSettings(n_frames=30, box_size=32))


def test_roi_slices_are_the_tumour_slices_with_the_chosen_channels(case_clips):
    images, index = roi_slices(case_clips, SliceSettings(channels=("t1ce", "t2", "flair")))
    extent = case_clips.meta["tumour"]
    assert index.tolist() == list(range(extent["slice_min"], extent["slice_max"] + 1))
    assert images.shape == (len(index), 3, 32, 32) and images.dtype == np.uint8
    frames = index - case_clips.meta["frames"][0]
    for channel, name in enumerate(("t1ce", "t2", "flair")):
        np.testing.assert_array_equal(images[:, channel], case_clips.clips[name][frames])
    # n_slices: that many consecutive slices centred on the ROI
    images, index = roi_slices(case_clips, SliceSettings(n_slices=3))
    assert len(index) == 3 and np.all(np.diff(index) == 1)


def test_roi_shorter_than_requested_and_bad_channels_are_refused(case_clips):
    extent = case_clips.meta["tumour"]
    n = extent["slice_max"] - extent["slice_min"] + 1
    with pytest.raises(CaseError, match=f"spans {n} slices.*fewer than --slices {n + 1}"):
        roi_slices(case_clips, SliceSettings(n_slices=n + 1))
    with pytest.raises(ValueError, match="unknown modality 'adc'.*flair, t1, t1ce, t2, delta_t1"):
        SliceSettings(channels=("t1ce", "adc", "t2"))
    with pytest.raises(ValueError, match="exactly three"):
        SliceSettings(channels=("t1ce", "t2"))


def test_three_channel_slices_are_normalised_per_channel():
    config = get_weights_config("resnet50")
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (2, 40, 40), dtype=np.uint8)
    same = np.repeat(grey[:, None], 3, axis=1)
    # identical channels give exactly the grey input (the same arithmetic per channel)
    np.testing.assert_array_equal(preprocess_slices(same, config).numpy(), preprocess_slices(grey, config).numpy())
    mixed = np.stack([grey, np.zeros_like(grey), np.full_like(grey, 255)], axis=1)
    x = preprocess_slices(mixed, config).numpy()
    np.testing.assert_array_equal(x[:, 0], preprocess_slices(grey, config).numpy()[:, 0])
    # float32 arithmetic (a few roundings of 6e-8 relative) against float64 values: 1e-6 relative, while
    # another channel's mean or std is off by more than 1 %
    np.testing.assert_allclose(x[:, 1], -config.mean[1] / config.std[1], rtol=1e-6)
    np.testing.assert_allclose(x[:, 2], (1 - config.mean[2]) / config.std[2], rtol=1e-6)


def _slice_set(n_patients=30, slices=8, signal=1.0, seed=0) -> SliceSet:
    """Patients whose slices carry their label in feature 0 (plus noise), 4 features per slice."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_patients) % 2
    patient = np.repeat(np.arange(n_patients), slices)
    X = rng.normal(size=(len(patient), 4)).astype(np.float32)
    X[:, 0] += signal * y[patient]
    return SliceSet(X, patient, np.tile(np.arange(slices), n_patients), y,
                    tuple(f"P{i:03d}" for i in range(n_patients)))


def test_predictive_index_and_youden_cutoff():
    proba = np.array([0.9, 0.2, 0.6, 0.4, 0.1, 0.5])
    patient = np.array([0, 0, 0, 1, 1, 2])
    # shares of a patient's slices called positive: small fractions, exact but for float64 rounding (1e-12)
    np.testing.assert_allclose(predictive_index(proba, patient, 3), [2 / 3, 0.0, 1.0], rtol=0, atol=1e-12)
    with pytest.raises(EvaluationError, match="no slices"):
        predictive_index(proba, patient, 4)
    # perfectly separated: the cutoff is the smallest index of the positives
    assert youden_cutoff(np.array([0, 0, 1, 1]), np.array([0.1, 0.3, 0.6, 0.9])) == 0.6
    with pytest.raises(EvaluationError, match="both the training and the test"):
        split_slices(patient, np.array([0, 1]), np.array([1, 2]))


class _Recording:
    """A logistic regression that records the slices it is fitted on (its factory keeps the list)."""

    def __init__(self, seen):
        from sklearn.linear_model import LogisticRegression

        self.seen, self.model = seen, LogisticRegression()

    def fit(self, X, y):
        self.seen.append(X.copy())
        self.model.fit(X, y)
        return self

    def predict_proba(self, X):
        return self.model.predict_proba(X)


def test_no_patient_on_both_sides_and_the_cutoff_never_sees_the_test_patients():
    data = _slice_set()
    folds = make_folds(data.case_ids, data.y, n_splits=3, n_repeats=1, seed=0)
    seen = []
    predictions, metrics, _ = cross_validate_slices(lambda rs: _Recording(seen), data, folds)
    assert len(predictions) == 30 and set(predictions["n_slices"]) == {8}
    # every fitted slice belongs to a training patient of its fold: find each fitted row's patient
    rows = {tuple(r): p for r, p in zip(data.X.tolist(), data.patient)}
    per_fold = len(seen) // 3  # 3 inner fits (Youden) + 1 final fit per fold
    for fold in range(3):
        test = {data.case_ids.index(c) for c in folds.loc[folds["fold"] == fold, "case_id"]}
        for X in seen[fold * per_fold:(fold + 1) * per_fold]:
            assert not {rows[tuple(r)] for r in X.tolist()} & test
    # replacing the test patients' slices changes neither the cutoff nor the model of that fold
    test = np.flatnonzero(np.isin(data.patient, [data.case_ids.index(c) for c in
                                                 folds.loc[folds["fold"] == 0, "case_id"]]))
    X = data.X.copy()
    X[test] = np.random.default_rng(9).normal(size=(len(test), 4)) * 10
    changed = SliceSet(X, data.patient, data.slice_index, data.y, data.case_ids)
    _, metrics2, _ = cross_validate_slices(lambda rs: _Recording([]), changed, folds)
    assert metrics2.loc[0, "cutoff"] == metrics.loc[0, "cutoff"]
    assert metrics2.loc[0, "auc"] != metrics.loc[0, "auc"]  # the test slices were really used to score


def test_too_few_training_patients_for_youden_ask_for_a_fixed_cutoff():
    data = _slice_set(n_patients=4)
    folds = make_folds(data.case_ids, data.y, n_splits=2, n_repeats=1, seed=0)
    with pytest.raises(EvaluationError, match="give a fixed --cutoff"):
        cross_validate_slices(make_estimator_factory("logistic", False, 0), data, folds)
    assert len(cross_validate_slices(make_estimator_factory("logistic", False, 0), data, folds, cutoff=0.5)[0]) == 4


def test_protocol_finds_a_planted_signal_and_fold_models_vote():
    data = _slice_set(n_patients=40, signal=1.5)
    folds = make_folds(data.case_ids, data.y, n_splits=5, n_repeats=1, seed=0)
    factory = make_estimator_factory("logistic", False, 0, {"clf__C": 1.0})
    predictions, metrics, models = cross_validate_slices(factory, data, folds, keep_repeat=0)
    assert metrics["auc"].mean() > 0.9 and len(models) == 5
    assert metrics["cutoff"].between(0, 1).all()
    fixed = cross_validate_slices(factory, data, folds, cutoff=0.55)[1]
    assert (fixed["cutoff"] == 0.55).all()
    test = _slice_set(n_patients=10, signal=1.5, seed=5)
    calls = vote(models, test.X, test.patient, 10)
    assert calls["votes"].between(0, 1).all() and ((calls["votes"] > 0.5) == calls["predicted"].astype(bool)).all()
    assert (calls["predicted"] == test.y).mean() >= 0.8


def test_store_keeps_slices_per_case_and_refuses_them_as_clip_features(tmp_path):
    store = FeatureStore(tmp_path / "store")
    store.write_provenance("resnet50", {"pathway": "slices", "n_features": 4})
    write_slices(store, "resnet50", "P1", np.ones((3, 4)), [5, 6, 7], label=1)
    write_slices(store, "resnet50", "P2", np.zeros((2, 4)), [9, 10], label=0)
    values, index, label = read_slices(store, "resnet50", "P1")
    assert values.shape == (3, 4) and index.tolist() == [5, 6, 7] and label == 1
    data = load_slices(store, "resnet50")
    assert data.case_ids == ("P1", "P2") and data.patient.tolist() == [0, 0, 0, 1, 1] and data.y.tolist() == [1, 0]
    with pytest.raises(StoreError, match="per-slice embeddings"):
        store.load("resnet50")
    with pytest.raises(StoreError, match=r"expected \(n_slices >= 1, 4\)"):
        write_slices(store, "resnet50", "P3", np.ones((2, 5)), [1, 2])
    with pytest.raises(StoreError, match="appears twice"):
        write_slices(store, "resnet50", "P3", np.ones((2, 4)), [1, 1])


def test_extract_slices_then_cv_runs_the_patient_level_protocol(cohort, tmp_path, capsys):
    out = tmp_path / "store"
    assert extract.main(["--data", str(cohort), "--out", str(out), *FAST]) == 0
    assert "9 cases extracted" in capsys.readouterr().out
    store = FeatureStore(out)
    provenance = store.provenance("resnet50")
    assert provenance["pathway"] == "slices" and provenance["n_features"] == 2048 and provenance["random_weights"]
    assert provenance["slices"] == {"channels": ["t1ce", "t2", "t2"], "n_slices": None}
    data = load_slices(store, "resnet50")
    assert len(data.case_ids) == 9 and data.X.shape[1] == 2048 and (data.counts > 0).all()
    assert extract.main(["--data", str(cohort), "--out", str(out), *FAST]) == 0  # resumes: nothing to do
    assert "0 cases extracted, 9 already in the store" in capsys.readouterr().out
    res = tmp_path / "cv"
    assert cv.main(["--features", str(out), "--net", "resnet50", "--folds", "2", "--out", str(res), "--quiet"]) == 0
    assert "predictive-index AUC" in capsys.readouterr().out  # Youden's cutoff by default
    assert cv.main(["--features", str(out), "--net", "resnet50", "--folds", "2", "--repeats", "2", "--cutoff", "0.5",
                    "--out", str(res), "--force", "--quiet"]) == 0
    assert "predictive-index AUC" in capsys.readouterr().out
    predictions = pd.read_csv(res / "predictions.csv")
    assert len(predictions) == 18 and set(predictions["model"]) == {"logistic"}
    assert (predictions["predicted"] == (predictions["index"] >= predictions["cutoff"])).all()
    assert (res / "predictive_index.png").is_file() and (res / "roc.png").is_file()
    assert cv.main(["--features", str(out), "--net", "resnet50", "--model", "snn", "--folds", "2", "--out",
                    str(tmp_path / "cv2"), "--quiet"]) == 2
    assert "a slice has one embedding" in capsys.readouterr().err
    # held-out test cases named by a label file: left out of the CV, the repeat-0 fold models vote on them
    held = tmp_path / "held.csv"
    store_labels = store.labels("resnet50")
    # three patients, of both classes (the bootstrap needs three)
    store_labels = pd.concat([store_labels[store_labels["label"] == 0].head(2), store_labels[store_labels["label"] == 1].head(1)])
    store_labels[["case_id", "label"]].to_csv(held, index=False)
    assert cv.main(["--features", str(out), "--net", "resnet50", "--folds", "2", "--cutoff", "0.5", "--test-labels",
                    str(held), "--out", str(tmp_path / "cv-held"), "--quiet"]) == 0
    tested = pd.read_csv(tmp_path / "cv-held" / "test_predictions.csv")
    assert sorted(tested["case_id"]) == sorted(store_labels["case_id"])
    assert not set(tested["case_id"]) & set(pd.read_csv(tmp_path / "cv-held" / "predictions.csv")["case_id"])
    # fit: two fold models, each with its cutoff; predict: the fold models vote per patient
    from mgmtfeat.cli import fit, predict

    model_dir = tmp_path / "model"
    assert fit.main(["--features", str(out), "--net", "resnet50", "--model", "logistic", "--fold-models", "2",
                     "--cutoff", "0.5", "--model-dir", str(model_dir), "--quiet"]) == 0
    record = json.loads((model_dir / "model.json").read_text())
    assert record["pathway"] == "slices" and record["slice_protocol"]["cutoffs"] == [0.5, 0.5]
    assert len(record["estimators"]) == 2 and (model_dir / "oof_predictions.csv").is_file()
    assert predict.main(["--model-dir", str(model_dir), "--features", str(out), "--labels", "store",
                         "--out", str(tmp_path / "pred"), "--quiet"]) == 0
    frame = pd.read_csv(tmp_path / "pred" / "predictions.csv")
    assert len(frame) == 9 and frame["votes"].isin([0.0, 0.5, 1.0]).all()
    assert ((frame["votes"] > 0.5) == (frame["predicted"] == 1)).all()
    metrics = pd.read_csv(tmp_path / "pred" / "metrics.csv")
    assert {"auc", "accuracy", "specificity"} <= set(metrics["metric"])
    # a label file selects the patients, as in fit and cv
    assert predict.main(["--model-dir", str(model_dir), "--features", str(out), "--labels", str(held),
                         "--out", str(tmp_path / "pred-held"), "--quiet"]) == 0
    selected = pd.read_csv(tmp_path / "pred-held" / "predictions.csv")
    assert sorted(selected["case_id"]) == sorted(store_labels["case_id"]) and selected["label"].notna().all()


def test_bad_slice_requests_fail_clearly(cohort, tmp_path, capsys):
    out = str(tmp_path / "store")
    assert extract.main(["--data", str(cohort), "--out", out, *FAST, "--channels", "t1ce,adc,t2"]) == 2
    assert "unknown modality 'adc'" in capsys.readouterr().err
    assert extract.main(["--data", str(cohort), "--out", out, *FAST[2:]]) == 2  # 2D net, clip pathway
    err = capsys.readouterr().err
    assert "image (2D) network" in err and "--pathway slices" in err
    assert extract.main(["--data", str(cohort), "--out", out, "--pathway", "slices", "--net", "slowfast",
                         "--weights", "random", "--quiet"]) == 2
    assert "slice pathway (--pathway slices) needs an image (2D) network" in capsys.readouterr().err
    # a ROI shorter than --slices: every case is recorded as failed, nothing is stored
    assert extract.main(["--data", str(cohort), "--out", out, *FAST, "--slices", "500", "--limit", "2"]) == 1
    failures = pd.read_csv(tmp_path / "store" / "resnet50" / "failures.csv")
    assert len(failures) == 2 and failures["reason"].str.contains("fewer than --slices 500").all()
