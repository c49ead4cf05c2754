"""Synthetic brain-tumour phantoms: tumour types, scanner sites and a weak MGMT signal.

Each case is a skull-stripped head phantom (zero background): white matter, a grey matter
shell, two ventricles, a smooth bias field and noise, with modality-specific contrasts, and
a tumour whose segmentation uses the BraTS labels (1 necrotic or non-enhancing core, 2 oedema,
4 enhancing). Four signals of known strength are built in:

tumour type (strong, learnable)
    ``glioblastoma``: one irregular ring-enhancing mass, necrotic core, large oedema;
    ``metastasis``: one to three small round, strongly enhancing lesions near the cortex with
    disproportionate oedema; ``lymphoma``: a periventricular, homogeneously enhancing mass
    with little necrosis and mild oedema, dark on T2; ``low_grade_glioma`` (with 4 types): a
    non-enhancing, T2/FLAIR-bright mass.
site (scanner effect)
    each site scales and shifts intensities, bends the contrast (a gamma), changes the
    contrast-agent enhancement, the noise level, the bias field and the sharpness. A linear
    scale and shift alone would vanish in the clips' percentile scaling; the rest does not.
MGMT (weak, realistic)
    a latent "methylation phenotype" ``z = mgmt_effect * (+1 methylated, -1 not) + N(0, 1)``
    per case enlarges the necrotic fraction and the heterogeneity of the enhancement, shrinks
    the oedema and lowers its FLAIR signal slightly; the label alone explains only part of ``z``
    (``z`` separates the labels with AUC ``Phi(sqrt(2) * mgmt_effect)``, about 0.98 by default).
age and sex
    drawn per tumour type (age depends weakly on the type); they do not change the images.

The data are made up; they mimic the file layouts and the rough appearance, nothing clinical.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MGMT_EFFECT", "TUMOUR_TYPES", "TUMOUR_TYPE_TRAITS", "Site", "TumourType", "phantom", "site_profile"]

#: Tumour types, in the order ``--tumour-types N`` takes them.
TUMOUR_TYPES = ("glioblastoma", "metastasis", "lymphoma", "low_grade_glioma")
#: Default strength of the MGMT signal (latent shift in noise SDs), tuned so that I3D features and
#: a logistic regression reach an AUC of about 0.65-0.85 on a few dozen cases: on the demo's 40
#: cases (seed 0, 2 sites, 3 x 2 folds) 1.0 gave 0.45, 1.5 gave 0.69, 1.75 gave 0.87, 2.5 gave 0.89
#: (benchmarks/bench_synthetic_signal.py; single cohorts, so each figure carries an SEM of ~0.04).
MGMT_EFFECT = 1.5

# Tissue intensities (arbitrary units x 1000) per modality:
#             WM    GM    CSF   oedema necrosis enhancing non-enhancing tumour
_CONTRAST = {
    "t1":    (0.80, 0.55, 0.20, 0.45, 0.25, 0.55, 0.50),
    "t1ce":  (0.80, 0.57, 0.22, 0.47, 0.25, 1.15, 0.52),
    "t2":    (0.45, 0.62, 1.00, 0.85, 0.95, 0.60, 0.95),
    "flair": (0.50, 0.62, 0.10, 0.95, 0.40, 0.70, 0.90),
}
_WM, _GM, _CSF, _OEDEMA, _NECROSIS, _ENHANCING, _NONENHANCING = range(7)


@dataclass(frozen=True)
class TumourType:
    """How one tumour type looks; radii are fractions of the in-plane matrix."""

    lesions: tuple[float, ...]  # probabilities of 1, 2, 3 ... lesions
    radius: tuple[float, float]  # enhancing (or non-enhancing tumour) radius, uniform range
    core: float  # necrotic radius / enhancing radius (0: solid)
    oedema: tuple[float, float]  # oedema radius / enhancing radius, uniform range
    irregular: float  # amplitude of the boundary's wobble
    enhancement: float  # T1wCE of the enhancing tissue (x WM scale)
    t2_solid: float  # T2 of the enhancing tissue (hypercellular tumours are darker)
    age: tuple[float, float]  # mean, SD in years
    male: float  # probability of male sex
    where: str  # "lobar", "cortical" or "periventricular"


TUMOUR_TYPE_TRAITS = {
    "glioblastoma": TumourType((1.0,), (0.08, 0.11), 0.55, (1.6, 1.9), 0.4, 1.15, 0.60, (62, 11), 0.6, "lobar"),
    "metastasis": TumourType((0.6, 0.25, 0.15), (0.035, 0.05), 0.25, (2.6, 3.2), 0.05, 1.45, 0.60, (60, 11), 0.5,
                        "cortical"),
    "lymphoma": TumourType((1.0,), (0.07, 0.09), 0.1, (1.25, 1.45), 0.1, 1.05, 0.48, (65, 12), 0.55,
                      "periventricular"),
    "low_grade_glioma": TumourType((1.0,), (0.08, 0.11), 0.0, (1.15, 1.3), 0.2, 0.0, 0.95, (40, 12), 0.55, "lobar"),
}


@dataclass(frozen=True)
class Site:
    """One scanner: how its images differ from the reference site (``A``, all neutral).

    Attributes
    ----------
    name : str
        ``A``, ``B``, ...
    scale, shift : float
        Stored intensity = ``scale * 1000 * I ** gamma + shift`` (``I`` the tissue signal, WM ~0.8).
    gamma : float
        Contrast curvature; survives percentile scaling, unlike ``scale`` and ``shift``.
    enhancement : float
        Factor on the contrast uptake (dose, timing).
    noise : float
        Noise SD in tissue units (WM ~0.8).
    bias : float
        Amplitude of the smooth bias field.
    blur : float
        Gaussian blur SD in voxels (resolution, reconstruction).
    """

    name: str
    scale: float = 1.0
    shift: float = 0.0
    gamma: float = 1.0
    enhancement: float = 1.0
    noise: float = 0.02
    bias: float = 0.08
    blur: float = 0.0


def site_profile(index: int) -> Site:
    """Site number ``index`` (0 -> ``A``, the reference); the same for every cohort and seed.

    Parameters
    ----------
    index : int
        0 or more; sites are drawn from a generator seeded by the index alone, so a second
        "hospital" written with another ``seed`` and ``first_site`` has its own, fixed scanner.

    Returns
    -------
    Site
    """
    if index < 0:
        raise ValueError(f"site index {index} must be 0 or more")
    name = chr(ord("A") + index) if index < 26 else f"S{index}"
    if index == 0:
        return Site(name)
    rng = np.random.default_rng([index, 2021])
    return Site(name, scale=float(rng.uniform(0.7, 1.4)), shift=float(rng.uniform(-60, 60)),
                gamma=float(rng.choice([-1, 1]) * rng.uniform(0.12, 0.25) + 1),
                enhancement=float(rng.uniform(0.85, 1.15)), noise=float(rng.uniform(0.025, 0.045)),
                bias=float(rng.uniform(0.1, 0.18)), blur=float(rng.uniform(0.3, 0.8)))


def _smooth_field(shape, rng: np.random.Generator, coarse: int = 6) -> np.ndarray:
    """A smooth random field in about [-1, 1], float32 ``shape``."""
    from scipy.ndimage import zoom

    small = rng.standard_normal((coarse, coarse, coarse)).astype(np.float32)
    field = zoom(small, [n / coarse for n in shape], order=1, grid_mode=True, mode="nearest")
    return field[: shape[0], : shape[1], : shape[2]] / 2


def _lesion_centre(where: str, rng: np.random.Generator) -> np.ndarray:
    """A lesion centre in normalised [-1, 1] coordinates (inside the white matter)."""
    side = rng.choice([-1, 1])
    if where == "periventricular":  # beside a ventricle (at x = +-0.1, y = 0.05)
        return np.array([side * rng.uniform(0.2, 0.26), 0.05 + rng.uniform(-0.2, 0.2), rng.uniform(-0.05, 0.2)])
    if where == "cortical":  # at the grey-white junction
        direction = rng.normal(size=3)
        return direction / np.linalg.norm(direction) * rng.uniform(0.55, 0.65) * np.array([0.78, 0.88, 0.85])
    return np.array([side * rng.uniform(0.25, 0.4), rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3)])


def phantom(shape=(64, 64, 40), label: int = 0, seed: int | np.random.Generator = 0, *,
            tumour_type: str = "glioblastoma", site: int | Site = 0, mgmt_effect: float = MGMT_EFFECT):
    """One synthetic case in canonical RAS+ orientation.

    Parameters
    ----------
    shape : tuple of int
        ``(X, Y, Z)`` voxels.
    label : {0, 1}
        MGMT methylation; shifts the latent phenotype that sets the necrotic fraction, the
        enhancement's heterogeneity and the oedema's FLAIR signal.
    seed : int or numpy.random.Generator
    tumour_type : str
        One of :data:`TUMOUR_TYPES`.
    site : int or Site
        The scanner (:func:`site_profile`).
    mgmt_effect : float
        Shift of the latent phenotype in noise SDs (0: the images carry no MGMT information).

    Returns
    -------
    images : dict
        ``flair``, ``t1``, ``t1ce``, ``t2`` -> int16 ``(X, Y, Z)`` arrays, zero outside the brain.
    seg : numpy.ndarray
        uint8 ``(X, Y, Z)``: 0 background, 1 necrotic or non-enhancing core, 2 oedema, 4 enhancing.
    """
    if tumour_type not in TUMOUR_TYPE_TRAITS:
        raise ValueError(f"tumour_type {tumour_type!r} is not one of {', '.join(TUMOUR_TYPES)}")
    from scipy.ndimage import gaussian_filter

    kind = TUMOUR_TYPE_TRAITS[tumour_type]
    site = site if isinstance(site, Site) else site_profile(site)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
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
    inside = tissue >= 0
    # The latent methylation phenotype: the label shifts it, biology (the N(0, 1)) blurs it.
    z = mgmt_effect * (2 * int(label) - 1) + rng.standard_normal()
    core = kind.core * (1 + 0.3 * np.clip(z, -2.5, 2.5)) if kind.core else 0.0
    half = np.array(shape) / 2  # normalised -> voxel units
    n_lesions = 1 + int(rng.choice(len(kind.lesions), p=kind.lesions))
    d = np.full(shape, np.inf, dtype=np.float32)  # distance to the nearest lesion / its radius
    for _ in range(n_lesions):
        centre, radius = _lesion_centre(kind.where, rng), rng.uniform(*kind.radius) * min(shape[:2])
        dist = np.sqrt(((u - centre[0]) * half[0]) ** 2 + ((v - centre[1]) * half[1]) ** 2
                       + ((w - centre[2]) * half[2]) ** 2) / radius
        d = np.minimum(d, dist)
    d = d * (1 + kind.irregular * 0.6 * _smooth_field(shape, rng, 5))
    seg = np.zeros(shape, dtype=np.uint8)
    # methylated (high z) tumours: less oedema, a reported (and debated) association
    seg[(d < rng.uniform(*kind.oedema) * (1 - 0.1 * np.clip(z, -2.5, 2.5))) & inside] = 2
    solid = (d < 1) & inside
    seg[solid] = 4 if kind.enhancement else 1
    seg[(d < core) & inside] = 1
    tissue[seg == 2] = _OEDEMA
    tissue[seg == 4] = _ENHANCING
    tissue[seg == 1] = _NECROSIS if kind.enhancement else _NONENHANCING
    # Heterogeneous enhancement: a patchy field whose amplitude grows with z.
    patches = _smooth_field(shape, rng, 12) + 0.5 * rng.standard_normal(shape).astype(np.float32)
    texture = 1 + 0.2 * np.clip(1 + 0.6 * z, 0.1, 2.5) * patches
    bias = 1 + site.bias * _smooth_field(shape, rng, 3)
    images = {}
    for modality, contrast in _CONTRAST.items():
        table = np.array(contrast, dtype=np.float32)
        table[_OEDEMA] *= 1 - 0.08 * np.clip(z, -2.5, 2.5) if modality == "flair" else 1
        if modality == "t1ce":
            table[_ENHANCING] = table[_WM] + (kind.enhancement - table[_WM]) * site.enhancement
        if modality == "t2":
            table[_ENHANCING] = kind.t2_solid
        img = table[np.clip(tissue, 0, None)] * bias
        if modality == "t1ce":  # the uptake, not the tissue, is patchy
            img = np.where(seg == 4, img * texture, img)
        if site.blur:
            img = gaussian_filter(img, site.blur)
        img = img + rng.normal(0, site.noise, shape).astype(np.float32)
        img = site.scale * 1000 * np.clip(img, 0.01, None) ** site.gamma + site.shift
        img = np.clip(img, 1, 32767)
        img[~inside] = 0
        images[modality] = np.rint(img).astype(np.int16)
    return images, seg
