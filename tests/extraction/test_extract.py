"""Extraction: synthetic cohort -> clips -> backbone -> store; resume after a kill; failures go on."""

import contextlib
import errno
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from mgmtfeat.cli import extract
from mgmtfeat.store import FeatureStore
from mgmtfeat.data.synthetic import write_cohort

from conftest import break_case_file

# a small random-weight SlowFast on short, small inputs keeps these tests fast
FAST = ["--net", "slowfast", "--weights", "random", "--net-frames", "8", "--net-size", "64", "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("data") / "brats", layout="brats2021", n_cases=5, shape=(48, 48, 24), seed=1)


def _features(root: Path, net: str = "slowfast") -> dict:
    store = FeatureStore(root)
    return {case_id: store.read_case(net, case_id)[0] for case_id in store.case_ids(net)}


def test_extracts_every_case_into_a_store_that_cv_reads(cohort, tmp_path, capsys):
    out = tmp_path / "store"
    assert extract.main(["--data", str(cohort), "--out", str(out), *FAST]) == 0
    assert "5 cases extracted, 0 already in the store, 0 failed" in capsys.readouterr().out
    store = FeatureStore(out)
    data = store.load("slowfast")
    assert data.X.shape == (5, 5, 400) and set(data.y) == {0, 1}
    provenance = store.provenance("slowfast")
    assert provenance["random_weights"] is True and provenance["clips"]["n_frames"] == 150
    _, _, meta = store.read_case("slowfast", data.case_ids[0])
    assert meta["layout"] == "brats2021" and meta["box_source"] == ["seg"]
    # a second run skips everything
    assert extract.main(["--data", str(cohort), "--out", str(out), *FAST]) == 0
    assert "0 cases extracted, 5 already in the store" in capsys.readouterr().out
    from mgmtfeat.cli import cv

    assert cv.main(["--features", str(out), "--net", "slowfast", "--model", "logistic", "--folds", "2", "--repeats", "1",
                    "--out", str(tmp_path / "cv"), "--quiet"]) == 0


def test_other_settings_are_refused_without_force(cohort, tmp_path, capsys):
    out = tmp_path / "store"
    assert extract.main(["--data", str(cohort), "--out", str(out), "--limit", "1", *FAST]) == 0
    assert extract.main(["--data", str(cohort), "--out", str(out), "--limit", "1", *FAST, "--large-tumour", "centre"]) == 2
    assert "made with other settings" in capsys.readouterr().err


def test_a_broken_case_is_recorded_and_the_rest_go_on(cohort, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(cohort, data)
    victim = break_case_file(data, 1, "t1ce")
    out = tmp_path / "store"
    assert extract.main(["--data", str(data), "--out", str(out), *FAST]) == 1
    assert len(FeatureStore(out).case_ids("slowfast")) == 4
    report = (out / "slowfast" / "failures.csv").read_text()
    assert victim in report and "t1ce" in report
    assert f"failed: case {victim}" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [(["--net", "nope"], "known backbones: i3d"),
                                           ([], "no cases in")])
def test_bad_arguments(tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    base = ["--data", str(tmp_path / "empty"), "--out", str(tmp_path / "store")]
    assert extract.main(base + argv + ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err
    assert not (tmp_path / "store").exists()


@pytest.mark.slow
def test_killed_run_resumes_to_exactly_the_uninterrupted_features(cohort, tmp_path):
    reference = tmp_path / "reference"
    assert extract.main(["--data", str(cohort), "--out", str(reference), *FAST]) == 0
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "mgmtfeat.extract", "--data", str(cohort), "--out", str(killed), *FAST]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cases = killed / "slowfast" / "cases"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(cases.glob("*.npz"))) < 2 and process.poll() is None:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    n_before = len(FeatureStore(killed).case_ids("slowfast"))
    assert 2 <= n_before < 5, "the run must be killed midway"
    assert extract.main(["--data", str(cohort), "--out", str(killed), *FAST]) == 0
    expected, resumed = _features(reference), _features(killed)
    assert expected.keys() == resumed.keys()
    for case_id in expected:
        for modality in expected[case_id]:
            np.testing.assert_array_equal(expected[case_id][modality], resumed[case_id][modality])


def test_any_clip_frame_count_works_end_to_end(cohort, tmp_path, capsys):
    out = tmp_path / "store"
    assert extract.main(["--data", str(cohort), "--out", str(out), "--limit", "2", "--frames", "12", *FAST]) == 0
    store = FeatureStore(out)
    assert store.provenance("slowfast")["clips"]["n_frames"] == 12 and len(store.case_ids("slowfast")) == 2
    assert store.load("slowfast").X.shape == (2, 5, 400)


def test_a_run_that_stops_at_its_first_case_leaves_no_provenance(cohort, tmp_path, monkeypatch, capsys):
    import mgmtfeat.extraction.worker as worker

    def broken(*args, **kwargs):
        raise ValueError("this backbone cannot take these clips")

    out = tmp_path / "store"
    with monkeypatch.context() as patch:
        patch.setattr(worker, "nets_features", broken)
        assert extract.main(["--data", str(cohort), "--out", str(out), "--frames", "12", *FAST]) == 2
    assert "cannot take these clips" in capsys.readouterr().err
    assert not (out / "slowfast" / "provenance.json").exists()
    # the corrected command (other clip settings) runs without --force
    assert extract.main(["--data", str(cohort), "--out", str(out), "--limit", "1", *FAST]) == 0
    assert FeatureStore(out).provenance("slowfast")["clips"]["n_frames"] == 150


def test_a_resumed_run_with_nothing_to_do_reports_no_timing(cohort, tmp_path, capsys):
    out = tmp_path / "store"
    assert extract.main(["--data", str(cohort), "--out", str(out), "--limit", "1", *FAST]) == 0
    capsys.readouterr()
    assert extract.main(["--data", str(cohort), "--out", str(out), "--limit", "1", *FAST]) == 0
    printed = capsys.readouterr().out
    assert "0 cases extracted, 1 already in the store, 0 failed" in printed and "nan" not in printed


def test_process_pool_gives_exactly_the_in_process_store(cohort, tmp_path):
    assert extract.main(["--data", str(cohort), "--out", str(tmp_path / "here"), "--limit", "3", *FAST]) == 0
    assert extract.main(["--data", str(cohort), "--out", str(tmp_path / "pool"), "--limit", "3", "--jobs", "2",
                         *FAST]) == 0
    expected, actual = _features(tmp_path / "here"), _features(tmp_path / "pool")
    assert expected.keys() == actual.keys() and len(expected) == 3
    for case_id in expected:
        for modality in expected[case_id]:
            np.testing.assert_array_equal(expected[case_id][modality], actual[case_id][modality])


# -- hardening: one extraction per net, damaged entries redone, read-only stores, first-case failure --

def test_a_second_extraction_on_the_same_net_is_refused(cohort, tmp_path, capsys):
    out = tmp_path / "store"
    store = FeatureStore(out)
    with store.claim("slowfast") as claim:  # another extraction is running on this net
        for extra in ([], ["--force", "--large-tumour", "centre"]):
            assert extract.main(["--data", str(cohort), "--out", str(out), "--limit", "1", *FAST, *extra]) == 2
            err = capsys.readouterr().err
            assert str(claim.path) in err and "another extraction of slowfast" in err and "delete" in err
        assert store.case_ids("slowfast") == [] and store.nets() == []
    assert extract.main(["--data", str(cohort), "--out", str(out), "--limit", "1", *FAST]) == 0
    assert not claim.path.exists()  # released at the end of the run


def test_a_damaged_entry_is_redone_on_resume_with_a_warning(cohort, tmp_path, capsys, caplog):
    out = tmp_path / "store"
    assert extract.main(["--data", str(cohort), "--out", str(out), "--limit", "2", *FAST]) == 0
    store = FeatureStore(out)
    first, second = store.case_ids("slowfast")
    expected = store.read_case("slowfast", second)[0]
    store.case_path("slowfast", second).write_bytes(b"")  # a 0-byte entry (disk full, killed copy)
    capsys.readouterr()
    with caplog.at_level("WARNING", logger="mgmtfeat"):
        assert extract.main(["--data", str(cohort), "--out", str(out), "--limit", "2", *FAST]) == 0
    assert "1 cases extracted, 1 already in the store" in capsys.readouterr().out
    assert f"{second}.npz: damaged feature entry" in caplog.text and f"extracting case {second} again" in caplog.text
    np.testing.assert_array_equal(store.read_case("slowfast", second)[0]["t1ce"], expected["t1ce"])


def test_each_entry_records_the_digest_of_its_run(cohort, tmp_path):
    out = tmp_path / "store"
    assert extract.main(["--data", str(cohort), "--out", str(out), "--limit", "1", *FAST]) == 0
    store = FeatureStore(out)
    with np.load(store.case_path("slowfast", store.case_ids("slowfast")[0])) as npz:
        assert str(npz["settings_digest"]) == store.provenance("slowfast")["settings_digest"]


@contextlib.contextmanager
def read_only(root: Path, monkeypatch):
    """Make ``root`` read-only: chmod, or, where that cannot stop the user (root), refuse its writes."""
    paths = [root, *root.rglob("*")]
    if os.geteuid() != 0:
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            for path in paths:
                path.chmod(0o755 if path.is_dir() else 0o644)
        return

    def inside(path) -> bool:
        return str(Path(path).resolve()).startswith(str(root.resolve()))

    def refuse(path):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    real_mkstemp, real_open = tempfile.mkstemp, os.open

    def mkstemp(*args, dir=None, **kwargs):
        return refuse(dir) if dir is not None and inside(dir) else real_mkstemp(*args, dir=dir, **kwargs)

    def os_open(path, flags, *args, **kwargs):
        return refuse(path) if flags & os.O_CREAT and inside(path) else real_open(path, flags, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(tempfile, "mkstemp", mkstemp)
        patch.setattr(os, "open", os_open)
        yield


def test_a_complete_read_only_store_resumes_with_nothing_to_do(cohort, tmp_path, capsys, monkeypatch):
    out = tmp_path / "store"
    assert extract.main(["--data", str(cohort), "--out", str(out), "--limit", "1", *FAST]) == 0
    capsys.readouterr()
    with read_only(out, monkeypatch):
        assert extract.main(["--data", str(cohort), "--out", str(out), "--limit", "1", *FAST]) == 0
        assert "0 cases extracted, 1 already in the store" in capsys.readouterr().out
        # with work to do, the store's permissions are named (no traceback)
        assert extract.main(["--data", str(cohort), "--out", str(out), "--limit", "2", *FAST]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and "Permission denied (EACCES)" in err and str(out) in err
        assert "write permission" in err


def test_a_failing_first_case_leaves_no_provenance(cohort, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(cohort, data)
    first = sorted(data.glob("BraTS2021_*"))[0]
    (first / f"{first.name}_t1.nii.gz").write_bytes(b"")  # a data failure, recorded in failures.csv
    out = tmp_path / "store"
    assert extract.main(["--data", str(data), "--out", str(out), "--limit", "1", *FAST]) == 1
    assert first.name in (out / "slowfast" / "failures.csv").read_text()
    assert not (out / "slowfast" / "provenance.json").exists() and FeatureStore(out).nets() == []
    assert not (out / "slowfast" / "extract.lock").exists()


def test_dtype_auto_is_resolved_once_and_a_resumed_store_keeps_its_dtype(tmp_path, monkeypatch):
    """--dtype auto: float32 on a CPU without native bfloat16; a store keeps the dtype it was made with."""
    from mgmtfeat.backbones import cpu
    from mgmtfeat.extraction.nets import run_dtype
    from mgmtfeat.extraction.run import ExtractionSettings

    store = FeatureStore(tmp_path / "store")
    settings = ExtractionSettings(data=str(tmp_path), out=str(store.root), net="i3d", dtype="auto")
    monkeypatch.setattr(cpu, "native_bfloat16", lambda: False)
    assert run_dtype(store, settings) == "float32"
    monkeypatch.setattr(cpu, "native_bfloat16", lambda: True)
    assert run_dtype(store, settings) == "bfloat16"  # I3D's recorded bfloat16 CCC is 0.9999
    store.write_provenance("i3d", {"weights": "random test features", "dtype": "float32"})
    assert run_dtype(store, settings) == "float32"  # made in float32 on another machine: stays so
    assert run_dtype(store, settings.__class__(**{**settings.__dict__, "force": True})) == "bfloat16"
    assert run_dtype(store, settings.__class__(**{**settings.__dict__, "dtype": "float32"})) == "float32"


def test_an_image_network_is_refused_by_the_clip_pathway(tmp_path, capsys):
    assert extract.main(["--data", str(tmp_path), "--out", str(tmp_path / "s"), "--net", "resnet50"]) == 2
    assert "image (2D) network taking slices" in capsys.readouterr().err
