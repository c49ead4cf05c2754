"""mgmtfeat/cli/: every command both ways, each option defined once, cross-option rules in options dataclasses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mgmtfeat import __main__ as entry
from mgmtfeat.cli import cv, experiment
from mgmtfeat.cli.export import ExportOptions
from mgmtfeat.cli.extract import ExtractOptions
from mgmtfeat.cli.fit import FitOptions
from mgmtfeat.cli.options import FOLDS_HELP
from mgmtfeat.experiments import ExperimentSettings
from mgmtfeat.cli.predict import PredictOptions

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name, module", [(name, module) for name, module, _ in entry.COMMANDS])
def test_every_command_runs_as_mgmtfeat_x_and_as_python_dash_m(name, module, capsys):
    with pytest.raises(SystemExit) as exit_:
        entry.main([name, "--help"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith(f"usage: mgmtfeat {name} ")
    typed = name.replace("-", "_")  # python -m mgmtfeat.make_clips, ..., python -m mgmtfeat.saliency (a package)
    result = subprocess.run([sys.executable, "-m", f"mgmtfeat.{typed}", "--help"], capture_output=True, text=True,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m mgmtfeat.{typed} "), result.stdout[:200]
    assert module == f"mgmtfeat.cli.{typed}"  # one module per command, named as typed


def _action(parser, flag):
    return next(a for a in parser._actions if flag in a.option_strings)


@pytest.mark.parametrize("flag", ["--folds", "--repeats", "--seed", "--jobs", "--set", "--features",
                                  "--published-source", "--force"])
def test_cross_validation_options_are_defined_once_for_cv_and_experiment(flag):
    ours, theirs = _action(cv._parser(), flag), _action(experiment._parser("methods"), flag)
    assert ours.help is theirs.help  # the same text object: written once, in cli/options.py
    assert (ours.type, ours.default, ours.metavar) == (theirs.type, theirs.default, theirs.metavar)
    assert _action(cv._parser(), "--folds").help is FOLDS_HELP


def test_an_experiment_option_is_data_that_the_command_line_turns_into_a_flag():
    from mgmtfeat.experiments import DEFAULT_METHODS
    from mgmtfeat.models import MODELS

    parser = experiment._parser("methods")
    models = _action(parser, "--models")
    assert ", ".join(MODELS) in models.help and "{models}" not in models.help
    assert parser.parse_args(["--out", "x", "--models", "logistic, svm"]).models == ["logistic", "svm"]
    assert parser.parse_args(["--out", "x"]).models == list(DEFAULT_METHODS)  # the default, parsed as a list


@pytest.mark.parametrize("make, message", [
    (lambda tmp: FitOptions("logistic", fold_models=1, model_dir=str(tmp / "m")),
     "--fold-models 1: K must be at least 2 (or leave it out for one model)"),
    (lambda tmp: FitOptions("nomodel", model_dir=str(tmp / "m")), "--model nomodel: unknown model; choose from"),
    (lambda tmp: FitOptions("logistic", overrides=("snn.max_epochs=2",), model_dir=str(tmp / "m")),
     "--set snn.…: only parameters of --model logistic can be set here"),
    (lambda tmp: FitOptions("logistic", modalities=("pd",), model_dir=str(tmp / "m")), "--modalities: unknown pd"),
    (lambda tmp: PredictOptions(features="s", threshold=1.5), "--threshold 1.5: a probability threshold lies in [0, 1]"),
    (lambda tmp: PredictOptions(), "give --features STORE (extracted features) or --data DATASET"),
    (lambda tmp: PredictOptions(features="s", weights=("i3d=x.pt",), exclude=("1",)),
     "--weights, --exclude apply to --data only"),
    (lambda tmp: PredictOptions(data="d", saliency="t1ce", weights=("i3d=x.pt",)), "--saliency rebuilds the nets"),
    (lambda tmp: PredictOptions(data="d", jobs=0), "--jobs must be at least 1 (got 0)"),
    (lambda tmp: ExportOptions(("t1ce",), "table.xlsx"), "--out table.xlsx: use a file name ending in .csv or"),
    (lambda tmp: ExportOptions(("t3",), "table.csv"), "--modalities: unknown t3"),
    (lambda tmp: ExtractOptions("i3d", channels="t1ce,t1ce,t2"), "--channels and --slices apply to --pathway slices"),
    (lambda tmp: ExtractOptions("i3d", radiomics_params="p.yaml"),
     "--radiomics-params and --radiomics-label apply to --net radiomics only"),
    (lambda tmp: ExtractOptions("radiomics", radiomics_label="1,x"), "--radiomics-label '1,x': give integers"),
    (lambda tmp: ExtractOptions("i3d", jobs=2, scheduler="local:2"), "--jobs and --scheduler both choose where cases"),
    (lambda tmp: ExtractOptions("i3d", limit=0), "--limit must be at least 1 (got 0)"),
    (lambda tmp: ExtractOptions("radiomics", pathway="slices"), "--net radiomics describes the tumour volume"),
    (lambda tmp: ExtractOptions("resnet50", pathway="slices", channels="t1ce,t2,flair", modalities=("t1ce", "t2")),
     "--channels t1ce,t2,flair uses clips that --modalities t1ce,t2 leaves out"),
])
def test_options_dataclasses_refuse_a_bad_combination_with_its_message(make, message, tmp_path):
    with pytest.raises(ValueError) as err:
        make(tmp_path)
    assert str(err.value).startswith(message)


def test_options_dataclasses_accept_a_good_combination_and_fill_in_what_they_read(tmp_path):
    assert FitOptions("logistic", overrides=("logistic.C=0.1",), model_dir=str(tmp_path / "m")).params == {"clf__C": 0.1}
    (tmp_path / "m").mkdir()
    with pytest.raises(FileExistsError, match="--model-dir .* exists; choose another folder or pass --force"):
        FitOptions("logistic", model_dir=str(tmp_path / "m"))
    assert FitOptions("logistic", model_dir=str(tmp_path / "m"), force=True).params == {}
    options = ExtractOptions("radiomics", radiomics_label="1,4")
    assert options.nets == ["radiomics"] and options.radiomics_labels == (1, 4)
    assert PredictOptions(data="d", saliency="t1ce").saliency == "t1ce"
    with pytest.raises(ValueError, match=r"--folds must be at least 2 \(got 1\), --repeats and --jobs at least 1"):
        ExperimentSettings(folds=1)


def test_the_commands_are_the_top_layer_and_the_root_keeps_only_shims():
    shims = sorted(p.stem for p in (ROOT / "mgmtfeat").glob("*.py") if not p.stem.startswith("_"))
    assert shims == sorted(n.replace("-", "_") for n, _, _ in entry.COMMANDS if n != "saliency")
    assert not (ROOT / "mgmtfeat" / "saliency_maps.py").exists()  # `mgmtfeat saliency` / python -m mgmtfeat.saliency
