"""``mgmtfeat cv`` beyond binary MGMT: any label, held-out test cohort, sites and ComBat, subgroups."""

import json
import logging

import numpy as np
import pandas as pd
import pytest

from mgmtfeat.cli import cv
from mgmtfeat.evaluation.folds import EvaluationError
from mgmtfeat.evaluation import check_group_folds, folds_key, make_folds
from mgmtfeat.evaluation.intervals import age_band_labels

from conftest import write_random_store

QUICK = ["--model", "logistic", "--folds", "3", "--repeats", "1", "--quiet"]


def _run(store, out, *argv):
    return cv.main(["--features", str(store.root), "--out", str(out), *QUICK, *argv])


def _sites(n):
    # (i // 2) % 4: each site holds both labels (labels alternate), so no site predicts the label
    return np.array(["north", "south", "east", "west"])[(np.arange(n) // 2) % 4]


def test_three_class_run_from_a_label_csv(tmp_path, capsys):
    store = write_random_store(tmp_path / "store", n_cases=45)
    ids = store.case_ids("vivit")
    labels = pd.DataFrame({"case_id": ids[3:], "subtype": np.array(["A", "B", "C"])[np.arange(42) % 3]})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    out = tmp_path / "run"
    assert _run(store, out, "--labels", str(tmp_path / "labels.csv"), "--label-column", "subtype") == 0
    assert "3 store case(s) without a label" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"]["classes"] == ["A", "B", "C"] and summary["n_cases"] == 42
    assert summary["class_counts"] == [14, 14, 14] and summary["task"]["n_unlabelled_left_out"] == 3
    metrics = pd.read_csv(out / "metrics.csv")
    assert {"auc", "accuracy", "balanced_accuracy"} <= set(metrics.columns) and "precision" not in metrics
    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == 42 and "probability" not in predictions
    # K = 3 float32 probabilities sum to 1 within a few K * eps, however the CPU orders the sums: 16 eps
    assert np.allclose(predictions[["prob_A", "prob_B", "prob_C"]].sum(axis=1), 1, rtol=0,
                       atol=16 * np.finfo(np.float32).eps)
    confusion = pd.read_csv(out / "confusion.csv")
    assert len(confusion) == 9 and confusion["count"].sum() == 42
    assert (out / "confusion.png").stat().st_size > 5_000 and not (out / "roc.png").exists()
    per_class = pd.read_csv(out / "class_intervals.csv")
    assert set(per_class["class"]) == {"A", "B", "C"}
    assert set(per_class["metric"]) == {"sensitivity", "specificity", "ppv", "npv"}
    finite = per_class.dropna(subset=["estimate"])
    assert len(finite) >= 9 and (finite["low"] <= finite["estimate"]).all() and (finite["estimate"] <= finite["high"]).all()
    text = (out / "summary.md").read_text()
    assert "95 % CI" in text and "| logistic | A | sensitivity |" in text


def test_binary_keeps_probability_and_adds_prob_columns_and_calibration(tmp_path):
    store = write_random_store(tmp_path / "store", n_cases=30, signal=1.0)
    out = tmp_path / "run"
    assert _run(store, out) == 0
    predictions = pd.read_csv(out / "predictions.csv")
    np.testing.assert_array_equal(predictions["probability"], predictions["prob_1"])  # one value written twice
    # two float32 probabilities sum to 1 within a few eps, whatever the CPU: 16 eps
    assert np.allclose(predictions["prob_0"] + predictions["prob_1"], 1, rtol=0, atol=16 * np.finfo(np.float32).eps)
    calibration = pd.read_csv(out / "calibration.csv")
    assert {"mean_predicted", "fraction_positive", "brier"} <= set(calibration.columns)
    assert (out / "calibration.png").is_file() and "Brier score" in (out / "summary.md").read_text()


@pytest.mark.parametrize("ensemble", ["mean", "vote"])
def test_held_out_cases_of_the_store(tmp_path, ensemble):
    store = write_random_store(tmp_path / "store", n_cases=48, signal=1.0)
    ids = store.case_ids("vivit")
    held = pd.DataFrame({"case_id": ids[:12], "label": [i % 2 for i in range(12)]})
    held.to_csv(tmp_path / "test.csv", index=False)
    out = tmp_path / "run"
    assert _run(store, out, "--test-labels", str(tmp_path / "test.csv"), "--ensemble", ensemble,
                "--bootstrap-fraction", "0.9") == 0
    folds = pd.read_csv(out / "folds.csv")
    assert len(folds) == 36 and not set(folds["case_id"]) & set(held["case_id"])  # excluded from the CV
    test = pd.read_csv(out / "test_predictions.csv")
    assert sorted(test["case_id"]) == sorted(held["case_id"])
    if ensemble == "vote":  # shares of 3 fold models' votes
        # k/3 in float64, read back from 17 digits, times 3: an integer to float64 rounding (1e-12)
        assert np.allclose(test["prob_1"] * 3, np.round(test["prob_1"] * 3), rtol=0, atol=1e-12)
    metrics = pd.read_csv(out / "test_metrics.csv")
    auc = metrics[metrics["metric"] == "auc"].iloc[0]
    assert auc["low"] <= auc["estimate"] <= auc["high"]
    stability = pd.read_csv(out / "test_stability.csv")
    assert stability["size"].tolist() == [1, 2, 3] and stability["n_subsets"].tolist() == [3, 3, 1]
    assert stability["auc_sd"].iloc[-1] == 0 and (out / "test_stability.png").is_file()


def test_held_out_second_store_and_its_class_check(tmp_path, capsys):
    store = write_random_store(tmp_path / "store", n_cases=30, signal=1.0)
    other = write_random_store(tmp_path / "other", n_cases=14, seed=1, signal=1.0)
    out = tmp_path / "run"
    assert _run(store, out, "--test-features", str(other.root)) == 0
    assert len(pd.read_csv(out / "test_predictions.csv")) == 14
    assert json.loads((out / "summary.json").read_text())["task"]["n_test"] == 14
    bad = pd.DataFrame({"case_id": other.case_ids("vivit"), "label": ["x"] * 7 + ["y"] * 7})
    bad.to_csv(tmp_path / "bad.csv", index=False)
    assert _run(store, tmp_path / "bad", "--test-features", str(other.root), "--test-labels", str(tmp_path / "bad.csv")) == 2
    assert "are not classes of the training labels" in capsys.readouterr().err


def test_group_folds_never_put_a_site_on_both_sides():
    ids = [f"c{i:02d}" for i in range(40)]
    y, sites = np.arange(40) % 2, np.array([f"s{i % 6}" for i in range(40)])
    for logo in (False, True):
        folds = make_folds(ids, y, 3, 2, 0, groups=sites, leave_one_group_out=logo)
        site_of = dict(zip(ids, sites))
        for _, part in folds.groupby("repeat"):
            for fold in part["fold"].unique():
                test = part["fold"] == fold
                assert not {site_of[c] for c in part["case_id"][test]} & {site_of[c] for c in part["case_id"][~test]}
        check_group_folds(folds, site_of)
    assert folds["fold"].nunique() == 6 and folds["repeat"].nunique() == 1  # one fold per site
    plain = make_folds(ids, y, 3, 1, 0)
    with pytest.raises(EvaluationError, match="on both sides"):
        check_group_folds(plain, site_of)
    assert folds_key(ids, y, 3, 2, 0) != folds_key(ids, y, 3, 2, 0, "site", sites)


def test_grouped_run_saves_its_own_folds_and_compares_sites(tmp_path):
    store = write_random_store(tmp_path / "store", n_cases=40, signal=1.0)
    ids = store.case_ids("vivit")
    pd.DataFrame({"case_id": ids, "label": [i % 2 for i in range(40)], "site": _sites(40)}).to_csv(
        tmp_path / "labels.csv", index=False)
    out = tmp_path / "run"
    assert _run(store, out, "--labels", str(tmp_path / "labels.csv"), "--group-column", "site") == 0
    folds = pd.read_csv(out / "folds.csv")
    check_group_folds(folds, dict(zip(ids, _sites(40))))
    saved = sorted(p.name for p in (store.root / "folds").glob("*.csv"))
    assert any("-by-site-" in name for name in saved) and any("-by-" not in name for name in saved)
    comparison = pd.read_csv(out / "site_comparison.csv")
    assert set(comparison["scheme"]) == {"co-site (sites mixed)", "separate-site (held out)"}
    assert (out / "site_comparison.png").is_file() and "Site comparison" in (out / "summary.md").read_text()


def test_combat_is_fitted_on_training_rows_only(tmp_path, monkeypatch):
    from mgmtfeat.models.harmonize import ComBatHarmonizer

    store = write_random_store(tmp_path / "store", n_cases=36, signal=1.0)
    ids = store.case_ids("vivit")
    pd.DataFrame({"case_id": ids, "site": _sites(36)}).to_csv(tmp_path / "cov.csv", index=False)
    fitted = []
    original = ComBatHarmonizer.fit

    def spy(self, X, y=None, **kwargs):
        fitted.append(np.asarray(X)[:, 1].copy())  # first feature column identifies the rows
        return original(self, X, y, **kwargs)

    monkeypatch.setattr(ComBatHarmonizer, "fit", spy)
    out = tmp_path / "run"
    assert _run(store, out, "--covariates", str(tmp_path / "cov.csv"), "--group-column", "site",
                "--harmonize", "combat") == 0
    first = {c: store.read_case("vivit", c)[0]["flair"][0] for c in ids}  # logistic's first input is flair
    folds = pd.read_csv(out / "folds.csv")
    train_sets = [{first[c] for c in folds["case_id"][folds["fold"] != k]} for k in sorted(folds["fold"].unique())]
    assert len(fitted) == 3
    for rows, train in zip(fitted, train_sets):
        assert set(rows.tolist()) == train  # exactly the training rows, no test row


def test_subgroup_table_counts_and_missing_covariates(tmp_path, caplog):
    store = write_random_store(tmp_path / "store", n_cases=40, signal=1.0)
    ids = store.case_ids("vivit")
    age = np.linspace(30, 80, 40)
    covariates = pd.DataFrame({"case_id": ids, "age": age, "sex": np.array(["F", "M"])[np.arange(40) % 2]})
    covariates.loc[[0, 5], "age"] = np.nan
    covariates.to_csv(tmp_path / "cov.csv", index=False)
    with caplog.at_level(logging.WARNING):
        assert _run(store, tmp_path / "run", "--covariates", str(tmp_path / "cov.csv"), "--age-bands", "50,65") == 0
    assert "covariate 'age'" in caplog.text and "2 case(s)" in caplog.text and ids[5] in caplog.text
    table = pd.read_csv(tmp_path / "run" / "subgroups.csv")
    auc = table[table["metric"] == "auc"]
    bands = auc[auc["covariate"] == "age band"].set_index("subgroup")["n"]
    expected = age_band_labels(pd.Series(np.delete(age, [0, 5])), [50, 65]).value_counts()
    assert bands.to_dict() == expected.to_dict() and bands.sum() == 38  # the 2 without age only leave this table
    assert auc[auc["covariate"] == "sex"]["n"].sum() == 40
    assert (auc["n_0"] + auc["n_1"] == auc["n"]).all() and (tmp_path / "run" / "subgroups.png").is_file()


def test_age_bands_edges():
    bands = age_band_labels(pd.Series([49.9, 50, 65, 65.1, None]), [50, 65])
    assert bands.tolist()[:4] == ["<50", "50-65", ">65", ">65"] and pd.isna(bands.iloc[4])


@pytest.mark.parametrize("setup, argv, message", [
    ("single_site", ["--group-column", "site"], "'solo' (case case039)"),
    ("single_site", ["--harmonize", "combat"], "--group-column"),
    ("single_site", ["--group-column", "hospital"], "no such column"),
    (None, ["--bootstrap-fraction", "0.9"], "--test-features or --test-labels"),
    (None, ["--group-column", "site", "--harmonize", "combat", "--leave-one-group-out"], "drop one of them"),
])
def test_bad_site_and_test_options(tmp_path, capsys, setup, argv, message):
    store = write_random_store(tmp_path / "store", n_cases=40)
    ids = store.case_ids("vivit")
    sites = _sites(40).astype(object)
    sites[-1] = "solo"
    pd.DataFrame({"case_id": ids, "label": [i % 2 for i in range(40)], "site": sites}).to_csv(
        tmp_path / "labels.csv", index=False)
    extra = ["--labels", str(tmp_path / "labels.csv")] if setup else []
    assert _run(store, tmp_path / "out", *extra, *argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
