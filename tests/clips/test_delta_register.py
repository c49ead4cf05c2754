"""`--delta-grid register`: T1 registered onto T1wCE before delta-T1, recorded in the clip metadata."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("SimpleITK")

from mgmtfeat.clips import ClipSettings, make_clips  # noqa: E402
from mgmtfeat.data.errors import CaseError  # noqa: E402
from mgmtfeat.data.layouts import find_cases  # noqa: E402
from mgmtfeat.data.synthetic import write_cohort  # noqa: E402
from mgmtfeat.data.volumes import Volume, load_case  # noqa: E402

from test_registration import _rotation  # noqa: E402

SHAPE = (48, 48, 32)


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """A synthetic case, and the same case whose T1 was rotated 4 deg about S and shifted (3, -2, 1.5) mm."""
    from scipy.ndimage import affine_transform

    root = write_cohort(tmp_path_factory.mktemp("reg") / "brats", "brats2021", n_cases=1, shape=SHAPE, seed=4)
    case = load_case(find_cases(root)[0])
    t1 = case.volumes["t1"]
    centre = t1.affine @ np.array([*((np.array(SHAPE) - 1) / 2), 1.0])
    applied = np.eye(4)
    applied[:3, :3] = _rotation(2, 4.0)
    applied[:3, 3] = centre[:3] - applied[:3, :3] @ centre[:3] + [3.0, -2.0, 1.5]
    voxel_map = np.linalg.inv(t1.affine) @ np.linalg.inv(applied) @ t1.affine  # moved voxel -> original voxel
    moved = affine_transform(t1.data.astype(np.float32), voxel_map[:3, :3], voxel_map[:3, 3], order=1,
                             mode="constant", cval=0.0)
    moved_case = dataclasses.replace(case, volumes={**case.volumes, "t1": Volume(moved.astype(np.float32), t1.affine,
                                                                                  t1.path)})
    return case, moved_case


def test_register_undoes_the_motion_and_records_it(cases):
    case, moved = cases
    truth = make_clips(case, ClipSettings(n_frames=16)).clips["delta_t1"].astype(float)
    plain = make_clips(moved, ClipSettings(n_frames=16)).clips["delta_t1"].astype(float)
    registered = make_clips(moved, ClipSettings(n_frames=16, delta_grid="register"))
    how = registered.meta["delta_t1"]
    assert how["delta_grid"] == "t1_registered_to_t1ce"
    # the rotation about S: registration of a 4-degree motion on a coarse synthetic volume recovers it to a
    # fraction of a degree (an optimiser's stopping point, not float rounding); 0.5 degree refuses no motion
    assert how["registration"]["angles_deg"][2] == pytest.approx(4.0, abs=0.5)
    assert how["registration"]["metric"] < -0.15
    assert any("T1 registered to T1wCE" in note and "Mattes MI" in note for note in registered.meta["notes"])
    error = lambda clip: float(np.abs(clip - truth).mean())
    assert error(registered.clips["delta_t1"].astype(float)) < 0.5 * error(plain)


def test_a_failed_registration_is_the_cases_error(cases):
    case, _ = cases
    noise = np.random.default_rng(0).uniform(0, 1000, SHAPE).astype(np.float32)
    t1 = case.volumes["t1"]
    broken = dataclasses.replace(case, volumes={**case.volumes, "t1": Volume(noise, t1.affine, t1.path)})
    with pytest.raises(CaseError, match="poor metric") as err:
        make_clips(broken, ClipSettings(n_frames=16, delta_grid="register"))
    assert err.value.case_id == case.case_id
