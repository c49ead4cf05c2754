"""`mgmtfeat experiment deep-vs-handcrafted`: each net alone and fused, per model, on the same folds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mgmtfeat.cli import experiment

from conftest import two_net_store


def test_each_net_alone_and_fused_for_each_model(tmp_path, capsys):
    store = two_net_store(tmp_path / "store", n=24)
    out = tmp_path / "out"
    argv = ["deep-vs-handcrafted", "--features", str(store.root), "--net", "i3d,radiomics", "--folds", "3",
            "--repeats", "1", "--quiet", "--out", str(out), "--set", "snn.max_epochs=5", "--set", "snn.n_members=1"]
    assert experiment.main(argv) == 0
    table = pd.read_csv(out / "deep_vs_handcrafted.csv")
    assert list(zip(table["model"], table["features"])) == [
        (m, f) for m in ("logistic", "snn") for f in ("i3d", "radiomics", "i3d+radiomics")]
    n_inputs = len([c for c in ("flair", "t1", "t1ce", "t2", "delta_t1")])
    assert table["n_features"].tolist() == [400 * n_inputs, 7 * n_inputs, 407 * n_inputs] * 2
    fused = table["features"] == "i3d+radiomics"
    assert table.loc[fused, "p_vs_reference"].isna().all() and table.loc[~fused, "p_vs_reference"].notna().all()
    assert (table["auc_ci_low"] <= table["auc_mean"]).all() and (table["auc_mean"] <= table["auc_ci_high"]).all()
    # the label is in radiomics' T1wCE only: the handcrafted net beats the noise of the deep one
    logistic = table[table["model"] == "logistic"].set_index("features")
    assert logistic.loc["radiomics", "auc_mean"] > logistic.loc["i3d", "auc_mean"]
    assert (out / "deep_vs_handcrafted.png").is_file() and (out / "metrics.csv").is_file()
    metrics = pd.read_csv(out / "metrics.csv")
    assert np.isfinite(metrics["auc"]).all() and metrics["configuration"].nunique() == 6


def test_a_store_without_handcrafted_features_is_refused(tmp_path, capsys):
    from mgmtfeat import MODALITIES
    from mgmtfeat.store import FeatureStore

    store = FeatureStore(tmp_path / "store")
    rng = np.random.default_rng(0)
    for net in ("i3d", "vivit"):
        store.write_provenance(net, {"weights": "test", "clips": {"n_frames": 150}})
        for i in range(12):
            store.write_case(net, f"c{i:02d}", {m: rng.normal(size=400) for m in MODALITIES}, i % 2)
    assert experiment.main(["deep-vs-handcrafted", "--features", str(store.root), "--folds", "3", "--repeats", "1",
                            "--quiet", "--out", str(tmp_path / "out")]) == 2
    assert "extract --net radiomics" in capsys.readouterr().err
