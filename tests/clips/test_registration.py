"""Rigid registration: a known motion is recovered, delta-T1 improves, failures raise CaseError."""

from __future__ import annotations

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")

from mgmtfeat.clips.registration import RegistrationSettings, register_rigid, to_sitk  # noqa: E402
from mgmtfeat.data.errors import CaseError  # noqa: E402
from mgmtfeat.data.synthetic import phantom  # noqa: E402
from mgmtfeat.data.volumes import Volume  # noqa: E402

SHAPE, VOXEL = (48, 48, 32), 2.0  # small and coarse so that each registration takes about a second


def _rotation(axis: int, degrees: float) -> np.ndarray:
    """Right-handed rotation about axis 0 (x), 1 (y) or 2 (z)."""
    a = np.radians(degrees)
    i, j = (axis + 1) % 3, (axis + 2) % 3
    r = np.eye(3)
    r[i, i] = r[j, j] = np.cos(a)
    r[i, j], r[j, i] = -np.sin(a), np.sin(a)
    return r


@pytest.fixture(scope="module")
def scene():
    images, _ = phantom(SHAPE, label=0, seed=5)
    affine = np.diag([VOXEL, VOXEL, VOXEL, 1.0])
    affine[:3, 3] = [-47.0, -40.0, -31.0]
    t1 = Volume(images["t1"].astype(np.float32), affine, "t1.nii.gz")
    t1ce = Volume(images["t1ce"].astype(np.float32), affine, "t1ce.nii.gz")
    # the head moves by A (RAS mm): 4 deg about S (z), 2 deg about R (x), about the grid centre, then
    # shifts by (3, -2, 1.5) mm; the moved T1 holds at point A @ p what the original holds at p
    centre = affine @ np.array([*((np.array(SHAPE) - 1) / 2), 1.0])
    applied = np.eye(4)
    applied[:3, :3] = _rotation(2, 4.0) @ _rotation(0, 2.0)
    applied[:3, 3] = centre[:3] - applied[:3, :3] @ centre[:3] + [3.0, -2.0, 1.5]
    from scipy.ndimage import affine_transform

    voxel_map = np.linalg.inv(affine) @ np.linalg.inv(applied) @ affine  # moved voxel -> original voxel
    moved = affine_transform(t1.data, voxel_map[:3, :3], voxel_map[:3, 3], order=1, mode="constant", cval=0.0)
    moved_t1 = Volume(moved.astype(np.float32), affine, "t1_moved.nii.gz")
    result = register_rigid(moved_t1, t1ce, case_id="SYN1")
    brain = (images["t1"] > 0) & (images["t1ce"] > 0)
    return dict(t1=t1, t1ce=t1ce, moved=moved_t1, applied=applied, result=result, brain=brain)


def test_recovers_the_inverse_of_the_applied_motion_within_a_voxel(scene):
    r, brain = scene["result"], scene["brain"]
    points = scene["t1"].affine @ np.c_[np.argwhere(brain), np.ones(brain.sum())].T  # (4, n) RAS mm
    # registered(p) = moved(M p) = original(A^-1 M p): M must be A
    # ITK's fixed -> moving map, so M composed with the motion's inverse is the identity
    residual = np.linalg.norm((np.linalg.inv(scene["applied"]) @ r.matrix_ras @ points - points)[:3], axis=0)
    assert residual.max() < VOXEL
    # an optimiser's stopping point, not float rounding (ITK's threads and the CPU may move it by far less
    # than a voxel): the shift is judged to one voxel, as the residual above
    assert r.shift_mm == pytest.approx(np.linalg.norm([3.0, -2.0, 1.5]), abs=VOXEL)
    assert r.metric < -0.5 and "RegularStepGradientDescent" in r.stop
    assert r.volume.shape == SHAPE and np.array_equal(r.volume.affine, scene["t1ce"].affine)


def test_reported_angles_and_translation_describe_the_matrix(scene):
    r = scene["result"]
    ax, ay, az = r.angles_deg
    rebuilt = _rotation(2, az) @ _rotation(0, ax) @ _rotation(1, ay)  # ITK's Euler3D order
    # the same rotation rebuilt from its reported angles in float64: rounding of unit-size entries, 1e-9
    np.testing.assert_allclose(rebuilt, r.matrix_ras[:3, :3], rtol=0, atol=1e-9)
    centre = np.array(r.center_ras)
    # positions of ~100 mm through float64 products: 1e-6 mm, while a translation about another centre is off
    # by mm
    np.testing.assert_allclose(r.matrix_ras[:3, :3] @ centre + r.matrix_ras[:3, 3], centre + r.translation_mm,
                               rtol=0, atol=1e-6)
    # the motion was 4 deg about S and 2 deg about R: the recovered map rotates the same way (an optimiser's
    # result, judged to half a degree; a wrong axis or sign is off by degrees)
    assert az == pytest.approx(4.0, abs=0.5) and ax == pytest.approx(2.0, abs=0.5)


def test_registered_voxels_agree_and_delta_t1_gets_closer_to_the_truth(scene):
    r, brain, t1, t1ce, moved = (scene[k] for k in ("result", "brain", "t1", "t1ce", "moved"))
    mad = lambda a, b: float(np.abs(a - b)[brain].mean())
    registered, unregistered = mad(r.volume.data, t1.data), mad(moved.data, t1.data)
    # linear interpolation smooths the noise (sd 20) twice, so agreement is not exact
    assert registered < 0.5 * unregistered
    true_delta = t1ce.data - t1.data
    assert mad(t1ce.data - r.volume.data, true_delta) < mad(t1ce.data - moved.data, true_delta)


def test_same_result_when_run_again(scene):
    again = register_rigid(scene["moved"], scene["t1ce"], case_id="SYN1")
    np.testing.assert_array_equal(again.matrix_ras, scene["result"].matrix_ras)
    np.testing.assert_array_equal(again.volume.data, scene["result"].volume.data)


def test_pure_noise_gives_a_poor_metric_error(scene):
    noise = np.random.default_rng(0).uniform(0, 1000, SHAPE).astype(np.float32)
    with pytest.raises(CaseError, match="poor metric") as err:
        register_rigid(Volume(noise, scene["t1"].affine, "noise.nii.gz"), scene["t1ce"], case_id="SYN1")
    assert err.value.case_id == "SYN1" and err.value.file == "noise.nii.gz"


def test_empty_moving_image_is_refused(scene):
    empty = Volume(np.zeros(SHAPE, np.float32), scene["t1"].affine, "empty.nii.gz")
    with pytest.raises(CaseError, match="moving image is constant"):
        register_rigid(empty, scene["t1ce"], case_id="SYN1")


def test_itk_failure_becomes_a_case_error(scene):
    far = scene["t1"].affine.copy()
    far[:3, 3] += 1000.0  # no overlap at all, and no centring to bring it back
    with pytest.raises(CaseError, match="failed in SimpleITK"):
        register_rigid(Volume(scene["t1"].data, far, "far.nii.gz"), scene["t1ce"],
                       RegistrationSettings(init="none"), case_id="SYN1")


def test_divergence_limits_are_enforced(scene):
    # the true motion shifts the centre by about 4 mm: a 1 mm limit must refuse it
    with pytest.raises(CaseError, match="diverged"):
        register_rigid(scene["moved"], scene["t1ce"], RegistrationSettings(max_shift_mm=1.0), case_id="SYN1")


def test_to_sitk_maps_indices_to_lps_points(scene):
    vol = scene["t1"]
    image = to_sitk(vol)
    for index in [(0, 0, 0), (7, 30, 11)]:
        ras = vol.affine @ np.array([*index, 1.0])
        # ITK's index-to-point map and the affine in float64: rounding of ~100 mm positions (1e-9 mm)
        np.testing.assert_allclose(image.TransformIndexToPhysicalPoint(index), ras[:3] * [-1, -1, 1], rtol=0,
                                   atol=1e-9)
        assert image[index] == vol.data[index]


def test_settings_validate_their_arguments():
    with pytest.raises(ValueError, match="init="):
        RegistrationSettings(init="corners")
    with pytest.raises(ValueError, match="one entry per pyramid level"):
        RegistrationSettings(shrink_factors=(4, 2, 1), smoothing_sigmas=(1.0,))
    assert RegistrationSettings().as_dict()["max_metric"] == -0.15
