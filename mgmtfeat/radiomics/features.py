"""Handcrafted radiomics features of the tumour, per modality, with pyradiomics.

The baseline the deep features are compared with: for each input (FLAIR, T1, T1wCE, T2
and delta-T1 = T1wCE - T1 on the original intensities) a fixed-length vector of
pyradiomics features computed from that image and the tumour mask.

Geometry
    Our :class:`~mgmtfeat.data.volumes.Volume` holds ``(X, Y, Z)`` voxels with an affine to
    RAS millimetres; SimpleITK works in LPS and its arrays are ``(z, y, x)``. The image
    handed to pyradiomics (:func:`mgmtfeat.clips.registration.to_sitk`) has the same voxels,
    spacing ``|affine[:3, i]|``, origin and direction of ``diag(-1, -1, 1) @ affine``
    (RAS -> LPS), so a file written from it is the image any ITK-based tool would read.
Mask
    ``RadiomicsSettings.labels``: ``None`` is the whole tumour (every label > 0), else the
    union of the listed labels; it is handed to pyradiomics as a binary mask with label 1.
    Without a segmentation (the RSNA DICOM layout) a mask can be made from a box with
    :func:`box_mask`; otherwise the case is refused.
Parameters
    A YAML file in pyradiomics' own format (``pyradiomics --param``); the default is the
    shipped ``params.yaml`` (z-scored intensities, bin width 5, 1 mm isotropic resampling,
    first-order, shape, GLCM, GLRLM, GLSZM, GLDM and NGTDM features).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from mgmtfeat import MODALITIES
from mgmtfeat.clips.registration import to_sitk
from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.volumes import Case, Volume

__all__ = ["DEFAULT_PARAMS", "RadiomicsSettings", "box_mask", "feature_names", "radiomics_features"]

#: The shipped parameter file (pyradiomics format).
DEFAULT_PARAMS = Path(__file__).with_name("params.yaml")


@dataclass(frozen=True)
class RadiomicsSettings:
    """How radiomics features are computed.

    Attributes
    ----------
    params : str or Path
        pyradiomics parameter YAML (default: the shipped ``params.yaml``).
    labels : tuple of int or None
        Segmentation labels forming the mask; None: whole tumour (every label > 0).
    modalities : tuple of str
        Inputs to describe, among ``flair``, ``t1``, ``t1ce``, ``t2``, ``delta_t1``.
    """

    params: str | Path = DEFAULT_PARAMS
    labels: tuple[int, ...] | None = None
    modalities: tuple[str, ...] = MODALITIES
    _text: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self):
        path = Path(self.params)
        if not path.is_file():
            raise ValueError(f"radiomics params file {path} does not exist; give a pyradiomics YAML "
                             f"(see {DEFAULT_PARAMS} for the default)")
        object.__setattr__(self, "params", path)
        object.__setattr__(self, "_text", path.read_text(encoding="utf-8"))
        if self.labels is not None:
            labels = tuple(int(v) for v in np.atleast_1d(self.labels))
            if not labels or min(labels) < 1:
                raise ValueError(f"labels={self.labels!r}: give positive segmentation labels "
                                 "(1 necrotic core, 2 oedema, 4 enhancing) or None for the whole tumour")
            object.__setattr__(self, "labels", labels)
        bad = [m for m in self.modalities if m not in MODALITIES]
        if bad or not self.modalities:
            raise ValueError(f"modalities={self.modalities!r}: choose among {MODALITIES}")
        object.__setattr__(self, "modalities", tuple(self.modalities))

    @property
    def digest(self) -> str:
        """sha256 of the params file's content (as read when the settings were made)."""
        return hashlib.sha256(self._text.encode("utf-8")).hexdigest()

    def setting(self) -> dict:
        """The ``setting:`` section of the params file (empty when absent or unreadable)."""
        import yaml

        try:
            params = yaml.safe_load(self._text) or {}
        except yaml.YAMLError:
            return {}
        return dict(params.get("setting") or {}) if isinstance(params, dict) else {}

    def as_dict(self) -> dict:
        """JSON-able provenance: params file name and digest, binning, resampling, mask, versions."""
        s = self.setting()
        return {
            "params_file": self.params.name,
            "params_sha256": self.digest,
            "bin_width": s.get("binWidth"),
            "bin_count": s.get("binCount"),
            "normalize": bool(s.get("normalize", False)),
            "normalize_scale": s.get("normalizeScale", 1),
            "remove_outliers": s.get("removeOutliers"),
            "resampled_spacing_mm": s.get("resampledPixelSpacing"),
            "interpolator": s.get("interpolator", "sitkBSpline"),
            "labels": "whole tumour (>0)" if self.labels is None else list(self.labels),
            "modalities": list(self.modalities),
            "pyradiomics": _version("pyradiomics", "pyradiomics-bhklab"),
            "simpleitk": _version("SimpleITK", "simpleitk"),
        }


def _version(*names: str) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


# ----------------------------------------------------------------------------- masks

def box_mask(reference: Volume, rows: tuple[int, int], cols: tuple[int, int],
             slices: tuple[int, int]) -> Volume:
    """A tumour mask from a box, for cases without a segmentation (RSNA DICOM).

    Rows and columns are frame coordinates as in :mod:`mgmtfeat.clips` (axial slice displayed
    as radiologists do: ``frame[r, c] = volume[X - 1 - c, Y - 1 - r, z]``); ranges are
    half-open ``(first, last + 1)`` voxel indices.

    Parameters
    ----------
    reference : Volume
        The volume whose grid the mask is on.
    rows, cols, slices : tuple of int
        Box extent along frame rows (anterior -> posterior), frame columns (patient right ->
        left) and axial slices (inferior -> superior).

    Returns
    -------
    Volume
        uint8 ``(X, Y, Z)`` mask, 1 inside the box, on ``reference``'s grid.
    """
    nx, ny, nz = reference.shape
    r0, r1 = (int(v) for v in rows)
    c0, c1 = (int(v) for v in cols)
    s0, s1 = (int(v) for v in slices)
    for name, (lo, hi), n in (("rows", (r0, r1), ny), ("cols", (c0, c1), nx), ("slices", (s0, s1), nz)):
        if not 0 <= lo < hi <= n:
            raise ValueError(f"box {name}=({lo}, {hi}) is outside 0..{n} or empty; give (first, last + 1) "
                             f"voxel indices inside the {reference.shape} grid of {reference.path}")
    mask = np.zeros(reference.shape, dtype=np.uint8)
    mask[nx - c1: nx - c0, ny - r1: ny - r0, s0:s1] = 1
    return Volume(mask, reference.affine.copy(), Path(f"box(rows={r0}:{r1},cols={c0}:{c1},slices={s0}:{s1})"))


# ----------------------------------------------------------------------------- extraction

def _extractor(settings: RadiomicsSettings, case_id: str):
    """A configured pyradiomics extractor; a params file pyradiomics rejects is a CaseError."""
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)  # it logs every step at INFO/WARNING
    try:
        return featureextractor.RadiomicsFeatureExtractor(str(settings.params))
    except Exception as exc:  # pykwalify SchemaError, YAML errors, unknown classes
        raise CaseError(case_id, settings.params, f"pyradiomics rejects the params file: "
                        f"{type(exc).__name__}: {str(exc).strip()}; fix it (format: pyradiomics "
                        f"'Customizing the extraction', example {DEFAULT_PARAMS})") from None


def _execute(extractor, image, mask, case_id: str, path, what: str) -> dict[str, float]:
    from threadpoolctl import threadpool_limits

    # GLCM's MCC takes eigenvalues of 13 small (grey levels)^2 matrices: threaded BLAS gains
    # nothing there and, on a busy machine, was seen 70x slower; one thread also keeps LAPACK's
    # reduction order fixed.
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            result = extractor.execute(image, mask, label=1)
    except Exception as exc:  # pyradiomics raises ValueError / RuntimeError on a bad ROI or setting
        raise CaseError(case_id, path, f"pyradiomics failed on {what}: {type(exc).__name__}: {exc}; "
                        "check the mask (size, labels) and the params file") from None
    return {k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")}


@lru_cache(maxsize=8)
def _names(params: Path, digest: str) -> tuple[str, ...]:
    """Feature names pyradiomics gives for a params file, probed on a fixed synthetic ROI."""
    settings = RadiomicsSettings(params)
    rng = np.random.default_rng(0)
    grid = np.mgrid[:32, :32, :32] - 15.5
    inside = (grid ** 2).sum(0) < 10 ** 2
    data = (1000 + 200 * rng.standard_normal((32, 32, 32))).astype(np.float32)
    affine = np.eye(4)
    image, mask = to_sitk(data, affine), to_sitk(inside.astype(np.uint8), affine)
    return tuple(_execute(_extractor(settings, "probe"), image, mask, "probe", params, "a probe sphere"))


def feature_names(settings: RadiomicsSettings) -> list[str]:
    """pyradiomics' names of the features, in the order of every vector (independent of the case).

    Returns
    -------
    list of str
        e.g. ``original_firstorder_Mean``, ``original_shape_Sphericity``, ``original_glcm_Contrast``.
    """
    return list(_names(settings.params, settings.digest))


def _mask_array(case: Case, mask: Volume | None, settings: RadiomicsSettings) -> tuple[Volume, np.ndarray]:
    source = mask if mask is not None else case.seg
    if source is None:
        raise CaseError(case.case_id, None, "no tumour segmentation (the RSNA DICOM layout has none); "
                        "radiomics needs a mask: give one from a box with "
                        "mgmtfeat.radiomics.box_mask(volume, rows, cols, slices), or exclude the case")
    data = source.data
    chosen = data > 0 if settings.labels is None else np.isin(data, settings.labels)
    if not chosen.any():
        present = sorted(int(v) for v in np.unique(data))
        raise CaseError(case.case_id, source.path, f"the mask has no voxel with label(s) "
                        f"{'> 0' if settings.labels is None else list(settings.labels)} (labels present: "
                        f"{present}); choose labels that exist (RadiomicsSettings.labels) or fix the mask")
    return source, chosen.astype(np.uint8)


def _same_grid(a: Volume, b: Volume) -> bool:
    # 0.1 mm: affines written with float32 headers differ by ~1e-5 mm on the same grid
    return a.shape == b.shape and bool(np.allclose(a.affine, b.affine, atol=0.1))


def radiomics_features(case: Case, settings: RadiomicsSettings | None = None,
                       mask: Volume | None = None) -> dict[str, np.ndarray]:
    """Radiomics feature vectors of one case, one per input.

    Parameters
    ----------
    case : Case
        The four modalities and (unless ``mask`` is given) the segmentation, on one grid.
    settings : RadiomicsSettings, optional
        Default: the shipped params, whole tumour, all five inputs.
    mask : Volume, optional
        Replaces ``case.seg`` (e.g. :func:`box_mask` for cases without a segmentation).

    Returns
    -------
    dict
        Input name (``settings.modalities``) -> float32 ``(len(feature_names(settings)),)``
        vector, in the order of :func:`feature_names`.

    Raises
    ------
    CaseError
        No segmentation and no mask; no voxel of the chosen labels; a mask or T1 on another
        grid than the image; a params file pyradiomics rejects; pyradiomics failing on the
        ROI; a feature that comes out NaN or infinite.
    """
    settings = settings or RadiomicsSettings()
    cid = case.case_id
    extractor = _extractor(settings, cid)
    names = feature_names(settings)
    source, chosen = _mask_array(case, mask, settings)
    out, sitk_masks = {}, {}
    for modality in settings.modalities:
        ref = case.volumes["t1ce" if modality == "delta_t1" else modality]
        if not _same_grid(source, ref):
            raise CaseError(cid, source.path, f"mask grid {source.shape} (spacing "
                            f"{np.round(source.spacing, 3).tolist()} mm) differs from the {modality} image "
                            f"{ref.shape} ({np.round(ref.spacing, 3).tolist()} mm, {ref.path}); resample or "
                            "register the image onto the mask's grid (mgmtfeat.clips.registration.register_rigid)")
        if modality == "delta_t1":
            t1 = case.volumes["t1"]
            if not _same_grid(t1, ref):
                raise CaseError(cid, t1.path, f"T1 grid {t1.shape} differs from T1wCE {ref.shape}; delta-T1 "
                                "needs both on one grid: register T1 onto T1wCE with register_rigid first, "
                                "or leave delta_t1 out of RadiomicsSettings.modalities")
            data = ref.data.astype(np.float32) - t1.data.astype(np.float32)
        else:
            data = ref.data.astype(np.float32, copy=False)
        if data.min() == data.max():  # z-scoring divides by 0 and pyradiomics fails cryptically
            raise CaseError(cid, ref.path, f"the {modality} image is constant ({float(data.min()):g} everywhere); "
                            "there is no texture to describe: check the file (a blank series, or T1wCE "
                            "identical to T1) or leave it out of RadiomicsSettings.modalities")
        key = ref.affine.tobytes()
        if key not in sitk_masks:
            sitk_masks[key] = to_sitk(chosen, ref.affine, cid, source.path)
        values = _execute(extractor, to_sitk(data, ref.affine, cid, ref.path), sitk_masks[key], cid, ref.path,
                          modality)
        if set(values) != set(names):
            raise RuntimeError(f"pyradiomics gave features {sorted(set(values) ^ set(names))} unlike the "
                               f"probe for {settings.params}; report this as a bug")
        vector = np.array([values[n] for n in names], dtype=np.float64)
        bad = [n for n, v in zip(names, vector) if not np.isfinite(v)]
        if bad:
            raise CaseError(cid, ref.path, f"{len(bad)} radiomics feature(s) of {modality} are NaN or "
                            f"infinite: {', '.join(bad)}; the ROI is probably too small or uniform: check "
                            "the mask, or disable these features in the params file")
        out[modality] = vector.astype(np.float32)
    return out
