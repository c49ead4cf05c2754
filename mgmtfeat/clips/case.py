"""One case from its files to its clips: read (the layout's reader), bring to the clip grid, clip.

This is the one path every command takes from a :class:`~mgmtfeat.data.layouts.CaseRef` to
clips (``make-clips``, ``extract``, and ``predict --data``):

>>> from mgmtfeat.data import find_cases
>>> from mgmtfeat.clips import ClipSettings
>>> from mgmtfeat.clips.case import case_clips
>>> for ref in find_cases("cohort.csv"):            # a dataset folder or a manifest
...     case, clips = case_clips(ref, ClipSettings())
"""

from __future__ import annotations

import time

from mgmtfeat.clips.make import CaseClips, make_clips
from mgmtfeat.clips.settings import ClipSettings
from mgmtfeat.data.geometry import to_spacing
from mgmtfeat.data.layouts import CaseRef
from mgmtfeat.data.volumes import Case, load_case

__all__ = ["case_clips", "read_case"]

# Whether the box needs the segmentation: required, never read, or used when present.
_SEG = {"seg": "require", "csv": "ignore", "brain": "ignore", "whole-brain": "ignore", "auto": "auto"}


def read_case(ref: CaseRef, settings: ClipSettings = ClipSettings(), seconds: dict | None = None) -> tuple[Case, dict]:
    """Read the series ``settings`` needs and bring them to its grid (:func:`mgmtfeat.data.geometry.to_spacing`).

    Parameters
    ----------
    ref : CaseRef
    settings : ClipSettings
        ``modalities`` (which series are read), ``box`` (whether the segmentation is),
        ``series_uids``, ``spacing`` and ``interpolation``.
    seconds : dict, optional
        When given, ``"reading"`` (the files) and ``"geometry"`` (to the clip grid) are added to it.

    Returns
    -------
    case : Case
        On the clip grid (1 mm on the T1wCE's grid by default; unchanged with ``spacing=None``).
    geometry : dict
        What was done to the grid (see :func:`~mgmtfeat.data.geometry.to_spacing`).

    Raises
    ------
    CaseError
        Any data problem of the case (files, labels, grids).
    """
    start = time.perf_counter()
    case = load_case(ref, seg=_SEG[settings.box], series_uids=settings.series_uids, modalities=settings.images)
    read = time.perf_counter()
    case, geometry = to_spacing(case, settings.spacing, settings.interpolation, settings.antialias)
    if seconds is not None:
        _add(seconds, "reading", read - start)
        _add(seconds, "geometry", time.perf_counter() - read)
    return case, geometry


def case_clips(ref: CaseRef, settings: ClipSettings = ClipSettings(), boxes=None,
               seconds: dict | None = None) -> tuple[Case, CaseClips]:
    """The clips of one case made with ``settings``: :func:`read_case` then :func:`~mgmtfeat.clips.make.make_clips`.

    Parameters
    ----------
    ref : CaseRef
        From :func:`mgmtfeat.data.layouts.find_cases` (a dataset folder or a manifest).
    settings : ClipSettings
    boxes : mapping, optional
        User boxes (:func:`~mgmtfeat.clips.settings.read_box_csv`), in the clip grid's frame coordinates.
    seconds : dict, optional
        When given, the seconds of each step are added to it: ``"reading"``, ``"geometry"`` (see
        :func:`read_case`) and ``"clips"`` (:func:`~mgmtfeat.clips.make.make_clips`).

    Returns
    -------
    case : Case
        The case on the clip grid (for previews and saliency maps).
    clips : CaseClips
        uint8 ``(n_frames, box, box)`` per name of ``settings.modalities``; ``meta["geometry"]``
        records the grid, and its thick-slice notes lead ``meta["notes"]``.

    Raises
    ------
    CaseError
        Any data problem of the case.
    """
    case, geometry = read_case(ref, settings, seconds)
    start = time.perf_counter()
    clips = make_clips(case, settings, boxes)
    if seconds is not None:
        _add(seconds, "clips", time.perf_counter() - start)
    if settings.spacing is not None:  # native clips keep today's metadata
        clips.meta["geometry"] = geometry
        clips.meta["notes"] = geometry["notes"] + clips.meta["notes"]
    return case, clips


def _add(seconds: dict, step: str, value: float) -> None:
    seconds[step] = seconds.get(step, 0.0) + value
