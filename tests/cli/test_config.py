"""Settings in and out: settings.yaml, --config, --set and every kind of bad input (exit status 2)."""

import json

import pandas as pd
import pytest
import yaml

from mgmtfeat.cli import cv, synthetic
from mgmtfeat.cli.config import ConfigError, parse_overrides

from conftest import write_random_store

CV_BASE = ["--model", "logistic", "--repeats", "2", "--folds", "3", "--quiet"]


@pytest.fixture
def store(tmp_path):
    return write_random_store(tmp_path / "store", n_cases=24)


def test_settings_yaml_re_runs_the_cv_with_identical_fold_metrics(store, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert cv.main(["--features", str(store.root), *CV_BASE, "--out", str(first)]) == 0
    settings = yaml.safe_load((first / "settings.yaml").read_text())
    assert list(settings)[:2] == ["command", "version"] and settings["command"] == "cv"
    assert settings["model"] == ["logistic"] and settings["repeats"] == 2 and settings["out"] == str(first)
    assert "published-source" in settings and "force" not in settings and "config" not in settings
    assert cv.main(["--config", str(first / "settings.yaml"), "--out", str(second)]) == 0
    columns = ["model", "repeat", "fold", "auc", "precision", "recall", "accuracy", "f1"]
    a, b = (pd.read_csv(p / "metrics.csv") for p in (first, second))
    assert len(a) == 6
    pd.testing.assert_frame_equal(a[[c for c in columns if c in a]], b[[c for c in columns if c in b]])
    assert yaml.safe_load((second / "settings.yaml").read_text())["out"] == str(second)


def test_command_line_overrides_the_file_and_underscored_json_keys_are_read(store, tmp_path, capsys):
    config = tmp_path / "settings.json"
    config.write_text(json.dumps({"command": "cv", "features": str(store.root), "model": "logistic",
                                  "published_source": None, "repeats": 3, "folds": 4}))
    assert cv.main(["--config", str(config), "--repeats", "1", "--dry-run"]) == 0
    assert "1 x 4-fold" in capsys.readouterr().out


def test_required_option_may_come_from_the_file(tmp_path, capsys):
    config = tmp_path / "cohort.yaml"
    config.write_text(yaml.safe_dump({"out": str(tmp_path / "a"), "cases": 2, "shape": [16, 16, 8]}))
    assert synthetic.main(["--config", str(config)]) == 0
    written = yaml.safe_load((tmp_path / "a" / "settings.yaml").read_text())
    assert written["command"] == "synthetic" and written["shape"] == [16, 16, 8] and written["cases"] == 2
    assert synthetic.main(["--config", str(tmp_path / "a" / "settings.yaml"), "--out", str(tmp_path / "b")]) == 0
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted(p.name for p in (tmp_path / "a").iterdir())


@pytest.mark.parametrize("content, message", [
    ({"command": "cv", "modles": "snn"}, "unknown key 'modles'; accepted keys: command, version, "),
    ({"command": "cv", "folds": "five"}, "key 'folds' has value 'five'"),
    ({"command": "cv", "nested": "yes"}, "key 'nested' has value 'yes', expected true or false"),
    ({"command": "extract", "net": "i3d"}, "written by command 'extract', not 'cv'"),
    (["not", "a", "mapping"], "expected a mapping"),
])
def test_bad_config_files_stop_before_any_work(store, tmp_path, capsys, content, message):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(content))
    out = tmp_path / "out"
    assert cv.main(["--features", str(store.root), "--config", str(config), "--out", str(out), *CV_BASE]) == 2
    err = capsys.readouterr().err
    assert message in err and str(config) in err
    assert not out.exists() and not (store.root / "folds").exists()


def test_missing_config_file(tmp_path, capsys):
    assert cv.main(["--config", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize("item, message", [
    ("snn.weight_decay", "expected MODEL.PARAM=VALUE"),
    ("nope.C=1", "unknown model 'nope'; choose from snn"),
    ("logistic.penalty_strength=1", "model 'logistic' has no parameter 'penalty_strength'"),
    ("snn.weight_decay=[1, 2]", "expected a value like the default"),
    ("snn.n_members=many", "expected a value like the default"),
])
def test_bad_set_items_stop_before_any_work(store, tmp_path, capsys, item, message):
    out = tmp_path / "out"
    assert cv.main(["--features", str(store.root), "--set", item, "--out", str(out), *CV_BASE]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not (store.root / "folds").exists()


def test_set_reaches_the_estimator_and_the_summary(store, tmp_path):
    from mgmtfeat.experiments.base import make_estimator_factory

    assert make_estimator_factory("logistic", False, 0, {"clf__C": 0.5})(0).get_params()["clf__C"] == 0.5
    out = tmp_path / "out"
    assert cv.main(["--features", str(store.root), "--set", "logistic.clf__C=1e-1", "--out", str(out), *CV_BASE]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["model_params"] == {"logistic": {"clf__C": 0.1}}
    assert yaml.safe_load((out / "settings.yaml").read_text())["set"] == ["logistic.clf__C=1e-1"]
    default = tmp_path / "default"
    assert cv.main(["--features", str(store.root), "--out", str(default), *CV_BASE]) == 0
    assert not pd.read_csv(out / "predictions.csv").equals(pd.read_csv(default / "predictions.csv"))


def test_parse_overrides_reads_yaml_values():
    assert parse_overrides(["snn.weight_decay=1e-3", "snn.encoder=conv", "mlp.hidden_sizes=[8, 4]",
                            "snn.shared=true"]) == {
        "snn": {"weight_decay": 0.001, "encoder": "conv", "shared": True}, "mlp": {"hidden_sizes": [8, 4]}}
    with pytest.raises(ConfigError):
        parse_overrides(["max_epochs=5"])
