import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mgmtfeat import MODALITIES
from mgmtfeat import experiments as ex
from mgmtfeat.evaluation import concordance_correlation
from mgmtfeat.evaluation.compare import compare_cv_models, corrected_cv_interval, cv_interval
from mgmtfeat.store import FeatureStore

from conftest import failing_after, write_random_store, write_multi_net_store, load_script

FAST = {"snn": {"max_epochs": 4, "n_members": 1}, "mlp": {"max_epochs": 4}}
#: A study's tables hold statistics (means, CIs, p-values, correlations, gains) that these tests recompute in
#: float64 from the same fold metrics, some read back from CSV (17 digits): equal to float64 rounding, whatever
#: the CPU. 1e-9 relative; a wrong fold pairing, reference or configuration moves them by far more than 1e-3.
SAME = dict(rel=1e-9, abs=1e-12)




@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    return write_multi_net_store(tmp_path_factory.mktemp("multi") / "store")


def _settings(store, out, **kw):
    values = dict(features=str(store.root), out=str(out), folds=3, repeats=2, model_params=FAST, progress=False)
    values.update(kw)
    return ex.ExperimentSettings(**values)


@pytest.mark.slow
def test_method_comparison_lists_literature_and_refuses_overwrite(multi, tmp_path):
    settings = _settings(multi, tmp_path / "t1")
    table = ex.method_comparison(settings, models=("logistic", "mlp"), net="i3d")["table1"]
    ours = table[table.source == "this run"].set_index("method")
    assert list(ours.index) == ["logistic", "mlp"] and ours.loc["mlp", "inputs"] == "t1ce"
    assert ours.loc["logistic", "auc_mean"] > 0.8 and (ours["n_folds"] == 6).all()
    reported = table[table.source == "reported, not reproduced"].set_index("method")
    # figures copied from the papers, not computed: the same decimal literal, exact
    assert reported.loc["paper SNN", "auc_mean"] == 0.666 and reported.loc["Saeed et al.", "auc_sem"] == 0.001
    assert len(reported) == 8 and np.isnan(reported.loc["Baid et al.", "auc_sem"])
    md = (tmp_path / "t1" / "table1.md").read_text()
    assert "| paper SNN | reported, not reproduced |  | 0.666 ± 0.031 |" in md
    for name in ("table1.csv", "metrics.csv", "predictions.csv", "roc.png", "auc.png", "settings.json"):
        assert (tmp_path / "t1" / name).stat().st_size > 0
    with pytest.raises(FileExistsError, match="--force"):
        ex.method_comparison(settings, models=("logistic",))
    settings.force = True
    ex.method_comparison(settings, models=("logistic",), net="i3d")
    assert len(pd.read_csv(tmp_path / "t1" / "metrics.csv")) == 6
    with pytest.raises(ex.ExperimentError, match="unknown model"):
        ex.method_comparison(settings, models=("nope",))


def test_table1_gives_corrected_cis_and_tests_against_the_reference(multi, tmp_path):
    table = ex.method_comparison(_settings(multi, tmp_path / "t1"), models=("logistic", "svm"), net="i3d")["table1"]
    metrics = pd.read_csv(tmp_path / "t1" / "metrics.csv")
    ours = table[table.source == "this run"].set_index("method")
    per_model = {m: metrics[metrics.configuration == m] for m in ("logistic", "svm")}
    for model, part in per_model.items():
        ci = cv_interval(part)
        assert (ours.loc[model, "auc_ci_low"], ours.loc[model, "auc_ci_high"]) == pytest.approx((ci.low, ci.high), **SAME)
        # corrected: wider than mean +- t * SEM over folds
        assert ci.high - ci.low > 2 * 2.57 * ours.loc[model, "auc_sem"]
    # without an snn the first model is the reference; it is not tested against itself
    assert (ours["reference"] == "logistic").all() and np.isnan(ours.loc["logistic", "p_vs_reference"])
    test = compare_cv_models(per_model["svm"], per_model["logistic"])
    assert ours.loc["svm", "p_vs_reference"] == pytest.approx(test.p_value, **SAME)
    assert ours.loc["svm", "auc_difference"] == pytest.approx(test.mean_difference, **SAME)
    reported = table[table.source != "this run"]
    assert reported["auc_ci_low"].isna().all() and reported["p_vs_reference"].isna().all()
    md = (tmp_path / "t1" / "table1.md").read_text()
    assert "| AUC 95% CI | AUC minus logistic (P) |" in md and "Nadeau and Bengio" in md


@pytest.mark.slow
def test_modalities_finds_the_informative_input(multi, tmp_path):
    out = ex.modality_ablation(_settings(multi, tmp_path / "t2"), model="logistic", net="i3d")
    table = out["table2"].set_index(["setting", "input"])
    assert len(table) == 11
    assert table.loc[("single", "t1ce"), "auc_mean"] > 0.85
    others = [table.loc[("single", m), "auc_mean"] for m in MODALITIES if m != "t1ce"]
    assert max(others) < table.loc[("single", "t1ce"), "auc_mean"] - 0.2
    # leaving out the only informative input hurts most
    left = table.xs("left out")["auc_mean"]
    assert left.idxmin() == "t1ce"
    r = out["correlation"]["pearson_r"].iloc[0]
    single = table.xs("single")["auc_mean"]
    assert r == pytest.approx(np.corrcoef(single[list(MODALITIES)], left[list(MODALITIES)])[0, 1], **SAME)
    assert r < 0 and out["correlation"]["paper_r"].iloc[0] == -0.90  # the paper's figure, copied: exact
    md = (tmp_path / "t2" / "table2.md").read_text()
    assert "paper reports r = -0.90" in md and "(5 points, one per input" in md
    # each configuration against all inputs on the same folds, by the corrected resampled t-test
    metrics = pd.read_csv(tmp_path / "t2" / "metrics.csv")
    full = table.loc[("all", "all")]
    assert np.isnan(full["p_vs_reference"]) and full["auc_ci_low"] < full["auc_mean"] < full["auc_ci_high"]
    test = compare_cv_models(metrics[metrics.configuration == "left out: t1ce"],
                             metrics[metrics.configuration == "all: all"])
    assert table.loc[("left out", "t1ce"), "p_vs_reference"] == pytest.approx(test.p_value, **SAME)
    assert table.loc[("left out", "t1ce"), "auc_difference"] == pytest.approx(test.mean_difference, **SAME)
    assert test.mean_difference < 0


def test_all_experiments_share_one_fold_table(multi, tmp_path):
    a = _settings(multi, tmp_path / "a")
    b = _settings(multi, tmp_path / "b")
    ex.method_comparison(a, models=("logistic",), net="i3d")
    ex.network_comparison(b, model="logistic")
    files = [json.loads((tmp_path / n / "settings.json").read_text())["folds_file"] for n in ("a", "b")]
    assert files[0] == files[1] and Path(files[0]).parent == multi.root / "folds"


@pytest.mark.slow
def test_networks_and_fusion_label_random_weights(multi, tmp_path):
    table = ex.network_comparison(_settings(multi, tmp_path / "t3"), model="logistic")["table3"].set_index("net")
    assert table.loc["i3d", "auc_mean"] > 0.8 and table.loc["other", "auc_mean"] < 0.75
    assert table["random_weights"].to_dict() == {"i3d": False, "other": True, "twin": True}
    assert "RANDOM-WEIGHT nets: other, twin" in (tmp_path / "t3" / "table3.md").read_text()
    # every net against the best one (i3d or its near copy) on the same folds, by the corrected resampled t-test
    metrics = pd.read_csv(tmp_path / "t3" / "metrics.csv")
    best = table["auc_mean"].idxmax()
    by_net = {n: metrics[metrics.configuration == n] for n in ("other", best)}
    assert best in ("i3d", "twin") and (table["reference"] == best).all() and np.isnan(table.loc[best, "p_vs_reference"])
    assert table.loc["other", "p_vs_reference"] == pytest.approx(compare_cv_models(by_net["other"], by_net[best]).p_value, **SAME)
    assert table.loc["other", "auc_ci_high"] == pytest.approx(cv_interval(by_net["other"]).high, **SAME)
    out = ex.net_fusion(_settings(multi, tmp_path / "t4"), model="logistic")
    fused = out["table4"]
    assert sorted(fused.loc[fused.n_nets > 1, "nets"]) == ["i3d+other", "i3d+other+twin", "i3d+twin", "other+twin"]
    single = fused[fused.n_nets == 1].set_index("nets")["auc_mean"]
    row = fused.set_index("nets").loc["i3d+twin"]
    assert row["gain"] == pytest.approx(row["auc_mean"] - max(single["i3d"], single["twin"]), **SAME)
    metrics = pd.read_csv(tmp_path / "t4" / "metrics.csv")
    best = max(("i3d", "twin"), key=single.get)
    gain = compare_cv_models(metrics[metrics.configuration == "i3d+twin"], metrics[metrics.configuration == best])
    assert row["gain_p"] == pytest.approx(gain.p_value, **SAME) and np.isnan(fused.set_index("nets").loc["i3d", "gain_p"])
    assert row["auc_ci_low"] < row["auc_mean"] < row["auc_ci_high"]
    ccc = out["ccc"].set_index(["net_a", "net_b"])
    assert ccc.loc[("i3d", "twin"), "ccc_mean"] > 0.9  # near copies
    assert abs(ccc.loc[("i3d", "other"), "ccc_mean"]) < 0.15  # independent features
    assert np.isfinite(out["gain_vs_ccc"]["pearson_r"].iloc[0])
    for name in ("table4.md", "ccc.md", "fusion.png", "ccc.png", "gain_vs_ccc.png"):
        assert (tmp_path / "t4" / name).is_file()
    assert "RANDOM-WEIGHT" in (tmp_path / "t4" / "ccc.md").read_text()


def test_feature_ccc_matches_the_definition(multi):
    data = multi.load(["i3d", "other"], ["t1"])
    table = ex.feature_ccc(data, ["i3d", "other"], ["t1"], scale=False)
    expected = np.nanmean(concordance_correlation(data.X[:, 0], data.X[:, 1], axis=0))
    assert table["ccc_mean"].iloc[0] == pytest.approx(expected, **SAME)


def test_one_net_store_stops_before_fitting(tmp_path):
    store = write_random_store(tmp_path / "store", n_cases=20)
    for function in (ex.network_comparison, ex.net_fusion):
        with pytest.raises(ex.ExperimentError, match="at least 2 nets.*extract"):
            function(_settings(store, tmp_path / "x"))
    assert not (tmp_path / "x").exists() and not (store.root / "folds").exists()


def test_delta_t1_paired_and_missing_input(multi, tmp_path):
    table = ex.delta_t1_ablation(_settings(multi, tmp_path / "d"), model="logistic", net="i3d")["delta_t1"].set_index("metric")
    assert table.loc["auc", "n_folds"] == 6 and table.loc["auc", "df"] == 5
    assert table.loc["auc", "difference_mean"] == pytest.approx(table.loc["auc", "with_mean"] - table.loc["auc", "without_mean"], **SAME)
    metrics = pd.read_csv(tmp_path / "d" / "metrics.csv")
    assert set(metrics["configuration"]) == {"with delta-T1", "without delta-T1"}
    # the corrected resampled t-test over the (repeat, fold) pairs, and the CI that inverts it, per metric
    with_, without = (metrics[metrics.configuration == c] for c in ("with delta-T1", "without delta-T1"))
    paired = with_.merge(without, on=["repeat", "fold"], suffixes=("_a", "_b"))
    for metric in ("auc", "accuracy"):
        test = compare_cv_models(with_, without, metric)
        assert table.loc[metric, "p_value"] == pytest.approx(test.p_value, **SAME)
        assert table.loc[metric, "t"] == pytest.approx(test.t, **SAME)
        ci = corrected_cv_interval(paired[f"{metric}_a"] - paired[f"{metric}_b"], paired["n_train_a"].mean(),
                                   paired["n_test_a"].mean())
        assert (table.loc[metric, "difference_low"], table.loc[metric, "difference_high"]) == pytest.approx(
            (ci.low, ci.high), **SAME)
        assert ci.low < table.loc[metric, "difference_mean"] < ci.high
    md = (tmp_path / "d" / "delta_t1.md").read_text()
    assert "corrected t-test P" in md and "Wilcoxon P" not in md and "(repeat, fold)" in md
    store = FeatureStore(tmp_path / "nodelta")
    store.write_provenance("i3d", {"weights": "test"})
    rng = np.random.default_rng(0)
    for i in range(12):
        store.write_case("i3d", f"c{i}", {m: rng.normal(size=400) for m in ("flair", "t1", "t1ce", "t2")}, i % 2)
    with pytest.raises(ex.ExperimentError, match="no delta_t1 features.*extract"):
        ex.delta_t1_ablation(_settings(store, tmp_path / "d2"))


def test_external_validation_drops_overlap(multi, tmp_path):
    test = FeatureStore(tmp_path / "ucsf")
    test.write_provenance("i3d", {"weights": "test"})
    rng = np.random.default_rng(1)
    for i in range(24):
        label = i % 2
        features = {m: rng.normal(size=400).astype(np.float32) for m in MODALITIES}
        features["t1ce"][:20] += 1.5 * label
        brats = {3: "case003", 4: "case004"}.get(i, "")
        test.write_case("i3d", f"UCSF-PDGM-{i:04d}", features, label, meta={"brats_id": brats})
    features, label, _ = multi.read_case("i3d", "case005")
    test.write_case("i3d", "case005", features, label)  # same id as a training case
    settings = _settings(multi, tmp_path / "ext", repeats=2)
    out = ex.external_validation(settings, str(test.root), model="logistic", net="i3d")
    row = out["external"].iloc[0]
    assert row["n_test"] == 22 and row["n_dropped_overlap"] == 3 and row["n_train"] == 40
    assert sorted(out["dropped"]["case_id"]) == ["UCSF-PDGM-0003", "UCSF-PDGM-0004", "case005"]
    assert row["auc_mean"] > 0.8
    with pytest.raises(ex.ExperimentError, match="second cohort"):
        ex.external_validation(_settings(multi, tmp_path / "e2"), None)
    with pytest.raises(ex.ExperimentError, match="is the training store"):
        ex.external_validation(_settings(multi, tmp_path / "e3"), str(multi.root))
    with pytest.raises(ex.ExperimentError, match="no features of a net"):
        ex.external_validation(_settings(multi, tmp_path / "e4"), str(tmp_path / "empty"))


def test_decision_curves_and_attention(multi, tmp_path):
    out = ex.decision_curve_analysis(_settings(multi, tmp_path / "dc"), models=("snn", "logistic"), net="i3d")
    curves = out["decision_curves"]
    assert set(curves["model_name"]) == {"snn", "logistic"}
    half = curves[curves.threshold == 0.5].iloc[0]
    assert half["treat_all"] == pytest.approx(0.5 - 0.5 * 1.0, **SAME)  # balanced cohort
    assert (curves["treat_none"] == 0).all() and (tmp_path / "dc" / "decision_curves.png").is_file()
    att = ex.attention_analysis(_settings(multi, tmp_path / "att"), net="i3d")
    # 5 float32 softmax weights per case, averaged: 1 within a few K * eps (6e-7) on any CPU; 1e-5 with margin
    assert att["attention"]["mean"].sum() == pytest.approx(1.0, abs=1e-5)
    examples = att["examples"]
    assert sorted(examples["label"]) == [0, 1]
    assert np.allclose(examples[["FLAIR", "T1", "T1wCE", "T2", "delta-T1"]].sum(axis=1), 1.0, rtol=0, atol=1e-5)
    per_case = pd.read_csv(tmp_path / "att" / "attention_per_case.csv")
    assert len(per_case) == 2 * 40
    with pytest.raises(ex.ExperimentError, match="no attention weights"):
        ex.attention_analysis(_settings(multi, tmp_path / "att2"), model="logistic")


def test_overrides_parse_and_reject():
    from mgmtfeat.cli.config import parse_overrides

    assert parse_overrides(["snn.max_epochs=5", "snn.encoder=conv", "mlp.hidden_sizes=[8, 4]"]) == {
        "snn": {"max_epochs": 5, "encoder": "conv"}, "mlp": {"hidden_sizes": [8, 4]}}
    with pytest.raises(ValueError, match="MODEL.PARAM=VALUE"):
        parse_overrides(["max_epochs=5"])


@pytest.mark.slow
def test_table1_on_published_features(published_store, tmp_path):
    settings = ex.ExperimentSettings(features=str(published_store.root), out=str(tmp_path / "t1"), repeats=1,
                                     progress=False)
    table = ex.method_comparison(settings, models=("logistic",))["table1"]
    assert table.iloc[0]["auc_mean"] > 0.57 and table.iloc[0]["n_folds"] == 5
    assert "published ViViT features; 577 cases, 1 x 5-fold CV" in (tmp_path / "t1" / "table1.md").read_text()


def _claims_module():
    return load_script(Path(__file__).resolve().parents[2] / "benchmarks" / "claims.py", "claims_script")


def _fold_rows(configuration: str, aucs) -> pd.DataFrame:
    keys = [(r, f) for r in range(2) for f in range(3)]
    return pd.DataFrame([{"configuration": configuration, "repeat": r, "fold": f, "auc": a, "n_train": 80,
                          "n_test": 40} for (r, f), a in zip(keys, aucs)])


def test_claims_table_applies_its_verdict_rules(tmp_path):
    claims = _claims_module()
    noise = np.array([0.01, -0.01, 0.005, -0.005, 0.0, 0.0])
    snn = 0.61 + noise
    tables = {
        "methods": [_fold_rows("snn", snn), _fold_rows("mlp", snn - 0.05 + noise[::-1] / 5)],
        "delta-t1": [_fold_rows("with delta-T1", snn), _fold_rows("without delta-T1", snn + 0.01 + noise / 3)],
        # left-out AUC = 1.2 - single-input AUC: r = -1 over the five inputs
        "modalities": [_fold_rows(f"single: {m}", a + noise) for m, a in zip(MODALITIES, [.6, .55, .58, .59, .53])]
        + [_fold_rows(f"left out: {m}", 1.2 - a + noise) for m, a in zip(MODALITIES, [.6, .55, .58, .59, .53])],
    }
    for name, parts in tables.items():
        (tmp_path / name).mkdir()
        pd.concat(parts).to_csv(tmp_path / name / "metrics.csv", index=False)
    table = claims.claims_table(tmp_path).set_index("claim")
    verdicts = table["verdict"]
    assert verdicts["SNN AUC (all five inputs)"] == "not reproduced: 0.666 lies above the 95% CI"
    ci = cv_interval(tables["methods"][0])
    assert f"0.610 (95% CI {ci.low:.3f} to {ci.high:.3f})" == table.loc["SNN AUC (all five inputs)", "measured here"]
    assert verdicts["SNN > MLP"] == "reproduced"
    p = compare_cv_models(*tables["methods"]).p_value
    assert f"P = {p:.2g}" in table.loc["SNN > MLP", "test"] and "6 paired folds" in table.loc["SNN > MLP", "test"]
    assert verdicts["delta-T1 input helps the SNN"].startswith("not reproduced: the SNN with delta-T1 is not higher")
    corr = "modality correlation: single-input AUC vs left-out AUC"
    assert verdicts[corr] == "reproduced" and "r = -1.00" in table.loc[corr, "measured here"]
    assert "5 points" in table.loc[corr, "measured here"] and "3 df" in table.loc[corr, "test"]
    assert table.index[-2:].str.contains("network ranking|fusing").all()
    assert verdicts.iloc[-2:].str.startswith("not testable here").all()
    # a paper figure inside the CI is reproduced; a positive difference with P >= 0.05 is not
    (tmp_path / "methods" / "metrics.csv").write_text(pd.concat(
        [_fold_rows("snn", 0.666 + noise), _fold_rows("mlp", 0.660 + noise[::-1])]).to_csv(index=False))
    again = claims.claims_table(tmp_path).set_index("claim")["verdict"]
    assert again["SNN AUC (all five inputs)"].startswith("reproduced (the paper's figure lies inside")
    assert again["SNN > MLP"].startswith("not reproduced: the SNN is higher but not significantly")
    assert "| claim | paper |" in claims.to_markdown(table.reset_index())
    (tmp_path / "delta-t1" / "metrics.csv").unlink()
    with pytest.raises(FileNotFoundError, match="claims.py"):
        claims.claims_table(tmp_path)


def test_a_killed_experiment_resumes_from_its_finished_folds(multi, tmp_path, monkeypatch):
    import mgmtfeat.experiments.base as common

    ex.clear_cache()
    reference = ex.method_comparison(_settings(multi, tmp_path / "reference"), models=("logistic",), net="i3d")
    real, fits = common.make_estimator_factory, []

    ex.clear_cache()
    monkeypatch.setattr(common, "make_estimator_factory", failing_after(real, fits, 4))
    with pytest.raises(RuntimeError, match="killed"):
        ex.method_comparison(_settings(multi, tmp_path / "t1"), models=("logistic",), net="i3d")
    assert len(list((tmp_path / ".t1.partial" / "fold-cache").iterdir())) == 4
    fits.clear()
    monkeypatch.setattr(common, "make_estimator_factory", failing_after(real, fits))
    resumed = ex.method_comparison(_settings(multi, tmp_path / "t1"), models=("logistic",), net="i3d")
    assert len(fits) == 2  # 2 repeats x 3 folds, 4 of them finished before the kill
    pd.testing.assert_frame_equal(resumed["table1"].drop(columns="seconds_per_fold"),
                                  reference["table1"].drop(columns="seconds_per_fold"))
    assert not (tmp_path / ".t1.partial").exists()
