"""Feature extraction: dataset folder -> clips -> backbone -> feature store, resumably.

Each case is read, turned into its five clips, and the five clips run through the backbone as one
batch; the 400 logits per clip land in the store through its atomic write. Cases already in the
store are skipped, so a killed run loses at most the case in flight and resumes where it stopped.
A case that fails for a data reason is recorded in ``STORE/NET/failures.csv`` and the run goes on.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence


from mgmtfeat import MODALITIES
from mgmtfeat.clips import ClipSettings, make_clips, read_box_csv, stack
from mgmtfeat.data.layouts import CaseRef, find_cases
from mgmtfeat.data.errors import CaseError
from mgmtfeat._io import atomic_write_bytes
from mgmtfeat.store import FeatureStore
from mgmtfeat.data.volumes import load_case

__all__ = ["ExtractionSettings", "ExtractionReport", "extract_features", "case_features", "open_backbone",
           "write_failures"]


@dataclass
class ExtractionSettings:
    """What one ``python -m mgmtfeat.extract`` run does (see its ``--help`` for each field)."""

    data: str
    out: str
    net: str = "i3d"
    weights: str | None = None
    dtype: str = "float32"
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
    scheduler: str | None = None  # Dask scheduler ("local:N" or "tcp://host:port"); None = in-process


@dataclass
class ExtractionReport:
    """Counts and timings of one extraction run."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: {"read_and_clip": 0.0, "forward": 0.0, "total": 0.0})

    @property
    def ok(self) -> bool:
        return not self.failed


def open_backbone(settings: ExtractionSettings):
    """The backbone named in ``settings``, loaded once for the whole run."""
    from mgmtfeat.backbones import create_backbone

    return create_backbone(settings.net, weights=settings.weights, device=settings.device, dtype=settings.dtype,
                           threads=settings.threads, num_frames=settings.num_frames, size=settings.size)


def select_cases(settings: ExtractionSettings) -> list[CaseRef]:
    """The cases of ``settings.data`` a run covers (exclusions, labels and ``limit`` applied), by id."""
    refs = find_cases(settings.data, exclude=settings.exclude, labels=settings.labels)
    return refs[: settings.limit] if settings.limit else refs


def case_features(ref: CaseRef, backbone, clip_settings: ClipSettings, boxes=None) -> tuple[dict, dict, dict]:
    """Features of one case: ``({modality: (400,) float32}, case metadata, {step: seconds})``.

    Raises
    ------
    CaseError
        The case's files cannot be read or clipped (data reasons, recorded by batch callers).
    """
    start = time.perf_counter()
    case_clips = make_clips(load_case(ref), clip_settings, boxes)
    clips = stack(case_clips)  # uint8 (5, 150, 128, 128)
    middle = time.perf_counter()
    logits = backbone.extract(clips)  # float32 (5, 400)
    end = time.perf_counter()
    meta = {"layout": ref.layout, "brats_id": ref.brats_id, "box": case_clips.meta.get("box"),
            "frames": case_clips.meta.get("frames"), "box_source": case_clips.meta.get("box_source"),
            "notes": case_clips.meta.get("notes")}
    return dict(zip(MODALITIES, logits)), meta, {"read_and_clip": middle - start, "forward": end - middle}


def write_failures(path: Path, failures: list[dict]) -> None:
    """Write the failures report (case_id, file, reason) atomically; remove it when empty."""
    if not failures:
        path.unlink(missing_ok=True)
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["case_id", "file", "reason"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(failures)
    atomic_write_bytes(path, buffer.getvalue().encode())


def _provenance(backbone, settings: ExtractionSettings) -> dict:
    return {**backbone.provenance, "clips": settings.clip_settings.as_dict()}


def extract_features(settings: ExtractionSettings, progress: bool = True,
                     on_case: Callable[[str], None] | None = None) -> ExtractionReport:
    """Extract the features of every case of ``settings.data`` into the store ``settings.out``.

    Parameters
    ----------
    settings : ExtractionSettings
    progress : bool
        Show a progress bar with cases/s and ETA.
    on_case : callable, optional
        Called with each case id once its features are stored.

    With ``settings.scheduler`` set, the cases run as Dask tasks (see :mod:`mgmtfeat.extraction.dask`).

    Raises
    ------
    ValueError
        No cases in the folder, an unknown net, weights that cannot be loaded, or a store holding
        features of this net made with other settings (without ``force``).
    """
    if settings.scheduler:
        from mgmtfeat.extraction.dask import extract_distributed  # Dask is imported only when asked for

        return extract_distributed(settings, progress=progress, on_case=on_case)
    from tqdm.auto import tqdm

    from mgmtfeat.backbones import get_weights_config

    get_weights_config(settings.net)  # an unknown net fails before any data is read
    refs = select_cases(settings)
    boxes = read_box_csv(settings.boxes) if settings.boxes else None
    store = FeatureStore(settings.out)
    backbone = open_backbone(settings)
    store.write_provenance(settings.net, _provenance(backbone, settings), replace=settings.force)
    failures_path = store.root / settings.net / "failures.csv"
    report = ExtractionReport()
    todo = []
    for ref in refs:
        (report.skipped if store.has_case(settings.net, ref.case_id) and not settings.force else todo).append(ref)
    report.skipped = [r.case_id for r in report.skipped]
    start = time.perf_counter()
    with tqdm(todo, desc=f"extract {settings.net}", unit="case", disable=not progress) as bar:
        for ref in bar:
            bar.set_postfix_str(ref.case_id)
            try:
                features, meta, seconds = case_features(ref, backbone, settings.clip_settings, boxes)
            except CaseError as err:
                report.failed.append({"case_id": err.case_id, "file": err.file, "reason": err.reason})
                write_failures(failures_path, report.failed)
                continue
            store.write_case(settings.net, ref.case_id, features, ref.label, meta)
            for step, value in seconds.items():
                report.seconds[step] += value
            report.done.append(ref.case_id)
            if on_case:
                on_case(ref.case_id)
    report.seconds["total"] = time.perf_counter() - start
    write_failures(failures_path, report.failed)
    return report
