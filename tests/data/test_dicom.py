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
    # DICOM stores positions and orientations as decimal strings of at most 16 characters, NIfTI as float32:
    # both round the geometry near 1e-6 mm; 1e-4 mm holds, while a flipped or permuted axis is off by mm
    np.testing.assert_allclose(vol.affine, ref.affine, rtol=0, atol=1e-4)


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
    # slope/intercept applied: float32 products of exact halves, one rounding (6e-8 relative) at most: 1e-6
    np.testing.assert_allclose(vol.data, ref.data * 0.5 + 3, rtol=1e-6)
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


def test_two_series_in_one_folder_are_listed_and_one_can_be_picked(series, tmp_path):
    folder, data, affine = series
    other = write_dicom_series(tmp_path / "other", data.astype(np.float32), affine, description="localizer")
    shutil.copy(sorted(other.iterdir())[0], folder / "Image-999.dcm")
    uid = str(pydicom.dcmread(folder / "Image-1.dcm").SeriesInstanceUID)
    other_uid = str(pydicom.dcmread(other / "Image-1.dcm").SeriesInstanceUID)
    with pytest.raises(CaseError, match="mixes 2 series") as info:
        load_dicom_series(folder, "00001")
    reason = info.value.reason
    assert f"{uid} (no SeriesDescription, 10 slices)" in reason and f"{other_uid} (localizer, 1 slices)" in reason
    assert "--series-uid" in reason
    picked = load_dicom_series(folder, "00001", series_uids=["1.2.3", uid])  # UIDs of other folders may be listed
    np.testing.assert_array_equal(picked.data, load_dicom_series(series[0].parent / "other", "00001").data * 0.5 + 3)


def test_series_uid_option_reaches_the_dicom_reader(series, tmp_path):
    from mgmtfeat.cli.dataset import add_dataset_arguments, clip_settings
    from mgmtfeat.data.layouts import CaseRef
    from mgmtfeat.data.volumes import load_case

    import argparse

    parser = argparse.ArgumentParser()
    add_dataset_arguments(parser)
    settings = clip_settings(parser.parse_args(["--data", ".", "--series-uid", "1.2.3", "4.5.6"]))
    assert settings.series_uids == ("1.2.3", "4.5.6")
    assert settings.as_dict()["series_uids"] == ["1.2.3", "4.5.6"]
    assert "series_uids" not in clip_settings(parser.parse_args(["--data", "."])).as_dict()  # old provenance holds
    folder, data, affine = series
    extra = write_dicom_series(tmp_path / "extra", data.astype(np.float32), affine)
    paths = {}
    for name in ("flair", "t1", "t1ce", "t2"):
        paths[name] = shutil.copytree(folder, tmp_path / name)
    shutil.copy(sorted(extra.iterdir())[0], paths["t2"] / "Image-999.dcm")
    ref = CaseRef("00001", "rsna_dicom", paths)
    with pytest.raises(CaseError, match="--series-uid"):
        load_case(ref)
    uid = str(pydicom.dcmread(folder / "Image-1.dcm").SeriesInstanceUID)
    case = load_case(ref, series_uids=(uid,))
    np.testing.assert_array_equal(case.volumes["t2"].data, case.volumes["t1"].data)


def test_missing_slice(series):
    folder = series[0]
    by_position = sorted(folder.iterdir(), key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
    by_position[4].unlink()
    with pytest.raises(CaseError, match="missing slice"):
        load_dicom_series(folder, "00001")


def _tilt(folder, extra_gap=0.0):
    """Shear the stack as a gantry tilt of atan(0.3) = 16.7 degrees; optionally widen one increment."""
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        z = z + extra_gap * (z > 3)  # variable spacing, as in tilted CT (dcm2niix's GE QA series)
        _resave(path, ImagePositionPatient=[x, y + 0.3 * z, z])


def test_tilted_stack(series):
    _tilt(series[0])
    with pytest.raises(CaseError, match=r"gantry tilt of 16\.7 degrees.*dcm2niix"):
        load_dicom_series(series[0], "00001")


def test_tilted_stack_with_variable_spacing_names_the_tilt(series):
    _tilt(series[0], extra_gap=0.7)
    with pytest.raises(CaseError, match=r"gantry tilt of 16\.7 degrees: .*sheared, not supported"):
        load_dicom_series(series[0], "00001")


def _volumes_folder(tmp_path, tags):
    """Two volumes under one SeriesInstanceUID (fMRI-like), each slice tagged with ``tags(volume)``."""
    data, affine = lps_image()
    folder = tmp_path / "bold"
    folder.mkdir()
    for v in (1, 2):
        vol = write_dicom_series(tmp_path / f"v{v}", data.astype(np.float32) + v, affine, series_uid="1.2.826.0.1.9",
                                 study_uid="1.2.826.0.1.8")
        for path in vol.iterdir():
            ds = pydicom.dcmread(path)
            _resave(path, InstanceNumber=int(ds.InstanceNumber) + (v - 1) * data.shape[2], **tags(v))
            path.rename(folder / f"IM-{v}-{path.name}")
    return folder


def test_multi_volume_series_is_named(tmp_path):
    folder = _volumes_folder(tmp_path, lambda v: {"TemporalPositionIdentifier": v, "AcquisitionNumber": v})
    with pytest.raises(CaseError, match=r"2 volumes of 10 slices .*multi-volume.* TemporalPositionIdentifier \(1, 2\)"
                       r".*copy one volume's files"):
        load_dicom_series(folder, "00001")


def test_multi_volume_told_apart_by_instance_numbers(tmp_path):
    folder = _volumes_folder(tmp_path, lambda v: {})
    with pytest.raises(CaseError, match=r"2 volumes .*InstanceNumber ranges \(1-10, 11-20\)"):
        load_dicom_series(folder, "00001")


def test_duplicate_slice_is_still_called_so(series):
    shutil.copy(series[0] / "Image-3.dcm", series[0] / "copy.dcm")
    with pytest.raises(CaseError, match="duplicate slices"):
        load_dicom_series(series[0], "00001")


def _item(**values):
    from pydicom.dataset import Dataset

    item = Dataset()
    for key, value in values.items():
        setattr(item, key, value)
    return item


def _to_enhanced_mr(folder, path):
    """Merge a single-frame series into one Enhanced MR file (per-frame positions, shared geometry), frames shuffled."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import EnhancedMRImageStorage, ExplicitVRLittleEndian, generate_uid

    slices = [pydicom.dcmread(p) for p in sorted(folder.iterdir())]
    slices = [slices[i] for i in np.random.default_rng(2).permutation(len(slices))]
    first = slices[0]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = EnhancedMRImageStorage, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = _item(SOPClassUID=EnhancedMRImageStorage, SOPInstanceUID=meta.MediaStorageSOPInstanceUID)
    ds.file_meta, ds.preamble = meta, b"\0" * 128
    for key in ("Modality", "PatientID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "Rows",
                "Columns", "SamplesPerPixel", "PhotometricInterpretation", "BitsAllocated", "BitsStored", "HighBit",
                "PixelRepresentation"):
        setattr(ds, key, getattr(first, key))
    ds.NumberOfFrames = len(slices)
    ds.SharedFunctionalGroupsSequence = [_item(
        PlaneOrientationSequence=[_item(ImageOrientationPatient=first.ImageOrientationPatient)],
        PixelMeasuresSequence=[_item(PixelSpacing=first.PixelSpacing, SliceThickness=first.SliceThickness)],
        PixelValueTransformationSequence=[_item(RescaleSlope=first.RescaleSlope, RescaleIntercept=first.RescaleIntercept,
                                                RescaleType="US")])]
    ds.PerFrameFunctionalGroupsSequence = [_item(
        PlanePositionSequence=[_item(ImagePositionPatient=s.ImagePositionPatient)],
        FrameContentSequence=[_item(InStackPositionNumber=int(s.InstanceNumber), StackID="1")]) for s in slices]
    ds.PixelData = b"".join(s.PixelData for s in slices)
    ds.save_as(path, enforce_file_format=True)


def test_enhanced_mr_multi_frame_equals_single_frames(series, tmp_path):
    folder = series[0]
    (tmp_path / "enhanced").mkdir()
    _to_enhanced_mr(folder, tmp_path / "enhanced" / "multiframe.dcm")
    single, multi = load_dicom_series(folder, "00001"), load_dicom_series(tmp_path / "enhanced", "00001")
    np.testing.assert_array_equal(multi.data, single.data)
    np.testing.assert_array_equal(multi.affine, single.affine)


def test_multi_frame_without_per_frame_groups(series, tmp_path):
    (tmp_path / "mf").mkdir()
    path = tmp_path / "mf" / "multiframe.dcm"
    _to_enhanced_mr(series[0], path)
    ds = pydicom.dcmread(path)
    del ds.PerFrameFunctionalGroupsSequence
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(CaseError, match="10 frames has no PerFrameFunctionalGroupsSequence") as info:
        load_dicom_series(tmp_path / "mf", "00001")
    assert info.value.file == str(path)


def test_stray_non_dicom_file_is_skipped_with_a_warning(series):
    folder = series[0]
    expected = load_dicom_series(folder, "00001").data
    (folder / "README-Series.txt").write_text("Series exported by the scanner console\n")
    with pytest.warns(UserWarning, match="case 00001: .*1 file.*not DICOM images, skipped: README-Series.txt"):
        vol = load_dicom_series(folder, "00001")
    np.testing.assert_array_equal(vol.data, expected)


def test_folder_without_any_dicom_file(tmp_path):
    folder = tmp_path / "FLAIR"
    folder.mkdir()
    (folder / "README-Series.txt").write_text("nothing here\n")
    with pytest.raises(CaseError, match=r"only non-DICOM files \(README-Series.txt\)"):
        load_dicom_series(folder, "00001")


def test_jpeg_lossless_series_reads_like_uncompressed(series):
    import imagecodecs
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGLosslessSV1

    folder = series[0]
    expected = load_dicom_series(folder, "00001")
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        stored = ds.pixel_array.astype(np.uint16)  # the fixture's values are positive: same bits signed or not
        ds.PixelData = encapsulate([imagecodecs.jpeg8_encode(stored, lossless=True, predictor=1, bitspersample=16)])
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
        ds.save_as(path, enforce_file_format=True)
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.70"
    vol = load_dicom_series(folder, "00001")
    np.testing.assert_array_equal(vol.data, expected.data)
    np.testing.assert_array_equal(vol.affine, expected.affine)


def test_frame_of_reference_must_be_one(series):
    path = series[0] / "Image-4.dcm"
    before = str(pydicom.dcmread(series[0] / "Image-1.dcm").FrameOfReferenceUID)
    _resave(path, FrameOfReferenceUID="1.2.826.0.1.7")
    with pytest.raises(CaseError, match="FrameOfReferenceUID") as info:
        load_dicom_series(series[0], "00001")
    assert before in info.value.reason and "1.2.826.0.1.7" in info.value.reason


def test_monochrome1_is_inverted(series):
    folder = series[0]
    expected = load_dicom_series(folder, "00001").data
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        # MONOCHROME1 stores the mirror image of the signed 16-bit range: -32768 + 32767 - v
        _resave(path, PhotometricInterpretation="MONOCHROME1",
                PixelData=(-1 - ds.pixel_array.astype(np.int32)).astype("<i2").tobytes())
    np.testing.assert_array_equal(load_dicom_series(folder, "00001").data, expected)


def test_modality_lut_sequence_is_applied(tmp_path):
    data, affine = lps_image()
    folder = write_dicom_series(tmp_path / "lut", data.astype(np.float32), affine)
    lut = _item(LUTDescriptor=[1000, 0, 16], ModalityLUTType="US", LUTData=(2 * np.arange(1000) + 7).astype("<u2").tobytes())  # OW
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        del ds.RescaleSlope, ds.RescaleIntercept
        ds.ModalityLUTSequence = [lut]
        ds.save_as(path, enforce_file_format=True)
    plain = load_dicom_series(write_dicom_series(tmp_path / "plain", data.astype(np.float32), affine), "00001")
    np.testing.assert_array_equal(load_dicom_series(folder, "00001").data, plain.data * 2 + 7)


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
