"""Dask scale-out: same features and metrics as in-process, a killed worker, clear scheduler errors."""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")

from mgmtfeat.cli import cv, extract  # noqa: E402
from mgmtfeat._parallel import SchedulerError, check_versions, dask_client, parse_scheduler  # noqa: E402
from mgmtfeat.extraction.run import ExtractionSettings, extract_features  # noqa: E402
from mgmtfeat.store import FeatureStore  # noqa: E402
from mgmtfeat.data.synthetic import write_cohort  # noqa: E402

from conftest import assert_same_net, break_case_file, write_random_store  # noqa: E402

N_CASES = 6


def _settings(data: Path, out: Path, **changes) -> ExtractionSettings:
    """A small random-weight SlowFast on short, small inputs; one torch thread, as in each worker here."""
    return replace(ExtractionSettings(data=str(data), out=str(out), net="slowfast", weights="random", threads=1,
                                      num_frames=8, size=64), **changes)


def _children() -> set[int]:
    """Child processes, less multiprocessing's resource tracker (it lives as long as this process)."""
    import psutil

    out = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(p.cmdline()):
                out.add(p.pid)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.fixture(autouse=True)
def no_leaked_processes():
    """Every cluster a test starts is gone when it ends."""
    import psutil

    before = _children()
    yield
    leaked = _children() - before
    deadline = time.time() + 15
    while leaked and time.time() < deadline:
        time.sleep(0.2)
        leaked = {pid for pid in leaked if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"}
    assert not leaked, f"processes left running: {leaked}"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """Six small cases, the third with a truncated T1wCE file (a data failure)."""
    root = write_cohort(tmp_path_factory.mktemp("data") / "brats", layout="brats2021", n_cases=N_CASES,
                        shape=(48, 48, 24), seed=3)
    break_case_file(root, 2, "t1ce")
    return root


@pytest.fixture(scope="module")
def reference(cohort, tmp_path_factory) -> Path:
    """The in-process store of ``cohort``."""
    out = tmp_path_factory.mktemp("reference") / "store"
    report = extract_features(_settings(cohort, out), progress=False)
    assert len(report.done) == N_CASES - 1 and len(report.failed) == 1
    return out


def _assert_same_store(expected: Path, actual: Path, net: str = "slowfast") -> None:
    assert_same_net(expected, actual, net)
    assert len(FeatureStore(actual).case_ids(net)) == N_CASES - 1
    assert (expected / net / "failures.csv").read_text() == (actual / net / "failures.csv").read_text()
    assert not list((actual / net).rglob("*.tmp")), "a temporary file was left in the store"


def test_scheduler_addresses_are_checked_without_dask():
    assert parse_scheduler("local:1") == ("local", 1)
    assert parse_scheduler("tcp://10.0.0.5:8786") == ("remote", "tcp://10.0.0.5:8786")
    with pytest.raises(SchedulerError, match="local:N"):
        parse_scheduler("10.0.0.5:8786")
    with pytest.raises(SchedulerError, match="between 1 and"):
        parse_scheduler(f"local:{(os.cpu_count() or 1) + 1}")
    with pytest.raises(SchedulerError, match="between 1 and"):
        parse_scheduler("local:0")


def test_help_and_bad_address(capsys):
    for main in (extract.main, cv.main):
        with pytest.raises(SystemExit):
            main(["--help"])
        assert "--scheduler" in capsys.readouterr().out
    assert cv.main(["--scheduler", "local:1", "--jobs", "2"]) == 2
    assert "give one of them" in capsys.readouterr().err
    assert extract.main(["--data", "x", "--scheduler", "somewhere"]) == 2
    assert "not a scheduler address" in capsys.readouterr().err


def test_unreachable_scheduler_is_a_clear_error(tmp_path, capsys):
    with socket.socket() as s:  # a port on which nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    with pytest.raises(SchedulerError, match=f"cannot reach the Dask scheduler at {address} within 2 s"):
        with dask_client(address, connect_timeout=2):
            pass
    store = write_random_store(tmp_path / "store", n_cases=10)
    assert cv.main(["--features", str(store.root), "--model", "logistic", "--folds", "2", "--repeats", "1",
                    "--out", str(tmp_path / "cv"), "--scheduler", address, "--quiet"]) == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
    assert not (tmp_path / "cv").exists()


@pytest.mark.slow
def test_without_scheduler_dask_is_never_imported(cohort, tmp_path):
    store = write_random_store(tmp_path / "store", n_cases=10)
    code = (
        "import sys\n"
        "from mgmtfeat import cv\n"
        "from mgmtfeat.extraction.run import ExtractionSettings, extract_features\n"
        f"settings = ExtractionSettings(data={str(cohort)!r}, out={str(tmp_path / 'x')!r}, net='slowfast', "
        "weights='random', threads=1, num_frames=8, size=64, limit=1)\n"
        "assert len(extract_features(settings, progress=False).done) == 1\n"
        f"assert cv.main(['--features', {str(store.root)!r}, '--model', 'logistic', '--folds', '2', '--repeats', '1',"
        f" '--out', {str(tmp_path / 'cv')!r}, '--quiet']) == 0\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_local_cluster_listens_on_loopback_only_and_checks_versions(monkeypatch):
    import psutil

    with dask_client("local:2") as client:
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 2 and {w["nthreads"] for w in workers.values()} == {max(1, os.cpu_count() // 2)}
        pids = [os.getpid(), *client.run(os.getpid).values()]
        listening = [c.laddr for pid in pids for c in psutil.Process(pid).net_connections("inet")
                     if c.status == psutil.CONN_LISTEN]
        assert listening and {addr.ip for addr in listening} <= {"127.0.0.1"}, listening
        import importlib.metadata

        real = importlib.metadata.version  # patched here only; the workers report their own versions
        monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.0.1" if name == "torch" else real(name))
        with pytest.raises(SchedulerError, match="torch 0.0.1 here vs"):
            check_versions(client)


@pytest.mark.slow
def test_local_extraction_gives_exactly_the_in_process_store(cohort, reference, tmp_path):
    out = tmp_path / "store"
    finished = []
    report = extract_features(_settings(cohort, out, scheduler="local:2"), progress=False, on_case=finished.append)
    assert (len(report.done), len(report.skipped), len(report.failed)) == (N_CASES - 1, 0, 1)
    assert sorted(finished) == sorted(report.done)
    _assert_same_store(reference, out)
    failures = pd.read_csv(out / "slowfast" / "failures.csv")
    assert len(failures) == 1 and "t1ce" in failures["file"].iloc[0]  # recorded once, not retried
    # resumable as in-process: a second run has nothing left but the failed case, which fails again
    report = extract_features(_settings(cohort, out, scheduler="local:2"), progress=False)
    assert (len(report.done), len(report.skipped), len(report.failed)) == (0, N_CASES - 1, 1)
    _assert_same_store(reference, out)


@pytest.mark.slow
def test_a_worker_killed_mid_case_is_replaced_and_the_store_is_still_exact(cohort, reference, tmp_path):
    from distributed import Client, LocalCluster

    out = tmp_path / "store"
    killed = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                      silence_logs=50, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster, \
            Client(cluster) as observer:

        def kill_a_busy_worker(case_id):
            if killed:
                return
            deadline = time.time() + 30
            while time.time() < deadline:
                busy = [w for w, keys in observer.processing().items() if keys]
                if busy:
                    pid = observer.run(os.getpid, workers=busy[:1])[busy[0]]
                    os.kill(pid, signal.SIGKILL)
                    killed.append((pid, case_id))
                    return
                time.sleep(0.01)

        settings = _settings(cohort, out, scheduler=cluster.scheduler_address)
        report = extract_features(settings, progress=False, on_case=kill_a_busy_worker)
        started = observer.run_on_scheduler(
            lambda dask_scheduler: [t[0] for t in dask_scheduler.transition_log if t[2] == "processing"])
    assert killed, "no worker was killed"
    assert len(report.done) == N_CASES - 1 and len(report.failed) == 1
    extract_keys = [str(k) for k in started if str(k).startswith("extract-")]
    assert len(extract_keys) > len(set(extract_keys)), "no task was run again after the kill"
    _assert_same_store(reference, out)


@pytest.mark.slow
def test_local_cross_validation_gives_exactly_the_in_process_metrics(tmp_path):
    store = write_random_store(tmp_path / "store", n_cases=40, signal=0.8)
    base = ["--features", str(store.root), "--model", "logistic,snn-conv", "--folds", "2", "--repeats", "2", "--quiet"]
    assert cv.main([*base, "--out", str(tmp_path / "here")]) == 0
    assert cv.main([*base, "--out", str(tmp_path / "dask"), "--scheduler", "local:2"]) == 0
    here, there = tmp_path / "here", tmp_path / "dask"
    metrics = pd.read_csv(here / "metrics.csv")
    assert len(metrics) == 8
    pd.testing.assert_frame_equal(metrics.drop(columns="fit_seconds"),
                                  pd.read_csv(there / "metrics.csv").drop(columns="fit_seconds"))
    for name in ("predictions.csv", "attention.csv", "folds.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(here / name), pd.read_csv(there / name))


@pytest.mark.slow
def test_a_case_that_keeps_killing_workers_stops_with_a_clear_error_and_keeps_the_rest(cohort, reference, tmp_path):
    import dask
    from distributed import Client, LocalCluster

    out = tmp_path / "store"
    # no second chance: the first worker death counts as the case killing every worker it ran on
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                         silence_logs=50, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster, \
            Client(cluster) as observer:

        def kill_a_busy_worker(case_id):
            busy = [w for w, keys in observer.processing().items() if keys]
            if busy:
                os.kill(observer.run(os.getpid, workers=busy[:1])[busy[0]], signal.SIGKILL)

        with pytest.raises(SchedulerError, match="its task was running on each of the Dask workers that died"):
            extract_features(_settings(cohort, out, scheduler=cluster.scheduler_address), progress=False,
                             on_case=kill_a_busy_worker)
    stored = FeatureStore(out).case_ids("slowfast")
    assert 1 <= len(stored) < N_CASES - 1  # the cases finished before the error are kept, and they are right
    for case_id in stored:
        expected = FeatureStore(reference).read_case("slowfast", case_id)[0]
        actual = FeatureStore(out).read_case("slowfast", case_id)[0]
        for modality in expected:
            np.testing.assert_array_equal(expected[modality], actual[modality])


def test_extract_command_passes_the_scheduler_on(monkeypatch, tmp_path, capsys):
    import mgmtfeat.extraction.run as extraction

    seen = []

    def fake_extract_features(settings, progress=True, on_case=None):
        seen.append(settings)
        return extraction.ExtractionReport()

    monkeypatch.setattr(extraction, "extract_features", fake_extract_features)
    assert extract.main(["--data", str(tmp_path), "--out", str(tmp_path / "store"), "--scheduler", "local:1",
                         "--quiet"]) == 0
    assert [s.scheduler for s in seen] == ["local:1"]
