"""Anti-aliasing before a series goes to a coarser grid: TorchIO's Gaussian, what it removes, what it records."""

import argparse
import json

import numpy as np
import pytest

pytest.importorskip("SimpleITK")

from mgmtfeat.clips import ClipSettings  # noqa: E402
from mgmtfeat.data import synthetic  # noqa: E402
from mgmtfeat.data.canonical_volume import Volume  # noqa: E402
from mgmtfeat.data.geometry import antialias_sigmas, resample, target_grid, to_spacing  # noqa: E402
from mgmtfeat.data.layouts import find_cases  # noqa: E402
from mgmtfeat.data.volumes import Case, load_case  # noqa: E402
from mgmtfeat.store.integrity import settings_digest  # noqa: E402


def _cosine(period_mm: float, spacing=(0.5, 0.5, 1.0), shape=(80, 40, 10)) -> Volume:
    """10 + cos along x with the given period, on a fine grid (a texture finer than the 1 mm grid can hold)."""
    x = np.arange(shape[0]) * spacing[0]
    data = np.broadcast_to((10 + np.cos(2 * np.pi * x / period_mm))[:, None, None], shape)
    return Volume(data.astype(np.float32), np.diag([*spacing, 1.0]), "fine.nii.gz")


def test_sigmas_are_cardoso_s_as_torchio_computes_them():
    tio_resample = pytest.importorskip("torchio").transforms.Resample
    spacing = np.array([0.45, 0.5, 2.0])
    sigmas = antialias_sigmas(spacing, 1.0)
    assert sigmas[2] == 0  # 2 mm slices gain resolution at 1 mm: not smoothed
    factor = np.array([1 / 0.45, 1 / 0.5, np.nan])  # TorchIO marks the axes it does not smooth with NaN
    reference = tio_resample._get_sigmas(factor, spacing)
    # the same formula in float64, evaluated in another order: rounding only
    np.testing.assert_allclose(sigmas[:2], reference[:2], rtol=1e-12)


def test_antialiased_resampling_equals_torchio_s_resample():
    tio = pytest.importorskip("torchio")
    rng = np.random.default_rng(0)
    volume = _cosine(1.25)
    volume = Volume(volume.data + rng.normal(0, 0.5, volume.shape).astype(np.float32), volume.affine, volume.path)
    shape, grid = target_grid(volume, 1.0)
    ours = resample(volume, shape, grid, "linear", antialias=True).data
    image = tio.ScalarImage(tensor=volume.data[None], affine=volume.affine)
    theirs = tio.Resample((shape, grid), image_interpolation="linear", antialias=True)(image).data[0].numpy()
    assert ours.shape == theirs.shape
    # the same SimpleITK filter and interpolator on the same float32 voxels: float32 rounding only
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * np.abs(theirs).max())


def test_antialiasing_removes_most_of_the_alias_of_a_texture_finer_than_the_grid():
    volume = _cosine(1.25)  # 0.8 cycles per mm: above the 1 mm grid's 0.5, it aliases to a 5 mm wave
    shape, grid = target_grid(volume, 1.0)
    aliased = {flag: resample(volume, shape, grid, "linear", antialias=flag).data[5:-5, 5:-5, 3:-3]
               for flag in (False, True)}
    assert aliased[False].std() > 0.15  # linear interpolation alone lets a fifth of the amplitude through
    assert aliased[True].std() < 0.3 * aliased[False].std()  # measured: 0.044 against 0.22
    assert np.mean(aliased[True]) == pytest.approx(10, abs=0.01)  # the mean intensity is kept


def test_to_spacing_records_the_smoothing_or_notes_its_absence(tmp_path):
    cohort = synthetic.write_cohort(tmp_path / "b", "brats2021", n_cases=1, shape=(40, 40, 24), seed=5)
    case = load_case(find_cases(cohort)[0])
    same, record = to_spacing(case, 1.0, antialias=True)  # 1 mm data: nothing to smooth, passed on as they are
    assert all(same.volumes[m] is case.volumes[m] for m in case.volumes) and record["antialias"] == {}
    fine_t2 = Volume(case.volumes["t2"].data, np.diag([0.5, 0.5, 1.0, 1.0]) @ case.volumes["t2"].affine,
                     case.volumes["t2"].path)
    fine = Case(case.ref, {**case.volumes, "t2": fine_t2}, case.seg)
    _, smoothed = to_spacing(fine, 1.0, antialias=True)
    assert smoothed["antialias"] == {"t2": [0.3678, 0.3678, 0.0]}  # 0.5 * sqrt(3 / (8 ln 2)) mm in-plane
    assert not smoothed["notes"]
    _, plain = to_spacing(fine, 1.0)
    assert "antialias" not in plain and any("t2: brought to a coarser 1 mm grid without anti-aliasing" in note
                                            and "--antialias" in note for note in plain["notes"])


def test_the_setting_is_recorded_only_when_on_and_parsed_from_the_command_line():
    from mgmtfeat.cli.dataset import add_dataset_arguments, clip_settings

    on, off = ClipSettings(antialias=True), ClipSettings()
    assert on.as_dict()["antialias"] is True and "antialias" not in off.as_dict()  # earlier provenance still matches
    assert settings_digest({"clips": on.as_dict()}) != settings_digest({"clips": off.as_dict()})
    assert ClipSettings.from_dict(json.loads(json.dumps(on.as_dict()))) == on
    with pytest.raises(ValueError, match="--spacing native"):
        ClipSettings(antialias=True, spacing=None)
    parser = argparse.ArgumentParser()
    add_dataset_arguments(parser)
    assert clip_settings(parser.parse_args(["--data", ".", "--antialias"])).antialias
    assert not clip_settings(parser.parse_args(["--data", "."])).antialias
