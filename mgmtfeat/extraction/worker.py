"""The worker side of an extraction: one task per case, read and clipped once, fed to each net.

A task gets a case and the nets it still needs, reads the case's volumes, makes its five clips
once and runs them through each net's backbone (each with its own preprocessing); it returns the
logits per net, the case's metadata and the seconds of each step, or the case's data failure.
Backbones are built on first use and kept in the worker process for the cases to come: all the
nets of the run, and only those (a worker that served another run frees that run's nets first).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Mapping, Sequence

from mgmtfeat._parallel import worker_threads
from mgmtfeat.clips import ClipSettings, stack
from mgmtfeat.clips.case import case_clips as clips_of_case
from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.layouts import CaseRef

__all__ = ["READ_STEPS", "open_backbone", "read_clips", "nets_features", "case_features", "backbone_provenance",
           "extract_case", "BACKBONE_LOCK", "cached_backbones"]

#: The parts of a task's ``read_and_clip`` seconds: the files, the clip grid, the clips.
READ_STEPS = ("reading", "geometry", "clips")


def open_backbone(settings):
    """The backbone of a single-net ``settings``, loaded once for the whole run."""
    from mgmtfeat.backbones import create_backbone

    return create_backbone(settings.net, weights=settings.weights, device=settings.device, dtype=settings.dtype,
                           threads=settings.threads, num_frames=settings.num_frames, size=settings.size,
                           sampling=settings.sampling)


def read_clips(ref: CaseRef, clip_settings: ClipSettings, boxes=None, seconds: dict | None = None) -> tuple:
    """The clips of a case, uint8 ``(n_clips, n_frames, box, box)`` (5 unless the settings leave modalities out),
    and the case's metadata.

    When ``seconds`` is given, the seconds of ``"reading"``, ``"geometry"`` and ``"clips"`` (stacking
    included) are added to it (:func:`mgmtfeat.clips.case.case_clips`).

    Raises
    ------
    CaseError
        The case's files cannot be read or clipped (data reasons, recorded by batch callers).
    """
    _, case_clips = clips_of_case(ref, clip_settings, boxes, seconds)
    meta = {"layout": ref.layout, "brats_id": ref.brats_id, "box": case_clips.meta.get("box"),
            "frames": case_clips.meta.get("frames"), "box_source": case_clips.meta.get("box_source"),
            "notes": case_clips.meta.get("notes")}
    if "geometry" in case_clips.meta:  # resampled to the clip grid: recorded with the case (thick slices too)
        meta["geometry"] = case_clips.meta["geometry"]
    start = time.perf_counter()
    clips = stack(case_clips)
    if seconds is not None:
        seconds["clips"] = seconds.get("clips", 0.0) + time.perf_counter() - start
    return clips, meta


def nets_features(ref: CaseRef, backbones: Mapping[str, object], clip_settings: ClipSettings,
                  boxes=None) -> tuple[dict, dict, dict]:
    """Features of one case for each net, from one reading and clipping.

    Returns
    -------
    tuple
        ``({net: {modality: (400,) float32}}, case metadata, seconds)``; seconds holds
        ``read_and_clip`` (once; split into ``reading``, ``geometry`` and ``clips``) and ``forward``
        (``{net: seconds}``, each net's preprocessing and forward pass over the five clips).

    Raises
    ------
    CaseError
        The case's files cannot be read or clipped.
    """
    steps: dict = {}
    start = time.perf_counter()
    clips, meta = read_clips(ref, clip_settings, boxes, steps)
    seconds = {"read_and_clip": time.perf_counter() - start, **steps, "forward": {}}
    features = {}
    for net, backbone in backbones.items():
        start = time.perf_counter()
        # float32 (n_clips, 400), in the order of the settings' modalities (stack's order)
        features[net] = dict(zip(clip_settings.modalities, backbone.extract(clips)))
        seconds["forward"][net] = time.perf_counter() - start
    return features, meta, seconds


def case_features(ref: CaseRef, backbone, clip_settings: ClipSettings, boxes=None) -> tuple[dict, dict, dict]:
    """Features of one case for one backbone: ``({modality: (400,) float32}, metadata, {step: seconds})``.

    Raises
    ------
    CaseError
        The case's files cannot be read or clipped.
    """
    features, meta, seconds = nets_features(ref, {"net": backbone}, clip_settings, boxes)
    return features["net"], meta, {"read_and_clip": seconds["read_and_clip"], "forward": seconds["forward"]["net"]}


# -- the backbones a worker process keeps ------------------------------------------------------
_BACKBONES: dict[tuple, object] = {}  # built backbones of this process, keyed by their settings
#: Held while a worker builds or runs its backbones: it also makes a process run one case at a time on all its threads.
BACKBONE_LOCK = threading.Lock()


def _key(settings) -> tuple:
    return (settings.net, settings.weights, settings.dtype, settings.device, settings.threads, settings.num_frames,
            settings.size, settings.sampling)


def cached_backbones(runs: Mapping[str, object], names: Sequence[str]) -> dict:
    """The backbones of ``names`` (nets of ``runs``) in this process, built on first use. Call under the lock.

    Only the run's nets are kept: backbones of other runs are dropped first, so a worker holds at
    most one copy of each net of the run it serves.
    """
    runs = {net: replace(run, threads=worker_threads()) if run.threads is None else run  # a Dask worker's threads
            for net, run in runs.items()}
    keys = {net: _key(run) for net, run in runs.items()}
    for stale in set(_BACKBONES) - set(keys.values()):
        del _BACKBONES[stale]
    for net in names:
        if keys[net] not in _BACKBONES:
            _BACKBONES[keys[net]] = open_backbone(runs[net])
    return {net: _BACKBONES[keys[net]] for net in names}


def backbone_provenance(net: str, runs: Mapping[str, object]) -> dict:
    """Task: provenance of net ``net`` of ``runs`` as a worker builds it (and keeps it for the cases to come)."""
    with BACKBONE_LOCK:
        backbone = cached_backbones(runs, [net])[net]
        clips = runs[net].clip_settings
        # the frames the net takes from each clip; a clip the sampling cannot take is refused here, before any case
        return {**backbone.provenance, "frame_indices": backbone.frame_indices(clips.n_frames),
                "clips": clips.as_dict()}


def extract_case(item: tuple[CaseRef, Sequence[str]], runs: Mapping[str, object], boxes=None) -> dict:
    """Task: features of one case for the nets it needs, or its data failure, as a plain dictionary.

    Parameters
    ----------
    item : (CaseRef, list of str)
        The case and the nets (keys of ``runs``) to run it through.
    runs : dict
        ``{net: single-net ExtractionSettings}`` of the whole run (same data and clip settings).
    boxes : optional
        User boxes (``--box-csv``).

    Returns
    -------
    dict
        Either ``features`` ({net: {modality: (400,) float32}}), ``meta`` and ``seconds`` (see
        :func:`nets_features`), or ``failure`` ({case_id, file, reason}) when the case fails for a
        data reason (reported, never retried).

    Raises
    ------
    FileNotFoundError
        This worker cannot see the data folder (it must be at the same absolute path everywhere).
    """
    ref, names = item
    first = runs[names[0]]
    if not Path(first.data).exists():  # a dataset folder or a manifest
        raise FileNotFoundError(
            f"the worker on host {socket.gethostname()} cannot see the data folder {first.data}; the data must be "
            "at the same absolute path on every worker (a shared or copied folder)."
        )
    with BACKBONE_LOCK:
        backbones = cached_backbones(runs, names)
        try:
            features, meta, seconds = nets_features(ref, backbones, first.clip_settings, boxes)
        except CaseError as err:
            return {"failure": {"case_id": err.case_id, "file": err.file, "reason": err.reason}}
    return {"features": features, "meta": meta, "seconds": seconds}
