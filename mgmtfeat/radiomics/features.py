"""Handcrafted radiomics features of the tumour, per modality, with pyradiomics.

The baseline the deep features are compared with: for each input (FLAIR, T1, T1wCE, T2
and delta-T1 = T1wCE - T1 on the original intensities) a fixed-length vector of
pyradiomics features computed from that image and the tumour mask.

Images
    pyradiomics gets each image as ``SimpleITK.ReadImage`` reads its original file: orientation,
    direction cosines and pixel type unchanged, so the features equal ``pyradiomics IMAGE MASK
    --param PARAMS`` on that file (:mod:`mgmtfeat.radiomics.originals`). delta-T1 has no file: it is
    float32(T1wCE) - float32(T1) on the T1wCE file's grid, written to a temporary NIfTI file with
    that geometry and read back.
Mask
    ``RadiomicsSettings.labels``: ``None`` is the whole tumour (every label > 0), else the
    union of the listed labels (the segmentation file's own values, as pyradiomics' ``label``);
    it is handed to pyradiomics as a binary mask with label 1 on the segmentation file's grid.
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
from mgmtfeat.data.layouts import CaseRef
from mgmtfeat.data.volumes import Case, Volume

__all__ = ["DEFAULT_PARAMS", "RadiomicsSettings", "box_mask", "feature_names", "radiomics_features"]

#: What pyradiomics is given (recorded in provenance: features made otherwise are not comparable).
IMAGES = ("original files as SimpleITK reads them (orientation and pixel type kept); delta_t1: float32 "
          "T1wCE - T1 on the T1wCE file's grid, through a NIfTI file")
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
            "images": IMAGES,
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


def _check_vector(values: dict, names: list[str], settings: RadiomicsSettings, case_id: str, path,
                  modality: str) -> np.ndarray:
    """The float32 vector in ``names`` order; a NaN or infinite feature is a CaseError."""
    if set(values) != set(names):
        raise RuntimeError(f"pyradiomics gave features {sorted(set(values) ^ set(names))} unlike the "
                           f"probe for {settings.params}; report this as a bug")
    vector = np.array([values[n] for n in names], dtype=np.float64)
    bad = [n for n, v in zip(names, vector) if not np.isfinite(v)]
    if bad:
        raise CaseError(case_id, path, f"{len(bad)} radiomics feature(s) of {modality} are NaN or "
                        f"infinite: {', '.join(bad)}; the ROI is probably too small or uniform: check "
                        "the mask, or disable these features in the params file")
    return vector.astype(np.float32)


def _constant(image, case_id: str, path, modality: str) -> None:
    import SimpleITK as sitk

    data = sitk.GetArrayViewFromImage(image)
    if data.min() == data.max():  # z-scoring divides by 0 and pyradiomics fails cryptically
        hint = " (T1wCE identical to T1)" if modality == "delta_t1" else " (a blank series)"
        raise CaseError(case_id, path, f"the {modality} image is constant ({float(data.min()):g} everywhere); "
                        f"there is no texture to describe: check the file{hint} or leave {modality} out with "
                        "--modalities (e.g. `mgmtfeat extract --net radiomics --modalities flair,t1,t1ce,t2`)")


def radiomics_features(case: Case | CaseRef, settings: RadiomicsSettings | None = None,
                       mask: Volume | None = None, series_uids: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Radiomics feature vectors of one case, one per input, as pyradiomics computes them on its files.

    Each image reaches pyradiomics as ``SimpleITK.ReadImage`` reads its original file (orientation,
    direction cosines and pixel type unchanged), so every vector equals ``pyradiomics IMAGE MASK
    --param PARAMS``; delta-T1 is written to a temporary NIfTI file on the T1wCE grid first (see
    :mod:`mgmtfeat.radiomics.originals`).

    Parameters
    ----------
    case : Case or CaseRef
        The case whose files (``ref.paths``) are read; a :class:`Case`'s loaded volumes are not used.
    settings : RadiomicsSettings, optional
        Default: the shipped params, whole tumour, all five inputs.
    mask : Volume, optional
        Replaces the segmentation file (e.g. :func:`box_mask` for cases without one); resampled
        onto each image's grid by nearest neighbour.
    series_uids : tuple of str
        DICOM series folders: the series to read where a folder mixes several.

    Returns
    -------
    dict
        Input name (``settings.modalities``) -> float32 ``(len(feature_names(settings)),)``
        vector, in the order of :func:`feature_names`.

    Raises
    ------
    CaseError
        No segmentation and no mask; no voxel of the chosen labels; a mask or T1 on another
        grid than the image; a constant image; a params file pyradiomics rejects; pyradiomics
        failing on the ROI; a feature that comes out NaN or infinite.
    """
    import tempfile

    from mgmtfeat.radiomics.originals import binary_mask, delta_image, mask_on, read_original

    settings = settings or RadiomicsSettings()
    ref = case.ref if isinstance(case, Case) else case
    cid = ref.case_id
    extractor = _extractor(settings, cid)
    names = feature_names(settings)
    if mask is None:
        if "seg" not in ref.paths:
            raise CaseError(cid, None, "no tumour segmentation (the RSNA DICOM layout has none); radiomics needs a "
                            "mask: give one from a box with mgmtfeat.radiomics.box_mask(volume, rows, cols, "
                            "slices), or exclude the case")
        mask_path = ref.paths["seg"]
        mask = binary_mask(read_original(mask_path, cid, "seg"), settings.labels, cid, mask_path)
    else:
        mask_path = mask.path
    images: dict = {}

    def image_of(modality: str, folder: str):
        if modality not in images:
            if modality == "delta_t1":
                images[modality] = delta_image(image_of("t1ce", folder), image_of("t1", folder), cid, ref.paths,
                                               Path(folder))
            else:
                images[modality] = read_original(ref.paths[modality], cid, modality, series_uids)
        return images[modality]

    needed = {m for m in settings.modalities if m != "delta_t1"} | ({"t1", "t1ce"} if "delta_t1" in settings.modalities
                                                                     else set())
    absent = sorted(needed - set(ref.paths))
    if absent:
        raise CaseError(cid, None, f"the case has no {', '.join(absent)} image; radiomics of "
                        f"{', '.join(settings.modalities)} needs it: add the file, or leave the inputs that need it "
                        "out with --modalities")
    out = {}
    with tempfile.TemporaryDirectory(prefix="mgmtfeat-radiomics-") as folder:
        for modality in settings.modalities:
            path = ref.paths["t1ce" if modality == "delta_t1" else modality]
            image = image_of(modality, folder)
            _constant(image, cid, path, modality)
            on_grid = mask_on(image, mask, cid, path, mask_path, modality)
            values = _execute(extractor, image, on_grid, cid, path, modality)
            out[modality] = _check_vector(values, names, settings, cid, path, modality)
    return out
