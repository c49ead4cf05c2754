"""The case loop every extraction path shares (clips + backbone in :mod:`.run`, slices in :mod:`.slices`,
radiomics in :mod:`.radiomics`): which cases to do, which stored ones to keep, storing results as they arrive."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from mgmtfeat.data.layouts import CaseRef, find_cases
from mgmtfeat.store import FeatureStore
from mgmtfeat.store.integrity import settings_digest

log = logging.getLogger("mgmtfeat.extraction.run")  # the name the resume warnings always had

__all__ = ["ExtractionReport", "select_cases", "stored_case_usable", "cases_to_do", "store_results", "resolve_inputs",
           "enter_executor"]


@dataclass
class ExtractionReport:
    """Counts and timings of one extraction run; with several nets, ``nets`` holds each net's own.

    ``seconds`` has ``read_and_clip`` (paid once per case, whatever the number of nets; the clip
    pass also gives its parts, :data:`mgmtfeat.extraction.worker.READ_STEPS`), ``forward``
    (preprocessing and forward passes, summed over the nets) and ``total`` (wall time of the case
    loop); a net's report in ``nets`` has its own ``forward`` only.
    """

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: {"read_and_clip": 0.0, "forward": 0.0, "total": 0.0})
    nets: dict[str, "ExtractionReport"] = field(default_factory=dict)  # per net (video nets; empty for radiomics)

    @property
    def ok(self) -> bool:
        return not self.failed


def select_cases(settings) -> list[CaseRef]:
    """The cases of ``settings.data`` a run covers (exclusions, labels and ``limit`` applied), by id."""
    refs = find_cases(settings.data, exclude=settings.exclude, labels=settings.labels)
    return refs[: settings.limit] if settings.limit else refs


def stored_case_usable(store: FeatureStore, net: str, case_id: str, digest: str) -> bool:
    """Whether the stored entry of ``case_id`` can be kept; a damaged or foreign one is logged and redone.

    Parameters
    ----------
    store : FeatureStore
        The store a run resumes.
    net, case_id : str
        The entry.
    digest : str
        The settings digest of this run: an entry made with other settings is redone.
    """
    if not store.has_case(net, case_id):
        return False
    problem = store.verify_case(net, case_id, digest)
    if problem:
        log.warning("%s; extracting case %s again", problem, case_id)
    return problem is None


def cases_to_do(store: FeatureStore, net: str, refs: list[CaseRef], provenance: dict,
                force: bool) -> tuple[str, list[CaseRef], list[str]]:
    """``(digest, todo, skipped)``: what a run of ``net`` with ``provenance`` records, extracts and keeps.

    Without ``force`` a store holding ``net`` made with other settings is refused first (StoreError),
    before any work; ``todo`` holds the cases of ``refs`` without a usable stored entry (all with
    ``force``), ``skipped`` the ids of the others.
    """
    if not force:
        store.check_provenance(net, provenance)
    digest = settings_digest({"net": net, **provenance})
    todo = [r for r in refs if force or not stored_case_usable(store, net, r.case_id, digest)]
    ids = {r.case_id for r in todo}
    return digest, todo, [r.case_id for r in refs if r.case_id not in ids]


def store_results(store: FeatureStore, net: str, todo: list[CaseRef], tasks, write, *, provenance: dict,
                  force: bool, report: ExtractionReport, progress: bool, on_case=None) -> None:
    """Write each finished task's result into ``store`` as it arrives (the loop of the case-level paths).

    ``tasks`` yields ``(index into todo, result)``; a result holds ``failure`` (recorded in
    ``failures.csv``, the run goes on) or what ``write(ref, result)`` stores, plus ``seconds`` by step.
    The provenance is written with the first stored case, so a run where every case fails leaves
    no record that would refuse the corrected command. The failures end sorted by case id, in
    ``report`` and in the store.
    """
    from tqdm.auto import tqdm

    recorded = False
    with tqdm(total=len(todo), desc=f"extract {net}", unit="case", disable=not progress) as bar:
        for index, result in tasks:
            ref = todo[index]
            bar.update()
            bar.set_postfix_str(ref.case_id)
            if "failure" in result:
                report.failed.append(result["failure"])
                store.write_failures(net, report.failed)
                continue
            if not recorded:
                store.write_provenance(net, provenance, replace=force)
                recorded = True
            write(ref, result)
            for step, value in result["seconds"].items():
                report.seconds[step] = report.seconds.get(step, 0.0) + value
            report.done.append(ref.case_id)
            if on_case:
                on_case(ref.case_id)
    report.failed.sort(key=lambda f: f["case_id"])
    store.write_failures(net, report.failed)


def resolve_inputs(settings):
    """``(settings with absolute data and box paths, the cases, the user boxes or None, the store)``.

    Workers may run on other machines, so they get absolute paths.
    """
    from dataclasses import replace
    from pathlib import Path

    from mgmtfeat.clips import read_box_csv

    settings = replace(settings, data=str(Path(settings.data).resolve()),
                       boxes=str(Path(settings.boxes).resolve()) if settings.boxes else None)
    boxes = read_box_csv(settings.boxes) if settings.boxes else None
    return settings, select_cases(settings), boxes, FeatureStore(settings.out)


def enter_executor(stack, settings, executor=None):
    """``(executor, settings)``: the run's executor (made and entered on ``stack`` when None) and
    ``settings`` with the executor's threads per worker when the user chose none."""
    from dataclasses import replace

    from mgmtfeat._parallel import make_executor

    if executor is None:
        executor = stack.enter_context(make_executor(settings.jobs, settings.scheduler))
    if settings.threads is None and executor.threads_per_worker is not None:
        settings = replace(settings, threads=executor.threads_per_worker)
    return executor, settings
