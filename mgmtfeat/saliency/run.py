"""Occlusion saliency of a fitted model folder on cases of a dataset: clips, backbones, maps on disk.

For each case: make the clips with the clip settings the model's features were made with,
extract every input once (the baseline), then occlude one modality's clip patch by patch
(:mod:`~mgmtfeat.saliency.occlusion`) and recompute that modality's features, keeping the other
inputs' features as extracted, and the model's probability of the positive class. Written to
``OUT``: ``CASE_saliency.nii.gz`` (float32, the occluded series' file's shape, voxel order and
affine: the T1wCE for ``t1ce`` and ``delta_t1``; the canonical RAS+ grid for a DICOM series), ``CASE_saliency.png`` (the most salient slice and its neighbours),
``CASE_patches.csv`` (each patch's clip box, probability and drop) and ``saliency.csv`` (one row
per case). A slice model (``"pathway": "slices"``) is occluded slice by slice instead
(:mod:`~mgmtfeat.saliency.slices`): the drops are those of each ROI slice's probability.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from mgmtfeat import MODALITIES, MODALITY_LABELS
from mgmtfeat._io import write_csv
from mgmtfeat.backbones import check_backbone_kind, create_backbone
from mgmtfeat.bundle import load_bundle
from mgmtfeat.bundle.record import BundleError, ModelRecord, provenance_differences
from mgmtfeat.clips import ClipSettings, make_clips, stack
from mgmtfeat.clips.placement import Placement
from mgmtfeat.clips.settings import read_box_csv
from mgmtfeat.data.layouts import CaseRef, find_cases
from mgmtfeat.data.volumes import Case, load_case
from mgmtfeat.models.ensemble import bundle_proba
from mgmtfeat.saliency.maps import peak_slice, write_map, write_overlays
from mgmtfeat.saliency.occlusion import CaseSaliency, OcclusionSettings, occlusion_drops, to_volume
from mgmtfeat.saliency.slices import slice_case_saliency, slice_settings_of

__all__ = ["CaseSaliency", "SaliencyError", "case_saliency", "open_backbones", "positive_column",
           "run_saliency", "select_refs"]

log = logging.getLogger(__name__)
SUMMARY_FILE = "saliency.csv"


class SaliencyError(ValueError):
    """A request saliency cannot serve: unknown case or modality, a model that does not take it."""


def positive_column(record: ModelRecord) -> int:
    """Column of the positive class in :func:`bundle_proba`'s output; binary models only."""
    classes = record.classes
    if len(classes) != 2:
        raise SaliencyError(f"the model has {len(classes)} classes {classes}; occlusion saliency explains the "
                            "probability of the positive class of a binary model (fit one with two classes)")
    return 1  # fit encodes the positive class last (model.json order)


def check_modality(record: ModelRecord, modality: str) -> None:
    """Refuse a modality that is unknown or not among the model's inputs (a slice model's channels)."""
    if modality not in MODALITIES:
        raise SaliencyError(f"--modality {modality!r}: unknown; choose from {', '.join(MODALITIES)}")
    if record.is_slices:
        channels = slice_settings_of(record).channels
        if modality not in channels:
            raise SaliencyError(f"--modality {modality}: the slice model's channels are {', '.join(channels)}; "
                                "occlude one of them")
        return
    if modality not in record.modalities:
        raise SaliencyError(f"--modality {modality}: the model's inputs are {', '.join(record.inputs)}, so "
                            f"occluding {modality} cannot change its output; choose one of "
                            f"{', '.join(record.modalities)}")


def clip_settings_of(record: ModelRecord) -> ClipSettings:
    """The clip settings the model's training features were made with (the same for every net)."""
    found = {net: prov.get("clips") for net, prov in record.provenance.items()}
    if any(v is None for v in found.values()) or len({repr(v) for v in found.values()}) != 1:
        raise BundleError(f"model.json: the nets' features record different or no clip settings ({found}); "
                          "saliency needs the clips the model was trained on, fit it on features of one clip setting")
    values = dict(next(iter(found.values())))
    values["percentiles"] = tuple(values["percentiles"])
    values["series_uids"] = tuple(values.get("series_uids", ()))
    return ClipSettings(**values)


def open_backbones(record: ModelRecord, threads: int | None = None, device: str = "cpu") -> dict:
    """``{net: Backbone}`` as the model's features recorded them (weights, frames, size, dtype).

    Raises
    ------
    BundleError
        A backbone built here differs from the recorded one (other weights file, version).
    ValueError
        A network of the other kind than the model's pathway (clips: video networks, slices: image ones).
    """
    out = {}
    slices = record.is_slices
    for net, prov in record.provenance.items():
        check_backbone_kind(net, "image" if slices else "video", f"saliency of a {'slice' if slices else 'clip'} model")
        paper = prov.get("sampling") == "paper"  # the paper preset fixes frames and size itself
        backbone = create_backbone(net, weights="random" if prov.get("random_weights") else None, device=device,
                                   dtype=prov.get("dtype", "float32"), threads=threads,
                                   num_frames=None if paper else prov.get("num_frames"),
                                   size=None if paper else prov.get("size"), sampling=prov.get("sampling", "uniform"))
        made = backbone.provenance
        diffs = provenance_differences({k: prov.get(k) for k in made}, made)
        if diffs:
            shown = "; ".join(f"{k}: model {a!r}, here {b!r}" for k, a, b in diffs)
            raise BundleError(f"net {net} here differs from the one the model's features were made with ({shown}); "
                              "install the same weights (see model.json 'features.provenance')")
        out[net] = backbone
    return out


def select_refs(data: str | os.PathLike, cases: Sequence[str]) -> list[CaseRef]:
    """The dataset's references of ``cases``, in that order; refuses an id the dataset does not hold."""
    refs = {ref.case_id: ref for ref in find_cases(data)}
    missing = [c for c in cases if c not in refs]
    if missing:
        shown = ", ".join(sorted(refs)[:5]) + (" ..." if len(refs) > 5 else "")
        raise SaliencyError(f"--cases: dataset {data} holds no case {', '.join(missing)} ({len(refs)} cases: "
                            f"{shown or 'none'}); give ids as the dataset names them")
    return [refs[c] for c in cases]


def case_saliency(case: Case, record: ModelRecord, estimators: list, backbones: dict, modality: str,
                  clip_settings: ClipSettings, settings: OcclusionSettings = OcclusionSettings(),
                  boxes=None) -> CaseSaliency:
    """Occlusion map of one case's ``modality`` clip for the model (see the module docstring)."""
    start = time.perf_counter()
    column = positive_column(record)
    case_clips = make_clips(case, clip_settings, boxes)
    base = {net: bb.extract(stack(case_clips)) for net, bb in backbones.items()}  # (5, 400) per net
    inputs = [name.split(":", 1) for name in record.inputs]

    def proba(occluded: dict, n: int) -> np.ndarray:
        columns = [occluded[net] if m == modality and net in occluded
                   else np.broadcast_to(base[net][MODALITIES.index(m)], (n, base[net].shape[1]))
                   for net, m in inputs]
        return bundle_proba(len(record.classes), estimators, np.concatenate(columns, axis=1))[:, column]

    def score(clips: np.ndarray) -> np.ndarray:  # all masked clips of a batch in one forward per net
        return proba({net: bb.extract(clips) for net, bb in backbones.items()}, len(clips))

    p0 = float(proba({}, 1)[0])
    _, drops, patch_list = occlusion_drops(case_clips.clips[modality], score, settings, p0=p0)
    placement = Placement.from_dict(case_clips.meta["clips"][modality])
    grid = case.volumes["t1ce" if modality == "delta_t1" else modality]  # delta-T1 is cut on the T1wCE grid
    saliency = to_volume(drops, patch_list, placement, clip_settings.box_size, grid.shape)
    return CaseSaliency(case.case_id, modality, p0, drops, patch_list, placement, saliency, grid.affine,
                        time.perf_counter() - start)


def _outputs(out: Path, case_id: str) -> list[Path]:
    return [out / f"{case_id}_saliency.nii.gz", out / f"{case_id}_saliency.png", out / f"{case_id}_patches.csv"]


def run_saliency(model_dir: str | os.PathLike, data: str | os.PathLike, cases: Sequence[str],
                 out: str | os.PathLike, modality: str = "t1ce",
                 settings: OcclusionSettings = OcclusionSettings(), box_csv: str | os.PathLike | None = None,
                 force: bool = False, threads: int | None = None) -> list[CaseSaliency]:
    """Write the saliency outputs of ``cases`` into ``out``; returns their :class:`CaseSaliency`.

    Raises
    ------
    SaliencyError
        An unknown case, an unknown modality or one the model does not take, a multi-class model.
    BundleError
        The model folder is unusable or its backbone cannot be rebuilt as recorded.
    FileExistsError
        Outputs of these cases exist in ``out`` and ``force`` is False.
    CaseError
        A case cannot be read or clipped.
    """
    record, estimators = load_bundle(model_dir)
    check_modality(record, modality)
    positive_column(record)
    clip_settings = clip_settings_of(record)
    refs = select_refs(data, cases)
    out = Path(out)
    existing = [p for ref in refs for p in _outputs(out, ref.case_id) if p.exists()]
    if existing and not force:
        raise FileExistsError(f"--out {out} already holds {existing[0].name} (and {len(existing) - 1} more outputs "
                              "of these cases); choose another folder or pass --force")
    boxes = read_box_csv(box_csv) if box_csv else None
    if clip_settings.box == "csv" and boxes is None:
        raise SaliencyError("the model's clips were placed by a box CSV (box='csv'); pass the same --box-csv")
    backbones = open_backbones(record, threads)
    needs_seg = {"seg": "require", "csv": "ignore", "brain": "ignore", "whole-brain": "ignore"}
    results, rows = [], []
    out.mkdir(parents=True, exist_ok=True)
    for ref in refs:
        case = load_case(ref, seg=needs_seg.get(clip_settings.box, "auto"), series_uids=clip_settings.series_uids)
        if record.is_slices:
            (backbone,) = backbones.values()
            result = slice_case_saliency(case, record, estimators, backbone, modality, clip_settings, settings, boxes)
        else:
            result = case_saliency(case, record, estimators, backbones, modality, clip_settings, settings, boxes)
        nifti, png, table = _outputs(out, ref.case_id)
        source = case.volumes["t1ce" if modality == "delta_t1" else modality]
        write_map(nifti, result.saliency, result.affine, source.path)
        _, slices = write_overlays(png, source.data, result.saliency,
                                   f"{ref.case_id}: {MODALITY_LABELS.get(modality, modality)}, drop in P when masked")
        write_csv(table, [{**b.__dict__, "drop": float(d), "probability": result.p0 - float(d)}
                          for b, d in zip(result.boxes, result.drops)],
                  ["f0", "f1", "r0", "r1", "c0", "c1", "probability", "drop"])
        peak = int(np.argmax(result.drops))
        rows.append({"case_id": ref.case_id, "modality": modality, "probability": result.p0,
                     "max_drop": float(result.drops[peak]), "min_drop": float(result.drops.min()),
                     "n_patches": len(result.boxes), "overlay_slices": " ".join(map(str, slices)),
                     "peak_slice": peak_slice(result.saliency, source.data != 0),
                     "seconds": round(result.seconds, 1)})
        log.info("%s: p=%.3f, %d patches, largest drop %.3f, %.0f s", ref.case_id, result.p0, len(result.boxes),
                 result.drops[peak], result.seconds)
        results.append(result)
    write_csv(out / SUMMARY_FILE, rows, list(rows[0]))
    return results
