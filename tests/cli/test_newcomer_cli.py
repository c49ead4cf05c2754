"""What a new user meets first: messages naming the right option, --set by known names, nested records,
settings.yaml from any folder, predict on a label file's cases, help texts, resumed runs."""

from __future__ import annotations

import importlib
import json
import os
import re

import pandas as pd
import pytest
import yaml
from conftest import failing_after, write_random_store

from mgmtfeat.cli import cv
from mgmtfeat.cli.config import ConfigError, check_overrides


def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("MGMTFEAT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MGMTFEAT_PUBLISHED_SOURCE", raising=False)

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr("urllib.request.urlopen", offline)


def test_import_published_offline_names_its_own_source_option(tmp_path, monkeypatch, capsys):
    from mgmtfeat.cli import import_published

    _offline(monkeypatch, tmp_path)
    assert import_published.main(["--out", str(tmp_path / "store"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--source DIR" in err and "--published-source" not in err
    # the option it names is one the command accepts
    assert "--source" in import_published._parser().format_help()


def test_set_takes_the_names_users_know_and_lists_them_when_unknown():
    assert check_overrides({"logistic": {"C": 0.1}}) == {"logistic": {"clf__C": 0.1}}
    assert check_overrides({"logistic": {"clf__C": 0.1}}) == {"logistic": {"clf__C": 0.1}}  # the inner name still works
    assert check_overrides({"logistic": {"clf.C": 0.1}}) == {"logistic": {"clf__C": 0.1}}
    assert check_overrides({"svm": {"C": 2.0, "k": 50}}) == {"svm": {"clf__estimator__C": 2.0, "select__k": 50}}
    assert check_overrides({"snn": {"weight_decay": 0.1}}) == {"snn": {"weight_decay": 0.1}}
    with pytest.raises(ConfigError, match=r"no parameter 'Cee'; accepted names: C, .*max_iter") as err:
        check_overrides({"logistic": {"Cee": 1.0}})
    assert "steps" not in str(err.value).split("accepted names:")[1].split("(")[0]


def test_cv_set_by_known_name_records_the_effective_parameters(tmp_path):
    store = write_random_store(tmp_path / "store", n_cases=30)
    out = tmp_path / "out"
    assert cv.main(["--features", str(store.root), "--model", "logistic", "--folds", "2", "--repeats", "1",
                    "--set", "logistic.C=0.1", "--out", str(out), "--quiet"]) == 0
    params = json.loads((out / "summary.json").read_text())["model_params"]["logistic"]
    assert params["C"] == 0.1 and params["max_iter"] == 5000 and params["with_mean"] is True


def test_nested_cv_writes_the_chosen_parameters_per_outer_fold_and_resumes_them(tmp_path, monkeypatch, capsys):
    from mgmtfeat.experiments import cv_study
    from mgmtfeat.models import MODELS

    store = write_random_store(tmp_path / "store", n_cases=40, signal=1.5)
    base = ["--features", str(store.root), "--model", "logistic", "--modalities", "t1ce", "--folds", "2",
            "--repeats", "2", "--nested", "--quiet"]
    assert cv.main([*base, "--out", str(tmp_path / "reference")]) == 0
    chosen = pd.read_csv(tmp_path / "reference" / "best_params.csv")
    assert list(chosen.columns) == ["model", "repeat", "fold", "C"]  # C, not the pipeline's clf__C
    assert chosen[["repeat", "fold"]].values.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert set(chosen["C"]) <= set(MODELS["logistic"].param_grid["clf__C"]) and (chosen["model"] == "logistic").all()
    summary = json.loads((tmp_path / "reference" / "summary.json").read_text())
    assert summary["nested"]["nested"] is True
    assert summary["nested"]["grids"]["logistic"] == {"C": [1e-4, 1e-3, 1e-2, 1e-1]}  # the registry's literals
    assert "Nested cross-validation" in (tmp_path / "reference" / "summary.md").read_text()
    assert "best_params.csv" in capsys.readouterr().out

    # killed after 3 folds, then resumed: the reused folds keep their chosen parameters, and the run says which
    real, fits = cv_study.estimator_factory, []
    monkeypatch.setattr(cv_study, "estimator_factory", failing_after(real, fits, 3))
    with pytest.raises(RuntimeError, match="killed"):
        cv.main([*base, "--out", str(tmp_path / "resumed")])
    monkeypatch.setattr(cv_study, "estimator_factory", real)
    capsys.readouterr()
    assert cv.main([*base, "--out", str(tmp_path / "resumed")]) == 0
    said = capsys.readouterr().out
    assert "logistic: reused 3 fold(s) saved by an earlier run" in said and "fold-r0-k0, fold-r0-k1, fold-r1-k0" in said
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "resumed" / "best_params.csv"), chosen)
    assert json.loads((tmp_path / "resumed" / "summary.json").read_text())["resumed_folds"] == {
        "logistic": ["fold-r0-k0", "fold-r0-k1", "fold-r1-k0"]}


def test_a_plain_run_says_it_was_not_nested(tmp_path):
    store = write_random_store(tmp_path / "store", n_cases=30)
    out = tmp_path / "out"
    assert cv.main(["--features", str(store.root), "--model", "logistic", "--folds", "2", "--repeats", "1",
                    "--out", str(out), "--quiet"]) == 0
    assert "not nested" in (out / "summary.md").read_text() and not (out / "best_params.csv").exists()
    assert json.loads((out / "summary.json").read_text())["nested"] == {"nested": False}


def test_settings_yaml_runs_from_any_folder(tmp_path, monkeypatch):
    first, other = tmp_path / "first", tmp_path / "elsewhere"
    first.mkdir()
    other.mkdir()
    write_random_store(first / "store", n_cases=30)
    pd.DataFrame({"case_id": [f"case{i:03d}" for i in range(30)], "label": [i % 2 for i in range(30)]}).to_csv(
        first / "labels.csv", index=False)
    monkeypatch.chdir(first)
    assert cv.main(["--features", "store", "--labels", "labels.csv", "--model", "logistic", "--folds", "2",
                    "--repeats", "1", "--out", "results", "--quiet"]) == 0
    settings = yaml.safe_load((first / "results" / "settings.yaml").read_text())
    assert settings["features"] == str(first / "store") and settings["labels"] == str(first / "labels.csv")
    assert settings["out"] == "results"  # the output stays as typed
    monkeypatch.chdir(other)
    assert cv.main(["--config", str(first / "results" / "settings.yaml"), "--out", "again"]) == 0
    assert (other / "again" / "summary.json").is_file()  # --out relative to where the user runs it


def test_predict_with_a_label_file_keeps_only_its_cases(tmp_path, caplog):
    from mgmtfeat.cli.fit import main as fit
    from mgmtfeat.cli.predict import main as predict

    store = write_random_store(tmp_path / "store", n_cases=30)
    assert fit(["--model", "logistic", "--features", str(store.root), "--net", "vivit", "--model-dir", str(tmp_path / "m"),
                "--set", "logistic.C=0.5", "--quiet"]) == 0  # fit takes the known names too
    ids = store.case_ids("vivit")[:10]
    pd.DataFrame({"case_id": ids, "label": [i % 2 for i in range(10)]}).to_csv(tmp_path / "test.csv", index=False)
    assert predict(["--model-dir", str(tmp_path / "m"), "--features", str(store.root), "--out", str(tmp_path / "p"),
                    "--labels", str(tmp_path / "test.csv"), "--quiet"]) == 0
    frame = pd.read_csv(tmp_path / "p" / "predictions.csv", dtype={"case_id": str})
    assert frame["case_id"].tolist() == list(ids) and frame["label"].notna().all()
    assert "predictions.csv holds the 10 labelled cases only (20 unlabelled left out)" in caplog.text


def _commands():
    from mgmtfeat.__main__ import COMMANDS

    return [(name, module) for name, module, _ in COMMANDS]


@pytest.mark.parametrize("name, module", _commands())
def test_help_states_each_default_once(name, module):
    parser = importlib.import_module(module)._parser()
    parsers = [parser, *(p for a in parser._actions if hasattr(a, "choices") and isinstance(a.choices, dict)
                         for p in a.choices.values() if hasattr(p, "_actions"))]  # subcommands of `experiment`
    for each in parsers:
        formatter = each._get_formatter()
        for action in (a for a in each._actions if a.help):
            shown = formatter._get_help_string(action) % {"default": action.default, "prog": each.prog}
            assert shown.count("(default") <= 1, (each.prog, action.option_strings, shown)
    assert "(default 0.5) (default: 0.5)" not in " ".join(parser.format_help().split())


def test_messages_suggest_the_mgmtfeat_command_and_its_options(tmp_path):
    from mgmtfeat.backbones import vivit
    from mgmtfeat.store import FeatureStore
    from mgmtfeat.store.store import StoreError

    with pytest.raises(StoreError) as err:
        FeatureStore(tmp_path / "missing").load(["vivit"])
    assert "`mgmtfeat extract --out" in str(err.value) and "python -m" not in str(err.value)
    assert "--weights DIR" in vivit._HOW_TO
    for root, _, files in os.walk(os.path.dirname(vivit.__file__) + "/.."):
        for file in (f for f in files if f.endswith(".py")):
            text = open(os.path.join(root, file), encoding="utf-8").read()
            # a suggested command in a message (single backticks), not a docstring's ``python -m ...``
            assert not re.search(r"(?<!`)`python -m mgmtfeat\.", text), file
