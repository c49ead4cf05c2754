"""``python -m mgmtfeat.experiment``: the registry, --list, per-experiment options, a run, bad names."""

import json

import pandas as pd
import pytest

from mgmtfeat.cli import experiment
from mgmtfeat.experiments import ALIASES, EXPERIMENTS, get_experiment, run_experiment
from mgmtfeat.models import MODELS

from conftest import write_random_store
from conftest import write_multi_net_store

COMMON = ("--features", "--published-source", "--out", "--folds", "--repeats", "--seed", "--jobs", "--set",
          "--force", "--quiet")


def _help(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        experiment.main([*argv, "--help"])
    assert exit_.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines


def test_list_names_and_describes_every_experiment(capsys):
    assert experiment.main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(EXPERIMENTS)
    for line, (name, spec) in zip(lines, EXPERIMENTS.items()):
        assert line.startswith(name) and line.endswith(spec.description)
    assert set(EXPERIMENTS) == {"methods", "modalities", "networks", "fusion", "delta-t1", "external",
                                "decision-curves", "attention", "deep-vs-handcrafted"}


@pytest.mark.parametrize("name", [*EXPERIMENTS, *ALIASES, "all"])
def test_each_experiment_has_its_own_options(name, capsys):
    text = _help([name], capsys)
    for option in COMMON:
        assert option in text
    canonical = "all" if name == "all" else get_experiment(name)[0]
    own = {"methods": ["--models", "--net"], "decision-curves": ["--models", "--net"],
           "networks": ["--model", "--nets"], "fusion": ["--model", "--nets"],
           "deep-vs-handcrafted": ["--models", "--net"],
           "external": ["--model", "--net", "--external-features", "--test-features"],
           "all": ["--models", "--external-features", "--only"]}.get(canonical, ["--model", "--net"])
    for option in own:
        assert f"{option} " in text
    # model names and descriptions come from the model registry
    assert ", ".join(MODELS) in text.replace("snn- conv", "snn-conv")
    for name_, spec in MODELS.items():
        assert f"{name_}: {spec.description}" in text


def test_unknown_or_missing_name_is_refused(capsys):
    assert experiment.main(["table9", "--out", "x"]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'table9'" in err and "methods" in err
    with pytest.raises(SystemExit):  # no NAME: the overview's usage
        experiment.main([])
    assert "NAME" in capsys.readouterr().out
    with pytest.raises(ValueError, match="unknown experiment 'table9'; choose from methods, modalities"):
        run_experiment("table9", None)


def _methods_argv(tmp_path, out) -> list[str]:
    """A quick `methods` run (logistic, 1 x 3 folds) on a small random store."""
    store = write_random_store(tmp_path / "store", n_cases=24, signal=0.3)
    return ["methods", "--features", str(store.root), "--models", "logistic", "--folds", "3", "--repeats", "1",
            "--quiet", "--out", str(out)]


def test_one_experiment_end_to_end_and_its_alias(tmp_path, capsys):
    out = tmp_path / "methods"
    argv = _methods_argv(tmp_path, out)
    assert experiment.main(argv) == 0
    printed = capsys.readouterr().out
    assert "logistic" in printed and "paper SNN" in printed and f"results in {out}" in printed
    table = pd.read_csv(out / "table1.csv")
    assert table.loc[0, "method"] == "logistic" and table.loc[0, "n_folds"] == 3
    probabilities = pd.read_csv(out / "predictions.csv")["probability"]
    record = json.loads((out / "settings.json").read_text())
    assert record["settings"]["command"][:4] == ["python", "-m", "mgmtfeat.experiment", "methods"]
    assert experiment.main(argv) == 2  # refuses to overwrite
    assert "--force" in capsys.readouterr().err
    alias = ["table1_methods", *argv[1:], "--force", "--set", "logistic.clf__C=0.01"]
    assert experiment.main(alias) == 0
    assert json.loads((out / "settings.json").read_text())["settings"]["model_params"] == {"logistic": {"clf__C": 0.01}}
    assert pd.read_csv(out / "predictions.csv")["probability"].std() > probabilities.std()  # weaker regularisation
    common = [a for a in argv[1:] if a not in ("--models", "logistic")]
    assert experiment.main(["external", *common, "--model", "logistic", "--force"]) == 2
    assert "second cohort" in capsys.readouterr().err
    assert experiment.main(["methods", *argv[1:], "--force", "--set", "C=1"]) == 2
    assert "MODEL.PARAM=VALUE" in capsys.readouterr().err


@pytest.mark.slow
def test_all_runs_what_it_can_and_writes_results_md(tmp_path, capsys):
    multi = write_multi_net_store(tmp_path / "store", n_cases=30)
    argv = ["all", "--features", str(multi.root), "--folds", "3", "--repeats", "1", "--quiet", "--out",
            str(tmp_path / "all"), "--models", "logistic", "--set", "snn.max_epochs=3", "--set", "snn.n_members=1",
            "--only", "methods,delta_t1,networks,external"]
    assert experiment.main(argv) == 0
    printed = capsys.readouterr().out
    assert "external" in printed and "skipped" in printed and "total" in printed
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["RESULTS.md", "delta-t1", "methods", "networks",
                                                                   "settings.yaml"]
    page = (tmp_path / "all" / "RESULTS.md").read_text()
    assert "# Table 1" in page and "# Table 3" in page and "Delta-T1" in page
    assert "Command: `python -m mgmtfeat.experiment all --features" in page
    assert experiment.main(argv) == 2
    assert "--force" in capsys.readouterr().err


def test_registry_options_fill_parameters_of_their_function():
    import inspect

    for name, spec in EXPERIMENTS.items():
        params = inspect.signature(spec.function).parameters
        assert list(params)[0] == "settings" and spec.description
        for option in spec.options:
            assert option.param in params, (name, option.flags)
    assert ALIASES["table1_methods"] == "methods" and get_experiment("external_validation")[0] == "external"


def test_experiment_settings_rerun_with_config(tmp_path, capsys):
    """An experiment's settings.yaml re-runs it (`--config`), as for every other command."""
    first = tmp_path / "first"
    argv = _methods_argv(tmp_path, first)
    assert experiment.main(argv) == 0
    settings = first / "settings.yaml"
    assert "command: experiment methods" in settings.read_text()
    again = tmp_path / "again"
    assert experiment.main(["methods", "--config", str(settings), "--out", str(again)]) == 0
    a, b = pd.read_csv(first / "metrics.csv"), pd.read_csv(again / "metrics.csv")
    pd.testing.assert_frame_equal(a.drop(columns=["fit_seconds"]), b.drop(columns=["fit_seconds"]))
    assert experiment.main(["modalities", "--config", str(settings), "--out", str(tmp_path / "x")]) == 2
    assert "experiment methods" in capsys.readouterr().err
