"""Scale-out on Dask: feature extraction and cross-validation as ``dask.distributed`` tasks.

Used when ``--scheduler ADDRESS`` is given to ``python -m mgmtfeat.extract`` or ``python -m
mgmtfeat.cv``; Dask is imported only then (``pip install mgmtfeat[dask]``).

``ADDRESS`` is ``local:N`` (a LocalCluster of N worker processes on this machine, listening on
127.0.0.1 only, with ``cores // N`` threads each) or ``tcp://host:port`` (a running ``dask
scheduler`` with ``dask worker`` processes attached).

Extraction runs one task per case (all five clips). Each worker process builds the backbone once
and keeps it for the following cases; a case runs on all of the worker's threads (torch threads =
the worker's Dask threads, or ``--threads``), one case at a time per process. Workers only read
the data folder and return the 5 x 400 logits; the client writes them into the store through the
store's atomic write, so a task that runs twice (after a worker died) still leaves one entry, and
the store needs to be reachable from the client only. A case that fails for a data reason
(:class:`~mgmtfeat.data.errors.CaseError`) comes back as a value, is written once to
``failures.csv`` and is not retried; a worker that dies mid-case has its task rerun elsewhere by
the scheduler.

Cross-validation runs one task per (model, repeat, fold), the feature matrix sent once per worker;
each task runs :func:`mgmtfeat.evaluation._run_fold` with the seed the in-process run uses, so the
metrics are the same.
"""

from __future__ import annotations

import contextlib
import importlib.metadata as _metadata
import os
import re
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

__all__ = ["SchedulerError", "parse_scheduler", "dask_client", "check_versions", "extract_distributed", "map_folds"]

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


def check_versions(client) -> None:
    """Raise :class:`SchedulerError` if a worker runs other versions of the pinned packages.

    Checked on the workers present when the client connects; start every worker before the run.
    """
    mine = _versions()
    try:
        theirs = client.run(_versions)
    except ModuleNotFoundError as err:
        raise SchedulerError(f"a Dask worker cannot import mgmtfeat ({err}); install it on every worker.") from None
    for worker, versions in sorted(theirs.items()):
        diff = {k: (mine[k], versions.get(k)) for k in _PINNED if versions.get(k) != mine[k]}
        if diff:
            detail = ", ".join(f"{k} {a} here vs {b} there" for k, (a, b) in diff.items())
            raise SchedulerError(
                f"Dask worker {worker} runs other package versions ({detail}); install the same versions on "
                "every worker so that every case and fold is computed alike."
            )


# -- extraction: worker side ------------------------------------------------------------------
_BACKBONE: dict[tuple, object] = {}  # one backbone per worker process, keyed by its settings
_BACKBONE_LOCK = threading.Lock()  # also makes a process run one case at a time on all its threads


def _backbone_key(settings) -> tuple:
    return (settings.net, settings.weights, settings.dtype, settings.device, settings.threads,
            settings.num_frames, settings.size)


def _worker_threads() -> int:
    from distributed import get_worker

    try:
        return max(1, int(get_worker().state.nthreads))
    except (ValueError, AttributeError):  # not inside a worker (a direct call)
        return 1


def _cached_backbone(settings):
    """The backbone of ``settings`` in this process, built on first use. Call under the lock."""
    from mgmtfeat.extraction.run import open_backbone

    if settings.threads is None:
        settings = replace(settings, threads=_worker_threads())
    key = _backbone_key(settings)
    if key not in _BACKBONE:
        _BACKBONE.clear()  # one network per process at a time, to bound the worker's memory
        _BACKBONE[key] = open_backbone(settings)
    return _BACKBONE[key]


def worker_provenance(settings) -> dict:
    """Provenance of the backbone as a worker builds it (and keeps it for the cases to come)."""
    from mgmtfeat.extraction.run import _provenance

    with _BACKBONE_LOCK:
        return _provenance(_cached_backbone(settings), settings)


def extract_case(ref, settings, boxes=None) -> dict:
    """Task: features of one case, or its data failure, as a plain dictionary.

    Returns
    -------
    dict
        ``case_id``; then either ``features`` ({modality: (400,) float32}), ``meta`` and ``seconds``,
        or ``failure`` ({case_id, file, reason}) when the case fails for a data reason.
    """
    from mgmtfeat.data.errors import CaseError
    from mgmtfeat.extraction.run import case_features

    with _BACKBONE_LOCK:
        backbone = _cached_backbone(settings)
        try:
            features, meta, seconds = case_features(ref, backbone, settings.clip_settings, boxes)
        except CaseError as err:  # a data reason: report it, do not let Dask retry it
            return {"case_id": ref.case_id, "failure": {"case_id": err.case_id, "file": err.file, "reason": err.reason}}
    return {"case_id": ref.case_id, "features": features, "meta": meta, "seconds": seconds}


def _check_data_visible(data: str) -> bool:
    return Path(data).is_dir()


# -- extraction: client side ------------------------------------------------------------------
def extract_distributed(settings, progress: bool = True, on_case: Callable[[str], None] | None = None):
    """:func:`mgmtfeat.extraction.run.extract_features` with one Dask task per case.

    ``settings.scheduler`` names the cluster. The data folder must be at the same absolute path on
    every worker; the store is written by this process only.

    Returns
    -------
    mgmtfeat.extraction.run.ExtractionReport
        ``done`` in completion order, ``failed`` sorted by case id; ``seconds`` sums the workers'
        per-case times, ``total`` is the wall time.

    Raises
    ------
    SchedulerError
        The scheduler cannot be reached or a worker cannot see the data folder.
    ValueError
        As :func:`~mgmtfeat.extraction.run.extract_features`.
    """
    from tqdm.auto import tqdm

    from mgmtfeat.backbones import get_weights_config
    from mgmtfeat.clips import read_box_csv
    from mgmtfeat.extraction.run import ExtractionReport, select_cases, write_failures
    from mgmtfeat.store import FeatureStore

    get_weights_config(settings.net)  # an unknown net fails before any cluster starts
    address = settings.scheduler
    # Workers may run elsewhere: give them absolute paths.
    settings = replace(settings, data=str(Path(settings.data).resolve()), scheduler=None,
                       boxes=str(Path(settings.boxes).resolve()) if settings.boxes else None)
    refs = select_cases(settings)
    boxes = read_box_csv(settings.boxes) if settings.boxes else None
    store = FeatureStore(settings.out)
    failures_path = store.root / settings.net / "failures.csv"
    report = ExtractionReport()
    todo = [r for r in refs if settings.force or not store.has_case(settings.net, r.case_id)]
    report.skipped = [r.case_id for r in refs if r not in todo]
    with dask_client(address) as client:
        blind = sorted(w for w, ok in client.run(_check_data_visible, settings.data).items() if not ok)
        if blind:
            raise SchedulerError(
                f"Dask worker(s) {', '.join(blind)} cannot see the data folder {settings.data}; the data must be at "
                "the same absolute path on every worker (a shared or copied folder)."
            )
        provenance = client.submit(worker_provenance, settings, pure=False).result()
        store.write_provenance(settings.net, provenance, replace=settings.force)
        start = time.perf_counter()
        boxes_arg = client.scatter(boxes, broadcast=True) if boxes is not None else None
        run = uuid.uuid4().hex[:8]
        futures = [client.submit(extract_case, ref, settings, boxes_arg,
                                 key=f"extract-{settings.net}-{ref.case_id}-{run}") for ref in todo]
        by_key = {f.key: ref for f, ref in zip(futures, todo)}
        try:
            with tqdm(total=len(todo), desc=f"extract {settings.net}", unit="case", disable=not progress) as bar:
                for future in _as_completed(futures):
                    ref = by_key[future.key]
                    result = _result(future, ref.case_id)
                    future.release()
                    bar.update()
                    bar.set_postfix_str(ref.case_id)
                    if "failure" in result:
                        report.failed.append(result["failure"])
                        write_failures(failures_path, sorted(report.failed, key=lambda f: f["case_id"]))
                        continue
                    store.write_case(settings.net, ref.case_id, result["features"], ref.label, result["meta"])
                    for step, value in result["seconds"].items():
                        report.seconds[step] += value
                    report.done.append(ref.case_id)
                    if on_case:
                        on_case(ref.case_id)
        finally:
            client.cancel([f for f in futures if not f.done()])
    report.seconds["total"] = time.perf_counter() - start
    report.failed.sort(key=lambda f: f["case_id"])
    write_failures(failures_path, report.failed)
    return report


def _result(future, case_id: str):
    """The task's value; a case that kept killing workers becomes a :class:`SchedulerError`."""
    from distributed import KilledWorker

    try:
        return future.result()  # any other error of the task (a bug) is raised as it is
    except KilledWorker as err:
        raise SchedulerError(
            f"case {case_id}: its task was running on each of the Dask workers that died ({err}); it may need more "
            "memory than a worker has (the nanny restarts a worker over its memory limit). The cases finished so far "
            "are in the store; run again, with fewer threads or more memory per worker, to resume."
        ) from None


def _as_completed(futures):
    from distributed import as_completed

    return as_completed(futures)


# -- cross-validation -------------------------------------------------------------------------
def map_folds(client, run_fold: Callable, args: Sequence[tuple], progress: Callable | None = None) -> list:
    """``[run_fold(*a) for a in args]`` as one Dask task per element, results in the order of ``args``.

    Arrays shared by several tasks (the feature matrix, the labels) are sent to the workers once.

    Parameters
    ----------
    client : distributed.Client
    run_fold : callable
        A module-level function (pickled by reference), e.g. :func:`mgmtfeat.evaluation._run_fold`.
    args : sequence of tuple
        Positional arguments of each task.
    progress : callable, optional
        Called with no argument after each finished task.
    """
    import numpy as np

    shared: dict[int, object] = {}
    for a in args:
        for value in a:
            if isinstance(value, np.ndarray) and value.nbytes > 1 << 16 and id(value) not in shared:
                shared[id(value)] = client.scatter(value, broadcast=True, hash=False)
    run = uuid.uuid4().hex[:8]
    futures = [client.submit(run_fold, *[shared.get(id(v), v) for v in a], key=f"fold-{i}-{run}")
               for i, a in enumerate(args)]
    try:
        for future in _as_completed(futures):
            future.result()  # raises the task's error at once
            if progress:
                progress()
        return client.gather(futures)
    finally:
        client.cancel([f for f in futures if not f.done()])
