"""Radiomics features: parity with pyradiomics on the files, fixed names, geometry, bad inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("radiomics")
sitk = pytest.importorskip("SimpleITK")

from mgmtfeat import MODALITIES  # noqa: E402
from mgmtfeat.data.errors import CaseError  # noqa: E402
from mgmtfeat.data.layouts import find_cases  # noqa: E402
from mgmtfeat.data.synthetic import write_cohort  # noqa: E402
from mgmtfeat.data.volumes import load_case  # noqa: E402
from mgmtfeat.clips.registration import to_sitk  # noqa: E402
from mgmtfeat.radiomics import (  # noqa: E402
    DEFAULT_PARAMS, RadiomicsSettings, box_mask, feature_names, radiomics_features)

SHAPE = (48, 48, 32)
SPACING = (1.0, 1.0, 1.5)  # anisotropic, so the 1 mm resampling of the default params does something


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    # BraTS layout: files stored in LPS order, read back reoriented to RAS
    root = write_cohort(tmp_path_factory.mktemp("rad") / "data", "brats2021", n_cases=1, shape=SHAPE,
                        spacing=SPACING, seed=3)
    return find_cases(root)[0]


@pytest.fixture(scope="module")
def case(cohort):
    return load_case(cohort)


@pytest.fixture(scope="module")
def features(case):
    return radiomics_features(case, RadiomicsSettings())


def _direct(image_path, mask_path, label=1):
    """pyradiomics called on the files, as its own command line would."""
    from radiomics import featureextractor

    result = featureextractor.RadiomicsFeatureExtractor(str(DEFAULT_PARAMS)).execute(
        str(image_path), str(mask_path), label=label)
    return {k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")}


def test_geometry_matches_simpleitk_reading_the_nifti_file(cohort, case):
    # the file on disk (stored in LPS order by nibabel) read by ITK's own NIfTI reader; ours is
    # the RAS-reoriented copy, so index (0, 0, 0) differs but every physical point must agree
    on_disk = sitk.ReadImage(str(cohort.paths["t1"]))
    ours = to_sitk(case.volumes["t1"])
    # both from the float32 header (ours through float64 arithmetic): one float32 rounding of ~1 mm, 1e-6
    np.testing.assert_allclose(ours.GetSpacing(), on_disk.GetSpacing(), rtol=0, atol=1e-6)
    corners = lambda img: sorted(tuple(np.round(img.TransformIndexToPhysicalPoint(
        tuple(int(i) for i in np.array(c) * (np.array(img.GetSize()) - 1))), 4))
        for c in np.ndindex(2, 2, 2))
    assert corners(ours) == corners(on_disk)  # same field of view, in LPS mm
    for index in [(0, 0, 0), (5, 17, 9), (40, 3, 30), (20, 30, 15)]:
        point = ours.TransformIndexToPhysicalPoint(index)
        assert ours[index] == on_disk[on_disk.TransformPhysicalPointToIndex(point)]
    assert case.volumes["t1"].data[5, 17, 9] == ours[5, 17, 9]  # index (i, j, k) is data[i, j, k]


def test_features_match_pyradiomics_on_the_files(cohort, case, features, tmp_path):
    names = feature_names(RadiomicsSettings())
    raw = {m: sitk.ReadImage(str(cohort.paths[m])) for m in ("t1", "t1ce", "seg")}
    # whole-tumour mask and delta-T1 written in the files' own (LPS) order with SimpleITK
    mask = sitk.Cast(raw["seg"] > 0, sitk.sitkUInt8)
    sitk.WriteImage(mask, str(tmp_path / "mask.nii.gz"))
    delta = sitk.Cast(raw["t1ce"], sitk.sitkFloat32) - sitk.Cast(raw["t1"], sitk.sitkFloat32)
    sitk.WriteImage(delta, str(tmp_path / "delta.nii.gz"))
    assert case.seg.shape == SHAPE
    for modality in MODALITIES:
        path = tmp_path / "delta.nii.gz" if modality == "delta_t1" else cohort.paths[modality]
        direct = _direct(path, tmp_path / "mask.nii.gz")
        assert list(direct) == names  # same names, same order
        expected = np.array(list(direct.values()), dtype=np.float32)
        # same voxels, same geometry (to float32 header precision), same code: only the float32
        # cast of the output separates the two, so 1e-5 relative is ample
        np.testing.assert_allclose(features[modality], expected, rtol=1e-5, atol=1e-6, err_msg=modality)


def test_chosen_labels_match_pyradiomics_on_the_label_map(cohort, case):
    ours = radiomics_features(case, RadiomicsSettings(labels=(4,), modalities=("t1ce",)))["t1ce"]
    direct = _direct(cohort.paths["t1ce"], cohort.paths["seg"], label=4)  # pyradiomics picks label 4 itself
    # as above: the same code on the same voxels, only the float32 cast of the output differs (1e-5 relative)
    np.testing.assert_allclose(ours, np.array(list(direct.values()), np.float32), rtol=1e-5, atol=1e-6)
    whole = radiomics_features(case, RadiomicsSettings(modalities=("t1ce",)))["t1ce"]
    volume = feature_names(RadiomicsSettings()).index("original_shape_VoxelVolume")
    assert ours[volume] < whole[volume]  # the enhancing rim is part of the whole tumour


def test_names_fixed_unique_and_every_class(features):
    names = feature_names(RadiomicsSettings())
    assert len(names) == len(set(names))
    assert names == feature_names(RadiomicsSettings(labels=(1, 4), modalities=("t2",)))
    for example in ("original_firstorder_Mean", "original_shape_Sphericity", "original_glcm_Contrast"):
        assert example in names
    assert {n.split("_")[1] for n in names} == {"firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm"}
    assert set(features) == set(MODALITIES)
    for vector in features.values():
        assert vector.dtype == np.float32 and vector.shape == (len(names),) and np.isfinite(vector).all()
    # shape features describe the mask only: the same for every input
    shape = [i for i, n in enumerate(names) if "_shape_" in n]
    np.testing.assert_array_equal(features["flair"][shape], features["delta_t1"][shape])


def test_provenance_records_params_digest_binning_and_resampling():
    info = RadiomicsSettings().as_dict()
    assert info["bin_width"] == 5 and info["resampled_spacing_mm"] == [1, 1, 1]
    assert len(info["params_sha256"]) == 64 and info["labels"] == "whole tumour (>0)"
    assert info["pyradiomics"] and info["simpleitk"]


def test_params_rejected_by_pyradiomics_names_file_and_setting(case, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("setting:\n  binWidht: 5\n")  # misspelt setting
    with pytest.raises(CaseError) as err:
        radiomics_features(case, RadiomicsSettings(params=bad))
    assert err.value.case_id == case.case_id and err.value.file == str(bad)
    assert "binWidht" in err.value.reason and "rejects" in err.value.reason


def test_no_voxel_of_the_chosen_label(case):
    with pytest.raises(CaseError, match=r"no voxel with label\(s\) \[3\]") as err:
        radiomics_features(case, RadiomicsSettings(labels=(3,)))
    assert err.value.file == str(case.seg.path)


def _variant(ref, tmp_path, what, change):
    """``ref`` with the file of ``what`` replaced by ``change(SimpleITK image)``, written beside the test."""
    path = tmp_path / f"{what}.nii.gz"
    sitk.WriteImage(change(sitk.ReadImage(str(ref.paths[what]))), str(path))
    return dataclasses.replace(ref, paths={**ref.paths, what: path})


def test_mask_on_another_grid(cohort, tmp_path):
    def shift(image):  # 5 mm away: same shape, another grid
        image.SetOrigin(tuple(np.add(image.GetOrigin(), 5.0)))
        return image

    with pytest.raises(CaseError, match="mask grid .* differs from the flair image .* --modalities"):
        radiomics_features(_variant(cohort, tmp_path, "seg", shift))


def test_t1_on_another_grid_refuses_delta_t1(cohort, tmp_path):
    def every_second_slice(image):
        half = image[:, :, ::2]
        half.SetSpacing(tuple(np.multiply(image.GetSpacing(), (1, 1, 2))))
        return half

    other = _variant(cohort, tmp_path, "t1", every_second_slice)
    with pytest.raises(CaseError, match="register T1 onto T1wCE.*--modalities") as err:
        radiomics_features(other, RadiomicsSettings(modalities=("delta_t1",)))
    assert err.value.file == str(other.paths["t1"])


def test_nan_feature_is_refused_with_its_name(case, monkeypatch):
    from radiomics import featureextractor

    execute = featureextractor.RadiomicsFeatureExtractor.execute

    def with_nan(self, *args, **kwargs):  # what a degenerate ROI can give for some features
        result = execute(self, *args, **kwargs)
        result["original_glcm_Correlation"] = float("nan")
        return result

    monkeypatch.setattr(featureextractor.RadiomicsFeatureExtractor, "execute", with_nan)
    with pytest.raises(CaseError, match="NaN or infinite: original_glcm_Correlation") as err:
        radiomics_features(case, RadiomicsSettings(modalities=("t2",)))
    assert err.value.case_id == case.case_id


def test_constant_image_is_refused(cohort, tmp_path):
    flat = _variant(cohort, tmp_path, "t1", lambda image: image * 0 + 100)
    with pytest.raises(CaseError, match="t1 image is constant.*--modalities"):
        radiomics_features(flat, RadiomicsSettings(modalities=("t1",)))
    # T1wCE identical to T1: delta-T1 is constant, and the fix is the --modalities option
    same = dataclasses.replace(cohort, paths={**cohort.paths, "t1": cohort.paths["t1ce"]})
    with pytest.raises(CaseError, match=r"delta_t1 image is constant.*--modalities flair,t1,t1ce,t2"):
        radiomics_features(same, RadiomicsSettings(modalities=("delta_t1",)))


def test_without_segmentation_refused_unless_a_box_is_given(cohort, case):
    no_seg = dataclasses.replace(cohort, paths={k: v for k, v in cohort.paths.items() if k != "seg"})
    with pytest.raises(CaseError, match="no tumour segmentation.*box_mask"):
        radiomics_features(no_seg)
    box = box_mask(case.volumes["t1ce"], rows=(10, 22), cols=(12, 20), slices=(8, 18))
    out = radiomics_features(no_seg, RadiomicsSettings(modalities=("t1ce",)), mask=box)["t1ce"]
    names = feature_names(RadiomicsSettings())
    # a box of 12 x 8 x 10 voxels of 1 x 1 x 1.5 mm, moved voxel for voxel onto the file's grid;
    # the volume is a count of voxels times the voxel size, exact up to float64 rounding (1e-6 is far above it)
    assert out[names.index("original_shape_VoxelVolume")] == pytest.approx(12 * 8 * 10 * 1.5, rel=1e-6)


def test_box_mask_uses_frame_coordinates(case):
    vol = case.volumes["t1"]
    nx, ny, _ = vol.shape
    box = box_mask(vol, rows=(2, 5), cols=(7, 9), slices=(3, 4))
    assert box.data.sum() == 3 * 2 * 1
    for r, c in [(2, 7), (4, 8)]:  # frame[r, c] = volume[X - 1 - c, Y - 1 - r, z]
        assert box.data[nx - 1 - c, ny - 1 - r, 3] == 1
    with pytest.raises(ValueError, match="rows=.*outside"):
        box_mask(vol, rows=(5, 5), cols=(0, 4), slices=(0, 4))


def test_settings_validate_their_arguments(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        RadiomicsSettings(params=tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="positive segmentation labels"):
        RadiomicsSettings(labels=(0,))
    with pytest.raises(ValueError, match="choose among"):
        RadiomicsSettings(modalities=("pd",))


def test_an_absent_image_names_the_option_that_leaves_it_out(cohort):
    no_t1 = dataclasses.replace(cohort, paths={k: v for k, v in cohort.paths.items() if k != "t1"})
    with pytest.raises(CaseError, match="has no t1 image.*--modalities"):
        radiomics_features(no_t1, RadiomicsSettings(modalities=("t1ce", "delta_t1")))
    assert set(radiomics_features(no_t1, RadiomicsSettings(modalities=("t2",)))) == {"t2"}
