"""Convert a dataset folder into clip files and previews, case by case, resumably.

Output folder layout::

    OUT/settings.json            clip settings used (a later run must match or use force)
    OUT/clips/<case_id>.npz      uint8 (150, 128, 128) per modality + "meta" JSON
    OUT/previews/<case_id>.png   slice with the box + clip frames, per modality
    OUT/videos/<case_id>/<modality>.mp4|.avi   (optional)
    OUT/cases.csv                case_id, layout, label, brats_id, clip file (finished cases)
    OUT/failures.csv             case_id, file, reason (cases that failed in this run)

A case counts as finished when its ``.npz`` exists (written last, atomically); a
re-run skips finished cases. A failing case is recorded and the others go on; its
partial outputs are removed. Cases run in this process or in parallel workers
(:mod:`mgmtfeat._parallel`); each task writes only its own case's files.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from mgmtfeat import MODALITIES
from mgmtfeat.clips.files import save_case_clips
from mgmtfeat.clips.case import case_clips as clips_of_case
from mgmtfeat.clips.settings import ClipSettings, read_box_csv
from mgmtfeat.data.layouts import CaseRef, find_cases
from mgmtfeat.data.errors import CaseError
from mgmtfeat._io import atomic_write_bytes, write_csv, write_failures_csv
from mgmtfeat._parallel import Executor, make_executor

__all__ = ["ConversionReport", "convert_dataset", "convert_case"]


@dataclass
class ConversionReport:
    """What a conversion did.

    Attributes
    ----------
    converted, skipped : list of str
        Case ids converted in this run, and already finished before it.
    failed : list of dict
        ``{"case_id", "file", "reason"}`` per failed case.
    out : Path
    """

    out: Path
    converted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def _check_settings(out: Path, settings: ClipSettings, force: bool) -> None:
    """Refuse to mix clips made with different settings in one folder."""
    path = out / "settings.json"
    wanted = settings.as_dict()
    if path.exists() and not force:
        try:
            previous = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path} is unreadable ({exc}); pass force=True (--force) to start over") from None
        if previous != wanted:
            raise ValueError(f"output folder {out} holds clips made with other settings ({previous}); "
                             "use another --out or --force to overwrite them")
    atomic_write_bytes(path, json.dumps(wanted, indent=2).encode())


def _outputs(out: Path, case_id: str, preview: bool, video: str | None,
             modalities: tuple[str, ...] = MODALITIES) -> dict[str, Path]:
    paths = {"npz": out / "clips" / f"{case_id}.npz"}
    if preview:
        paths["preview"] = out / "previews" / f"{case_id}.png"
    if video:
        paths.update({m: out / "videos" / case_id / f"{m}.{video}" for m in modalities})
    return paths


def convert_case(ref: CaseRef, *, out: Path, settings: ClipSettings, boxes, preview: bool,
                 video: str | None) -> dict | None:
    """Task: write the outputs of one case; None when done, else its failure ``{case_id, file, reason}``.

    Old outputs of the case go first, so that a case failing now cannot leave clips made earlier.
    """
    for path in _outputs(out, ref.case_id, preview, video, settings.modalities).values():
        path.unlink(missing_ok=True)
    try:
        _convert_one(ref, out, settings, boxes, preview, video)
    except CaseError as exc:
        return {"case_id": exc.case_id, "file": exc.file, "reason": exc.reason}
    except (ValueError, OSError) as exc:  # recorded, not hidden: the report names it
        return {"case_id": ref.case_id, "file": "", "reason": f"{type(exc).__name__}: {exc}"}
    return None


def _convert_one(ref: CaseRef, out: Path, settings: ClipSettings, boxes, preview: bool, video: str | None) -> None:
    from mgmtfeat.clips import video as export

    paths = _outputs(out, ref.case_id, preview, video, settings.modalities)
    written = []
    try:
        case, case_clips = clips_of_case(ref, settings, boxes)
        if video:
            for modality, clip in case_clips.clips.items():
                written.append(export.write_video(clip, paths[modality]))
        if preview:
            written.append(export.write_preview(case, case_clips, paths["preview"]))
        save_case_clips(paths["npz"], case_clips)  # last: its presence marks the case finished
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def convert_dataset(
    data: str | Path,
    out: str | Path,
    settings: ClipSettings = ClipSettings(),
    *,
    exclude: Iterable[str] = (),
    labels: str | Path | None = None,
    box_csv: str | Path | None = None,
    preview: bool = True,
    video: str | None = None,
    force: bool = False,
    progress: bool = True,
    jobs: int = 1,
    executor: Executor | None = None,
) -> ConversionReport:
    """Convert every case of a dataset folder to clips (see the module docstring for outputs).

    Parameters
    ----------
    data : str or Path
        Dataset folder (a layout of :data:`mgmtfeat.data.layouts.LAYOUTS`) or manifest CSV.
    out : str or Path
        Output folder.
    settings : ClipSettings
    exclude : iterable of str
        Case ids to leave out (see :func:`mgmtfeat.data.layouts.find_cases`).
    labels : str or Path, optional
        Label file, when not found beside the data.
    box_csv : str or Path, optional
        User boxes (see :func:`mgmtfeat.clips.read_box_csv`).
    preview : bool
        Write a PNG preview per case.
    video : {"mp4", "avi"} or None
        Also write one video per clip.
    force : bool
        Re-convert finished cases and accept a folder made with other settings.
    progress : bool
        Show a progress bar.
    jobs : int
        Cases converted in parallel worker processes (1 = in this process).
    executor : mgmtfeat._parallel.Executor, optional
        Where the cases run (left open); overrides ``jobs``.

    Returns
    -------
    ConversionReport
    """
    from tqdm.auto import tqdm

    if video not in (None, "mp4", "avi"):
        raise ValueError(f"video={video!r} must be None, 'mp4' or 'avi'")
    out = Path(out)
    refs = find_cases(data, exclude=exclude, labels=labels)
    boxes = read_box_csv(box_csv) if box_csv is not None else None
    if settings.box == "csv" and boxes is None:
        raise ValueError("box='csv' needs a box CSV (--box-csv FILE)")
    out.mkdir(parents=True, exist_ok=True)
    _check_settings(out, settings, force)
    report = ConversionReport(out)
    todo = []
    for ref in refs:
        outputs = _outputs(out, ref.case_id, preview, video, settings.modalities)
        if not force and all(p.exists() for p in outputs.values()):
            report.skipped.append(ref.case_id)
        else:
            todo.append(ref)
    shared = {"out": out, "settings": settings, "boxes": boxes, "preview": preview, "video": video}
    with contextlib.ExitStack() as stack, tqdm(total=len(todo), desc="clips", unit="case", disable=not progress) as bar:
        if executor is None:
            executor = stack.enter_context(make_executor(jobs))
        for index, failure in executor.map(convert_case, todo, shared=shared, names=[f"clips-{r.case_id}" for r in todo]):
            bar.update()
            if failure is None:
                report.converted.append(todo[index].case_id)
            else:
                report.failed.append(failure)
    # completion order differs between executors; the report does not
    order = {r.case_id: i for i, r in enumerate(refs)}
    report.converted.sort(key=order.get)
    report.failed.sort(key=lambda f: f["case_id"])
    finished = [r for r in refs if (out / "clips" / f"{r.case_id}.npz").exists()]
    rows = [{"case_id": r.case_id, "layout": r.layout, "label": "" if r.label is None else r.label,
             "brats_id": r.brats_id or "", "clips": f"clips/{r.case_id}.npz"} for r in finished]
    write_csv(out / "cases.csv", rows, ["case_id", "layout", "label", "brats_id", "clips"])
    write_failures_csv(out / "failures.csv", report.failed)
    return report
