"""The one executor: the same results in-process, in a process pool and on a local Dask cluster."""

import math
import os

import numpy as np
import pytest

from mgmtfeat._parallel import InProcess, ProcessPool, SchedulerError, make_executor


def _moments(row, *, X, power):
    """A pure task over one row of a shared matrix; ``fsum`` is exact, so it cannot depend on memory alignment."""
    return math.fsum(X[row] ** power), int(np.argmax(X[row]))


def _fail_on_three(item):
    if item == 3:
        raise ValueError(f"item {item} is bad")
    return item


X = np.random.default_rng(0).normal(size=(12, 20_000))  # 1.9 MB: scattered to Dask, memory-mapped by joblib


def _collect(executor) -> list:
    out = [None] * len(X)
    for index, value in executor.map(_moments, list(range(len(X))), shared={"X": X, "power": 3}):
        assert out[index] is None, "an index came back twice"
        out[index] = value
    return out


def test_in_process_runs_in_order():
    with InProcess() as executor:
        assert [i for i, _ in executor.map(_moments, [0, 1, 2], shared={"X": X, "power": 1})] == [0, 1, 2]
        assert executor.threads_per_worker is None


def test_process_pool_gives_exactly_the_in_process_results():
    with InProcess() as here, ProcessPool(2) as pool:
        assert _collect(pool) == _collect(here)
        assert pool.threads_per_worker == max(1, (os.cpu_count() or 1) // 2)


@pytest.mark.parametrize("executor", [InProcess(), ProcessPool(2)], ids=repr)
def test_a_task_error_comes_back_as_it_is(executor):
    with executor, pytest.raises(ValueError, match="item 3 is bad"):
        list(executor.map(_fail_on_three, list(range(6))))


def test_make_executor_checks_its_arguments():
    assert isinstance(make_executor(), InProcess) and isinstance(make_executor(jobs=2), ProcessPool)
    with pytest.raises(ValueError, match="give one of them"):
        make_executor(jobs=2, scheduler="local:1")
    with pytest.raises(ValueError, match="at least 1"):
        make_executor(jobs=0)
    with pytest.raises(SchedulerError, match="not a scheduler address"):
        make_executor(scheduler="somewhere")


@pytest.mark.slow
def test_local_dask_gives_exactly_the_in_process_results_and_checks_versions_per_task():
    pytest.importorskip("distributed")
    from mgmtfeat._parallel import DaskExecutor

    with InProcess() as here, DaskExecutor("local:1") as dask:
        assert _collect(dask) == _collect(here)
        with pytest.raises(ValueError, match="item 3 is bad"):
            list(dask.map(_fail_on_three, list(range(6))))
        # every task checks its worker's versions, so a worker that joined after the client connected is checked
        dask.expected_versions = {**dask.expected_versions, "torch": "0.0.1"}
        with pytest.raises(SchedulerError, match="torch 0.0.1 here vs .* there"):
            list(dask.map(_moments, [0], shared={"X": X, "power": 1}))
