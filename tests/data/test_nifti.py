"""Tests for mgmtfeat.data.nifti: strict NIfTI reading, canonical orientation, segmentation checks, writer."""

import gzip

import nibabel as nib
import numpy as np
import pytest

from conftest import IMAGE_SHAPE as SHAPE, lps_image
from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.nifti import load_nifti, load_segmentation, write_nifti


@pytest.fixture
def nifti(tmp_path):
    data, affine = lps_image()
    return write_nifti(tmp_path / "case_t1.nii.gz", data, affine), data, affine


def test_nifti_read_to_ras(nifti):
    path, data, affine = nifti
    vol = load_nifti(path, "c1", "t1")
    ref = nib.as_closest_canonical(nib.Nifti1Image(data, affine))
    assert vol.data.dtype == np.float32 and vol.shape == SHAPE
    np.testing.assert_array_equal(vol.data, np.asarray(ref.dataobj, dtype=np.float32))
    # the header stores the affine as float32 (6e-8 relative of entries up to ~100 mm): 1e-5 mm, while a
    # flipped axis is off by the field of view
    np.testing.assert_allclose(vol.affine, ref.affine, rtol=0, atol=1e-5)
    assert nib.aff2axcodes(vol.affine) == ("R", "A", "S")
    assert vol.spacing == pytest.approx((1.0, 1.2, 2.0), rel=1e-6)  # float32 header: 1.2 to 6e-8 relative
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
    _, affine = lps_image()
    zero = write_nifti(tmp_path / "zero.nii.gz", np.zeros(SHAPE, np.int16), affine)
    with pytest.raises(CaseError, match="all zero"):
        load_nifti(zero, "c1")
    data = np.ones(SHAPE, np.float32)
    data[3, 4, 5] = np.nan
    nan = write_nifti(tmp_path / "nan.nii.gz", data, affine)
    with pytest.raises(CaseError, match="NaN"):
        load_nifti(nan, "c1")


def test_4d_volume_refused(tmp_path):
    _, affine = lps_image()
    path = write_nifti(tmp_path / "4d.nii.gz", np.ones((4, 4, 4, 2), np.int16), affine)
    with pytest.raises(CaseError, match="3-D volume"):
        load_nifti(path, "c1")


def test_segmentation_checks(tmp_path):
    _, affine = lps_image()
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
