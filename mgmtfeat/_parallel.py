"""One way to fan work out: in this process, in a pool of processes, or on a Dask cluster.

Every step that runs many independent tasks (cases to clip, cases to extract, folds to fit) writes
its loop once, over :meth:`Executor.map`, and lets the caller choose where the tasks run::

    with make_executor(jobs=1, scheduler=None) as executor:
        for index, value in executor.map(task, items, shared={"X": X}):
            ...  # results arrive as they finish; ``index`` is the position in ``items``

``task(item, **shared)`` must be a module-level function (pickled by reference). ``shared`` is sent
to each worker once where the executor can (Dask scatters large arrays, joblib memory-maps them).
State a task keeps for later tasks (a backbone built once) lives in a per-process cache of the
task's own module, keyed by what it depends on.

* :class:`InProcess`: tasks in order, in this process (the default; nothing is pickled).
* :class:`ProcessPool`: ``jobs`` local processes (joblib's loky pool, reused between calls).
* :class:`DaskExecutor`: ``--scheduler local:N`` (a LocalCluster of N processes on 127.0.0.1) or
  ``tcp://host:port`` (a running ``dask scheduler``); Dask is imported only here, only then. Each
  task first checks that its worker runs the client's versions of the packages that shape the
  numbers, so a worker that joins after the client connected is checked too.

This module imports no step of the data flow.
"""

from __future__ import annotations

import contextlib
import importlib.metadata as _metadata
import os
import re
import sys
import uuid
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

__all__ = ["Executor", "InProcess", "ProcessPool", "DaskExecutor", "make_executor", "SchedulerError",
           "TaskKilledError", "parse_scheduler", "dask_client", "check_versions", "worker_threads"]

#: Seconds to wait for a ``tcp://`` scheduler to answer.
CONNECT_TIMEOUT = 5.0
#: Seconds to wait for at least one worker to join a ``tcp://`` scheduler.
WORKER_TIMEOUT = 30.0
#: Packages whose versions must agree between the client and every worker (they shape the numbers).
_PINNED = ("mgmtfeat", "numpy", "torch", "scikit-learn")

_LOCAL = re.compile(r"^local:(\d+)$")
_REMOTE = re.compile(r"^(tcp|tls)://[^\s:/]+:\d+$")


class SchedulerError(ValueError):
    """A Dask scheduler that cannot be parsed, started or reached, or workers that do not fit."""


class TaskKilledError(SchedulerError):
    """A task whose worker processes died under it.

    ``name`` names the task, ``reason`` says what happened and what to do, ``index`` is the task's
    position in the mapped items (None when the pool cannot tell which task it was).
    """

    def __init__(self, name: str, reason: str, index: int | None = None):
        super().__init__(f"{name}: {reason}")
        self.name, self.reason, self.index = name, reason, index


class Executor(Protocol):
    """Where the tasks of one loop run; use it as a context manager (``close`` frees the workers)."""

    #: Torch threads each worker process should use, or None for torch's own choice.
    threads_per_worker: int | None

    def map(self, fn: Callable, items: Sequence, *, shared: Mapping[str, Any] | None = None,
            names: Sequence[str] | None = None) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(items[index], **shared))`` as tasks finish; a task's error is raised as it is."""

    def close(self) -> None:
        """Release the workers."""

    def __enter__(self) -> "Executor": ...

    def __exit__(self, *exc) -> None: ...


class _Closing:
    threads_per_worker: int | None = None

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class InProcess(_Closing):
    """Run every task here, one after the other, in the order of the items."""

    def __repr__(self) -> str:
        return "InProcess()"

    def map(self, fn, items, *, shared=None, names=None):
        shared = dict(shared or {})
        for index, item in enumerate(items):
            yield index, fn(item, **shared)


def _indexed(fn, index, item, shared):
    return index, fn(item, **shared)


class ProcessPool(_Closing):
    """Run the tasks in ``jobs`` worker processes on this machine (joblib's loky pool).

    The pool outlives one call, so a per-process cache (a backbone) serves the following tasks.
    Each worker should use ``cores // jobs`` threads (:attr:`threads_per_worker`).
    """

    def __init__(self, jobs: int):
        if int(jobs) < 2:
            raise ValueError(f"ProcessPool(jobs={jobs}): a pool needs at least 2 processes; use InProcess() for 1.")
        self.jobs = int(jobs)
        self.threads_per_worker = max(1, (os.cpu_count() or 1) // self.jobs)

    def __repr__(self) -> str:
        return f"ProcessPool({self.jobs})"

    def map(self, fn, items, *, shared=None, names=None):
        from joblib import Parallel, delayed
        from joblib.externals.loky.process_executor import TerminatedWorkerError

        shared = dict(shared or {})
        tasks = (delayed(_indexed)(fn, i, item, shared) for i, item in enumerate(items))
        try:
            yield from Parallel(n_jobs=self.jobs, return_as="generator_unordered")(tasks)
        except TerminatedWorkerError as err:
            raise TaskKilledError(
                "a task", f"a worker process of the pool of {self.jobs} died while running it ({err}); a task may need "
                "more memory than this machine has: run again with fewer --jobs.") from None


# -- Dask ---------------------------------------------------------------------------------------
def parse_scheduler(address: str) -> tuple[str, int | str]:
    """Check ``address`` without importing Dask: ``("local", N)`` or ``("remote", address)``.

    Raises
    ------
    SchedulerError
        An address that is neither ``local:N`` (1 <= N <= cores) nor ``tcp://host:port``.
    """
    text = str(address).strip()
    local = _LOCAL.match(text)
    if local:
        n, cores = int(local.group(1)), os.cpu_count() or 1
        if not 1 <= n <= cores:
            raise SchedulerError(
                f"--scheduler {text}: N must be between 1 and the {cores} cores of this machine, so that "
                f"workers x threads does not oversubscribe them; use local:{min(max(n, 1), cores)}."
            )
        return "local", n
    if _REMOTE.match(text):
        return "remote", text
    raise SchedulerError(
        f"--scheduler {text!r} is not a scheduler address; use local:N (N worker processes on this machine) "
        "or tcp://HOST:PORT of a running `dask scheduler` (port 8786 by default)."
    )


def _import_distributed():
    try:
        import distributed
    except ImportError as err:
        raise SchedulerError(
            f"--scheduler needs dask.distributed, which is not installed ({err}); "
            "install it with `pip install 'mgmtfeat[dask]'`."
        ) from None
    return distributed


@contextlib.contextmanager
def dask_client(address: str, *, connect_timeout: float = CONNECT_TIMEOUT,
                worker_timeout: float = WORKER_TIMEOUT) -> Iterator:
    """A ``distributed.Client`` on ``address``, closed (with its LocalCluster) on exit.

    Parameters
    ----------
    address : str
        ``local:N`` or ``tcp://host:port`` (see :func:`parse_scheduler`).
    connect_timeout : float
        Seconds to wait for a remote scheduler before giving up.
    worker_timeout : float
        Seconds to wait for a remote scheduler to have at least one worker.

    Raises
    ------
    SchedulerError
        Dask missing, the scheduler unreachable, no worker, or workers whose mgmtfeat, numpy,
        torch or scikit-learn versions differ from the client's.
    """
    kind, value = parse_scheduler(address)
    distributed = _import_distributed()
    with contextlib.ExitStack() as stack:
        if kind == "local":
            threads = max(1, (os.cpu_count() or 1) // value)
            try:  # 127.0.0.1 only, no dashboards (the scheduler's health page on a free loopback port)
                cluster = stack.enter_context(distributed.LocalCluster(
                    n_workers=value, threads_per_worker=threads, processes=True, host="127.0.0.1",
                    dashboard_address=None, worker_dashboard_address=None, silence_logs=40,
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}))
            except (RuntimeError, OSError, TimeoutError) as err:
                raise SchedulerError(f"could not start a local Dask cluster of {value} workers ({err}).") from err
            client = stack.enter_context(distributed.Client(cluster))
        else:
            try:
                client = stack.enter_context(distributed.Client(value, timeout=connect_timeout))
            except (OSError, TimeoutError) as err:
                raise SchedulerError(
                    f"cannot reach the Dask scheduler at {value} within {connect_timeout:g} s ({err}); start one "
                    "with `dask scheduler --port PORT` on that host and check the host name, port and firewall."
                ) from None
            try:
                client.wait_for_workers(1, timeout=worker_timeout)
            except (TimeoutError, OSError):
                raise SchedulerError(
                    f"the Dask scheduler at {value} has no worker after {worker_timeout:g} s; start some with "
                    f"`dask worker {value} --nthreads T` on each machine."
                ) from None
        check_versions(client)
        yield client


def _versions() -> dict[str, str | None]:
    out = {}
    for package in _PINNED:
        try:
            out[package] = _metadata.version(package)
        except _metadata.PackageNotFoundError:
            out[package] = None
    return out


def _version_difference(mine: Mapping, theirs: Mapping) -> str:
    """``"torch 2.1 here vs 2.2 there, ..."`` for the pinned packages that differ, or ``""``."""
    return ", ".join(f"{k} {mine.get(k)} here vs {theirs.get(k)} there" for k in _PINNED if theirs.get(k) != mine.get(k))


def _mismatch(worker: str, detail: str) -> SchedulerError:
    return SchedulerError(
        f"Dask worker {worker} runs other package versions ({detail}); install the same versions on every worker "
        "so that every case and fold is computed alike."
    )


def check_versions(client) -> None:
    """Raise :class:`SchedulerError` if a worker present now runs other versions of the pinned packages.

    Workers that join later are checked by each task they run (see :class:`DaskExecutor`).
    """
    mine = _versions()
    try:
        theirs = client.run(_versions)
    except ModuleNotFoundError as err:
        raise SchedulerError(f"a Dask worker cannot import mgmtfeat ({err}); install it on every worker.") from None
    for worker, versions in sorted(theirs.items()):
        detail = _version_difference(mine, versions)
        if detail:
            raise _mismatch(worker, detail)


_OWN_VERSIONS: dict[str, str | None] = {}  # this process's versions, read once


def _checked_call(fn, expected: Mapping, item, shared: Mapping):
    """Task wrapper on a Dask worker: refuse to compute with other package versions than the client's."""
    if not _OWN_VERSIONS:
        _OWN_VERSIONS.update(_versions())
    detail = _version_difference(expected, _OWN_VERSIONS)
    if detail:
        from distributed import get_worker

        raise _mismatch(get_worker().address, detail)
    return fn(item, **shared)


def worker_threads() -> int | None:
    """Threads of the Dask worker running the calling task, or None outside a Dask worker."""
    distributed = sys.modules.get("distributed")  # never import Dask just to ask
    if distributed is None:
        return None
    try:
        return max(1, int(distributed.get_worker().state.nthreads))
    except (ValueError, AttributeError):
        return None


class DaskExecutor(_Closing):
    """Run each task as a ``dask.distributed`` task; results come back as they finish.

    Parameters
    ----------
    address : str, optional
        ``local:N`` or ``tcp://host:port``; the client (and a LocalCluster) is closed by :meth:`close`.
    client : distributed.Client, optional
        An open client to use instead (left open by :meth:`close`).

    A worker that dies mid-task has its task rerun on another one by the scheduler; a task that
    kills every worker it runs on raises :class:`TaskKilledError`. ``threads_per_worker`` is None:
    each task asks :func:`worker_threads` on the worker it lands on.
    """

    def __init__(self, address: str | None = None, *, client=None):
        if (address is None) == (client is None):
            raise ValueError("DaskExecutor needs exactly one of address= (local:N or tcp://host:port) or client=.")
        self._stack = contextlib.ExitStack()
        self.client = client if client is not None else self._stack.enter_context(dask_client(address))
        self.expected_versions = _versions()

    def __repr__(self) -> str:
        return f"DaskExecutor({self.client.scheduler.address!r})"

    def close(self) -> None:
        self._stack.close()

    def map(self, fn, items, *, shared=None, names=None):
        import numpy as np
        from distributed import KilledWorker, as_completed

        client = self.client
        # Large arrays go to every worker once, not once per task.
        shared = {k: client.scatter(v, broadcast=True, hash=False) if isinstance(v, np.ndarray) and v.nbytes > 1 << 16
                  else v for k, v in dict(shared or {}).items()}
        run = uuid.uuid4().hex[:8]
        names = list(names) if names is not None else [f"task-{i}" for i in range(len(items))]
        futures = [client.submit(_checked_call, fn, self.expected_versions, item, shared, key=f"{name}-{run}")
                   for name, item in zip(names, items)]
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for future in as_completed(futures):
                i = index[future.key]
                try:
                    value = future.result()  # any other error of the task (a bug, a version mismatch) as it is
                except KilledWorker as err:
                    raise TaskKilledError(
                        names[i], f"its task was running on each of the Dask workers that died ({err}); it may need "
                        "more memory than a worker has (the nanny restarts a worker over its memory limit); run again "
                        "with fewer threads or more memory per worker.", index=i) from None
                future.release()
                yield i, value
        finally:
            client.cancel([f for f in futures if not f.done()])


def make_executor(jobs: int = 1, scheduler: str | None = None) -> Executor:
    """The executor that ``--jobs`` and ``--scheduler`` ask for.

    Parameters
    ----------
    jobs : int
        Worker processes on this machine; 1 runs the tasks in this process.
    scheduler : str, optional
        A Dask scheduler address (see :func:`parse_scheduler`); excludes ``jobs`` > 1.

    Raises
    ------
    ValueError
        ``jobs`` below 1, or both ``jobs`` > 1 and ``scheduler``.
    SchedulerError
        The scheduler cannot be parsed, started or reached.
    """
    if int(jobs) < 1:
        raise ValueError(f"--jobs {jobs}: give at least 1 (1 = in this process).")
    if scheduler:
        if int(jobs) > 1:
            raise ValueError(f"--jobs {jobs} and --scheduler {scheduler} both choose where tasks run; give one of them.")
        return DaskExecutor(scheduler)
    return ProcessPool(jobs) if int(jobs) > 1 else InProcess()
