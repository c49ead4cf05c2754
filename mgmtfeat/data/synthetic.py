"""A seeded synthetic glioblastoma cohort written in the three public layouts.

Each case is a skull-stripped head phantom (zero background): white matter, a grey
matter shell, two ventricles, a smooth bias field and noise, with modality-specific
contrasts; a tumour with a necrotic core (label 1), an enhancing rim (label 4) and
oedema (label 2), irregular in shape. The MGMT label changes the imaging so that a
classifier can learn something: methylated tumours (label 1) have a larger necrotic
core, a weaker enhancing rim on T1wCE and less FLAIR oedema signal.

The data are made up; they only mimic the file layouts and rough appearance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mgmtfeat.data.dicom import write_dicom_series
from mgmtfeat.data.layouts import IMAGE_MODALITIES, LAYOUT_SPECS, LAYOUTS, modality_path
from mgmtfeat.data.nifti import write_nifti

__all__ = ["phantom", "write_cohort"]

# Tissue intensities (arbitrary units x 1000) per modality:
#             WM    GM    CSF   oedema necrosis enhancing
_CONTRAST = {
    "t1":    (0.80, 0.55, 0.20, 0.45, 0.25, 0.55),
    "t1ce":  (0.80, 0.57, 0.22, 0.47, 0.25, 1.15),
    "t2":    (0.45, 0.62, 1.00, 0.85, 0.95, 0.60),
    "flair": (0.50, 0.62, 0.10, 0.95, 0.40, 0.70),
}
_WM, _GM, _CSF, _OEDEMA, _NECROSIS, _ENHANCING = range(6)


def _smooth_field(shape, rng: np.random.Generator, coarse: int = 6) -> np.ndarray:
    """A smooth random field in about [-1, 1], float32 ``shape``."""
    from scipy.ndimage import zoom

    small = rng.standard_normal((coarse, coarse, coarse)).astype(np.float32)
    field = zoom(small, [n / coarse for n in shape], order=1, grid_mode=True, mode="nearest")
    return field[: shape[0], : shape[1], : shape[2]] / 2


def phantom(shape=(64, 64, 40), label: int = 0, seed: int | np.random.Generator = 0):
    """One synthetic case in canonical RAS+ orientation.

    Parameters
    ----------
    shape : tuple of int
        ``(X, Y, Z)`` voxels.
    label : {0, 1}
        MGMT methylation; changes the tumour's appearance.
    seed : int or numpy.random.Generator

    Returns
    -------
    images : dict
        ``flair``, ``t1``, ``t1ce``, ``t2`` -> int16 ``(X, Y, Z)`` arrays, zero outside the brain.
    seg : numpy.ndarray
        uint8 ``(X, Y, Z)``: 0 background, 1 necrotic core, 2 oedema, 4 enhancing.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    nx, ny, nz = shape
    u, v, w = np.meshgrid(*(np.linspace(-1, 1, n, dtype=np.float32) for n in shape), indexing="ij", sparse=True)
    radii = np.array([0.78, 0.88, 0.85]) * rng.uniform(0.95, 1.05, 3)
    wobble = 1 + 0.04 * _smooth_field(shape, rng, 4)
    r = np.sqrt((u / radii[0]) ** 2 + (v / radii[1]) ** 2 + (w / radii[2]) ** 2) * wobble
    tissue = np.full(shape, -1, dtype=np.int8)
    tissue[r < 1] = _GM
    tissue[r < 0.86] = _WM
    for side in (-1, 1):
        vent = ((u - side * 0.1) / 0.07) ** 2 + ((v - 0.05) / 0.3) ** 2 + ((w - 0.1) / 0.18) ** 2
        tissue[(vent < 1) & (tissue >= 0)] = _CSF
    # Tumour in one hemisphere, size relative to the in-plane matrix.
    centre = np.array([rng.choice([-1, 1]) * rng.uniform(0.25, 0.4), rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3)])
    enh = rng.uniform(0.08, 0.11)  # radii as fractions of the in-plane matrix
    core = enh * (0.7 if label == 1 else 0.45) * rng.uniform(0.9, 1.1)
    oedema = enh * rng.uniform(1.6, 1.9)
    half = np.array(shape) / 2  # normalised -> voxel units
    d = np.sqrt(((u - centre[0]) * half[0]) ** 2 + ((v - centre[1]) * half[1]) ** 2
                + ((w - centre[2]) * half[2]) ** 2) / min(nx, ny)
    d = d * (1 + 0.15 * _smooth_field(shape, rng, 5))
    inside = tissue >= 0
    seg = np.zeros(shape, dtype=np.uint8)
    seg[(d < oedema) & inside] = 2
    seg[(d < enh) & inside] = 4
    seg[(d < core) & inside] = 1
    tissue[seg == 2] = _OEDEMA
    tissue[seg == 4] = _ENHANCING
    tissue[seg == 1] = _NECROSIS
    bias = 1 + 0.08 * _smooth_field(shape, rng, 3)
    images = {}
    for modality, contrast in _CONTRAST.items():
        table = np.array(contrast, dtype=np.float32)
        if label == 1 and modality == "t1ce":
            table[_ENHANCING] *= 0.8
        if label == 1 and modality == "flair":
            table[_OEDEMA] *= 0.85
        img = table[np.clip(tissue, 0, None)] * bias
        img += rng.normal(0, 0.02, shape).astype(np.float32)
        img = np.clip(img, 0.01, None) * 1000
        img[~inside] = 0
        images[modality] = np.rint(img).astype(np.int16)
    return images, seg


def _lps_affine(shape, spacing) -> np.ndarray:
    """The affine of a BraTS-style volume stored in LPS order, centred on the origin."""
    sx, sy, sz = spacing
    affine = np.diag([-sx, -sy, sz, 1.0])
    affine[:3, 3] = [(shape[0] - 1) * sx / 2, (shape[1] - 1) * sy / 2, -(shape[2] - 1) * sz / 2]
    return affine


def _ras_affine(shape, spacing) -> np.ndarray:
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = [-(n - 1) * s / 2 for n, s in zip(shape, spacing)]
    return affine


def write_cohort(
    root: str | Path,
    layout: str = "brats2021",
    n_cases: int = 8,
    shape: tuple[int, int, int] = (64, 64, 40),
    seed: int = 0,
    spacing: tuple[float, float, float] | None = None,
    coregistered: bool = True,
) -> Path:
    """Write a synthetic cohort in one layout.

    Parameters
    ----------
    root : str or Path
        Dataset folder to create; it must be absent or empty.
    layout : {"brats2021", "rsna_dicom", "ucsf_pdgm"}
        ``brats2021``: ``BraTS2021_XXXXX/…_{flair,t1,t1ce,t2,seg}.nii.gz`` (LPS-stored like
        BraTS) and ``train_labels.csv``; ``rsna_dicom``: ``train/XXXXX/{FLAIR,T1w,T1wCE,T2w}/
        Image-N.dcm`` (series in mixed planes, no segmentation) and ``train_labels.csv``;
        ``ucsf_pdgm``: ``UCSF-PDGM-XXXX_nifti/…_{T1,T1c,T2,FLAIR,tumor_segmentation}.nii.gz``
        and ``UCSF-PDGM-metadata_v2.csv`` (3-digit ``ID``; one patient marked as also in
        BraTS 2021 and one with an indeterminate MGMT status when ``n_cases >= 5``). All names
        come from :data:`mgmtfeat.data.layouts.LAYOUT_SPECS`, the table the readers use.
    n_cases : int
        Number of cases; labels alternate in a seeded random order (balanced).
    shape : tuple of int
        ``(X, Y, Z)`` voxels per volume (BraTS: 240, 240, 155).
    seed : int
    spacing : tuple of float, optional
        Voxel size in mm; default ``240 / shape[0]`` mm in-plane (a BraTS-like field of view).
    coregistered : bool
        ``rsna_dicom`` only: False writes T1w with every other axial slice (twice the
        slice spacing), so that T1 and T1wCE are on different grids as in the real data.

    Returns
    -------
    Path
        ``root``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    if n_cases < 1:
        raise ValueError(f"n_cases={n_cases} must be at least 1")
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty; write the synthetic cohort into a new folder")
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    spacing = tuple(spacing) if spacing else (240 / shape[0], 240 / shape[1], 155 / shape[2])
    labels = rng.permutation(np.arange(n_cases) % 2)
    numbers = np.sort(rng.choice(np.arange(1, 1000), n_cases, replace=False))
    rows = []
    for i, (number, label) in enumerate(zip(numbers, labels)):
        images, seg = phantom(shape, int(label), rng)
        if layout == "brats2021":
            _write_brats(root, int(number), images, seg, spacing)
        elif layout == "rsna_dicom":
            _write_rsna(root, int(number), images, spacing, rng, coregistered)
        else:
            _write_ucsf(root, int(number), images, seg, spacing)
        rows.append((int(number), int(label), i))
    spec = LAYOUT_SPECS[layout]
    if layout == "ucsf_pdgm":
        _write_ucsf_metadata(root, rows)
    else:
        table = pd.DataFrame({spec.id_column: [spec.label_id.format(number=n) for n, _, _ in rows],
                              spec.label_column: [label for _, label, _ in rows]})
        table.to_csv(root / spec.label_file, index=False)
    return root


def _write_brats(root: Path, number: int, images: dict, seg: np.ndarray, spacing) -> None:
    case = LAYOUT_SPECS["brats2021"].case_id.format(number=number)
    affine = _lps_affine(seg.shape, spacing)
    for modality, data in {**images, "seg": seg}.items():
        write_nifti(modality_path(root, "brats2021", case, modality), data[::-1, ::-1, :], affine)


def _write_ucsf(root: Path, number: int, images: dict, seg: np.ndarray, spacing) -> None:
    case = LAYOUT_SPECS["ucsf_pdgm"].case_id.format(number=number)
    affine = _ras_affine(seg.shape, spacing)
    for modality, data in {**images, "seg": seg}.items():
        write_nifti(modality_path(root, "ucsf_pdgm", case, modality), data, affine)


def _write_rsna(root: Path, number: int, images: dict, spacing, rng: np.random.Generator,
                coregistered: bool = True) -> None:
    from pydicom.uid import generate_uid

    spec = LAYOUT_SPECS["rsna_dicom"]
    case = spec.case_id.format(number=number)
    affine = _ras_affine(images["t1"].shape, spacing)
    study = generate_uid(entropy_srcs=["mgmtfeat-synthetic", case])
    for series_number, modality in enumerate(IMAGE_MODALITIES, start=1):
        folder = spec.file_name(case, modality)  # the series folder's name, also its description
        plane = ("axial", "sagittal", "coronal")[int(rng.integers(0, 3))]
        data, grid = images[modality], affine
        if modality == "t1" and not coregistered:
            data, grid = data[:, :, ::2], affine @ np.diag([1.0, 1.0, 2.0, 1.0])  # thicker slices
        write_dicom_series(modality_path(root, spec.name, case, modality), data.astype(np.float32), grid,
                           plane=plane, study_uid=study, patient_id=case, description=folder,
                           series_number=series_number,
                           series_uid=generate_uid(entropy_srcs=[study, folder]))


def _write_ucsf_metadata(root: Path, rows: list) -> None:
    spec = LAYOUT_SPECS["ucsf_pdgm"]
    records = []
    for number, label, i in rows:
        status = "positive" if label == 1 else "negative"
        if len(rows) >= 5 and i == len(rows) - 1:
            status = "indeterminate"
        overlap = LAYOUT_SPECS["brats2021"].case_id.format(number=number + 1000)
        records.append({
            spec.id_column: spec.label_id.format(number=number),
            "Sex": "M" if i % 2 else "F",
            spec.label_column: status,
            spec.brats_id_column: overlap if len(rows) >= 5 and i == 0 else "",
        })
    pd.DataFrame(records).to_csv(root / spec.label_file, index=False)
