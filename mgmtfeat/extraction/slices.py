"""``extract --pathway slices``: dataset folder -> ROI slices -> 2D network embeddings per slice -> store.

The slice pathway of Shin et al. (AJNR 2021): each case's clips are made as for the video
networks, the ROI's axial slices become three-channel images (:mod:`mgmtfeat.clips.slices`,
default T1wCE, T2, T2), and an image network (``resnet50``, ``i3d2d``) turns each slice into its
pre-logit embedding (2048 or 1024 values), stored per (case, slice, net) by
:mod:`mgmtfeat.store.slices`. Resumable, claimed and failure-tolerant like the clip pathway:
a case whose ROI is too short or holds no slice lands in ``failures.csv`` and the run goes on.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace

import numpy as np

from mgmtfeat.clips.case import case_clips as clips_of_case
from mgmtfeat.clips.slices import roi_slices
from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.layouts import CaseRef
from mgmtfeat.extraction.worker import BACKBONE_LOCK, cached_backbones

__all__ = ["SLICE_BATCH", "slice_case", "slice_provenance", "extract_slices"]

#: Slices per network forward: bounds the activations (ResNet-50 at 224 x 224: about 60 MB a slice).
SLICE_BATCH = 32


def _backbone(settings):
    """The image network of ``settings`` in this worker process (kept for the cases to come). Call under the lock."""
    return cached_backbones({settings.net: settings}, [settings.net])[settings.net]


def slice_provenance(_, settings) -> dict:
    """Task: provenance of the image network as a worker builds it, with the slice settings."""
    from mgmtfeat.store.slices import SLICE_PATHWAY

    with BACKBONE_LOCK:
        backbone = _backbone(settings)
        size = backbone.config.size
        n_features = backbone.extract(np.zeros((1, 3, size, size), np.uint8), return_embedding=True).shape[1]
        return {**backbone.provenance, "clips": settings.clip_settings.as_dict(), "pathway": SLICE_PATHWAY,
                "slices": settings.slices.as_dict(), "output": "pre-logit embedding", "n_features": int(n_features)}


def slice_case(ref: CaseRef, settings, boxes=None) -> dict:
    """Task: the slice embeddings of one case, or its data failure, as a plain dictionary.

    Returns
    -------
    dict
        Either ``embeddings`` (float32 (n_slices, n_features)), ``slice_index`` (int64 (n_slices,)),
        ``meta`` and ``seconds``, or ``failure`` ({case_id, file, reason}) for a :class:`CaseError`.
    """
    with BACKBONE_LOCK:
        backbone = _backbone(settings)
        start = time.perf_counter()
        try:
            _, case_clips = clips_of_case(ref, settings.clip_settings, boxes)
            images, slice_index = roi_slices(case_clips, settings.slices)
        except CaseError as err:
            return {"failure": {"case_id": err.case_id, "file": err.file, "reason": err.reason}}
        middle = time.perf_counter()
        embeddings = np.concatenate([backbone.extract(images[i:i + SLICE_BATCH], return_embedding=True)
                                     for i in range(0, len(images), SLICE_BATCH)])
        end = time.perf_counter()
    meta = {"layout": ref.layout, "brats_id": ref.brats_id, "box": case_clips.meta.get("box"),
            "box_source": case_clips.meta.get("box_source"), "n_slices": len(images),
            "notes": case_clips.meta.get("notes")}
    return {"embeddings": embeddings, "slice_index": slice_index, "meta": meta,
            "seconds": {"read_and_clip": middle - start, "forward": end - middle}}


def extract_slices(settings, progress: bool = True, on_case=None, executor=None):
    """Extract the slice embeddings of every case of ``settings.data`` into the store ``settings.out``.

    Parameters
    ----------
    settings : ExtractionSettings
        ``net`` an image network, ``slices`` a :class:`~mgmtfeat.clips.slices.SliceSettings`; the
        other fields as for the clip pathway.
    progress, on_case, executor
        As for :func:`mgmtfeat.extraction.run.extract_features`.

    Returns
    -------
    ExtractionReport

    Raises
    ------
    ValueError
        A video network, an unknown net, a device this machine cannot run on, or a store holding this net's features made otherwise.
    """
    from mgmtfeat.backbones import check_backbone_kind, check_device
    from mgmtfeat.extraction.case_loop import (ExtractionReport, cases_to_do, enter_executor, resolve_inputs,
                                               store_results)
    from mgmtfeat.extraction.nets import net_list, parse_weights, run_dtype
    from mgmtfeat.store.slices import write_slices

    nets = net_list(settings.net)
    if len(nets) != 1:
        raise ValueError(f"--net {','.join(nets)}: the slice pathway extracts one image network per run")
    net = nets[0]
    check_backbone_kind(net, "image", pathway="the slice pathway (--pathway slices)")
    if settings.scheduler is None and executor is None:  # a cluster's workers may have the GPU this machine lacks
        check_device(settings.device)
    settings, refs, boxes, store = resolve_inputs(replace(settings, net=net,
                                                          weights=parse_weights(settings.weights, nets)[net]))
    settings = replace(settings, dtype=run_dtype(store, settings))
    report = ExtractionReport()
    with contextlib.ExitStack() as stack:
        executor, settings = enter_executor(stack, settings, executor)
        provenance = dict(executor.map(slice_provenance, [None], shared={"settings": settings},
                                       names=[f"provenance-{net}"]))[0]
        digest, todo, report.skipped = cases_to_do(store, net, refs, provenance, settings.force)
        if todo:
            stack.enter_context(store.claim(net, digest))
        start = time.perf_counter()
        tasks = executor.map(slice_case, todo, shared={"settings": settings, "boxes": boxes},
                             names=[f"extract-{net}-{r.case_id}" for r in todo])
        store_results(store, net, todo, tasks,
                      lambda ref, result: write_slices(store, net, ref.case_id, result["embeddings"],
                                                       result["slice_index"], ref.label, result["meta"], digest),
                      provenance=provenance, force=settings.force, report=report, progress=progress, on_case=on_case)
    report.seconds["total"] = time.perf_counter() - start
    return report
