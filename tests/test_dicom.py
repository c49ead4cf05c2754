"""Tests for mgmtfeat.data.dicom: series assembly and its checks, the atomic series writer."""

import os
import shutil
import stat

import numpy as np
import pydicom
import pytest

from conftest import lps_image
from mgmtfeat.data.dicom import load_dicom_series, write_dicom_series
from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.nifti import load_nifti, write_nifti


@pytest.fixture
def series(tmp_path):
    data, affine = lps_image()
    folder = write_dicom_series(tmp_path / "T1w", data.astype(np.float32) * 0.5 + 3, affine,
                                plane="axial", slope=0.5, intercept=3.0)
    return folder, data, affine


@pytest.mark.parametrize("plane", ["axial", "sagittal", "coronal"])
def test_dicom_round_trip_any_plane(tmp_path, plane):
    data, affine = lps_image()
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
    data, affine = lps_image()
    with pytest.raises(FileExistsError):
        write_dicom_series(series[0], data.astype(np.float32), affine)


def test_writer_is_atomic(tmp_path, monkeypatch):
    from pydicom.dataset import Dataset

    data, affine = lps_image()
    calls = []

    def dies_on_third(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return save_as(self, *args, **kwargs)

    save_as = Dataset.save_as
    monkeypatch.setattr(Dataset, "save_as", dies_on_third)
    with pytest.raises(OSError, match="disk full"):
        write_dicom_series(tmp_path / "T2w", data.astype(np.float32), affine)
    assert list(tmp_path.iterdir()) == []  # no half-written series, no hidden temporary folder
    monkeypatch.undo()
    folder = write_dicom_series(tmp_path / "T2w", data.astype(np.float32), affine)
    assert len(list(folder.iterdir())) == data.shape[2]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask  # an ordinary folder, not mkdtemp's 0700
