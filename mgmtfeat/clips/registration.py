"""Rigid registration of one volume onto another (SimpleITK), e.g. T1 onto T1wCE for delta-T1.

Method
    A 6-parameter rigid transform (``Euler3DTransform``: three rotations, three translations)
    found by maximising Mattes mutual information with regular-step gradient descent (so T1 and T1wCE, whose contrasts differ,
    can be matched), coarse to fine (``shrink_factors`` with Gaussian ``smoothing_sigmas`` in
    voxels), started from the centred alignment of the two grids (``init="geometry"``), of
    their intensity centres of mass (``"moments"``) or from the scanner coordinates
    (``"none"``; right for series of one session with very different fields of view). The
    moving volume is then resampled onto the fixed grid (linear interpolation, 0 outside).
Reproducibility
    The metric samples a regular grid with a fixed seed and the registration runs on one
    thread by default (SimpleITK's global thread count is set for the call and restored):
    ITK's threads each sum part of the joint histogram and of the pyramid's filters, so their
    number (the CPU's core count) would otherwise change the last digits and, through the
    optimizer's path, the result. Not safe to call from several Python threads at once.
Failure
    An exception inside ITK, a final metric above ``max_metric`` (mutual information under
    0.15 nats: the images share almost no structure), a shift of the fixed image's centre
    beyond ``max_shift_mm`` or a rotation beyond ``max_angle_deg`` (a diverged optimizer: scans
    of one session rarely move more than a few centimetres or degrees) raise
    :class:`~mgmtfeat.data.errors.CaseError`; a failed registration is never used silently.
Conventions
    Volumes are RAS (:mod:`mgmtfeat.data.volumes`); SimpleITK works in LPS with ``(z, y, x)``
    arrays. :func:`to_sitk` converts. Results are reported in RAS: ``matrix_ras`` maps a point
    of the fixed image (mm) to the matching point of the moving image (ITK's direction), so
    ``registered[v] = moving(matrix_ras @ fixed.affine @ v)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.geometry import RAS_LPS_FLIP, to_sitk  # to_sitk re-exported: its home is the data step
from mgmtfeat.data.volumes import Volume

__all__ = ["RegistrationResult", "RegistrationSettings", "register_rigid", "to_sitk"]

_INITS = ("geometry", "moments", "none")


@dataclass(frozen=True)
class RegistrationSettings:
    """How :func:`register_rigid` registers.

    Attributes
    ----------
    init : {"geometry", "moments", "none"}
        Starting transform: grid centres aligned, intensity centres of mass aligned, or identity.
    shrink_factors, smoothing_sigmas : tuple
        Pyramid levels, coarse to fine: downsampling factor and Gaussian sigma (voxels).
    histogram_bins : int
        Bins of the Mattes joint histogram.
    sampling : float
        Fraction of fixed voxels sampled (regular grid) per iteration, in (0, 1].
    iterations : int
        Gradient-descent iterations per level at most.
    learning_rate, min_step : float
        First and smallest step of the regular-step gradient descent; parameters are scaled
        from physical shift, so a step is about that many mm of voxel motion.
    gradient_tolerance : float
        Stop when the metric's gradient is smaller. SimpleITK's default, 1e-4, stopped a
        4-degree rotation of a BraTS-size head halfway: MI's gradient for rotations is small.
    max_metric : float
        Refuse a final metric above this (Mattes MI is reported negated: -0.15 = 0.15 nats).
    max_shift_mm : float
        Refuse a transform moving the fixed image's centre by more than this (mm).
    max_angle_deg : float
        Refuse a rotation larger than this (degrees, the total rotation angle).
    threads : int
        ITK threads; 1 keeps the result independent of the CPU (see the module docstring).
    seed : int
        Seed of the metric's sampling jitter, >= 1 (SimpleITK reads 0 as "use the wall clock").
    """

    init: str = "geometry"
    shrink_factors: tuple[int, ...] = (4, 2, 1)
    smoothing_sigmas: tuple[float, ...] = (2.0, 1.0, 0.0)
    histogram_bins: int = 32
    sampling: float = 0.25
    iterations: int = 200
    learning_rate: float = 1.0
    min_step: float = 1e-4
    gradient_tolerance: float = 1e-8
    max_metric: float = -0.15
    max_shift_mm: float = 50.0
    max_angle_deg: float = 30.0
    threads: int = 1
    seed: int = 1

    def __post_init__(self):
        if self.init not in _INITS:
            raise ValueError(f"init={self.init!r} is not one of {_INITS}")
        if len(self.shrink_factors) != len(self.smoothing_sigmas) or not self.shrink_factors:
            raise ValueError(f"shrink_factors {self.shrink_factors} and smoothing_sigmas {self.smoothing_sigmas} "
                             "need one entry per pyramid level each")
        if not 0 < self.sampling <= 1:
            raise ValueError(f"sampling={self.sampling} must be a fraction in (0, 1]")
        if self.threads < 1 or self.iterations < 1 or self.histogram_bins < 4:
            raise ValueError("threads and iterations must be >= 1 and histogram_bins >= 4")

    def as_dict(self) -> dict:
        """JSON-able settings for provenance."""
        out = dict(self.__dict__)
        out["shrink_factors"], out["smoothing_sigmas"] = list(self.shrink_factors), list(self.smoothing_sigmas)
        out["method"] = "rigid Euler3D, Mattes MI, regular-step gradient descent, linear resampling (SimpleITK)"
        return out


@dataclass(frozen=True, eq=False)
class RegistrationResult:
    """The outcome of :func:`register_rigid`.

    Attributes
    ----------
    volume : Volume
        The moving volume resampled onto the fixed grid: float32 ``fixed.shape``, ``fixed.affine``.
    matrix_ras : numpy.ndarray
        float64 ``(4, 4)``: fixed RAS mm -> moving RAS mm.
    angles_deg : tuple of float
        Rotations about the R, A and S axes (degrees), composed as ITK's Euler3D (Rz @ Rx @ Ry).
    translation_mm : tuple of float
        Translation of the rotation centre ``center_ras`` (mm, RAS).
    center_ras : tuple of float
        Rotation centre (mm, RAS).
    shift_mm : float
        How far the fixed image's centre moves (mm).
    metric : float
        Final Mattes mutual information, negated (lower is better).
    stop : str
        The optimizer's stop condition.
    iterations : int
        Iterations at the last level.
    """

    volume: Volume
    matrix_ras: np.ndarray
    angles_deg: tuple[float, float, float]
    translation_mm: tuple[float, float, float]
    center_ras: tuple[float, float, float]
    shift_mm: float
    metric: float
    stop: str
    iterations: int

    def as_dict(self) -> dict:
        """JSON-able summary (no voxels) for provenance."""
        return {"matrix_ras": np.round(self.matrix_ras, 6).tolist(),
                "angles_deg": [round(v, 4) for v in self.angles_deg],
                "translation_mm": [round(v, 4) for v in self.translation_mm],
                "center_ras": [round(v, 4) for v in self.center_ras],
                "shift_mm": round(self.shift_mm, 4), "metric": round(self.metric, 6),
                "stop": self.stop, "iterations": self.iterations}


def _matrix_ras(transform) -> np.ndarray:
    """4x4 RAS matrix of an ITK rigid transform (which maps LPS points fixed -> moving)."""
    rotation = np.array(transform.GetMatrix()).reshape(3, 3)
    center = np.array(transform.GetCenter())
    lps = np.eye(4)
    lps[:3, :3] = rotation
    lps[:3, 3] = np.array(transform.GetTranslation()) + center - rotation @ center
    return RAS_LPS_FLIP @ lps @ RAS_LPS_FLIP


def register_rigid(moving: Volume, fixed: Volume, settings: RegistrationSettings | None = None,
                   case_id: str = "?") -> RegistrationResult:
    """Register ``moving`` rigidly onto ``fixed`` and resample it onto the fixed grid.

    Parameters
    ----------
    moving : Volume
        ``(X, Y, Z)`` image to move (e.g. T1).
    fixed : Volume
        ``(X', Y', Z')`` reference image (e.g. T1wCE); its grid is the output grid.
    settings : RegistrationSettings, optional
    case_id : str
        For error messages.

    Returns
    -------
    RegistrationResult

    Raises
    ------
    CaseError
        ITK fails (e.g. an empty image: no sample maps into it), the final metric is poor,
        or the transform diverged (shift or rotation beyond the settings' limits).
    """
    import SimpleITK as sitk

    s = settings or RegistrationSettings()
    for role, vol in (("moving", moving), ("fixed", fixed)):
        lo, hi = float(np.min(vol.data)), float(np.max(vol.data))
        if lo == hi:  # ITK would fail later with a message about spacing or samples
            raise CaseError(case_id, vol.path, f"cannot register: the {role} image is constant ({lo:g} "
                            "everywhere, e.g. an empty series); check the file or leave the case out")
    # the pyramid's filters follow SimpleITK's global thread count, not the method's: set both
    # (and restore the global one) so that summation order, hence the result, is fixed
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(s.threads)
    try:
        return _register(sitk, moving, fixed, s, case_id)
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


def _register(sitk, moving: Volume, fixed: Volume, s: RegistrationSettings, case_id: str) -> RegistrationResult:
    where = moving.path
    fixed_img = sitk.Cast(to_sitk(fixed, case_id=case_id), sitk.sitkFloat32)
    moving_img = sitk.Cast(to_sitk(moving, case_id=case_id), sitk.sitkFloat32)
    try:
        if s.init == "none":
            transform = sitk.Euler3DTransform()
            centre = fixed_img.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in fixed_img.GetSize()])
            transform.SetCenter(centre)
        else:
            how = (sitk.CenteredTransformInitializerFilter.GEOMETRY if s.init == "geometry"
                   else sitk.CenteredTransformInitializerFilter.MOMENTS)
            transform = sitk.CenteredTransformInitializer(fixed_img, moving_img, sitk.Euler3DTransform(), how)
        method = sitk.ImageRegistrationMethod()
        method.SetNumberOfThreads(s.threads)
        method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=s.histogram_bins)
        method.SetMetricSamplingStrategy(method.REGULAR)
        method.SetMetricSamplingPercentage(s.sampling, s.seed)
        method.SetInterpolator(sitk.sitkLinear)
        # regular-step descent: plain gradient descent with its estimated rate overshot by
        # centimetres on small images; a step that halves on each reversal cannot
        method.SetOptimizerAsRegularStepGradientDescent(learningRate=s.learning_rate, minStep=s.min_step,
                                                        numberOfIterations=s.iterations,
                                                        relaxationFactor=0.5,
                                                        gradientMagnitudeTolerance=s.gradient_tolerance)
        method.SetOptimizerScalesFromPhysicalShift()
        method.SetShrinkFactorsPerLevel(list(s.shrink_factors))
        method.SetSmoothingSigmasPerLevel(list(s.smoothing_sigmas))
        method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
        method.SetInitialTransform(transform, inPlace=True)
        method.Execute(fixed_img, moving_img)
        metric = float(method.GetMetricValue())
        stop = method.GetOptimizerStopConditionDescription()
        iterations = int(method.GetOptimizerIteration())
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        reason = next((line for line in first if "Description" in line or "error" in line.lower()),
                      first[-1] if first else "")
        raise CaseError(case_id, where, f"rigid registration onto {fixed.path} failed in SimpleITK: "
                        f"{reason.strip()}; check that both images show the same head (not empty, "
                        "overlapping fields of view) or try RegistrationSettings(init='moments')") from None
    matrix = _matrix_ras(transform)
    centre = fixed.affine @ np.array([*((np.array(fixed.shape) - 1) / 2), 1.0])
    shift = float(np.linalg.norm(matrix @ centre - centre))
    angle = float(np.degrees(np.arccos(np.clip((np.trace(matrix[:3, :3]) - 1) / 2, -1, 1))))
    if not np.isfinite(metric) or metric > s.max_metric:
        raise CaseError(case_id, where, f"rigid registration onto {fixed.path} ended with a poor metric "
                        f"{metric:.4f} (Mattes MI, negated; limit {s.max_metric}): the images share little "
                        "structure; check the series (empty, noise, another patient) before using it")
    if shift > s.max_shift_mm or angle > s.max_angle_deg:
        raise CaseError(case_id, where, f"rigid registration onto {fixed.path} diverged: it moves the image "
                        f"centre by {shift:.1f} mm and rotates by {angle:.1f} deg (limits {s.max_shift_mm} mm, "
                        f"{s.max_angle_deg} deg); try init='moments' or 'none', or check the series")
    resampled = sitk.Resample(moving_img, fixed_img, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    data = np.transpose(sitk.GetArrayFromImage(resampled), (2, 1, 0))  # (z, y, x) -> (X, Y, Z)
    params = transform.GetParameters()
    flip3 = RAS_LPS_FLIP[:3, :3].diagonal()
    return RegistrationResult(
        volume=Volume(np.asfortranarray(data, dtype=np.float32), fixed.affine.copy(), Path(moving.path)),
        matrix_ras=matrix,
        # conjugating by diag(-1, -1, 1) negates the rotations about x and y, keeps z
        angles_deg=tuple(float(v) for v in np.degrees(params[:3]) * flip3),
        translation_mm=tuple(float(v) for v in np.array(params[3:]) * flip3),
        center_ras=tuple(float(v) for v in np.array(transform.GetCenter()) * flip3),
        shift_mm=shift, metric=metric, stop=stop, iterations=iterations)
