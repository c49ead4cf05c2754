import json

import numpy as np
import pandas as pd
import pytest

from mgmtfeat.cli import cv

from conftest import failing_after, full_disk, write_random_store


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


# -- hardening: explicit sources, random weights named, inputs never deleted, disk errors, resume --------

def test_an_explicit_published_source_that_does_not_exist_is_an_error(published_store, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "published-vivit").symlink_to(published_store.root)  # a filled cache
    monkeypatch.setenv("MGMTFEAT_CACHE", str(cache))
    out = tmp_path / "out"
    assert cv.main(["--published-source", str(tmp_path / "nonexistent"), "--model", "logistic", "--repeats", "1",
                    "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"--published-source {tmp_path / 'nonexistent'} does not exist" in err and "Traintransdetalrunning1_0" in err
    assert not out.exists()


def test_reports_name_random_weights(tmp_path, monkeypatch):
    from mgmtfeat.experiments import cv_study

    store = write_random_store(tmp_path / "store", n_cases=20, provenance={"weights_id": "random", "random_weights": True})
    titles = []
    real = cv_study.plot_roc
    monkeypatch.setattr(cv_study, "plot_roc", lambda predictions, title: titles.append(title) or real(predictions, title))
    out = tmp_path / "out"
    assert cv.main(["--features", str(store.root), "--model", "logistic", "--repeats", "1", "--folds", "2",
                    "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["provenance"]["vivit"]["random_weights"] is True and summary["provenance"]["vivit"]["weights"] == "random"
    assert summary["provenance"]["vivit"]["settings_digest"] == store.settings_digest("vivit")
    assert "RANDOM-WEIGHT nets: vivit" in summary["features"]
    assert "RANDOM WEIGHTS" in (out / "summary.md").read_text() and "RANDOM-WEIGHT" in titles[0]


@pytest.mark.parametrize("where", ["store", "parent", "folds_parent"])
def test_an_out_folder_holding_an_input_is_refused_before_anything_is_deleted(tmp_path, capsys, where):
    store = write_random_store(tmp_path / "data" / "store", n_cases=20)
    folds_file = tmp_path / "folds" / "f.csv"
    from mgmtfeat.evaluation import make_folds

    folds_file.parent.mkdir()
    data = store.load()
    make_folds(data.case_ids, data.y, 2, 1, 0).to_csv(folds_file, index=False)
    out = {"store": store.root, "parent": store.root.parent, "folds_parent": folds_file.parent}[where]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert cv.main(["--features", str(store.root), "--folds-file", str(folds_file), "--model", "logistic",
                    "--repeats", "1", "--folds", "2", "--out", str(out), "--force", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"--out {out} " in err and ("is the" in err or "contains the" in err) and "would delete it" in err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_full_disk_is_reported_and_leaves_no_partial_folder(tmp_path, capsys, monkeypatch):
    store = write_random_store(tmp_path / "store", n_cases=20)
    full_disk(monkeypatch)
    out = tmp_path / "results" / "cv"
    assert cv.main(["--features", str(store.root), "--model", "logistic", "--repeats", "1", "--folds", "2",
                    "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "No space left on device (ENOSPC)" in err and "free some disk space" in err
    assert str(out.parent) in err
    assert list(out.parent.iterdir()) == []  # neither the results nor a hidden .cv.partial


def test_a_killed_run_resumes_from_its_finished_folds(tmp_path, monkeypatch):
    from mgmtfeat.experiments import cv_study

    store = write_random_store(tmp_path / "store", n_cases=30, signal=0.8)
    base = ["--features", str(store.root), "--model", "logistic,svm", "--repeats", "2",
            "--folds", "3", "--quiet"]
    assert cv.main([*base, "--out", str(tmp_path / "reference")]) == 0
    real, fits = cv_study.estimator_factory, []

    out = tmp_path / "resumed"
    monkeypatch.setattr(cv_study, "estimator_factory", failing_after(real, fits, 8))
    with pytest.raises(RuntimeError, match="killed"):
        cv.main([*base, "--out", str(out)])
    assert len(fits) == 8 and not out.exists()
    cached = sorted(p.name for p in (tmp_path / ".resumed.partial" / "fold-cache").iterdir())
    assert len(cached) == 8 and cached[0].startswith("logistic-fold-r0-k0-")
    fits.clear()
    monkeypatch.setattr(cv_study, "estimator_factory", failing_after(real, fits))
    assert cv.main([*base, "--out", str(out)]) == 0
    assert len(fits) == 4  # only the folds the killed run had not finished
    reference = pd.read_csv(tmp_path / "reference" / "metrics.csv").drop(columns="fit_seconds")
    pd.testing.assert_frame_equal(pd.read_csv(out / "metrics.csv").drop(columns="fit_seconds"), reference)
    pd.testing.assert_frame_equal(pd.read_csv(out / "predictions.csv"),
                                  pd.read_csv(tmp_path / "reference" / "predictions.csv"))
    assert not (tmp_path / ".resumed.partial").exists() and not (out / "fold-cache").exists()
    # other settings never reuse a cached fold
    fits.clear()
    assert cv.main([*base, "--out", str(tmp_path / "other"), "--seed", "1"]) == 0 and len(fits) == 12
