"""Feature extraction: dataset folder -> clips -> backbone -> feature store, resumably.

Each case is read, turned into its five clips, and the five clips run through the backbone as one
batch; the 400 logits per clip land in the store through its atomic write. Cases already in the
store are skipped, so a killed run loses at most the cases in flight and resumes where it stopped;
an entry that is damaged or was made with other settings is redone, with a warning. A case that
fails for a data reason is recorded in the store's failures table and the run goes on. While it
writes, a run holds the net's claim file (``STORE/NET/extract.lock``), so a second extraction on the
same store and net is refused instead of mixing entries made with different settings.
The cases run in this process, in a process pool or on a Dask cluster (:mod:`mgmtfeat._parallel`);
the loop below is the same for all three.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence


from mgmtfeat import MODALITIES
from mgmtfeat.clips import ClipSettings, make_clips, read_box_csv, stack
from mgmtfeat.clips.slices import SliceSettings
from mgmtfeat.data.layouts import CaseRef
from mgmtfeat.data.errors import CaseError
from mgmtfeat._parallel import Executor, TaskKilledError, make_executor, worker_threads
from mgmtfeat.store import FeatureStore
from mgmtfeat.store.integrity import settings_digest
from mgmtfeat.extraction._common import ExtractionReport, _usable, select_cases
from mgmtfeat.data.volumes import load_case

log = logging.getLogger(__name__)

__all__ = ["ExtractionSettings", "ExtractionReport", "extract_features", "case_features", "open_backbone",
           "extract_case", "backbone_provenance"]


@dataclass
class ExtractionSettings:
    """What one ``python -m mgmtfeat.extract`` run does (see its ``--help`` for each field)."""

    data: str
    out: str
    net: str = "i3d"
    weights: str | None = None
    dtype: str = "auto"  # bfloat16 where the CPU has it natively and the net's recorded CCC allows
    device: str = "cpu"
    threads: int | None = None
    limit: int | None = None
    exclude: Sequence[str] = ()
    labels: str | None = None
    boxes: str | None = None
    clip_settings: ClipSettings = field(default_factory=ClipSettings)
    num_frames: int | None = None
    size: int | None = None
    force: bool = False
    jobs: int = 1  # worker processes on this machine (1 = in this process)
    scheduler: str | None = None  # Dask scheduler ("local:N" or "tcp://host:port"); excludes jobs > 1
    radiomics_params: str | None = None  # net "radiomics": pyradiomics params YAML (default: the shipped one)
    radiomics_labels: tuple[int, ...] | None = None  # net "radiomics": mask labels (None: whole tumour)
    slices: SliceSettings | None = None  # the slice pathway (2D nets, one embedding per ROI slice); None: clips


def open_backbone(settings: ExtractionSettings):
    """The backbone named in ``settings``, loaded once for the whole run."""
    from mgmtfeat.backbones import create_backbone

    return create_backbone(settings.net, weights=settings.weights, device=settings.device, dtype=settings.dtype,
                           threads=settings.threads, num_frames=settings.num_frames, size=settings.size)


def _dtype(store: FeatureStore, settings: ExtractionSettings) -> str:
    """The dtype of this run: ``auto`` resolved for this machine, except that a store keeps the dtype it was
    made with (a resumed store never mixes dtypes for one net, whichever machine resumes it)."""
    from mgmtfeat.backbones import resolve_dtype

    if settings.dtype != "auto":
        return settings.dtype
    made_with = store.provenance(settings.net).get("dtype") if settings.net in store.nets() else None
    return made_with if made_with and not settings.force else resolve_dtype(settings.net, "auto", settings.device)


def case_features(ref: CaseRef, backbone, clip_settings: ClipSettings, boxes=None) -> tuple[dict, dict, dict]:
    """Features of one case: ``({modality: (400,) float32}, case metadata, {step: seconds})``.

    Raises
    ------
    CaseError
        The case's files cannot be read or clipped (data reasons, recorded by batch callers).
    """
    start = time.perf_counter()
    case_clips = make_clips(load_case(ref, series_uids=clip_settings.series_uids), clip_settings, boxes)
    clips = stack(case_clips)  # uint8 (5, n_frames, box, box)
    middle = time.perf_counter()
    logits = backbone.extract(clips)  # float32 (5, 400)
    end = time.perf_counter()
    meta = {"layout": ref.layout, "brats_id": ref.brats_id, "box": case_clips.meta.get("box"),
            "frames": case_clips.meta.get("frames"), "box_source": case_clips.meta.get("box_source"),
            "notes": case_clips.meta.get("notes")}
    return dict(zip(MODALITIES, logits)), meta, {"read_and_clip": middle - start, "forward": end - middle}


# -- worker side: one task per case -------------------------------------------------------------
_BACKBONE: dict[tuple, object] = {}  # one backbone per worker process, keyed by its settings
_BACKBONE_LOCK = threading.Lock()  # also makes a process run one case at a time on all its threads


def _cached_backbone(settings: ExtractionSettings):
    """The backbone of ``settings`` in this process, built on first use. Call under the lock."""
    if settings.threads is None:  # on a Dask worker: all of its threads
        settings = replace(settings, threads=worker_threads())
    key = (settings.net, settings.weights, settings.dtype, settings.device, settings.threads, settings.num_frames,
           settings.size)
    if key not in _BACKBONE:
        _BACKBONE.clear()  # one network per process at a time, to bound the worker's memory
        _BACKBONE[key] = open_backbone(settings)
    return _BACKBONE[key]


def backbone_provenance(_, settings: ExtractionSettings) -> dict:
    """Task: provenance of the backbone as a worker builds it (and keeps it for the cases to come)."""
    with _BACKBONE_LOCK:
        return {**_cached_backbone(settings).provenance, "clips": settings.clip_settings.as_dict()}


def extract_case(ref: CaseRef, settings: ExtractionSettings, boxes=None) -> dict:
    """Task: features of one case, or its data failure, as a plain dictionary.

    Returns
    -------
    dict
        Either ``features`` ({modality: (400,) float32}), ``meta`` and ``seconds``, or ``failure``
        ({case_id, file, reason}) when the case fails for a data reason (reported, never retried).

    Raises
    ------
    FileNotFoundError
        This worker cannot see the data folder (it must be at the same absolute path everywhere).
    """
    if not Path(settings.data).is_dir():
        raise FileNotFoundError(
            f"the worker on host {socket.gethostname()} cannot see the data folder {settings.data}; the data must be "
            "at the same absolute path on every worker (a shared or copied folder)."
        )
    with _BACKBONE_LOCK:
        backbone = _cached_backbone(settings)
        try:
            features, meta, seconds = case_features(ref, backbone, settings.clip_settings, boxes)
        except CaseError as err:
            return {"failure": {"case_id": err.case_id, "file": err.file, "reason": err.reason}}
    return {"features": features, "meta": meta, "seconds": seconds}


# -- the one extraction loop -------------------------------------------------------------------
def extract_features(settings: ExtractionSettings, progress: bool = True,
                     on_case: Callable[[str], None] | None = None, executor: Executor | None = None) -> ExtractionReport:
    """Extract the features of every case of ``settings.data`` into the store ``settings.out``.

    One task per case (all five clips as one batch) runs where ``executor`` says: in this process,
    in ``settings.jobs`` processes, or on the Dask cluster of ``settings.scheduler``. Each worker
    process builds the backbone once. Workers only read the data and return the 5 x 400 logits;
    this process writes them into the store (atomically, so a task run twice after a worker died
    leaves one entry). The provenance is written with the first stored case, so a run that stops
    before any case succeeds leaves no record that would refuse the corrected command.

    Parameters
    ----------
    settings : ExtractionSettings
    progress : bool
        Show a progress bar with cases/s and ETA.
    on_case : callable, optional
        Called with each case id once its features are stored.
    executor : Executor, optional
        Where the cases run (left open); default: ``make_executor(settings.jobs, settings.scheduler)``.

    Returns
    -------
    ExtractionReport
        ``done`` in completion order, ``failed`` sorted by case id; ``seconds`` sums the per-case
        times of the workers, ``total`` is the wall time of the case loop.

    Raises
    ------
    ValueError
        No cases in the folder, an unknown net, weights that cannot be loaded, or a store holding
        features of this net made with other settings (without ``force``).
    SchedulerError
        The scheduler cannot be reached, or a case kept killing the workers it ran on.
    """
    from tqdm.auto import tqdm

    from mgmtfeat.backbones import check_backbone_kind

    if settings.net == "radiomics":  # handcrafted features: no clips, no backbone
        from mgmtfeat.extraction.radiomics import extract_radiomics

        return extract_radiomics(settings, progress, on_case, executor)
    if settings.slices is not None:
        raise ValueError("settings.slices asks for the slice pathway: call mgmtfeat.extraction.slices.extract_slices")
    # an unknown net, or a 2D one, fails before any data is read or cluster starts
    check_backbone_kind(settings.net, "video", pathway="the clip pathway of `mgmtfeat extract` (2D networks take "
                        "--pathway slices)")
    # Workers may run elsewhere: give them absolute paths.
    settings = replace(settings, data=str(Path(settings.data).resolve()),
                       boxes=str(Path(settings.boxes).resolve()) if settings.boxes else None)
    refs = select_cases(settings)
    boxes = read_box_csv(settings.boxes) if settings.boxes else None
    store = FeatureStore(settings.out)
    settings = replace(settings, dtype=_dtype(store, settings))
    report = ExtractionReport()
    with contextlib.ExitStack() as stack:
        if executor is None:
            executor = stack.enter_context(make_executor(settings.jobs, settings.scheduler))
        if settings.threads is None and executor.threads_per_worker is not None:
            settings = replace(settings, threads=executor.threads_per_worker)
        provenance = dict(executor.map(backbone_provenance, [None], shared={"settings": settings},
                                       names=[f"provenance-{settings.net}"]))[0]
        if not settings.force:
            store.check_provenance(settings.net, provenance)  # refuse other settings before any work
        digest = settings_digest({"net": settings.net, **provenance})  # what every entry of this run records
        todo = [r for r in refs if settings.force or not _usable(store, settings.net, r.case_id, digest)]
        report.skipped = [r.case_id for r in refs if r not in todo]
        if todo:  # a run with nothing to do writes nothing, so a complete read-only store can be resumed
            stack.enter_context(store.claim(settings.net))
            if not settings.force:  # another run may have replaced the provenance before this claim
                store.check_provenance(settings.net, provenance)
        start, recorded = time.perf_counter(), False
        names = [f"extract-{settings.net}-{ref.case_id}" for ref in todo]
        tasks = executor.map(extract_case, todo, shared={"settings": settings, "boxes": boxes}, names=names)
        with tqdm(total=len(todo), desc=f"extract {settings.net}", unit="case", disable=not progress) as bar:
            try:
                for index, result in tasks:
                    ref = todo[index]
                    bar.update()
                    bar.set_postfix_str(ref.case_id)
                    if "failure" in result:
                        report.failed.append(result["failure"])
                        store.write_failures(settings.net, report.failed)
                        continue
                    if not recorded:
                        store.write_provenance(settings.net, provenance, replace=settings.force)
                        recorded = True
                    store.write_case(settings.net, ref.case_id, result["features"], ref.label, result["meta"],
                                     digest=digest)
                    for step, value in result["seconds"].items():
                        report.seconds[step] += value
                    report.done.append(ref.case_id)
                    if on_case:
                        on_case(ref.case_id)
            except TaskKilledError as err:
                name = f"case {todo[err.index].case_id}" if err.index is not None else "a case"
                raise TaskKilledError(name, f"{err.reason} The cases finished so far are in the store {store.root}; "
                                      "the same command resumes from them.", err.index) from None
    report.seconds["total"] = time.perf_counter() - start
    report.failed.sort(key=lambda f: f["case_id"])
    store.write_failures(settings.net, report.failed)  # left alone when it already says this
    return report
