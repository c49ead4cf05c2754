"""Radiomics equals pyradiomics on the files: a clinical-style phantom (0.8 x 0.8 x 5 mm, oblique, not RAS, int16)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

pytest.importorskip("radiomics")
sitk = pytest.importorskip("SimpleITK")

from mgmtfeat import MODALITIES  # noqa: E402
from mgmtfeat.clips.registration import to_sitk  # noqa: E402
from mgmtfeat.data.layouts import CaseRef  # noqa: E402
from mgmtfeat.data.nifti import load_nifti  # noqa: E402
from mgmtfeat.radiomics import DEFAULT_PARAMS, RadiomicsSettings, feature_names, radiomics_features  # noqa: E402
from mgmtfeat.radiomics.originals import GRID_TOLERANCE_MM, grid_gap, mask_on  # noqa: E402

SIZE = (64, 56, 12)  # (i, j, k) voxels; k is the 5 mm slice axis
SPACING = (0.8, 0.8, 5.0)
# pyradiomics' own kind of test configuration: no normalisation, fixed bin width, linear resampling to 2 mm
OTHER_PARAMS = """\
imageType:
  Original: {}
featureClass:
  firstorder:
  shape:
  glcm:
  glszm:
setting:
  binWidth: 25
  resampledPixelSpacing: [2, 2, 2]
  interpolator: sitkLinear
  padDistance: 5
  label: 1
"""


def _direction() -> np.ndarray:
    """Axes i -> posterior, j -> inferior, k -> left (LPS signs), then rotated 12 degrees and 7 degrees: oblique."""
    permute = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    a, b = np.radians(12.0), np.radians(7.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rz @ rx @ permute


def _image(array_kji: np.ndarray):
    image = sitk.GetImageFromArray(array_kji)
    image.SetSpacing(SPACING)
    image.SetDirection(tuple(_direction().ravel()))
    image.SetOrigin((31.5, -17.25, 40.0))
    return image


@pytest.fixture(scope="module")
def phantom(tmp_path_factory) -> CaseRef:
    """Four int16 images and a BraTS-labelled segmentation written as NIfTI files."""
    folder = tmp_path_factory.mktemp("oblique")
    rng = np.random.default_rng(7)
    k, j, i = np.meshgrid(*(np.arange(n) for n in SIZE[::-1]), indexing="ij")
    mm = np.stack([(i - 30) * SPACING[0], (j - 26) * SPACING[1], (k - 5.5) * SPACING[2]])
    r = np.sqrt((mm ** 2).sum(0))
    seg = np.where(r < 8, 1, np.where(r < 13, 4, np.where(r < 18, 2, 0))).astype(np.uint8)
    paths = {}
    for n, modality in enumerate(("flair", "t1", "t1ce", "t2")):
        texture = 60 * np.sin(mm[0] / (3 + n)) * np.cos(mm[1] / 4) + 40 * rng.standard_normal(r.shape)
        values = 400 + 150 * n + 120 * (seg == 4) * (modality == "t1ce") + 80 * (seg > 0) + texture
        paths[modality] = folder / f"{modality}.nii.gz"
        sitk.WriteImage(_image(np.round(values).astype(np.int16)), str(paths[modality]))
    paths["seg"] = folder / "seg.nii.gz"
    sitk.WriteImage(_image(seg), str(paths["seg"]))
    return CaseRef("P001", "brats2021", paths)


def _direct(image_path, mask_path, params, label=1) -> np.ndarray:
    """pyradiomics on the files, as `pyradiomics IMAGE MASK --param PARAMS` runs it."""
    from radiomics import featureextractor

    result = featureextractor.RadiomicsFeatureExtractor(str(params)).execute(str(image_path), str(mask_path),
                                                                              label=label)
    return np.array([float(v) for k, v in result.items() if not k.startswith("diagnostics_")])


def test_phantom_is_clinical_style(phantom):
    image = sitk.ReadImage(str(phantom.paths["t1ce"]))
    assert image.GetPixelID() == sitk.sitkInt16 and np.allclose(image.GetSpacing(), SPACING)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    assert not np.allclose(np.abs(direction), np.round(np.abs(direction)), atol=0.05)  # oblique
    assert not np.allclose(direction, np.diag([-1, -1, 1]), atol=0.5)  # not RAS (LPS signs in ITK)


@pytest.mark.parametrize("params_text", [None, OTHER_PARAMS], ids=["shipped", "binwidth25-linear2mm"])
def test_features_equal_pyradiomics_on_the_original_files(phantom, tmp_path, params_text):
    params = DEFAULT_PARAMS
    if params_text:
        params = tmp_path / "params.yaml"
        params.write_text(params_text)
    settings = RadiomicsSettings(params=params)
    ours = radiomics_features(phantom, settings)
    # the references: pyradiomics on the image files; the whole-tumour mask written with the segmentation's own
    # header (a NIfTI round trip through SimpleITK moves an oblique direction by 1e-9, which flips nearest-
    # neighbour ties of the 2 mm mask resampling: 3 % of the ROI here); delta-T1 made by SimpleITK
    seg = nib.load(phantom.paths["seg"])
    nib.save(nib.Nifti1Image((np.asarray(seg.dataobj) > 0).astype(np.uint8), None, seg.header),
             tmp_path / "mask.nii.gz")
    delta = (sitk.Cast(sitk.ReadImage(str(phantom.paths["t1ce"])), sitk.sitkFloat32)
             - sitk.Cast(sitk.ReadImage(str(phantom.paths["t1"])), sitk.sitkFloat32))
    sitk.WriteImage(delta, str(tmp_path / "delta.nii.gz"))
    assert set(ours) == set(MODALITIES)
    for modality in MODALITIES:
        path = tmp_path / "delta.nii.gz" if modality == "delta_t1" else phantom.paths[modality]
        expected = _direct(path, tmp_path / "mask.nii.gz", params)
        assert len(expected) == len(feature_names(settings))
        # the same code on the same voxels, geometry and pixel type: only our float32 output cast
        # (6e-8 relative) and BLAS threading in GLCM's MCC eigenvalues (about 1e-12) separate the
        # two; the RAS/float32 route of before moves 93 of 107 features by over 1e-4, up to 15 % (checked below)
        np.testing.assert_allclose(ours[modality], expected, rtol=1e-5, atol=1e-6, err_msg=modality)


def test_chosen_labels_equal_pyradiomics_given_the_label_map(phantom, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(OTHER_PARAMS)
    ours = radiomics_features(phantom, RadiomicsSettings(params=params, labels=(4,), modalities=("t1ce",)))["t1ce"]
    expected = _direct(phantom.paths["t1ce"], phantom.paths["seg"], params, label=4)  # pyradiomics picks label 4
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)  # as in the test above


def test_the_reoriented_float32_volume_gives_other_features(phantom):
    """Sensitivity of the test above: the image as mgmtfeat's readers hold it (RAS, float32) is not the file."""
    from radiomics import featureextractor

    volume = load_nifti(phantom.paths["t1ce"])  # RAS, float32: what pyradiomics got before
    seg = load_nifti(phantom.paths["seg"], dtype=None)
    extractor = featureextractor.RadiomicsFeatureExtractor(str(DEFAULT_PARAMS))
    old = extractor.execute(to_sitk(volume), to_sitk((seg.data > 0).astype(np.uint8), seg.affine))
    old = np.array([float(v) for k, v in old.items() if not k.startswith("diagnostics_")])
    ours = radiomics_features(phantom, RadiomicsSettings(modalities=("t1ce",)))["t1ce"]
    relative = np.abs(old - ours) / np.maximum(np.abs(ours), 1e-6)
    assert (relative > 1e-4).sum() > 10  # 93 of 107 move (41 by over 1 %) when orientation and pixel type change


def test_a_header_rounded_mask_takes_the_image_grid_and_a_far_one_is_refused(phantom):
    from mgmtfeat.data.errors import CaseError

    image = sitk.ReadImage(str(phantom.paths["t1"]))
    mask = sitk.Cast(sitk.ReadImage(str(phantom.paths["seg"])) > 0, sitk.sitkUInt8)
    assert mask_on(image, mask, "P001", "t1", "seg", "t1") is mask  # same header: handed over unchanged
    near = sitk.Image(mask)
    near.SetOrigin(tuple(np.add(mask.GetOrigin(), 1e-4)))  # float32 header rounding between tools
    fitted = mask_on(image, near, "P001", "t1", "seg", "t1")
    assert grid_gap(fitted, image) == 0 and grid_gap(near, image) < GRID_TOLERANCE_MM
    far = sitk.Image(mask)
    far.SetOrigin(tuple(np.add(mask.GetOrigin(), 1.0)))
    with pytest.raises(CaseError, match="mask grid .* differs from the t1 image"):
        mask_on(image, far, "P001", "t1", "seg", "t1")


def test_a_dicom_series_reaches_pyradiomics_as_simpleitk_reads_it(tmp_path):
    from mgmtfeat.data.errors import CaseError
    from mgmtfeat.data.layouts import find_cases
    from mgmtfeat.data.synthetic import write_cohort
    from mgmtfeat.data.volumes import load_case
    from mgmtfeat.radiomics.originals import read_original

    ref = find_cases(write_cohort(tmp_path / "rsna", "rsna_dicom", n_cases=1, shape=(32, 32, 16), seed=2))[0]
    ours = load_case(ref, seg="ignore").volumes["t1ce"]  # mgmtfeat's own DICOM reader, RAS
    image = read_original(ref.paths["t1ce"], ref.case_id, "t1ce")  # the series' own voxel order
    as_ras = to_sitk(ours)
    assert sorted(image.GetSize()) == sorted(as_ras.GetSize())
    np.testing.assert_allclose(sorted(image.GetSpacing()), sorted(as_ras.GetSpacing()), atol=1e-4)  # DS precision
    for index in [(0, 0, 0), (3, 7, 5), (10, 2, 12)]:  # every physical point holds the same value
        point = as_ras.TransformIndexToPhysicalPoint(index)
        assert image[image.TransformPhysicalPointToIndex(point)] == pytest.approx(as_ras[index])
    with pytest.raises(CaseError, match="holds 0 DICOM series"):
        read_original(tmp_path, ref.case_id, "t1ce")
