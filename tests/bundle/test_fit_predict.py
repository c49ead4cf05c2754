"""`mgmtfeat fit` / `mgmtfeat predict`: model folders, round trips, fold ensembles, refusals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import write_random_store

from mgmtfeat.cli.fit import main as fit
from mgmtfeat.models import make_model
from mgmtfeat.models.persistence import load_estimator
from mgmtfeat.cli.predict import main as predict


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return write_random_store(tmp_path_factory.mktemp("fit") / "store", n_cases=40)


def _fit(store, model_dir, *extra):
    return fit(["--model", "logistic", "--features", str(store.root), "--net", "vivit", "--model-dir", str(model_dir),
                *extra])


def _predict(model_dir, store, out, *extra):
    return predict(["--model-dir", str(model_dir), "--features", str(store.root), "--out", str(out), *extra])


def _probs(path, classes=("0", "1")):
    frame = pd.read_csv(path, dtype={"case_id": str, "predicted": str, "label": str})
    return frame, frame[[f"prob_{c}" for c in classes]].to_numpy()


def test_logistic_round_trip_equals_the_model_in_memory(store, tmp_path):
    assert _fit(store, tmp_path / "m", "--seed", "3") == 0
    assert _predict(tmp_path / "m", store, tmp_path / "p") == 0
    data = store.load("vivit")
    expected = make_model("logistic", 3).fit(data.X2d, data.y).predict_proba(data.X2d)
    frame, proba = _probs(tmp_path / "p" / "predictions.csv")
    # the same fit and the same rows on the same CPU, written with 17 digits: exact, no tolerance
    np.testing.assert_array_equal(proba, expected)
    assert frame["case_id"].tolist() == list(data.case_ids)
    assert frame["predicted"].tolist() == [str(int(p >= 0.5)) for p in expected[:, 1]]
    assert "label" not in frame and not (tmp_path / "p" / "metrics.csv").exists()

    record = json.loads((tmp_path / "m" / "model.json").read_text())
    assert record["format"] == "mgmtfeat-model/1" and record["mgmtfeat_version"] == "0.1.0"
    assert {"numpy", "scikit-learn", "torch", "xgboost", "skops"} == set(record["libraries"])
    assert record["model"]["name"] == "logistic" and record["seed"] == 3 and record["ensemble"] is None
    assert record["task"]["classes"] == [0, 1] and record["task"]["positive_class"] == 1
    assert record["task"]["cases_per_class"] == {"0": 20, "1": 20} and record["task"]["label_source"] == "store"
    assert record["features"]["provenance"]["vivit"]["weights"] == "random test features"
    assert record["inputs"] == list(data.inputs) and record["files"] == ["estimator.skops"]
    card = (tmp_path / "m" / "MODEL_CARD.md").read_text()
    assert "Not a medical device" in card and "40 cases (0: 20, 1: 20)" in card


def test_snn_round_trip_equals_the_model_in_memory(store, tmp_path):
    params = {"max_epochs": 2, "n_members": 2}
    assert fit(["--model", "snn", "--features", str(store.root), "--net", "vivit", "--model-dir", str(tmp_path / "m"),
                *[f"--set=snn.{k}={v}" for k, v in params.items()]]) == 0
    assert sorted(json.loads((tmp_path / "m" / "model.json").read_text())["files"]) == \
        ["estimator.json", "estimator.safetensors"]
    assert _predict(tmp_path / "m", store, tmp_path / "p") == 0
    data = store.load("vivit")
    expected = make_model("snn", 0).set_params(**params).fit(data.X2d, data.y).predict_proba(data.X2d)
    np.testing.assert_array_equal(_probs(tmp_path / "p" / "predictions.csv")[1], expected)  # as above: exact


def test_fold_models_save_oof_predictions_and_combine_by_mean_or_vote(store, tmp_path):
    from mgmtfeat.evaluation import fold_seed, make_folds

    assert _fit(store, tmp_path / "m", "--fold-models", "3", "--seed", "1") == 0
    record = json.loads((tmp_path / "m" / "model.json").read_text())
    assert record["ensemble"]["k"] == 3 and record["estimators"] == [f"estimator-fold{k}" for k in range(3)]
    assert record["ensemble"]["seeds"] == [fold_seed(1, 0, k) for k in range(3)]
    data = store.load("vivit")
    folds = pd.read_csv(tmp_path / "m" / "folds.csv", dtype={"case_id": str})
    same = make_folds(data.case_ids, data.y, 3, 1, seed=1)  # the same split as `mgmtfeat cv`'s first repeat
    assert folds["fold"].tolist() == same["fold"].tolist()
    oof = pd.read_csv(tmp_path / "m" / "oof_predictions.csv", dtype={"case_id": str})
    for k in range(3):  # each case scored by the fold model that did not see it
        test = (folds["fold"] == k).to_numpy()
        model = make_model("logistic", fold_seed(1, 0, k)).fit(data.X2d[~test], data.y[~test])
        np.testing.assert_array_equal(oof.loc[test, ["prob_0", "prob_1"]].to_numpy(), model.predict_proba(data.X2d[test]))
    assert set(pd.read_csv(tmp_path / "m" / "cv_bootstrap.csv")["metric"]) == {"auc", "accuracy", "precision", "recall", "f1"}
    assert "| auc |" in (tmp_path / "m" / "MODEL_CARD.md").read_text()

    probas = np.stack([load_estimator(tmp_path / "m", f"estimator-fold{k}").predict_proba(data.X2d) for k in range(3)])
    assert _predict(tmp_path / "m", store, tmp_path / "mean", "--labels", "store") == 0
    np.testing.assert_array_equal(_probs(tmp_path / "mean" / "predictions.csv")[1], probas.mean(axis=0))
    assert _predict(tmp_path / "m", store, tmp_path / "vote", "--ensemble", "vote", "--threshold", "0.6") == 0
    votes = (probas[:, :, 1] >= 0.6).mean(axis=0)
    # vote shares k/3 and 1 - k/3, computed in float64 on both sides and written with 17 digits: a few float64
    # eps apart at most (1e-12); a wrong vote moves a share by 1/3
    np.testing.assert_allclose(_probs(tmp_path / "vote" / "predictions.csv")[1], np.column_stack([1 - votes, votes]),
                               rtol=0, atol=1e-12)
    metrics = pd.read_csv(tmp_path / "mean" / "metrics.csv")
    assert metrics["metric"].tolist() == ["auc", "accuracy", "precision", "recall", "f1"]
    assert ((metrics["low"] <= metrics["estimate"]) & (metrics["estimate"] <= metrics["high"])).all()
    assert "95 % CI" in (tmp_path / "mean" / "metrics.md").read_text()


def test_three_class_task_from_a_label_csv(store, tmp_path):
    names = np.array(["astro", "gbm", "oligo"])
    ids = store.case_ids("vivit")
    labels = pd.DataFrame({"case_id": ids, "subtype": names[np.arange(len(ids)) % 3]})
    labels.iloc[:-2].to_csv(tmp_path / "subtypes.csv", index=False)  # two store cases unlisted
    args = ["--labels", str(tmp_path / "subtypes.csv"), "--label-column", "subtype"]
    assert _fit(store, tmp_path / "m", *args, "--fold-models", "3") == 0
    record = json.loads((tmp_path / "m" / "model.json").read_text())
    assert record["task"]["classes"] == list(names) and record["task"]["positive_class"] is None
    assert record["task"]["n_cases"] == 38 and record["task"]["n_unlabelled_left_out"] == 2
    assert _predict(tmp_path / "m", store, tmp_path / "p", *args) == 0
    frame, proba = _probs(tmp_path / "p" / "predictions.csv", names)
    assert len(frame) == 38 and frame["label"].notna().all()  # the label file selects the cases, as in fit
    # float32 probabilities: K = 3 values, each rounded (eps/2 relative), averaged over 3 fold models and
    # written with float32's 9 digits; their sum is 1 within a few K * eps (observed 1.04e-7 on an AVX-512
    # CPU, whose vector width orders the sums differently). 16 eps (1.9e-6) is CPU-proof, while a lost or
    # swapped class column is off by tenths.
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=16 * np.finfo(np.float32).eps)
    assert frame["predicted"].tolist() == names[proba.argmax(axis=1)].tolist()
    metrics = pd.read_csv(tmp_path / "p" / "metrics.csv")["metric"].tolist()
    assert metrics[:3] == ["auc", "accuracy", "balanced_accuracy"]
    assert {f"{m}_{c}" for m in ("sensitivity", "specificity", "ppv", "npv") for c in names} <= set(metrics)
    assert _predict(tmp_path / "m", store, tmp_path / "v", "--ensemble", "vote") == 0
    assert set(np.unique(_probs(tmp_path / "v" / "predictions.csv", names)[1]) * 3) <= {0.0, 1.0, 2.0, 3.0}


def test_features_made_otherwise_are_refused_naming_field_and_values(store, tmp_path, capsys):
    assert _fit(store, tmp_path / "m") == 0
    other = write_random_store(tmp_path / "other", n_cases=6)
    other.write_provenance("vivit", {"weights": "other weights"}, replace=True)
    assert _predict(tmp_path / "m", other, tmp_path / "p") == 2
    err = capsys.readouterr().err
    assert "weights: model 'random test features', features 'other weights'" in err
    assert not (tmp_path / "p" / "predictions.csv").exists()


def test_model_folder_of_another_version_or_with_a_missing_file_is_refused(store, tmp_path, capsys):
    assert _fit(store, tmp_path / "m") == 0
    path = tmp_path / "m" / "model.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "mgmtfeat_version": "0.2.0"}))
    assert _predict(tmp_path / "m", store, tmp_path / "p") == 2
    assert "written by mgmtfeat 0.2.0, this is mgmtfeat 0.1.0" in capsys.readouterr().err
    path.write_text(json.dumps(record))
    (tmp_path / "m" / "estimator.skops").unlink()
    assert _predict(tmp_path / "m", store, tmp_path / "p") == 2
    assert "file estimator.skops listed in model.json is missing" in capsys.readouterr().err
    assert _predict(tmp_path / "nothing", store, tmp_path / "p") == 2
    assert "does not exist" in capsys.readouterr().err


def test_model_folder_is_refused_without_force_and_never_half_written(store, tmp_path, monkeypatch, capsys):
    assert _fit(store, tmp_path / "m") == 0
    assert _fit(store, tmp_path / "m") == 2
    assert "--force" in capsys.readouterr().err
    before = (tmp_path / "m" / "model.json").read_text()

    import mgmtfeat.models.persistence as persistence

    def broken(estimator, folder, name):
        (folder / f"{name}.skops").write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(persistence, "save_estimator", broken)
    assert _fit(store, tmp_path / "m", "--force", "--seed", "5") == 1  # an I/O error, reported at the command
    assert "disk full" in capsys.readouterr().err
    assert (tmp_path / "m" / "model.json").read_text() == before  # the old model is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary folder left
    monkeypatch.undo()
    assert _fit(store, tmp_path / "m", "--force", "--seed", "5") == 0
    assert json.loads((tmp_path / "m" / "model.json").read_text())["seed"] == 5


def test_fit_refuses_bad_labels_and_options_before_writing(store, tmp_path, capsys):
    pd.DataFrame({"case_id": store.case_ids("vivit"), "label": ["x"] * 38 + ["y"] * 2}).to_csv(tmp_path / "l.csv", index=False)
    assert _fit(store, tmp_path / "m", "--labels", str(tmp_path / "l.csv"), "--fold-models", "3") == 2
    assert "'y' (2 cases) have fewer cases than the 3 folds" in capsys.readouterr().err
    assert _fit(store, tmp_path / "m", "--set", "snn.max_epochs=2") == 2
    assert "only parameters of --model logistic" in capsys.readouterr().err
    assert _fit(store, tmp_path / "m", "--labels", str(tmp_path / "l.csv"), "--label-column", "grade") == 2
    assert "no label column 'grade'; its columns: case_id, label" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_published_train_split_predicts_the_test_split(published_store, tmp_path):
    from sklearn.metrics import roc_auc_score

    table = published_store.labels("vivit")
    for split in ("train", "test"):
        table.loc[table["split"] == split, ["case_id", "label"]].to_csv(tmp_path / f"{split}.csv", index=False)
    assert _fit(published_store, tmp_path / "m", "--labels", str(tmp_path / "train.csv")) == 0
    record = json.loads((tmp_path / "m" / "model.json").read_text())
    n_train = int((table["split"] == "train").sum())
    assert record["task"]["n_cases"] == n_train and record["task"]["n_unlabelled_left_out"] == len(table) - n_train
    assert _predict(tmp_path / "m", published_store, tmp_path / "p", "--labels", str(tmp_path / "test.csv")) == 0
    auc = pd.read_csv(tmp_path / "p" / "metrics.csv").set_index("metric").loc["auc"]
    frame = pd.read_csv(tmp_path / "p" / "predictions.csv").dropna(subset=["label"])
    assert len(frame) == len(table) - n_train
    # an AUC is a count of ranked pairs over their number: the same count read back from the CSV's
    # round-tripped probabilities (float64, 17 digits) gives the same ratio to float64 rounding (1e-12)
    assert auc["estimate"] == pytest.approx(roc_auc_score(frame["label"], frame["prob_1"]), rel=0, abs=1e-12)
    assert auc["low"] < auc["estimate"] < auc["high"]


def test_provenance_check_ignores_only_when_and_by_which_version_features_were_made():
    from mgmtfeat.bundle.record import provenance_differences

    made = {"net": "i3d", "weights_sha256": "ab", "clips": {"n_frames": 150}, "created": "2024", "torch": "2.1",
            "package_version": "0.1.0"}
    assert provenance_differences(made, {**made, "created": "2025", "torch": "2.13", "package_version": "0.1.3"}) == []
    assert provenance_differences(made, {**made, "clips": {"n_frames": 64}}) == \
        [("clips", {"n_frames": 150}, {"n_frames": 64})]


def test_random_weights_are_flagged_in_the_card_and_training_cases_in_the_log(tmp_path, caplog):
    import logging

    store = write_random_store(tmp_path / "store", n_cases=12,
                               provenance={"weights_id": "i3d-random", "random_weights": True})
    assert _fit(store, tmp_path / "m") == 0
    card = (tmp_path / "m" / "MODEL_CARD.md").read_text()
    assert "**RANDOM WEIGHTS**" in card and "ran with RANDOM weights" in card
    with caplog.at_level(logging.WARNING, logger="mgmtfeat"):
        assert _predict(tmp_path / "m", store, tmp_path / "p") == 0
    assert "12 of the 12 cases to predict were training cases" in caplog.text
