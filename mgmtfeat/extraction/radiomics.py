"""``extract --net radiomics``: the handcrafted baseline, dataset folder -> pyradiomics -> feature store.

The path beside the clip path of :mod:`mgmtfeat.extraction.run`: per case the original files are
described by :func:`~mgmtfeat.radiomics.radiomics_features` (one vector per input, each image as
pyradiomics itself reads the file, with the tumour segmentation) and written to the store under the
net name ``radiomics``; so a stored vector equals ``pyradiomics IMAGE SEG --param PARAMS``.
Resumable the same way: cases whose entry matches the provenance are skipped, a case that fails for a
data reason (:class:`CaseError`: no segmentation, an empty label, a constant image, ...) lands in
``failures.csv`` and the run goes on, and the net's claim file keeps a second run off the store
while this one writes.

The provenance records :meth:`RadiomicsSettings.as_dict` (params file digest, binning, resampling,
mask labels, inputs, versions), the pyradiomics ``feature_names`` and ``n_features``, so the store
reads the vectors with their own length and exports their columns by name.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from pathlib import Path

from mgmtfeat import MODALITIES
from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.layouts import CaseRef

__all__ = ["RADIOMICS_NET", "radiomics_settings", "radiomics_provenance", "radiomics_case", "extract_radiomics"]

#: Net name under which the handcrafted features are stored.
RADIOMICS_NET = "radiomics"


def radiomics_settings(settings, modalities=None):
    """The :class:`~mgmtfeat.radiomics.RadiomicsSettings` of an :class:`ExtractionSettings`.

    ``modalities`` (default: the settings' ``modalities`` where they have them, else all five
    inputs) chooses the inputs described, e.g. without ``delta_t1`` for a cohort whose T1wCE is T1.

    Raises
    ------
    ValueError
        The params file does not exist or the labels are not positive integers.
    """
    from mgmtfeat.radiomics import DEFAULT_PARAMS, RadiomicsSettings

    modalities = modalities or getattr(settings, "modalities", None) or MODALITIES
    return RadiomicsSettings(params=settings.radiomics_params or DEFAULT_PARAMS, labels=settings.radiomics_labels,
                             modalities=tuple(modalities))


def radiomics_provenance(settings, modalities=None) -> dict:
    """Provenance of a radiomics extraction: the settings, the feature names and their number."""
    from mgmtfeat.radiomics import feature_names

    radiomics = radiomics_settings(settings, modalities)
    names = feature_names(radiomics)
    return {"kind": "radiomics", "radiomics": radiomics.as_dict(), "feature_names": names, "n_features": len(names)}


def radiomics_case(ref: CaseRef, settings, modalities=None) -> dict:
    """Task: the radiomics vectors of one case, or its data failure, as a plain dictionary.

    Returns
    -------
    dict
        Either ``features`` ({input: float32 (n_features,)}), ``meta`` and ``seconds``, or ``failure``
        ({case_id, file, reason}) for a :class:`CaseError`.
    """
    from mgmtfeat.radiomics import radiomics_features

    start = time.perf_counter()
    try:
        features = radiomics_features(ref, radiomics_settings(settings, modalities),
                                      series_uids=settings.clip_settings.series_uids)
    except CaseError as err:
        return {"failure": {"case_id": err.case_id, "file": err.file, "reason": err.reason}}
    meta = {"layout": ref.layout, "brats_id": ref.brats_id,
            "mask": ref.paths["seg"].name if "seg" in ref.paths else None}
    return {"features": features, "meta": meta, "seconds": {"read_and_clip": 0.0,
                                                            "forward": time.perf_counter() - start}}


def extract_radiomics(settings, progress: bool = True, on_case=None, executor=None, modalities=None):
    """Extract the radiomics features of every case of ``settings.data`` into ``settings.out``.

    Parameters
    ----------
    settings : ExtractionSettings
        ``net`` is ``"radiomics"``; ``radiomics_params`` and ``radiomics_labels`` choose the params
        file and the mask labels; ``limit``, ``exclude``, ``labels``, ``force``, ``jobs`` and
        ``scheduler`` as for the video nets.
    progress : bool
        Show a progress bar.
    on_case : callable, optional
        Called with each case id once its features are stored.
    executor : Executor, optional
        Where the cases run (left open).
    modalities : sequence of str, optional
        Inputs to describe (default: ``settings.modalities`` where the settings have them, else all
        five); recorded in the provenance.

    Returns
    -------
    ExtractionReport

    Raises
    ------
    ValueError
        A missing params file or bad labels (before any case is read); a params file pyradiomics
        rejects (CaseError of the probe); a store holding radiomics features made with other settings
        (StoreError, without ``force``).
    """
    from mgmtfeat._parallel import make_executor
    from mgmtfeat.extraction.case_loop import ExtractionReport, cases_to_do, select_cases, store_results
    from mgmtfeat.store import FeatureStore

    net = settings.net
    settings = replace(settings, data=str(Path(settings.data).resolve()))
    try:
        provenance = radiomics_provenance(settings, modalities)
    except CaseError as err:  # the params file is refused on the probe: every case would fail alike
        raise ValueError(f"--radiomics-params {err.file}: {err.reason}") from None
    refs = select_cases(settings)
    store = FeatureStore(settings.out)
    digest, todo, skipped = cases_to_do(store, net, refs, provenance, settings.force)
    report = ExtractionReport(skipped=skipped)
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if executor is None:
            executor = stack.enter_context(make_executor(settings.jobs, settings.scheduler))
        if todo:  # nothing to do writes nothing (a complete read-only store can be resumed)
            stack.enter_context(store.claim(net, digest))
        tasks = executor.map(radiomics_case, todo, shared={"settings": settings, "modalities": modalities},
                             names=[f"extract-{net}-{r.case_id}" for r in todo])
        store_results(store, net, todo, tasks,
                      lambda ref, result: store.write_case(net, ref.case_id, result["features"], ref.label,
                                                           result["meta"], digest=digest),
                      provenance=provenance, force=settings.force, report=report, progress=progress, on_case=on_case)
    report.seconds["total"] = time.perf_counter() - start
    return report
