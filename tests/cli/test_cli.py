"""The one command (`mgmtfeat` / `python -m mgmtfeat`), common options, dry runs and logging."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mgmtfeat import __main__ as entry
from mgmtfeat.cli import cv, experiment, export, extract, make_clips, synthetic
from mgmtfeat.data.synthetic import write_cohort

from conftest import write_random_store

ROOT = Path(__file__).resolve().parents[2]


def _run(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=ROOT)


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        entry.main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == "mgmtfeat 0.1.0"


def test_cv_help_through_the_main_command_names_it_and_lists_registry_models(capsys):
    from mgmtfeat.models import MODELS

    with pytest.raises(SystemExit) as exit_:
        entry.main(["cv", "--help"])
    text = capsys.readouterr().out
    assert exit_.value.code == 0 and text.startswith("usage: mgmtfeat cv ")
    for option in ("--config", "--dry-run", "--log-level", "--log-file", "--set", "--model", "--quiet"):
        assert option in text
    flat = " ".join(text.split())
    assert all(f"{name}: {spec.description}" in flat for name, spec in MODELS.items())


def test_python_dash_m_mgmtfeat_dispatches_and_the_modules_keep_working():
    result = _run("-m", "mgmtfeat", "cv", "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: mgmtfeat cv "), result.stderr
    result = _run("-m", "mgmtfeat.cv", "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: python -m mgmtfeat.cv "), result.stderr
    result = _run("-m", "mgmtfeat", "--version")
    assert result.stdout.strip() == "mgmtfeat 0.1.0"


def test_main_help_lists_every_available_command_and_skips_missing_modules(capsys, monkeypatch):
    monkeypatch.setattr(entry, "COMMANDS", entry.COMMANDS + (("ghost", "no_such_module", "absent here"),))
    with pytest.raises(SystemExit):
        entry.main(["--help"])
    text = capsys.readouterr().out
    for name in ("make-clips", "extract", "cv", "import-published", "synthetic", "export"):
        assert name in text
    assert "ghost" not in text
    with pytest.raises(SystemExit) as exit_:
        entry.main(["ghost"])
    assert exit_.value.code == 2


def test_backbone_names_in_extract_help_come_from_the_registry():
    from mgmtfeat.backbones import list_backbones

    text = extract._parser().format_help()
    for name in list_backbones(all_variants=True):
        assert name in text


def test_console_script_declared():
    text = (ROOT / "setup.cfg").read_text()
    assert "mgmtfeat = mgmtfeat.__main__:main" in text and "kinetics400_labels.txt" in text
    assert (ROOT / "mgmtfeat" / "py.typed").is_file() and "MIT" in (ROOT / "LICENSE").read_text()


def test_dry_runs_write_nothing(tmp_path, capsys):
    data = write_cohort(tmp_path / "brats", "brats2021", n_cases=3, shape=(24, 24, 12), seed=3)
    next(data.glob("*/*_t2.nii.gz")).unlink()
    write_random_store(tmp_path / "features", n_cases=20)
    before = sorted(p for p in tmp_path.rglob("*"))
    assert extract.main(["--data", str(data), "--out", str(tmp_path / "store"), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "3 cases found, layout brats2021" in text and "missing t2" in text and "nothing written" in text
    assert make_clips.main(["--data", str(data), "--out", str(tmp_path / "clips"), "--dry-run"]) == 0
    assert "would make clips for 3 cases" in capsys.readouterr().out
    assert synthetic.main(["--out", str(tmp_path / "cohort"), "--dry-run"]) == 0
    assert "would write 8 brats2021 cases" in capsys.readouterr().out
    assert cv.main(["--features", str(tmp_path / "features"), "--model", "logistic", "--out",
                    str(tmp_path / "cv"), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "20 labelled cases: 10 unmethylated (0), 10 methylated (1)" in text and "4 x 5-fold" in text
    assert "standardised L2 logistic regression" in text
    assert export.main(["--features", str(tmp_path / "features"), "--net", "vivit", "--out",
                        str(tmp_path / "t.csv"), "--dry-run"]) == 0
    assert "would write 20 rows" in capsys.readouterr().out
    assert sorted(p for p in tmp_path.rglob("*")) == before  # no folds file, no output, no settings


@pytest.mark.parametrize("argv, message", [
    (["methods", "--folds", "1"], "--folds must be at least 2 (got 1)"),
    (["methods", "--models", "logistic,nope"], "unknown model(s) nope; choose from snn"),
    (["attention", "--model", "nope"], "unknown model(s) nope; choose from snn"),
    (["all", "--models", "nope"], "unknown model(s) nope; choose from snn"),
    (["methods", "--set", "logistic.nope=1"], "model 'logistic' has no parameter 'nope'"),
])
def test_an_experiment_dry_run_refuses_what_its_run_refuses(argv, message, tmp_path, capsys):
    write_random_store(tmp_path / "features", n_cases=20)
    for dry in (["--dry-run"], []):
        assert experiment.main([*argv, "--features", str(tmp_path / "features"), "--out", str(tmp_path / "out"),
                                *dry]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_dry_run_lists_what_the_store_already_holds(tmp_path, capsys):
    data = write_cohort(tmp_path / "brats", "brats2021", n_cases=2, shape=(24, 24, 12), seed=4)
    store = write_random_store(tmp_path / "store", n_cases=1, net="i3d")
    ids = sorted(p.name for p in data.iterdir() if p.is_dir())
    store.write_case("i3d", ids[0], *store.read_case("i3d", "case000")[:2])
    assert extract.main(["--data", str(data), "--out", str(store.root), "--net", "i3d", "--dry-run"]) == 0
    assert f"(would be skipped): 1: {ids[0]}" in capsys.readouterr().out


def test_log_file_gets_the_command_and_library_messages(tmp_path, capsys):
    write_random_store(tmp_path / "store", n_cases=6, net="custom")
    log = tmp_path / "logs" / "run.log"
    assert export.main(["--features", str(tmp_path / "store"), "--net", "custom", "--out", str(tmp_path / "t.csv"),
                        "--log-level", "INFO", "--log-file", str(log)]) == 0
    text = log.read_text()
    assert "mgmtfeat.export" in text or "export" in text
    assert "INFO mgmtfeat.store.table: net custom has no class names" in text
    assert "settings written to" in text
