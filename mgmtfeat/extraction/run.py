"""Feature extraction: dataset folder -> clips -> backbones -> feature store, resumably.

Each case is read, turned into its five clips, and the five clips run through each net of the run
(``--net i3d,r2plus1d``: read and clipped once for all of them); the 400 logits per
clip land in each net's part of the store through its atomic write. Cases already in the store are
skipped per (case, net), so a killed run loses at most the cases in flight and resumes where it
stopped, running each case only through the nets that lack it; an entry that is damaged or was
made with other settings is redone, with a warning. A case that fails for a data reason is recorded
in each of its nets' failures table and the run goes on. While it writes, a run holds each net's
claim file (``STORE/NET/extract.lock``), so a second extraction on the same store and net is
refused instead of mixing entries made with different settings. The cases run in this process, in
a process pool or on a Dask cluster (:mod:`mgmtfeat._parallel`); the loop below is the same for all
three, and the worker side is :mod:`.worker`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, Sequence

from mgmtfeat.clips import ClipSettings
from mgmtfeat.clips.slices import SliceSettings
from mgmtfeat._parallel import Executor, TaskKilledError
from mgmtfeat.store import FeatureStore
from mgmtfeat.extraction.case_loop import ExtractionReport, cases_to_do, enter_executor, resolve_inputs
from mgmtfeat.backbones.devices import check_device
from mgmtfeat.extraction.nets import check_video_nets, net_list, net_settings, parse_weights
from mgmtfeat.extraction.worker import READ_STEPS, backbone_provenance, case_features, extract_case, open_backbone

log = logging.getLogger(__name__)

__all__ = ["ExtractionSettings", "ExtractionReport", "extract_features", "case_features", "open_backbone",
           "extract_case", "backbone_provenance"]


@dataclass
class ExtractionSettings:
    """What one ``mgmtfeat extract`` run does (see its ``--help`` for each field)."""

    data: str
    out: str
    net: str | Sequence[str] = "i3d"  # one net, or several ("i3d,r2plus1d"): each case read and clipped once for all
    weights: str | Mapping[str, str | None] | None = None  # PATH, "random", "NET=PATH,...", or {net: PATH}
    dtype: str = "float32"  # the same features on every CPU; "bfloat16" or "auto" (CPU-dependent) when asked
    device: str = "cpu"
    threads: int | None = None
    limit: int | None = None
    exclude: Sequence[str] = ()
    labels: str | None = None
    boxes: str | None = None
    clip_settings: ClipSettings = field(default_factory=ClipSettings)
    num_frames: int | None = None
    size: int | None = None
    sampling: str = "uniform"  # "paper": the authors' frames and preprocessing (their GluonCV nets and ViViT)
    force: bool = False
    jobs: int = 1  # worker processes on this machine (1 = in this process)
    scheduler: str | None = None  # Dask scheduler ("local:N" or "tcp://host:port"); excludes jobs > 1
    radiomics_params: str | None = None  # net "radiomics": pyradiomics params YAML (default: the shipped one)
    radiomics_labels: tuple[int, ...] | None = None  # net "radiomics": mask labels (None: whole tumour)
    slices: SliceSettings | None = None  # the slice pathway (2D nets, one embedding per ROI slice); None: clips


# -- the one extraction loop -------------------------------------------------------------------
def extract_features(settings: ExtractionSettings, progress: bool = True,
                     on_case: Callable[[str], None] | None = None, executor: Executor | None = None) -> ExtractionReport:
    """Extract the features of every case of ``settings.data`` into the store ``settings.out``.

    One task per case (its five clips) runs where ``executor`` says: in this process,
    in ``settings.jobs`` processes, or on the Dask cluster of ``settings.scheduler``. Each worker
    process builds each net's backbone once. Workers only read the data, make the clips once and
    return the 5 x 400 logits of each net; this process writes them into the store (atomically, so
    a task run twice after a worker died leaves one entry). A net's provenance is written with its
    first stored case, so a run that stops before any case succeeds leaves no record that would
    refuse the corrected command.

    Parameters
    ----------
    settings : ExtractionSettings
        ``net`` names one net or several (``"i3d,r2plus1d"``); ``weights`` is one net's path,
        ``"random"``, or per net (``"i3d=PATH,r2plus1d=random"`` or ``{net: path}``).
    progress : bool
        Show a progress bar with cases/s and ETA.
    on_case : callable, optional
        Called with each case id once its features are stored (for every net that needed it).
    executor : Executor, optional
        Where the cases run (left open); default: ``make_executor(settings.jobs, settings.scheduler)``.

    Returns
    -------
    ExtractionReport
        ``done`` (cases read and stored for the nets that needed them) in completion order,
        ``skipped`` (cases no net needed), ``failed`` sorted by case id; ``seconds`` sums the
        per-case times of the workers (``read_and_clip`` once per case, ``forward`` over the nets),
        ``total`` is the wall time of the case loop. ``nets`` holds each net's own report
        (``seconds["forward"]`` is that net's share).

    Raises
    ------
    ValueError
        No cases in the folder, an unknown, image (2D) or duplicated net, radiomics beside video
        nets, a device this machine cannot run on (the cases running here; ``check_device``), bad ``weights``, weights that cannot be loaded, or a store holding features of a net
        made with other settings (without ``force``).
    SchedulerError
        The scheduler cannot be reached, or a case kept killing the workers it ran on.
    """
    nets = net_list(settings.net)  # a net listed twice, or radiomics beside video nets: refused here
    if nets == ["radiomics"]:  # handcrafted features: no clips, no backbone
        from mgmtfeat.extraction.radiomics import extract_radiomics

        return extract_radiomics(replace(settings, net="radiomics"), progress, on_case, executor)
    if settings.slices is not None:
        raise ValueError("settings.slices asks for the slice pathway: call mgmtfeat.extraction.slices.extract_slices")
    # an unknown net, a 2D one, a device this machine lacks (when the cases run here) or weights for no net of
    # the run fail before any data is read or cluster starts
    check_video_nets(nets)
    if settings.scheduler is None and executor is None:  # a cluster's workers may have the GPU this machine lacks
        check_device(settings.device)
    settings = replace(settings, weights=parse_weights(settings.weights, nets))
    return _clip_pass(settings, nets, progress, on_case, executor)


@dataclass
class _Net:
    """One net of a clip pass as this process tracks it: settings, record, the cases it still needs."""

    settings: ExtractionSettings  # single-net, weights and dtype resolved
    provenance: dict
    digest: str  # what every entry of this run records
    todo: set[str]
    report: ExtractionReport = field(default_factory=lambda: ExtractionReport(seconds={"forward": 0.0}))
    recorded: bool = False  # provenance written (with the net's first stored case)

    @property
    def name(self) -> str:
        return self.settings.net


def _prepare(store: FeatureStore, runs: Mapping[str, ExtractionSettings], refs, executor) -> dict[str, _Net]:
    """Each net's provenance (as a worker builds it), checked against the store, and the cases it lacks."""
    from mgmtfeat.backbones.dtype_choice import provenance_fields

    names = list(runs)
    provenances = dict(executor.map(backbone_provenance, names, shared={"runs": runs},
                                    names=[f"provenance-{net}" for net in names]))
    state = {}
    for index, (net, run) in enumerate(runs.items()):
        # --dtype auto resolved here: its measured choice (a worker process has not seen it)
        provenance = {**provenances[index], **provenance_fields(net, run.dtype, run.device)}
        digest, todo, _ = cases_to_do(store, net, refs, provenance, run.force)  # refuses other settings first
        state[net] = _Net(run, provenance, digest, {r.case_id for r in todo})
    return state


def _store_result(store: FeatureStore, ref, nets: Sequence[_Net], result: dict, report: ExtractionReport) -> None:
    """Write one task's result into each of its nets: features and provenance, or the failure."""
    if "failure" in result:
        report.failed.append(result["failure"])
        for net in nets:
            net.report.failed.append(result["failure"])
            store.write_failures(net.name, net.report.failed)
        return
    for net in nets:
        if not net.recorded:
            store.write_provenance(net.name, net.provenance, replace=net.settings.force)
            net.recorded = True
        store.write_case(net.name, ref.case_id, result["features"][net.name], ref.label, result["meta"],
                         digest=net.digest)
        net.report.done.append(ref.case_id)
        net.report.seconds["forward"] += result["seconds"]["forward"][net.name]
    report.seconds["read_and_clip"] += result["seconds"]["read_and_clip"]
    for step in READ_STEPS:  # read_and_clip's parts
        report.seconds[step] = report.seconds.get(step, 0.0) + result["seconds"].get(step, 0.0)
    report.seconds["forward"] += sum(result["seconds"]["forward"].values())
    report.done.append(ref.case_id)


def _clip_pass(settings: ExtractionSettings, nets: list[str], progress: bool, on_case, executor) -> ExtractionReport:
    """The loop of :func:`extract_features` for video nets: one task per case and the nets it lacks."""
    from tqdm.auto import tqdm

    settings, refs, boxes, store = resolve_inputs(settings)
    report = ExtractionReport()
    with contextlib.ExitStack() as stack:
        executor, settings = enter_executor(stack, settings, executor)
        runs = net_settings(settings, nets, store)  # each net's weights and dtype (a store keeps its own)
        state = _prepare(store, runs, refs, executor)
        report.nets = {net: state[net].report for net in nets}
        todo = [(ref, [net for net in nets if ref.case_id in state[net].todo]) for ref in refs]
        todo = [(ref, needs) for ref, needs in todo if needs]
        report.skipped = [r.case_id for r in refs if not any(r.case_id in s.todo for s in state.values())]
        for net in state.values():
            net.report.skipped = [r.case_id for r in refs if r.case_id not in net.todo]
            if net.todo:  # a net with nothing to do writes nothing, so a complete read-only store can be resumed
                stack.enter_context(store.claim(net.name, net.digest))
                if not net.settings.force:  # another run may have replaced the provenance before this claim
                    store.check_provenance(net.name, net.provenance)
        start = time.perf_counter()
        tasks = executor.map(extract_case, todo, shared={"runs": runs, "boxes": boxes},
                             names=[f"extract-{'+'.join(needs)}-{ref.case_id}" for ref, needs in todo])
        with tqdm(total=len(todo), desc=f"extract {'+'.join(nets)}", unit="case", disable=not progress) as bar:
            try:
                for index, result in tasks:
                    ref, needs = todo[index]
                    bar.update()
                    bar.set_postfix_str(ref.case_id)
                    _store_result(store, ref, [state[net] for net in needs], result, report)
                    if on_case and "failure" not in result:
                        on_case(ref.case_id)
            except TaskKilledError as err:
                name = f"case {todo[err.index][0].case_id}" if err.index is not None else "a case"
                raise TaskKilledError(name, f"{err.reason} The cases finished so far are in the store {store.root}; "
                                      "the same command resumes from them.", err.index) from None
    report.seconds["total"] = time.perf_counter() - start
    for part in (report, *report.nets.values()):
        part.failed.sort(key=lambda f: f["case_id"])
    for net in nets:
        store.write_failures(net, report.nets[net].failed)  # left alone when it already says this
    return report
