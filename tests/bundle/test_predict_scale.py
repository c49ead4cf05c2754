"""`predict --scale cohort-minmax`: the published features' per-cohort min-max, explicit, recorded and refused where wrong."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import write_random_store

from mgmtfeat.bundle.scaling import cohort_minmax, minmax_scaled
from mgmtfeat.cli.fit import main as fit
from mgmtfeat.models import make_model
from mgmtfeat.cli.predict import main as predict

SCALED = {"weights": "random test features", "scaling": "min-max per feature over the cohort"}


@pytest.fixture(scope="module")
def scaled_model(tmp_path_factory):
    """A logistic model fitted on a store whose provenance records min-max scaled features."""
    root = tmp_path_factory.mktemp("scale")
    store = write_random_store(root / "train", n_cases=30, provenance=SCALED)
    assert fit(["--model", "logistic", "--features", str(store.root), "--net", "vivit", "--model-dir",
                str(root / "m")]) == 0
    return root / "m", store


@pytest.fixture(scope="module")
def raw_store(tmp_path_factory):
    """New cases' unscaled features, made otherwise as the training ones."""
    return write_random_store(tmp_path_factory.mktemp("raw") / "s", n_cases=12, seed=5,
                              provenance={"weights": "random test features"})


def test_unscaled_features_are_refused_naming_the_fix(scaled_model, raw_store, tmp_path, capsys):
    model, _ = scaled_model
    assert predict(["--model-dir", str(model), "--features", str(raw_store.root), "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "min-max scaled" in err and "--scale cohort-minmax" in err and "transductive" in err


def test_cohort_minmax_predicts_the_scaled_features_and_records_it(scaled_model, raw_store, tmp_path):
    model, train = scaled_model
    out = tmp_path / "p"
    assert predict(["--model-dir", str(model), "--features", str(raw_store.root), "--out", str(out),
                    "--scale", "cohort-minmax"]) == 0
    data = raw_store.load("vivit", require_labels=False)
    X = data.X2d.astype(np.float64)
    scaled = ((X - X.min(0)) / (X.max(0) - X.min(0))).astype(np.float32)
    fitted = train.load("vivit")
    expected = make_model("logistic", 0).fit(fitted.X2d, fitted.y).predict_proba(scaled)
    frame = pd.read_csv(out / "predictions.csv", dtype={"case_id": str})
    # float32 scaling here and in the package, the same estimator: equal to float64 rounding of the sums
    np.testing.assert_allclose(frame[["prob_0", "prob_1"]].to_numpy(), expected, rtol=0, atol=1e-12)
    record = json.loads((out / "provenance.json").read_text())["scaling"]
    assert record["method"] == "cohort-minmax" and record["n_cases"] == 12 and record["transductive"] is True
    table = pd.read_csv(out / "scaling.csv")
    assert len(table) == X.shape[1] and table["feature"][0] == "vivit:flair:0"
    np.testing.assert_array_equal(table["min"].to_numpy(np.float32), data.X2d.min(0))


def test_scale_is_refused_for_a_model_of_unscaled_features(raw_store, tmp_path, capsys):
    assert fit(["--model", "logistic", "--features", str(raw_store.root), "--net", "vivit", "--model-dir",
                str(tmp_path / "m")]) == 0
    assert predict(["--model-dir", str(tmp_path / "m"), "--features", str(raw_store.root), "--out",
                    str(tmp_path / "p"), "--scale", "cohort-minmax"]) == 2
    assert "fitted on unscaled features" in capsys.readouterr().err


def test_already_scaled_features_are_predicted_as_they_are(scaled_model, tmp_path, capsys):
    model, train = scaled_model
    assert predict(["--model-dir", str(model), "--features", str(train.root), "--out", str(tmp_path / "p")]) == 0
    assert predict(["--model-dir", str(model), "--features", str(train.root), "--out", str(tmp_path / "q"),
                    "--scale", "cohort-minmax"]) == 2
    assert "already min-max scaled" in capsys.readouterr().err


def test_cohort_minmax_needs_two_cases_and_maps_constant_features_to_zero():
    with pytest.raises(ValueError, match="at least two cases"):
        cohort_minmax(np.ones((1, 3), np.float32))
    scaled, low, high = cohort_minmax(np.array([[1, 5, 2], [3, 5, 4], [2, 5, 0]], np.float32))
    np.testing.assert_array_equal(scaled, [[0, 0, 0.5], [1, 0, 1], [0.5, 0, 0]])
    assert low.tolist() == [1, 5, 0] and high.tolist() == [3, 5, 4]


def test_scaling_is_read_from_provenance():
    assert minmax_scaled({"scaling": "minmax"}) and minmax_scaled({"scaling": {"method": "Min-Max [0, 1]"}})
    assert minmax_scaled({"preprocessing": "150-frame clips; features min-max scaled to [0, 1] by the authors"})
    assert not minmax_scaled({"weights": "x"}) and not minmax_scaled({"scaling": "none"})
