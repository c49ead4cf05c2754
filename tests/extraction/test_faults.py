"""Faults explained: a full disk during `cv --out`, and a second extraction on a claimed store net."""

import os
import socket

import pytest

from mgmtfeat.cli import cv, extract
from mgmtfeat.data.synthetic import write_cohort
from mgmtfeat.store import FeatureStore

from conftest import failing_after, full_disk, write_random_store

FAST = ["--net", "slowfast", "--weights", "random", "--net-frames", "8", "--net-size", "64", "--threads", "1", "--quiet"]


def test_a_full_disk_names_the_folder_kept_for_resuming_and_how_to_start_over(tmp_path, capsys, monkeypatch):
    from mgmtfeat.experiments import cv_study

    store = write_random_store(tmp_path / "store", n_cases=20)
    out = tmp_path / "results" / "cv"
    argv = ["--features", str(store.root), "--model", "logistic", "--repeats", "1", "--folds", "2", "--out", str(out),
            "--quiet"]
    real, fits = cv_study.estimator_factory, []
    monkeypatch.setattr(cv_study, "estimator_factory", failing_after(real, fits))
    with monkeypatch.context() as full:
        full_disk(full, spare="fold-cache", name_file=False)  # the folds are cached, the results cannot be written
        assert cv.main(argv) == 2
    err = capsys.readouterr().err
    partial = tmp_path / "results" / ".cv.partial"
    assert "No space left on device (ENOSPC)" in err and "named none" not in err
    assert f"{partial}/" in err and "2 finished fold(s)" in err and "run the same command again to resume" in err
    assert f"delete {partial}/ to start over" in err
    assert len(list((partial / "fold-cache").iterdir())) == 2 and len(fits) == 2
    fits.clear()
    assert cv.main(argv) == 0 and fits == []  # resumed: both folds read back, none fitted again
    assert not partial.exists() and (out / "metrics.csv").is_file()


def test_a_full_disk_before_any_fold_says_the_folder_was_removed(tmp_path, capsys, monkeypatch):
    store = write_random_store(tmp_path / "store", n_cases=20)
    full_disk(monkeypatch, name_file=False)
    out = tmp_path / "results" / "cv"
    assert cv.main(["--features", str(store.root), "--model", "logistic", "--repeats", "1", "--folds", "2",
                    "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no fold had finished, so it was removed" in err and "start over" in err
    assert not (tmp_path / "results" / ".cv.partial").exists()


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("data") / "brats", layout="brats2021", n_cases=2, shape=(48, 48, 24),
                        seed=1)


def test_a_second_identical_extraction_is_told_the_truth_about_the_holder(cohort, tmp_path, capsys):
    out = tmp_path / "store"
    assert extract.main(["--data", str(cohort), "--out", str(out), "--limit", "1", *FAST]) == 0
    store = FeatureStore(out)
    with store.claim("slowfast", store.settings_digest("slowfast")) as claim:  # the same command, running
        assert extract.main(["--data", str(cohort), "--out", str(out), *FAST]) == 2
        err = capsys.readouterr().err
        assert f"process {os.getpid()} on host {socket.gethostname()}, started 20" in err and str(claim.path) in err
        assert "same settings as this run" in err and "resumes" in err
        assert "different settings" not in err and "other settings" not in err
        # a run with other settings (--force, another box rule) is told that, and only that
        assert extract.main(["--data", str(cohort), "--out", str(out), *FAST, "--force", "--large-tumour", "centre"]) == 2
        err = capsys.readouterr().err
        assert "It extracts with other settings" in err and "different settings" in err and "same settings" not in err
    assert store.case_ids("slowfast") == [sorted(p.name for p in cohort.iterdir() if p.is_dir())[0]]
