"""``predict --data``: new MRI to predictions in one step, with the model folder's own extraction.

A model folder records, per net, the provenance of its training features (``model.json``
``features.provenance``): the net, its weights (id and sha256, or random), the net input
(``num_frames``, ``size``), the dtype, the frame sampling, the clip and geometry settings
(``clips``), and for radiomics the params file's digest, the mask labels and the inputs. From it
this module rebuilds the extraction settings, checks that the extraction made here would record
exactly that provenance (before reading any case), extracts the cases with the package's one
extraction loop (:func:`mgmtfeat.extraction.run.extract_features`,
:func:`mgmtfeat.extraction.radiomics.extract_radiomics`) into a store, and predicts that store with
:func:`mgmtfeat.bundle.predict.predict_bundle`; so the probabilities are those of ``extract`` then
``predict --features``.

Settings are copied generically: every provenance entry that names a field of
:class:`~mgmtfeat.extraction.run.ExtractionSettings` (``num_frames``, ``size``, ``dtype``, and any
added later such as ``sampling`` or ``modalities``) is passed on, and ``clips`` becomes the
:class:`~mgmtfeat.clips.ClipSettings` (any field it has, e.g. a geometry ``spacing``). Whatever is
not reproduced shows up in the provenance check, which names the field.

The returned :class:`MriReport` also splits the step's seconds into :data:`PHASES` (set-up, reading,
geometry, clips, forward, classifier), measured where the work is done; nothing is printed.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from mgmtfeat.bundle.record import BundleError, ModelRecord, provenance_differences
from mgmtfeat.store.published import is_published

__all__ = ["PHASES", "MriSettings", "MriReport", "extraction_runs", "check_runs", "extract_for_model",
           "peak_memory_mib"]

#: ExtractionSettings fields that say where and how to run, never copied from provenance.
_NOT_COPIED = frozenset({"data", "out", "net", "weights", "labels", "boxes", "limit", "exclude", "force", "jobs",
                         "scheduler", "device", "threads", "clip_settings", "slices", "radiomics_params",
                         "radiomics_labels"})
_WHOLE_TUMOUR = "whole tumour (>0)"

#: Where ``predict --data`` spends its time (:attr:`MriReport.phases`): ``setup`` (the model folder read, the
#: nets built and the provenance checked), ``reading`` (the image files), ``geometry`` (to the clip grid),
#: ``clips`` (the clips of the inputs), ``forward`` (the nets on the clips, preprocessing included) and
#: ``classifier`` (the fitted model on the features). What is left of :attr:`MriReport.seconds` is the
#: store's bookkeeping (finding the cases, writing the features).
PHASES = ("setup", "reading", "geometry", "clips", "forward", "classifier")


@dataclass
class MriSettings:
    """Where the new cases are and how this machine runs their extraction.

    Attributes
    ----------
    data : path-like
        Dataset folder (any layout ``find_cases`` reads).
    features : path-like, optional
        Store to extract into (kept, resumable); None: a temporary store, removed afterwards.
    weights : mapping, optional
        ``{net: PATH}`` where the model's weights are not at the net's default source (checked
        against the recorded sha256).
    radiomics_params : path-like, optional
        The params file of a radiomics model made with another file than the shipped one.
    boxes : path-like, optional
        The box CSV, when the model's clips were placed by one.
    exclude : sequence of str
        Case ids to leave out.
    device, threads, jobs
        As for ``mgmtfeat extract``.
    """

    data: str | os.PathLike
    features: str | os.PathLike | None = None
    weights: Mapping[str, str] = field(default_factory=dict)
    radiomics_params: str | os.PathLike | None = None
    boxes: str | os.PathLike | None = None
    exclude: Sequence[str] = ()
    device: str = "cpu"
    threads: int | None = None
    jobs: int = 1


@dataclass
class MriReport:
    """Cases extracted and failed, and the cost of the whole step (extraction and prediction).

    ``seconds`` is the wall time of the whole step; ``phases`` its parts, ``{phase: seconds}``
    summed over the cases (see :data:`PHASES`; with ``jobs > 1`` the workers' parts overlap, so
    they may add up to more than ``seconds``).
    """

    store: str
    temporary: bool
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    peak_mib: float = 0.0
    phases: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))

    @property
    def seconds_per_case(self) -> float | None:
        n = len(set(self.done) | set(self.skipped))
        return self.seconds / n if n else None

    def as_dict(self) -> dict:
        return {"store": self.store, "temporary_store": self.temporary, "cases_extracted": len(set(self.done)),
                "cases_already_in_store": len(set(self.skipped)), "cases_failed": len(self.failed),
                "seconds": round(self.seconds, 3), "seconds_per_case": self.seconds_per_case,
                "peak_memory_mib": round(self.peak_mib, 1)}


def peak_memory_mib() -> float:
    """Peak resident memory (MiB) of this process, or of its largest worker process if larger."""
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 2 ** 20  # ru_maxrss: KiB on Linux, bytes on macOS
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) * scale


def _clip_settings(net: str, clips: Mapping | None):
    from mgmtfeat.clips import ClipSettings

    names = {f.name for f in dataclasses.fields(ClipSettings)}
    if clips is None:
        raise BundleError(f"model.json: the features of net {net} record no clip settings; fit the model on features "
                          "extracted by `mgmtfeat extract`")
    unknown = sorted(set(clips) - names)
    if unknown:
        raise BundleError(f"model.json: the clip settings of net {net} have {unknown}, which this mgmtfeat's clips "
                          "do not know; install the mgmtfeat version the model was fitted with")
    return ClipSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in clips.items()})


def _video_settings(net: str, prov: Mapping, mri: MriSettings, out: str):
    from mgmtfeat.clips import ClipSettings
    from mgmtfeat.extraction.run import ExtractionSettings

    if is_published(prov):  # the authors' extraction: their sampling on the paper's clips (nothing else published)
        return ExtractionSettings(data=str(mri.data), out=out, net=net, weights=mri.weights.get(net),
                                  device=mri.device, threads=mri.threads, exclude=tuple(mri.exclude), jobs=mri.jobs,
                                  boxes=str(mri.boxes) if mri.boxes else None, clip_settings=ClipSettings(),
                                  sampling=prov["sampling"])

    names = {f.name for f in dataclasses.fields(ExtractionSettings)}
    copied = {k: tuple(v) if isinstance(v, list) else v for k, v in prov.items()
              if k in names and k not in _NOT_COPIED}
    weights = "random" if prov.get("random_weights") else mri.weights.get(net)
    return ExtractionSettings(data=str(mri.data), out=out, net=net, weights=weights, device=mri.device,
                              threads=mri.threads, exclude=tuple(mri.exclude), jobs=mri.jobs,
                              boxes=str(mri.boxes) if mri.boxes else None,
                              clip_settings=_clip_settings(net, prov.get("clips")), **copied)


def _radiomics_settings(prov: Mapping, mri: MriSettings, out: str):
    from mgmtfeat.extraction.run import ExtractionSettings
    from mgmtfeat.radiomics import RadiomicsSettings

    recorded = prov.get("radiomics") or {}
    params = mri.radiomics_params
    if params is None and recorded.get("params_sha256") != RadiomicsSettings().digest:
        raise BundleError(f"the model's radiomics features were made with params file {recorded.get('params_file')} "
                          f"(sha256 {recorded.get('params_sha256')}), not the shipped one; pass that file with "
                          "--radiomics-params FILE")
    labels = recorded.get("labels", _WHOLE_TUMOUR)
    return ExtractionSettings(data=str(mri.data), out=out, net="radiomics", device=mri.device, threads=mri.threads,
                              exclude=tuple(mri.exclude), jobs=mri.jobs,
                              radiomics_params=str(params) if params else None,
                              radiomics_labels=None if labels == _WHOLE_TUMOUR else tuple(labels))


def extraction_runs(record: ModelRecord, mri: MriSettings, out: str) -> list[tuple[list[str], object, tuple | None]]:
    """The extraction runs that remake the model's features: ``[(nets, ExtractionSettings, modalities)]``.

    Video nets whose settings agree except for their weights share one run (each case read and
    clipped once for them); radiomics is a run of its own, with its recorded inputs.

    Raises
    ------
    BundleError
        A slice model, clip settings this version does not know, a radiomics params file that is
        not the shipped one and not given.
    """
    if record.is_slices:
        raise BundleError("predict --data serves clip models; for a slice model run `mgmtfeat extract --pathway "
                          "slices` with its settings, then `mgmtfeat predict --features`")
    groups: dict[str, tuple[list[str], object, tuple | None]] = {}
    for net in record.nets:
        prov = record.provenance[net]
        if prov.get("kind") == "radiomics" or net == "radiomics":
            modalities = tuple((prov.get("radiomics") or {}).get("modalities") or ()) or None
            groups[net] = ([net], _radiomics_settings(prov, mri, out), modalities)
            continue
        settings = _video_settings(net, prov, mri, out)
        key = repr(dataclasses.replace(settings, net="", weights=None))
        if key in groups:
            nets, shared, _ = groups[key]
            nets.append(net)
            shared.weights[net] = settings.weights
        else:
            groups[key] = ([net], dataclasses.replace(settings, weights={net: settings.weights}), None)
    return [(nets, dataclasses.replace(s, net=",".join(nets)), m) for nets, s, m in groups.values()]


def _made_here(nets: list[str], settings, modalities, store) -> dict:
    """Each net's provenance as this extraction would record it (video nets are built here once)."""
    from mgmtfeat.extraction.nets import net_settings
    from mgmtfeat.extraction.radiomics import radiomics_provenance
    from mgmtfeat.extraction.worker import backbone_provenance

    if nets == ["radiomics"]:
        return {"radiomics": radiomics_provenance(settings, modalities)}
    runs = net_settings(settings, nets, store)
    return {net: backbone_provenance(net, runs) for net in nets}


def check_runs(record: ModelRecord, runs, store) -> None:
    """Refuse, before any case is read, an extraction whose provenance would differ from the model's.

    Raises
    ------
    BundleError
        Naming the net, each differing field with both values, and the fix.
    """
    from mgmtfeat.store.integrity import comparable

    for nets, settings, modalities in runs:
        for net, made in _made_here(nets, settings, modalities, store).items():
            # as the store records it: the net's name added, its run fields (digest, version, date) left out
            diffs = provenance_differences(comparable(record.provenance[net]), comparable({"net": net, **made}))
            if diffs:
                raise BundleError(f"net {net}: the extraction here would differ from the model's training features "
                                  f"({_shown(diffs)}); {_fix(net, diffs, record.provenance[net])}")


def _shown(diffs) -> str:
    out = []
    for key, a, b in diffs:
        if isinstance(a, Mapping) and isinstance(b, Mapping):  # radiomics settings: the entries that differ
            out += [f"{key}.{k}: model {a.get(k)!r}, here {b.get(k)!r}" for k in sorted(set(a) | set(b))
                    if a.get(k) != b.get(k)]
        else:
            out.append(f"{key}: model {a!r}, here {b!r}")
    return "; ".join(out)


def _fix(net: str, diffs, recorded: Mapping) -> str:
    keys = {k for k, _, _ in diffs}
    radiomics = recorded.get("radiomics") or {}
    if any(k.startswith("weights") for k in keys):
        sha = recorded.get("weights_sha256")
        return (f"give the weights the model's features were made with: --weights {net}=PATH ("
                f"{f'sha256 {sha}' if sha else recorded.get('weights_id')})")
    here = next((b for k, _, b in diffs if k == "radiomics"), None) or {}
    if "radiomics" in keys and radiomics.get("params_sha256") != here.get("params_sha256"):
        return (f"give the params file the model's features were made with: --radiomics-params FILE ("
                f"{radiomics.get('params_file')}, sha256 {radiomics.get('params_sha256')})")
    return "install the mgmtfeat and library versions the model was fitted with, or fit the model again"


def extract_for_model(record: ModelRecord, mri: MriSettings, store_path: str, progress: bool = True) -> MriReport:
    """Extract the cases of ``mri.data`` into ``store_path`` exactly as the model's training features.

    Returns
    -------
    MriReport
        Cases extracted, already in the store, failed, and the phases of the extraction (set-up,
        reading, geometry, clips, forward); the classifier, seconds and memory are the caller's.

    Raises
    ------
    BundleError
        See :func:`extraction_runs` and :func:`check_runs`.
    ValueError
        No cases in the data folder; a store holding these nets made with other settings.
    """
    from mgmtfeat.extraction.radiomics import extract_radiomics
    from mgmtfeat.extraction.run import extract_features
    from mgmtfeat.store import FeatureStore

    start = time.perf_counter()
    runs = extraction_runs(record, mri, str(store_path))
    check_runs(record, runs, FeatureStore(store_path))  # builds the nets (kept for the cases when jobs=1)
    report = MriReport(str(store_path), mri.features is None)
    report.phases["setup"] = time.perf_counter() - start
    failed = {}
    for nets, settings, modalities in runs:
        if nets == ["radiomics"]:
            part = extract_radiomics(settings, progress=progress, modalities=modalities)
        else:
            part = extract_features(settings, progress=progress)
        report.done += part.done
        report.skipped += part.skipped
        for phase in set(PHASES) & set(part.seconds):
            report.phases[phase] += part.seconds[phase]
        failed.update({f["case_id"]: f for f in part.failed})
    report.failed = [failed[k] for k in sorted(failed)]
    return report


def predict_from_mri(settings, mri: MriSettings, progress: bool = True):
    """Extract ``mri.data`` as the model's features were made, then predict it (``settings.features`` is set here).

    Parameters
    ----------
    settings : PredictSettings
        As for ``predict --features``; its ``features`` is replaced by the store extracted into.
    mri : MriSettings

    Returns
    -------
    tuple
        ``(predictions, metrics or None, MriReport)`` (its ``phases`` split the seconds, see
        :data:`PHASES`); ``OUT/provenance.json`` also records the extraction, the seconds per case
        and the peak memory, and ``OUT/failures.csv`` the cases
        that failed (``case_id, file, reason``).

    Raises
    ------
    BundleError, ValueError
        See :func:`extract_for_model` and :func:`mgmtfeat.bundle.predict.predict_bundle`.
    """
    import json

    from mgmtfeat._io import atomic_write_text, write_failures_csv
    from mgmtfeat.bundle.predict import predict_bundle
    from mgmtfeat.bundle.record import read_record

    start = time.perf_counter()
    record = read_record(settings.model_dir)
    read = time.perf_counter() - start
    out = Path(settings.out)
    if (out / "predictions.csv").exists() and not settings.force:  # before the extraction, not after
        raise FileExistsError(f"--out {out} already holds predictions; choose another folder or pass --force")
    with tempfile.TemporaryDirectory(prefix="mgmtfeat-predict-") as tmp:
        store = str(mri.features) if mri.features is not None else str(Path(tmp) / "store")
        report = extract_for_model(record, mri, store, progress)
        if not report.done and not report.skipped:
            raise BundleError(f"no case of {mri.data} could be extracted ({len(report.failed)} failed); see the "
                              "failures above")
        report.phases["setup"] += read
        classify = time.perf_counter()
        frame, metrics = predict_bundle(dataclasses.replace(settings, features=store))
        report.phases["classifier"] = time.perf_counter() - classify
    report.seconds = time.perf_counter() - start
    report.peak_mib = peak_memory_mib()
    path = out / "provenance.json"
    provenance = json.loads(path.read_text(encoding="utf-8"))
    provenance.update(data=str(mri.data), features=None if report.temporary else store, extraction=report.as_dict(),
                      failed_cases=[f["case_id"] for f in report.failed])
    atomic_write_text(path, json.dumps(provenance, indent=2))
    write_failures_csv(out / "failures.csv", report.failed)  # the store's copy may be temporary
    return frame, metrics, report
