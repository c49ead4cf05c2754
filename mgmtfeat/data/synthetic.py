"""Write a seeded synthetic cohort in a public layout, with ``labels.csv`` and ``README.txt``.

The phantoms and the signals they carry (tumour type, site, MGMT, age and sex) are described in
:mod:`mgmtfeat.data.phantoms`; this module lays them out as BraTS 2021, BraTS 2023, RSNA-MICCAI
DICOM or UCSF-PDGM files, all through :data:`mgmtfeat.data.layouts.LAYOUT_SPECS` (how a case is
stored, its names, its labels), and writes the labels.

Voxels are 1 mm by default, the grid of the public data, so synthetic cases pass the geometry step
(:mod:`mgmtfeat.data.geometry`) unchanged; a phantom is drawn in voxels, so a 96 x 96 x 64 cohort
is a small head. ``spacing`` writes other grids (thick slices, say) to exercise the resampling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mgmtfeat.data.dicom import write_dicom_series
from mgmtfeat.data.layouts import IMAGE_MODALITIES, LAYOUT_SPECS, LAYOUTS, modality_path
from mgmtfeat.data.nifti import write_nifti
from mgmtfeat.data.phantoms import MGMT_EFFECT, TUMOUR_TYPE_TRAITS, TUMOUR_TYPES, Site, phantom, site_profile

__all__ = ["LABELS_FILE", "MGMT_EFFECT", "TUMOUR_TYPES", "WRITABLE_LAYOUTS", "Site", "cohort_readme", "phantom",
           "site_profile", "write_cohort"]

#: The cohort's file of labels for every study, beside the layout's own label file.
LABELS_FILE = "labels.csv"


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


def _balanced(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``n`` values in ``0..k-1``, as equal in number as possible, in a seeded random order."""
    return rng.permutation(np.arange(n) % k)


def write_cohort(
    root: str | Path,
    layout: str = "brats2021",
    n_cases: int = 8,
    shape: tuple[int, int, int] = (64, 64, 40),
    seed: int = 0,
    spacing: tuple[float, float, float] | None = None,
    coregistered: bool = True,
    *,
    n_sites: int = 1,
    first_site: int = 0,
    n_tumour_types: int = 3,
    mgmt_effect: float = MGMT_EFFECT,
) -> Path:
    """Write a synthetic cohort in one layout, with ``labels.csv`` and ``README.txt``.

    Parameters
    ----------
    root : str or Path
        Dataset folder to create; it must be absent or empty.
    layout : {"brats2021", "brats2023", "rsna_dicom", "ucsf_pdgm"}
        ``brats2021``: ``BraTS2021_XXXXX/…_{flair,t1,t1ce,t2,seg}.nii.gz`` (LPS-stored like
        BraTS) and ``train_labels.csv``; ``brats2023``: ``BraTS-GLI-XXXXX-000/…-{t2f,t1n,t1c,t2w,
        seg}.nii.gz`` (enhancing tumour labelled 3) with the labels in ``labels.csv``;
        ``rsna_dicom``: ``train/XXXXX/{FLAIR,T1w,T1wCE,T2w}/Image-N.dcm`` (series in mixed planes, no segmentation) and ``train_labels.csv``;
        ``ucsf_pdgm``: ``UCSF-PDGM-XXXX_nifti/…_{T1,T1c,T2,FLAIR,tumor_segmentation}.nii.gz``
        and ``UCSF-PDGM-metadata_v2.csv`` (3-digit ``ID``; one patient marked as also in
        BraTS 2021 and one with an indeterminate MGMT status when ``n_cases >= 5``). All names
        come from :data:`mgmtfeat.data.layouts.LAYOUT_SPECS`, the table the readers use.
    n_cases : int
        Number of cases. MGMT labels, tumour types and sites are each balanced and drawn in
        independent seeded random orders.
    shape : tuple of int
        ``(X, Y, Z)`` voxels per volume (BraTS: 240, 240, 155).
    seed : int
    spacing : tuple of float, optional
        Voxel size in mm; default 1 mm isotropic (the public data's grid).
    coregistered : bool
        ``rsna_dicom`` only: False writes T1w with every other axial slice (twice the
        slice spacing), so that T1 and T1wCE are on different grids as in the real data.
    n_sites : int
        Number of scanners (:func:`site_profile`), ``first_site`` to ``first_site + n_sites - 1``.
    first_site : int
        The first site's index (0 = ``A``); another hospital: ``first_site=2`` and another seed.
    n_tumour_types : int
        The first 2 to 4 of :data:`TUMOUR_TYPES`.
    mgmt_effect : float
        Strength of the MGMT signal (see :func:`phantom`), 0 or more.

    Returns
    -------
    Path
        ``root``.
    """
    if layout not in WRITABLE_LAYOUTS:
        raise ValueError(f"layout {layout!r} is not one of {', '.join(WRITABLE_LAYOUTS)} (a manifest lists files of "
                         "any layout: write one of these and list its files in a CSV)")
    if n_cases < 1:
        raise ValueError(f"n_cases={n_cases} must be at least 1")
    if not 1 <= n_tumour_types <= len(TUMOUR_TYPES):
        raise ValueError(f"n_tumour_types={n_tumour_types} must be 1 to {len(TUMOUR_TYPES)}")
    if n_sites < 1 or first_site < 0:
        raise ValueError(f"n_sites={n_sites} must be at least 1 and first_site={first_site} at least 0")
    if not mgmt_effect >= 0:
        raise ValueError(f"mgmt_effect={mgmt_effect} must be 0 or more (0: no MGMT signal in the images)")
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty; write the synthetic cohort into a new folder")
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    spacing = tuple(spacing) if spacing else (1.0, 1.0, 1.0)
    labels = _balanced(rng, n_cases, 2)
    # ids 1..999, shifted by 1000 per first site: a second "hospital" never shares a case id with the first
    numbers = np.sort(rng.choice(np.arange(1, 1000), n_cases, replace=False)) + 1000 * first_site
    types = [TUMOUR_TYPES[t] for t in _balanced(rng, n_cases, n_tumour_types)]
    sites = [site_profile(first_site + s) for s in _balanced(rng, n_cases, n_sites)]
    spec = LAYOUT_SPECS[layout]
    rows = []
    for i, (number, label, kind, site) in enumerate(zip(numbers, labels, types, sites)):
        number, label = int(number), int(label)
        images, seg = phantom(shape, label, rng, tumour_type=kind, site=site, mgmt_effect=mgmt_effect)
        age = int(np.clip(np.rint(rng.normal(*TUMOUR_TYPE_TRAITS[kind].age)), 18, 90))  # drawn after the images
        sex = "M" if rng.random() < TUMOUR_TYPE_TRAITS[kind].male else "F"
        _CASE_WRITERS[spec.reader](spec, root, number, images, seg, spacing, rng, coregistered)
        indeterminate = spec.labels == "ucsf" and n_cases >= 5 and i == n_cases - 1
        rows.append({"case_id": spec.case_id.format(number=number), "mgmt": pd.NA if indeterminate else label,
                     "tumour_type": kind, "site": site.name, "age": age, "sex": sex, "number": number})
    table = pd.DataFrame(rows).astype({"mgmt": "Int64"})
    _LABEL_WRITERS[spec.labels](spec, root, table)
    table.drop(columns="number").to_csv(root / LABELS_FILE, index=False)
    (root / "README.txt").write_text(cohort_readme(table, layout, seed, mgmt_effect, sorted(set(sites),
                                                                                          key=lambda s: s.name)))
    return root


def cohort_readme(table: pd.DataFrame, layout: str, seed: int, mgmt_effect: float, sites) -> str:
    """The cohort's ``README.txt``: what is in it, and which signals the images carry.

    Parameters
    ----------
    table : pandas.DataFrame
        The rows of ``labels.csv``.
    layout : str
    seed : int
    mgmt_effect : float
    sites : iterable of Site

    Returns
    -------
    str
    """
    from scipy.stats import norm

    counts = table.tumour_type.value_counts().reindex(TUMOUR_TYPES).dropna().astype(int)
    site_lines = [f"  {s.name}: scale {s.scale:.2f}, shift {s.shift:+.0f}, gamma {s.gamma:.2f}, enhancement "
                  f"x{s.enhancement:.2f}, noise {s.noise:.3f}, bias {s.bias:.2f}, blur {s.blur:.1f} voxels"
                  for s in sites]
    return "\n".join([
        f"Synthetic {layout} cohort written by `mgmtfeat synthetic` (seed {seed}): {len(table)} cases.",
        "Made-up phantoms: file layout and rough appearance only, nothing clinical.",
        "",
        f"{LABELS_FILE}: case_id, mgmt (0/1), tumour_type, site, age, sex; the layout's own label file holds MGMT.",
        "",
        "Signals built into the images:",
        "- tumour_type (strong): " + ", ".join(f"{k} {n}" for k, n in counts.items()) + ".",
        "  glioblastoma: irregular ring enhancement, necrotic core, large oedema; metastasis: 1-3 small",
        "  round, strongly enhancing lesions with disproportionate oedema; lymphoma: periventricular,",
        "  homogeneous enhancement, little necrosis, mild oedema, dark on T2; low_grade_glioma: no",
        "  enhancement, bright on T2/FLAIR.",
        "- site (scanner effect): intensity scale/shift, contrast gamma, enhancement, noise, bias, blur:",
        *site_lines,
        f"- mgmt (weak, mgmt_effect {mgmt_effect:g}): a latent phenotype z = effect * (+1/-1) + N(0, 1) slightly",
        "  enlarges the necrotic fraction, makes the enhancement patchier, shrinks the oedema and lowers",
        f"  its FLAIR signal. z itself separates the labels with AUC {norm.cdf(np.sqrt(2) * mgmt_effect):.2f}: "
        "expect less from image features.",
        "- age and sex: drawn per tumour type (age weakly depends on it); not in the images.",
        ""])


def _write_nifti(spec, root: Path, number: int, images: dict, seg: np.ndarray, spacing, rng=None,
                 coregistered: bool = True) -> None:
    """A NIfTI layout's case: stored LPS or RAS as the layout's files are, its enhancing-tumour label."""
    case = spec.case_id.format(number=number)
    seg = np.where(seg == 4, np.uint8(spec.enhancing_label), seg).astype(seg.dtype)
    affine = (_lps_affine if spec.stored_lps else _ras_affine)(seg.shape, spacing)
    for modality, data in {**images, "seg": seg}.items():
        write_nifti(modality_path(root, spec.name, case, modality), data[::-1, ::-1, :] if spec.stored_lps else data,
                    affine)


def _write_dicom(spec, root: Path, number: int, images: dict, seg, spacing, rng: np.random.Generator,
                 coregistered: bool = True) -> None:
    """A DICOM layout's case: one series folder per modality, in mixed planes, no segmentation."""
    from pydicom.uid import generate_uid

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


def _write_label_file(spec, root: Path, table: pd.DataFrame) -> None:
    """The layout's own label file (``train_labels.csv``): its id and MGMT columns."""
    pd.DataFrame({spec.id_column: [spec.label_id.format(number=n) for n in table.number],
                  spec.label_column: table.mgmt}).to_csv(root / spec.label_file, index=False)


def _write_ucsf_metadata(spec, root: Path, table: pd.DataFrame) -> None:
    records = []
    for i, row in enumerate(table.itertuples()):
        overlap = LAYOUT_SPECS["brats2021"].case_id.format(number=row.number + 1000)
        records.append({
            spec.id_column: spec.label_id.format(number=row.number),
            "Sex": row.sex,
            "Age at MRI": row.age,
            spec.label_column: "indeterminate" if pd.isna(row.mgmt) else ("positive" if row.mgmt else "negative"),
            spec.brats_id_column: overlap if len(table) >= 5 and i == 0 else "",
        })
    pd.DataFrame(records).to_csv(root / spec.label_file, index=False)


def _labels_csv_only(spec, root: Path, table: pd.DataFrame) -> None:
    """A layout whose labels are the cohort's ``labels.csv`` itself (written by :func:`write_cohort`)."""


# Writers by the layout table's fields: how a case is stored, and how its labels are.
_CASE_WRITERS = {"nifti": _write_nifti, "dicom": _write_dicom}
_LABEL_WRITERS = {"rsna": _write_label_file, "ucsf": _write_ucsf_metadata, "case_table": _labels_csv_only}
#: Layouts the synthetic writer can write (a manifest is a CSV of any layout's files).
WRITABLE_LAYOUTS = tuple(k for k in LAYOUTS if LAYOUT_SPECS[k].reader in _CASE_WRITERS)
