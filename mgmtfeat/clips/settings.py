"""How clips are made: :class:`ClipSettings` (recorded in every clip file), user boxes (:class:`BoxSpec`, a CSV)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from mgmtfeat import MODALITIES

__all__ = ["BoxSpec", "ClipSettings", "box_for", "read_box_csv"]

_BOX_SOURCES = ("auto", "seg", "csv", "brain", "whole-brain")
_LARGE_RULES = ("corner", "centre", "resize", "error")
_DELTA_GRID = ("require", "resample", "register")
_INTERPOLATIONS = ("linear", "bspline")


@dataclass(frozen=True)
class ClipSettings:
    """How clips are made; ``as_dict()`` goes into every clip file's provenance.

    Attributes
    ----------
    n_frames : int
        Frames per clip (the paper: 150).
    box_size : int
        Side of the square box in voxels (the paper: 128).
    percentiles : tuple of float
        Lower and upper intensity percentiles mapped to 0 and 255 (the paper: 1, 99).
    percentile_sample : int
        Maximum voxels sampled (regularly) to estimate the percentiles; 0 uses all.
    box : {"auto", "seg", "csv", "brain", "whole-brain"}
        Where the box comes from (see :mod:`mgmtfeat.clips.placement`); ``"whole-brain"`` is
        the segmentation-free mode: the brain's whole in-plane extent resized into the box.
    large_tumour : {"corner", "centre", "resize", "error"}
        What to do when the tumour is larger than the box.
    delta_grid : {"require", "resample"}
        Whether T1 and T1wCE must share a grid, or T1 is resampled onto T1wCE.
    series_uids : tuple of str
        DICOM SeriesInstanceUIDs to keep where a series folder mixes several series
        (``--series-uid``); recorded only when given, so earlier provenance still matches.
    spacing : float or None
        Isotropic voxel size in mm every case is brought to, on its T1wCE grid, before clips
        (:mod:`mgmtfeat.data.geometry`; the paper: 1.0, BraTS data pass unchanged); None
        (``--spacing native``) keeps each volume's own grid and is not recorded, so clips made
        before the option existed still match.
    interpolation : {"linear", "bspline"}
        How images are resampled when ``spacing`` is set (masks: nearest neighbour).
    antialias : bool
        Smooth an image before it is brought to a coarser grid (a 0.5 mm series to 1 mm;
        :mod:`mgmtfeat.data.geometry`); recorded only when on, so earlier provenance still matches.
    modalities : tuple of str
        The clips made, from :data:`mgmtfeat.MODALITIES` (``--modalities t1ce,t2,delta_t1``);
        a modality left out is not read at all. Recorded only when not all five.
    """

    n_frames: int = 150
    box_size: int = 128
    percentiles: tuple[float, float] = (1.0, 99.0)
    percentile_sample: int = 262_144
    box: str = "auto"
    large_tumour: str = "corner"
    delta_grid: str = "require"
    series_uids: tuple[str, ...] = ()
    spacing: float | None = 1.0
    interpolation: str = "linear"
    antialias: bool = False
    modalities: tuple[str, ...] = MODALITIES

    def __post_init__(self):
        for name in ("n_frames", "box_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive integer")
        lo, hi = self.percentiles
        if not 0 <= lo < hi <= 100:
            raise ValueError(f"percentiles={self.percentiles!r} must satisfy 0 <= low < high <= 100")
        if self.percentile_sample < 0:
            raise ValueError(f"percentile_sample={self.percentile_sample} must be >= 0 (0 = all voxels)")
        for name, allowed in (("box", _BOX_SOURCES), ("large_tumour", _LARGE_RULES),
                              ("delta_grid", _DELTA_GRID)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r} is not one of {allowed}")
        if isinstance(self.series_uids, str) or not all(isinstance(u, str) and u for u in self.series_uids):
            raise ValueError(f"series_uids={self.series_uids!r} must be a sequence of SeriesInstanceUID strings")
        object.__setattr__(self, "series_uids", tuple(self.series_uids))
        self._check_geometry()

    def _check_geometry(self) -> None:
        if self.spacing is not None:
            if isinstance(self.spacing, bool) or not isinstance(self.spacing, (int, float)) or not self.spacing > 0:
                raise ValueError(f"spacing={self.spacing!r} must be a positive number of mm (the paper: 1) or None "
                                 "for the native grid (--spacing native)")
            object.__setattr__(self, "spacing", float(self.spacing))
        if self.interpolation not in _INTERPOLATIONS:
            raise ValueError(f"interpolation={self.interpolation!r} is not one of {_INTERPOLATIONS}")
        if not isinstance(self.antialias, (bool, np.bool_)):
            raise ValueError(f"antialias={self.antialias!r} must be True or False")
        if self.antialias and self.spacing is None:
            raise ValueError("antialias=True smooths before resampling, and spacing=None (--spacing native) resamples "
                             "nothing: give a spacing (e.g. 1) or leave anti-aliasing off")
        modalities = (self.modalities,) if isinstance(self.modalities, str) else tuple(self.modalities)
        bad = [m for m in modalities if m not in MODALITIES]
        if bad or not modalities or len(set(modalities)) != len(modalities):
            raise ValueError(f"modalities={self.modalities!r}: give one or more of {', '.join(MODALITIES)}, each once "
                             f"(e.g. --modalities t1ce,t2,delta_t1)")
        # kept in the package's order, so that a clip file and a store list them alike whatever the command line
        object.__setattr__(self, "modalities", tuple(m for m in MODALITIES if m in modalities))

    @property
    def images(self) -> tuple[str, ...]:
        """The image series the clips need (delta-T1 needs T1 and T1wCE), in reading order."""
        need = set(self.modalities) | ({"t1", "t1ce"} if "delta_t1" in self.modalities else set())
        return tuple(m for m in ("flair", "t1", "t1ce", "t2") if m in need)

    def as_dict(self) -> dict:
        """JSON-able settings; options at their former behaviour are left out (old provenance still matches)."""
        out = asdict(self)
        out["percentiles"] = list(self.percentiles)
        if self.series_uids:
            out["series_uids"] = list(self.series_uids)
        else:  # absent when unused, so clips made before the option existed still match
            del out["series_uids"]
        if self.spacing is None:  # native grid: what every clip was before resampling existed
            del out["spacing"], out["interpolation"]
        if not self.antialias:  # off: what every clip was before the option existed
            del out["antialias"]
        if self.modalities == MODALITIES:
            del out["modalities"]
        else:
            out["modalities"] = list(self.modalities)
        return out

    @classmethod
    def from_dict(cls, values: Mapping) -> "ClipSettings":
        """The settings :meth:`as_dict` recorded; a record without ``spacing`` was made on the native grid."""
        values = dict(values)
        values["percentiles"] = tuple(values.get("percentiles", cls.percentiles))
        values["series_uids"] = tuple(values.get("series_uids", ()))
        values["modalities"] = tuple(values.get("modalities", MODALITIES))
        values.setdefault("spacing", None)
        return cls(**values)


@dataclass(frozen=True)
class BoxSpec:
    """A user-given box for one case (frame coordinates, see :mod:`mgmtfeat.clips.make`).

    Attributes
    ----------
    row, col : int
        Upper-left corner of the box.
    slice : int or None
        Canonical slice index (axis Z) on which to centre the frames; None: brain centre.
    file : str or None
        The box CSV it was read from, and ``line`` its line there (1 = header), so that an
        error about the box can point at the row to fix; not part of equality.
    """

    row: int
    col: int
    slice: int | None = None
    file: str | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)

    def describe(self) -> str:
        """Where the box comes from and its values: ``box file F, line N (row=5, col=7, slice=80)``."""
        where = f"box file {self.file}, line {self.line}" if self.file else "user box"
        return f"{where} ({self.values()})"

    def values(self) -> str:
        """``row=5, col=7, slice=80`` (``slice`` only when given)."""
        return f"row={self.row}, col={self.col}" + (f", slice={self.slice}" if self.slice is not None else "")


def read_box_csv(path: str | Path) -> dict[tuple[str, str | None], BoxSpec]:
    """Read user boxes: CSV with columns ``case_id,row,col`` and optional ``slice``, ``modality``.

    ``row``/``col`` are the box's upper-left corner in frame coordinates of the case's
    canonical grid; ``slice`` the canonical slice index on which to centre the frames;
    ``modality`` (blank: all) allows one box per series when series are not co-registered.
    Where the box lies relative to each image is checked when the clip is placed
    (:mod:`mgmtfeat.clips.placement`): outside, the case fails; partly outside, it is clamped.

    Returns
    -------
    dict
        ``(case_id, modality or None)`` -> :class:`BoxSpec`.

    Raises
    ------
    ValueError
        Missing columns, non-integer values, an unknown modality, or two different boxes for
        the same case and modality (identical repeated rows are accepted).
    """
    import pandas as pd

    path = Path(path)
    table = pd.read_csv(path, dtype=str).fillna("")
    missing = {"case_id", "row", "col"} - set(table.columns)
    if missing:
        raise ValueError(f"box file {path} lacks column(s) {sorted(missing)}; "
                         "expected case_id,row,col[,slice][,modality]")
    boxes = {}
    for line, row in enumerate(table.to_dict("records"), start=2):
        try:
            spec = BoxSpec(int(row["row"]), int(row["col"]),
                           int(row["slice"]) if row.get("slice", "") != "" else None, str(path), line)
        except ValueError:
            raise ValueError(f"box file {path}, line {line}: row/col/slice must be integers, got {row}") from None
        modality = row.get("modality", "") or None
        if modality is not None and modality not in MODALITIES:
            raise ValueError(f"box file {path}, line {line}: modality {modality!r} is not one of {MODALITIES}")
        key = (str(row["case_id"]).strip(), modality)
        # A second row for the same case and modality would silently replace the first.
        if key in boxes and boxes[key] != spec:
            raise ValueError(f"box file {path}: case {key[0]} ({modality or 'all modalities'}) has two different "
                             f"boxes: line {boxes[key].line} ({boxes[key].values()}) and line {line} "
                             f"({spec.values()}); keep one row")
        boxes.setdefault(key, spec)
    return boxes


def box_for(boxes: Mapping | None, case_id: str, modality: str) -> BoxSpec | None:
    """The user box of ``case_id``'s ``modality`` (else the case's box for all modalities), or None."""
    if not boxes:
        return None
    return boxes.get((case_id, modality)) or boxes.get((case_id, None))
