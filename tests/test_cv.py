import json

import numpy as np
import pandas as pd
import pytest

from mgmtfeat import cv

from conftest import write_random_store


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit):
        cv.main(["--help"])
    text = capsys.readouterr().out
    for option in ("--model", "--modalities", "--folds", "--repeats", "--seed", "--features", "--out", "--jobs", "--nested"):
        assert option in text


@pytest.mark.slow
def test_end_to_end_on_published_features(published_store, tmp_path):
    out = tmp_path / "run"
    argv = ["--features", str(published_store.root), "--model", "logistic,snn", "--repeats", "1", "--out", str(out), "--quiet"]
    assert cv.main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_cases"] == 577 and summary["class_counts"] == [276, 301]
    assert summary["results"]["logistic"]["auc"]["mean"] > 0.57
    metrics = pd.read_csv(out / "metrics.csv")
    assert len(metrics) == 10 and set(metrics["model"]) == {"logistic", "snn"}
    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == 2 * 577
    attention = pd.read_csv(out / "attention.csv")
    assert list(attention.columns[2:7]) == [f"vivit:{m}" for m in ("flair", "t1", "t1ce", "t2", "delta_t1")]
    folds = pd.read_csv(out / "folds.csv")
    assert len(folds) == 577 and (out / "roc.png").stat().st_size > 10_000
    assert "| logistic |" in (out / "summary.md").read_text()
    # the folds are saved in the store and shared by the next run
    assert len(list((published_store.root / "folds").glob("k5-r1-seed0-*.csv"))) == 1
    assert cv.main(argv) == 2  # refuses to overwrite
    assert cv.main(argv + ["--force", "--model", "mlp"]) == 0
    again = pd.read_csv(out / "folds.csv")
    pd.testing.assert_frame_equal(folds, again)


def test_same_seed_same_metrics_and_parallel_jobs(tmp_path):
    store = write_random_store(tmp_path / "store", n_cases=40, signal=0.8)
    runs = []
    for name, jobs in (("a", 1), ("b", 1), ("c", 2)):
        assert cv.main(["--features", str(store.root), "--model", "snn-conv,logistic", "--repeats", "2", "--folds", "2",
                        "--out", str(tmp_path / name), "--jobs", str(jobs), "--quiet"]) == 0
        runs.append(pd.read_csv(tmp_path / name / "metrics.csv").drop(columns="fit_seconds"))
    pd.testing.assert_frame_equal(runs[0], runs[1])
    pd.testing.assert_frame_equal(runs[0], runs[2])


def test_nested_and_modalities(tmp_path):
    store = write_random_store(tmp_path / "store", n_cases=40, signal=1.5)
    out = tmp_path / "nested"
    assert cv.main(["--features", str(store.root), "--model", "logistic", "--modalities", "t1ce,t2", "--repeats", "1",
                    "--folds", "2", "--nested", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["inputs"]["logistic"] == ["vivit:t1ce", "vivit:t2"]
    assert summary["settings"]["nested"] is True and summary["results"]["logistic"]["auc"]["mean"] > 0.8


@pytest.mark.parametrize(
    "setup, argv, message",
    [
        (None, ["--features", "{tmp}/missing"], "does not exist"),
        ("store", ["--net", "i3d"], "no features of net 'i3d'"),
        ("store", ["--model", "nope"], "unknown model"),
        ("store", ["--modalities", "pd"], "unknown modalities"),
        ("store", ["--folds", "30"], "fewer than the 30 folds"),
        ("one_class", [], "every labelled case has the class 0"),
        ("missing_modality", [], "has no vivit features for flair"),
    ],
)
def test_bad_input_stops_with_a_clear_message_and_writes_nothing(tmp_path, capsys, setup, argv, message):
    root = tmp_path / "store"
    if setup:
        store = write_random_store(root, n_cases=20)
        if setup == "one_class":
            for case_id in store.case_ids("vivit"):
                features, _, meta = store.read_case("vivit", case_id)
                store.write_case("vivit", case_id, features, 0, meta)
        if setup == "missing_modality":
            store.write_case("vivit", "case999", {"t1": np.zeros(400, np.float32)}, 1)
    out = tmp_path / "out"
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code = cv.main(["--features", str(root), "--out", str(out), "--repeats", "1", "--quiet", *argv])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".out*"))
