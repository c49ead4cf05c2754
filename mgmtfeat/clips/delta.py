"""Delta-T1: T1wCE minus T1 on one grid, with the grid check.

T1wCE minus T1 on the original intensities, then scaled like the others over the union of
both brain masks (see :mod:`mgmtfeat.clips.make`). Both must share a grid (shape and
affine): a mismatch is an error unless ``delta_grid="resample"``, which resamples T1 onto
the T1wCE grid through their affines (trilinear; not a registration) and records it.
``delta_grid="register"`` always registers T1 rigidly onto T1wCE
(:func:`~mgmtfeat.clips.registration.register_rigid`) before the subtraction, on one grid or
not: a patient who moved between the two series leaves bright rims in delta-T1 that are motion,
not enhancement. The transform and final metric go into the clip metadata (``delta_t1`` and a
note); a registration that fails is that case's :class:`CaseError`, never an unregistered delta.
"""

from __future__ import annotations

import numpy as np

from mgmtfeat.clips.settings import ClipSettings
from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.volumes import Case, same_grid

__all__ = ["delta_inputs"]


def delta_inputs(case: Case, s: ClipSettings) -> tuple[np.ndarray, np.ndarray, dict]:
    """T1wCE and T1 on the T1wCE grid, and what was done to get there.

    Returns
    -------
    t1ce, t1 : numpy.ndarray
        float32 ``(X, Y, Z)`` on the T1wCE grid.
    how : dict
        ``{"delta_grid": "shared"}``, ``{"delta_grid": "t1_resampled_to_t1ce"}`` or, with
        ``delta_grid="register"``, ``{"delta_grid": "t1_registered_to_t1ce", "registration":
        RegistrationResult.as_dict(), "note": one line for the clip notes}`` (clip metadata).

    Raises
    ------
    CaseError
        The grids differ and ``s.delta_grid`` is ``"require"``; the registration fails (ITK error,
        poor metric, implausible motion; see :func:`~mgmtfeat.clips.registration.register_rigid`).
    """
    t1, t1ce = case.volumes["t1"], case.volumes["t1ce"]
    if s.delta_grid == "register":
        from mgmtfeat.clips.registration import register_rigid

        r = register_rigid(t1, t1ce, case_id=case.case_id)
        note = (f"T1 registered to T1wCE (rigid, Mattes MI {r.metric:.3f}): rotation "
                f"{[round(a, 2) for a in r.angles_deg]} deg, translation {[round(t, 2) for t in r.translation_mm]} mm")
        return t1ce.data, r.volume.data, {"delta_grid": "t1_registered_to_t1ce", "registration": r.as_dict(),
                                          "note": note}
    if same_grid(t1, t1ce):
        return t1ce.data, t1.data, {"delta_grid": "shared"}
    if s.delta_grid == "require":
        raise CaseError(case.case_id, t1.path, f"T1 and T1wCE grids differ: shape {t1.shape} vs {t1ce.shape}, "
                        f"spacing {np.round(t1.spacing, 3).tolist()} vs {np.round(t1ce.spacing, 3).tolist()}; "
                        "delta-T1 needs both on one grid: co-register them or set delta_grid='resample' "
                        "(--delta-grid resample)")
    from scipy.ndimage import affine_transform

    # voxel of T1wCE -> world -> voxel of T1
    matrix = np.linalg.solve(t1.affine, t1ce.affine)
    moved = affine_transform(t1.data, matrix[:3, :3], matrix[:3, 3], output_shape=t1ce.shape,
                             order=1, mode="constant", cval=0.0).astype(np.float32)
    return t1ce.data, moved, {"delta_grid": "t1_resampled_to_t1ce"}
