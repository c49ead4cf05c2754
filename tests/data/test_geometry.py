"""Tests for mgmtfeat.data.geometry and the clip grid: 1 mm data unchanged, thick slices resampled, settings."""

import json
import warnings

import numpy as np
import pytest

pytest.importorskip("SimpleITK")

from mgmtfeat.clips import ClipSettings  # noqa: E402
from mgmtfeat.clips.case import case_clips, read_case  # noqa: E402
from mgmtfeat.data import synthetic  # noqa: E402
from mgmtfeat.data.canonical_volume import Volume  # noqa: E402
from mgmtfeat.data.errors import CaseError  # noqa: E402
from mgmtfeat.data.geometry import resample, target_grid, to_spacing  # noqa: E402
from mgmtfeat.data.layouts import find_cases  # noqa: E402
from mgmtfeat.data.volumes import Case, load_case  # noqa: E402
from mgmtfeat.store.integrity import settings_digest  # noqa: E402

SMALL = ClipSettings(n_frames=24, box_size=32)


@pytest.fixture(scope="module")
def brats(tmp_path_factory):
    return synthetic.write_cohort(tmp_path_factory.mktemp("g") / "b", "brats2021", n_cases=2, shape=(40, 40, 24),
                                  seed=5)


@pytest.fixture(scope="module")
def thick(tmp_path_factory):
    """A clinical-style cohort: 1.25 x 1.25 mm in-plane, 6 mm slices (26 slices, 156 mm)."""
    return synthetic.write_cohort(tmp_path_factory.mktemp("g") / "t", "ucsf_pdgm", n_cases=1, shape=(64, 64, 26),
                                  seed=3, spacing=(1.25, 1.25, 6.0))


def test_1mm_data_pass_unchanged_bit_for_bit(brats):
    ref = find_cases(brats)[0]
    native = load_case(ref)
    case, record = read_case(ref, SMALL)
    assert record["resampled"] == {} and record["thick_slices"] == {} and record["reference"] == "t1ce"
    for modality, volume in native.volumes.items():
        assert np.array_equal(case.volumes[modality].data, volume.data)
        assert np.array_equal(case.volumes[modality].affine, volume.affine)
    assert np.array_equal(case.seg.data, native.seg.data)
    _, one_mm = case_clips(ref, SMALL)
    _, as_before = case_clips(ref, ClipSettings(n_frames=24, box_size=32, spacing=None))
    for modality, clip in as_before.clips.items():
        assert np.array_equal(one_mm.clips[modality], clip), modality
    assert "geometry" not in as_before.meta and one_mm.meta["geometry"]["spacing_mm"] == 1.0


def test_six_mm_slices_give_clips_with_brain_in_most_frames(thick):
    ref = find_cases(thick)[0]
    with pytest.warns(UserWarning, match="6 mm slices are thicker than 5 mm"):
        case, clips = case_clips(ref)  # the paper's 150 x 128 x 128 clips
    # norms of affine columns built as unit axis x 1.0: float64 rounding only (approx's default rel 1e-6)
    assert case.volumes["t1ce"].spacing == pytest.approx((1.0, 1.0, 1.0))
    assert case.volumes["t1ce"].shape == (80, 80, 156)
    assert case.seg.data.dtype == np.uint8 and set(np.unique(case.seg.data)) <= {0, 1, 2, 4}
    for modality, clip in clips.clips.items():
        with_brain = (clip.reshape(len(clip), -1) > 0).any(axis=1).mean()
        assert with_brain >= 0.8, (modality, with_brain)
    geometry = clips.meta["geometry"]
    assert geometry["thick_slices"] == {"flair": 6.0, "t1": 6.0, "t1ce": 6.0, "t2": 6.0}
    assert "interpolated" in clips.meta["notes"][0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, native = case_clips(ref, ClipSettings(spacing=None))
    # on its own grid the same scan fills 26 of 150 frames: what the resampling is for
    assert (native.clips["t1ce"].reshape(150, -1) > 0).any(axis=1).mean() < 0.2


def test_the_target_grid_keeps_the_axes_and_the_footprint():
    rotation = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]) @ np.diag([0.78, 0.78, 6.5])
    affine = np.eye(4)
    affine[:3, :3], affine[:3, 3] = rotation, [10.0, -20.0, 5.0]
    volume = Volume(np.ones((256, 256, 24), np.float32), affine, "x.nii.gz")
    shape, grid = target_grid(volume, 1.0)
    assert shape == (200, 200, 156)
    # the footprint's first corner (half a voxel before the first centre) is where it was
    def corner(a):
        return a[:3, :3] @ (-0.5 * np.ones(3)) + a[:3, 3]

    np.testing.assert_allclose(corner(grid), corner(affine), atol=1e-9)  # float64 sums of a few terms
    # one division per element: float64 rounding only
    np.testing.assert_allclose(grid[:3, :3], rotation / np.array([0.78, 0.78, 6.5]), atol=1e-12)


def test_masks_resample_by_nearest_neighbour_and_bspline_keeps_the_background_zero():
    data = np.zeros((20, 20, 6), np.float32)
    data[5:15, 5:15, 1:5] = np.linspace(1, 2, 10, dtype=np.float32)[:, None, None]
    affine = np.diag([2.0, 2.0, 5.0, 1.0])
    labels = (data > 1.5).astype(np.uint8) * 4
    shape, grid = target_grid(Volume(data, affine, "x"), 1.0)
    mask = resample(Volume(labels, affine, "s"), shape, grid, "nearest")
    assert mask.data.dtype == np.uint8 and set(np.unique(mask.data)) == {0, 4}
    smooth = resample(Volume(data, affine, "x"), shape, grid, "bspline")
    linear = resample(Volume(data, affine, "x"), shape, grid, "linear")
    assert np.array_equal(smooth.data == 0, linear.data == 0)  # same zero background: the clips' brain mask


def test_a_series_on_another_grid_follows_the_t1ce_and_a_mask_must_be_on_its_image(brats):
    case = load_case(find_cases(brats)[0])
    shifted = case.volumes["t2"].affine.copy()
    shifted[0, 3] += 3.0  # 3 mm off: another grid, same scanner space
    t2 = Volume(case.volumes["t2"].data, shifted, case.volumes["t2"].path)
    moved, record = to_spacing(Case(case.ref, {**case.volumes, "t2": t2}, case.seg))
    assert list(record["resampled"]) == ["t2"]
    assert moved.volumes["t2"].shape == case.volumes["t1ce"].shape
    np.testing.assert_array_equal(moved.volumes["t2"].affine, case.volumes["t1ce"].affine)
    bad_seg = Volume(case.seg.data[:, :, :20], case.seg.affine, case.seg.path)
    with pytest.raises(CaseError, match="a mask must be on its image's grid") as info:
        to_spacing(Case(case.ref, case.volumes, bad_seg))
    assert info.value.file == str(case.seg.path)


def test_spacing_and_method_are_in_the_settings_and_their_digest():
    default, native = ClipSettings(), ClipSettings(spacing=None)
    assert default.as_dict()["spacing"] == 1.0 and default.as_dict()["interpolation"] == "linear"
    # native clips record neither, so stores made before the option existed still match them
    assert "spacing" not in native.as_dict() and "interpolation" not in native.as_dict()
    digests = {settings_digest({"clips": s.as_dict()}) for s in
               (default, native, ClipSettings(interpolation="bspline"), ClipSettings(spacing=0.5))}
    assert len(digests) == 4
    for settings in (default, native, ClipSettings(modalities=("t2", "t1ce")), ClipSettings(spacing=2)):
        assert ClipSettings.from_dict(json.loads(json.dumps(settings.as_dict()))) == settings
    assert ClipSettings(modalities=("t2", "t1ce")).modalities == ("t1ce", "t2")  # the package's order
    for bad in ({"spacing": 0}, {"spacing": "1mm"}, {"interpolation": "cubic"}, {"modalities": ("t1c",)},
                {"modalities": ()}):
        with pytest.raises(ValueError):
            ClipSettings(**bad)
