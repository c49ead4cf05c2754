"""Tests for mgmtfeat.data.volumes: strict NIfTI / DICOM reading, canonical orientation, writers."""

import gzip
import shutil

import nibabel as nib
import numpy as np
import pydicom
import pytest

from mgmtfeat.data import synthetic
from mgmtfeat.data.layouts import find_cases
from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.volumes import (load_case, load_dicom_series, load_nifti, load_segmentation,
                              write_dicom_series, write_nifti)

SHAPE = (20, 24, 10)


def _lps_image(rng=None):
    rng = rng or np.random.default_rng(0)
    data = rng.integers(1, 1000, SHAPE).astype(np.int16)
    affine = np.diag([-1.0, -1.2, 2.0, 1.0])
    affine[:3, 3] = [10, 20, -5]
    return data, affine


@pytest.fixture
def nifti(tmp_path):
    data, affine = _lps_image()
    return write_nifti(tmp_path / "case_t1.nii.gz", data, affine), data, affine


def test_nifti_read_to_ras(nifti):
    path, data, affine = nifti
    vol = load_nifti(path, "c1", "t1")
    ref = nib.as_closest_canonical(nib.Nifti1Image(data, affine))
    assert vol.data.dtype == np.float32 and vol.shape == SHAPE
    np.testing.assert_array_equal(vol.data, np.asarray(ref.dataobj, dtype=np.float32))
    np.testing.assert_allclose(vol.affine, ref.affine, atol=1e-5)  # stored as float32
    assert nib.aff2axcodes(vol.affine) == ("R", "A", "S")
    assert vol.spacing == pytest.approx((1.0, 1.2, 2.0))
    # the same world point holds the same value: first stored voxel is the far corner in RAS
    assert vol.data[-1, -1, 0] == data[0, 0, 0]


def test_truncated_gzip_fails_at_load(nifti, tmp_path):
    path = nifti[0]
    raw = path.read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(raw[: len(raw) - 20])
    with pytest.raises(CaseError, match="truncated or corrupt") as info:
        load_nifti(cut, "c1", "t1")
    assert info.value.case_id == "c1" and info.value.file == str(cut)


@pytest.mark.parametrize("where", ["middle", "crc"])
def test_corrupt_gzip_fails(nifti, tmp_path, where):
    raw = bytearray(nifti[0].read_bytes())
    # a flipped bit in the deflate data, or in the CRC32 trailer (the stream inflates but does not check out)
    raw[len(raw) // 2 if where == "middle" else -6] ^= 0x10
    bad = tmp_path / "crc.nii.gz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(CaseError, match="truncated or corrupt"):
        load_nifti(bad, "c1")


def test_empty_and_wrong_magic(tmp_path):
    empty = tmp_path / "empty.nii.gz"
    empty.write_bytes(b"")
    with pytest.raises(CaseError, match="empty"):
        load_nifti(empty, "c1")
    text = tmp_path / "text.nii.gz"
    text.write_bytes(b"this is not gzip at all")
    with pytest.raises(CaseError, match="gzip magic"):
        load_nifti(text, "c1")
    other = tmp_path / "other.nii.gz"
    other.write_bytes(gzip.compress(b"\0" * 400))
    with pytest.raises(CaseError, match="wrong header size or magic"):
        load_nifti(other, "c1")


def test_uncompressed_nifti_with_short_voxel_data(nifti, tmp_path):
    path, data, affine = nifti
    raw = gzip.decompress(path.read_bytes())
    short = tmp_path / "short.nii"
    short.write_bytes(raw[:-100])
    with pytest.raises(CaseError, match="voxel data is truncated"):
        load_nifti(short, "c1")
    full = tmp_path / "full.nii"
    full.write_bytes(raw)
    assert load_nifti(full, "c1").shape == SHAPE


def test_missing_file(tmp_path):
    with pytest.raises(CaseError, match="missing"):
        load_nifti(tmp_path / "absent.nii.gz", "c1", "t2")


def test_all_zero_and_nan_volumes(tmp_path):
    _, affine = _lps_image()
    zero = write_nifti(tmp_path / "zero.nii.gz", np.zeros(SHAPE, np.int16), affine)
    with pytest.raises(CaseError, match="all zero"):
        load_nifti(zero, "c1")
    data = np.ones(SHAPE, np.float32)
    data[3, 4, 5] = np.nan
    nan = write_nifti(tmp_path / "nan.nii.gz", data, affine)
    with pytest.raises(CaseError, match="NaN"):
        load_nifti(nan, "c1")


def test_4d_volume_refused(tmp_path):
    _, affine = _lps_image()
    path = write_nifti(tmp_path / "4d.nii.gz", np.ones((4, 4, 4, 2), np.int16), affine)
    with pytest.raises(CaseError, match="3-D volume"):
        load_nifti(path, "c1")


def test_segmentation_checks(tmp_path):
    _, affine = _lps_image()
    seg = np.zeros(SHAPE, np.uint8)
    with pytest.raises(CaseError, match="segmentation is empty"):
        load_segmentation(write_nifti(tmp_path / "empty_seg.nii.gz", seg, affine), "c1")
    seg[5:8, 5:8, 2:4] = 3
    with pytest.raises(CaseError, match="outside"):
        load_segmentation(write_nifti(tmp_path / "three.nii.gz", seg, affine), "c1")
    seg[5:8, 5:8, 2:4] = 4
    seg[6, 6, 3] = 1
    vol = load_segmentation(write_nifti(tmp_path / "ok.nii.gz", seg, affine), "c1")
    assert vol.data.dtype == np.uint8 and set(np.unique(vol.data)) == {0, 1, 4}


# ----------------------------------------------------------------------------- DICOM

@pytest.fixture
def series(tmp_path):
    data, affine = _lps_image()
    folder = write_dicom_series(tmp_path / "T1w", data.astype(np.float32) * 0.5 + 3, affine,
                                plane="axial", slope=0.5, intercept=3.0)
    return folder, data, affine


@pytest.mark.parametrize("plane", ["axial", "sagittal", "coronal"])
def test_dicom_round_trip_any_plane(tmp_path, plane):
    data, affine = _lps_image()
    folder = write_dicom_series(tmp_path / plane, data.astype(np.float32), affine, plane=plane)
    vol = load_dicom_series(folder, "00001", "t1")
    ref = load_nifti(write_nifti(tmp_path / "ref.nii.gz", data, affine), "00001")
    np.testing.assert_array_equal(vol.data, ref.data)
    np.testing.assert_allclose(vol.affine, ref.affine, atol=1e-4)


def test_dicom_rescale_and_sorting_ignore_file_names(series, tmp_path):
    folder, data, affine = series
    # scramble file names: the reader must sort by ImagePositionPatient on the normal
    files = sorted(folder.iterdir())
    rng = np.random.default_rng(1)
    for i, path in enumerate(files):
        path.rename(folder / f"tmp-{i}")
    for i, path in zip(rng.permutation(len(files)), sorted(folder.iterdir())):
        path.rename(folder / f"Image-{i + 1}.dcm")
    vol = load_dicom_series(folder, "00001")
    ref = load_nifti(write_nifti(tmp_path / "ref.nii.gz", data, affine), "00001")
    np.testing.assert_allclose(vol.data, ref.data * 0.5 + 3, rtol=1e-6)  # slope/intercept applied
    assert pydicom.dcmread(files[0]).RescaleSlope == 0.5


def _resave(path, **changes):
    ds = pydicom.dcmread(path)
    for key, value in changes.items():
        setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=True)


def test_dicom_without_dicm_prefix(series):
    folder = series[0]
    path = sorted(folder.iterdir())[3]
    raw = path.read_bytes()
    assert raw[128:132] == b"DICM"
    path.write_bytes(raw[132:])  # dataset without preamble and prefix: only force=True would read it
    with pytest.raises(CaseError, match="DICM") as info:
        load_dicom_series(folder, "00001", "t1")
    assert info.value.file == str(path)


def test_empty_dicom_file(series):
    path = sorted(series[0].iterdir())[2]
    path.write_bytes(b"")
    with pytest.raises(CaseError, match="empty"):
        load_dicom_series(series[0], "00001")


def test_two_series_in_one_folder(series, tmp_path):
    folder, data, affine = series
    other = write_dicom_series(tmp_path / "other", data.astype(np.float32), affine)
    shutil.copy(sorted(other.iterdir())[0], folder / "Image-999.dcm")
    with pytest.raises(CaseError, match="2 SeriesInstanceUIDs"):
        load_dicom_series(folder, "00001")


def test_missing_slice(series):
    folder = series[0]
    by_position = sorted(folder.iterdir(), key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
    by_position[4].unlink()
    with pytest.raises(CaseError, match="missing slice"):
        load_dicom_series(folder, "00001")


def test_tilted_stack(series):
    for path in series[0].iterdir():
        ds = pydicom.dcmread(path)
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        _resave(path, ImagePositionPatient=[x, y + 0.3 * z, z])  # gantry-tilt-like drift
    with pytest.raises(CaseError, match="tilted"):
        load_dicom_series(series[0], "00001")


def test_inconsistent_orientation(series):
    path = sorted(series[0].iterdir())[5]
    _resave(path, ImageOrientationPatient=[1, 0, 0, 0, 0.995037, -0.0995037])
    with pytest.raises(CaseError, match="inconsistently oriented"):
        load_dicom_series(series[0], "00001")


def test_incomplete_pixel_data(series):
    path = sorted(series[0].iterdir())[1]
    ds = pydicom.dcmread(path)
    ds.PixelData = ds.PixelData[:-64]
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(CaseError, match="pixel data is incomplete"):
        load_dicom_series(series[0], "00001")


def test_missing_series_folder(tmp_path):
    with pytest.raises(CaseError, match="series folder is missing"):
        load_dicom_series(tmp_path / "FLAIR", "00001", "flair")


def test_writer_refuses_existing_folder(series):
    data, affine = _lps_image()
    with pytest.raises(FileExistsError):
        write_dicom_series(series[0], data.astype(np.float32), affine)


# ----------------------------------------------------------------------------- cases

@pytest.fixture(scope="module")
def brats(tmp_path_factory):
    return synthetic.write_cohort(tmp_path_factory.mktemp("b") / "brats", "brats2021", n_cases=2,
                                  shape=(24, 24, 12), seed=5)


def test_load_case_nifti_and_dicom(brats, tmp_path):
    ref = find_cases(brats)[0]
    case = load_case(ref)
    assert set(case.volumes) == {"flair", "t1", "t1ce", "t2"}
    assert case.seg is not None and case.seg.shape == case.volumes["t1"].shape
    assert case.case_id == ref.case_id and case.label == ref.label
    assert load_case(ref, seg="ignore").seg is None
    rsna = synthetic.write_cohort(tmp_path / "rsna", "rsna_dicom", n_cases=1, shape=(24, 24, 12), seed=5)
    dcase = load_case(find_cases(rsna)[0])
    assert dcase.seg is None and dcase.volumes["t1ce"].shape == (24, 24, 12)
    with pytest.raises(CaseError, match="segmentation is absent"):
        load_case(find_cases(rsna)[0], seg="require")


def test_load_case_missing_modality(tmp_path):
    root = synthetic.write_cohort(tmp_path / "b", "brats2021", n_cases=1, shape=(24, 24, 12))
    ref = find_cases(root)[0]
    ref.paths["t1ce"].unlink()
    with pytest.raises(CaseError, match="missing") as info:
        load_case(ref)
    assert info.value.case_id == ref.case_id and info.value.file.endswith("_t1ce.nii.gz")


def test_case_error_fields_survive_pickling():
    import pickle

    err = pickle.loads(pickle.dumps(CaseError("00001", "a/b.dcm", "broken")))
    assert (err.case_id, err.file, err.reason) == ("00001", "a/b.dcm", "broken")
    assert str(err) == "case 00001, file a/b.dcm: broken"
