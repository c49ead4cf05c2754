"""Tests for mgmtfeat.clips: percentile scaling, the tumour box, 150 frames, delta-T1."""

import json
from pathlib import Path

import numpy as np
import pytest

from mgmtfeat import MODALITIES
from mgmtfeat.data import synthetic
from mgmtfeat.clips import (BoxSpec, ClipSettings, load_case_clips, make_clips, read_box_csv,
                            save_case_clips, scale_to_uint8, stack, to_frames)
from mgmtfeat.data.layouts import CaseRef, find_cases
from mgmtfeat.data.errors import CaseError
from mgmtfeat.data.volumes import Case, Volume, load_case

EXACT = ClipSettings(percentile_sample=0)


def _case(shape=(200, 190, 160), tumour=((120, 160), (110, 150), (100, 121)), seed=0, seg=True,
          t1_shape=None, t1_affine=None):
    """A case built from arrays; tumour = ((x0, x1), (y0, y1), (z0, z1)) half-open in RAS voxels."""
    rng = np.random.default_rng(seed)
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    brain = np.zeros(shape, bool)
    brain[10:-10, 10:-10, 5:-5] = True
    vols = {}
    for m in ("flair", "t1", "t1ce", "t2"):
        data = np.where(brain, rng.random(shape, dtype=np.float32) * 800 + 100, np.float32(0))
        vols[m] = Volume(data, affine, Path(f"{m}.nii.gz"))
    if t1_shape is not None or t1_affine is not None:
        s = t1_shape or shape
        data = rng.random(s, dtype=np.float32) * 800 + 100
        vols["t1"] = Volume(data, affine if t1_affine is None else t1_affine, Path("t1.nii.gz"))
    segvol = None
    if seg:
        labels = np.zeros(shape, np.uint8)
        (x0, x1), (y0, y1), (z0, z1) = tumour
        labels[x0:x1, y0:y1, z0:z1] = 2
        labels[x0 + 2:x1 - 2, y0 + 2:y1 - 2, z0 + 1:z1 - 1] = 4
        segvol = Volume(labels, affine, Path("seg.nii.gz"))
    ref = CaseRef("BraTS2021_00001", "brats2021", {m: f"{m}.nii.gz" for m in vols}, label=1)
    return Case(ref, vols, segvol)


def _tumour_in_clip(case, cc):
    """Tumour voxels inside the clip window and in total."""
    frames = to_frames(case.seg.data > 0)
    r0, c0, side = cc.meta["box"]
    z0, z1 = cc.meta["frames"]
    inside = frames[max(z0, 0):z1, max(r0, 0):r0 + side, max(c0, 0):c0 + side].sum()
    return int(inside), int(frames.sum())


def test_five_clips_shape_dtype_and_stack():
    cc = make_clips(_case())
    assert list(cc.clips) == list(MODALITIES)
    for clip in cc.clips.values():
        assert clip.shape == (150, 128, 128) and clip.dtype == np.uint8
    arr = stack(cc)
    assert arr.shape == (5, 150, 128, 128) and arr.dtype == np.uint8
    np.testing.assert_array_equal(arr[3], cc.clips["t2"])
    json.dumps(cc.meta)  # JSON-able
    assert cc.meta["box_source"] == ["seg"] and cc.label == 1


def test_box_corner_is_tumour_upper_left_and_holds_whole_tumour():
    case = _case()
    cc = make_clips(case)
    ext = cc.meta["tumour"]
    # frame rows run anterior->posterior (Y reversed), columns patient right->left (X reversed)
    ny, nx = 190, 200
    assert ext["row_min"] == ny - 150 and ext["row_max"] == ny - 1 - 110
    assert ext["col_min"] == nx - 160 and ext["col_max"] == nx - 1 - 120
    assert cc.meta["box"] == [ext["row_min"], ext["col_min"], 128]
    inside, total = _tumour_in_clip(case, cc)
    assert inside == total > 0
    # centred on the tumour along the slice axis: slices 100..120 -> centre 110, clamped to 155-150
    assert cc.meta["frames"] == [10, 160]


def test_box_clamped_to_image_near_the_edge():
    case = _case(tumour=((15, 40), (12, 40), (20, 40)))  # tumour near the bottom/right of the frame
    cc = make_clips(case)
    r0, c0, side = cc.meta["box"]
    assert r0 == 190 - 128 and c0 == 200 - 128
    inside, total = _tumour_in_clip(case, cc)
    assert inside == total
    assert cc.meta["frames"] == [0, 150]  # centre 30 -> clamped at the first slice


def test_short_volume_is_padded_and_tumour_centred():
    case = _case(shape=(140, 140, 40), tumour=((50, 70), (50, 70), (10, 21)))
    cc = make_clips(case)
    start, stop = cc.meta["frames"]
    assert stop - start == 150 and start < 0
    clip = cc.clips["t1"]
    filled = np.flatnonzero(clip.reshape(150, -1).any(axis=1))
    # the brain occupies slices 5..34; slice k sits at frame k - start, zero frames around
    assert filled[0] == 5 - start and filled[-1] == 34 - start
    assert _tumour_in_clip(case, cc)[0] == _tumour_in_clip(case, cc)[1]


def test_small_image_is_padded_to_the_box():
    root_case = _case(shape=(60, 70, 30), tumour=((20, 30), (20, 30), (10, 15)))
    cc = make_clips(root_case)
    assert cc.clips["flair"].shape == (150, 128, 128)
    assert not cc.clips["flair"][:, 70:, :].any() and not cc.clips["flair"][:, :, 60:].any()


def test_percentile_scaling_exact():
    case = _case()
    cc = make_clips(case, EXACT)
    vol = case.volumes["t2"].data
    lo, hi = np.percentile(vol[vol != 0], [1, 99])
    frames = to_frames(vol)
    r0, c0, side = cc.meta["box"]
    z0, z1 = cc.meta["frames"]
    window = frames[z0:z1, r0:r0 + side, c0:c0 + side]
    want = np.clip(np.rint((window - lo) * (255 / (hi - lo))), 0, 255)
    want[window == 0] = 0
    # uint8 grey levels: the clip maker scales in float32, the formula here in float64, so a value on a .5
    # boundary may round to the neighbouring level: 1 grey level, while a wrong window or scale is off by tens
    np.testing.assert_allclose(cc.clips["t2"], want, rtol=0, atol=1)
    brain = window != 0
    assert cc.clips["t2"][brain].max() == 255 and np.percentile(cc.clips["t2"][brain], 50) > 50


def test_subsampled_percentiles_close_to_exact():
    case = _case()
    fast, exact = make_clips(case), make_clips(case, EXACT)
    diff = np.abs(fast.clips["flair"].astype(int) - exact.clips["flair"])
    assert diff.mean() < 1.5


def test_scale_to_uint8():
    out = scale_to_uint8(np.array([-5, 0, 5, 10, 20], np.float32), 0.0, 10.0,
                         np.array([True, True, True, True, False]))
    np.testing.assert_array_equal(out, [0, 0, 128, 255, 0])


def test_delta_t1_subtracts_before_scaling():
    case = _case()
    t1 = case.volumes["t1"].data
    noise = np.random.default_rng(3).normal(0, 20, t1.shape).astype(np.float32)
    t1ce = np.where(t1 != 0, t1 + noise, 0).astype(np.float32)
    t1ce[120:160, 110:150, 100:121] += 2000  # enhancement only in part of the tumour region
    case.volumes["t1ce"] = Volume(t1ce, case.volumes["t1"].affine, Path("t1ce.nii.gz"))
    cc = make_clips(case, EXACT)
    diff = to_frames(t1ce - t1)
    r0, c0, side = cc.meta["box"]
    z0, z1 = cc.meta["frames"]
    window = diff[z0:z1, r0:r0 + side, c0:c0 + side]
    enhanced = window > 1000
    brain = to_frames(t1)[z0:z1, r0:r0 + side, c0:c0 + side] != 0
    assert cc.clips["delta_t1"][enhanced].min() == 255  # enhancement is bright
    rest = cc.clips["delta_t1"][~enhanced & brain]
    assert 110 < rest.mean() < 145  # zero-mean noise sits mid-range: the difference was scaled, not each
    # scaling each image before subtracting would not give this: check against the direct formula
    lo, hi = np.percentile((t1ce - t1)[(t1ce != 0) | (t1 != 0)], [1, 99])
    want = np.clip(np.rint((window - lo) * (255 / (hi - lo))), 0, 255)
    np.testing.assert_allclose(cc.clips["delta_t1"][brain], want[brain], rtol=0, atol=1)  # 1 level, as for t2
    assert cc.meta["delta_t1"] == {"delta_grid": "shared"}


def test_mismatched_t1_grids_are_an_error():
    with pytest.raises(CaseError, match="T1 and T1wCE grids differ") as info:
        make_clips(_case(t1_shape=(200, 190, 150), seg=False))
    assert "resample" in info.value.reason and info.value.file == "t1.nii.gz"
    shifted = np.eye(4)
    shifted[0, 3] = 5.0
    with pytest.raises(CaseError, match="grids differ"):
        make_clips(_case(t1_affine=shifted, seg=False))
    cc = make_clips(_case(t1_affine=shifted, seg=False), ClipSettings(delta_grid="resample"))
    assert cc.meta["delta_t1"] == {"delta_grid": "t1_resampled_to_t1ce"}


def test_segmentation_on_other_grid_is_an_error():
    case = _case()
    case.seg = Volume(case.seg.data[:, :, :150], case.seg.affine, case.seg.path)
    with pytest.raises(CaseError, match="segmentation grid"):
        make_clips(case)


@pytest.mark.parametrize("rule", ["corner", "centre", "resize", "error"])
def test_tumour_larger_than_box(rule):
    case = _case(tumour=((20, 180), (30, 170), (60, 100)))  # 160 x 140 voxels in-plane
    settings = ClipSettings(large_tumour=rule)
    if rule == "error":
        with pytest.raises(CaseError, match="larger than"):
            make_clips(case, settings)
        return
    with pytest.warns(UserWarning, match="larger than"):
        cc = make_clips(case, settings)
    assert cc.meta["tumour_fits"] is False and cc.meta["notes"]
    assert cc.clips["t1ce"].shape == (150, 128, 128)
    r0, c0, side = cc.meta["box"]
    ext = cc.meta["tumour"]
    if rule == "corner":
        assert (r0, c0, side) == (ext["row_min"], ext["col_min"], 128)
    elif rule == "centre":
        assert r0 == (ext["row_min"] + ext["row_max"] + 1) // 2 - 64
    else:
        assert side == 160 and _tumour_in_clip(case, cc)[0] == _tumour_in_clip(case, cc)[1]


def test_without_segmentation_brain_fallback_and_csv(tmp_path):
    case = _case(seg=False)
    cc = make_clips(case)
    assert cc.meta["box_source"] == ["brain_extent"] and cc.meta["tumour"] is None
    # brain spans X 10..189, Y 10..179 -> box centred on it
    assert cc.meta["box"][:2] == [(10 + 180) // 2 - 64, (10 + 190) // 2 - 64]
    csv = tmp_path / "boxes.csv"
    csv.write_text("case_id,row,col,slice\nBraTS2021_00001,5,7,80\n")
    boxes = read_box_csv(csv)
    assert boxes[("BraTS2021_00001", None)] == BoxSpec(5, 7, 80)
    cc = make_clips(case, boxes=boxes)
    assert cc.meta["box_source"] == ["csv"] and cc.meta["box"] == [5, 7, 128]
    assert cc.meta["frames"] == [5, 155]
    with pytest.raises(CaseError, match="box='seg' requires"):
        make_clips(case, ClipSettings(box="seg"))
    with pytest.raises(CaseError, match="no row for this case"):
        make_clips(case, ClipSettings(box="csv"), boxes={})


def test_bad_box_csv(tmp_path):
    csv = tmp_path / "boxes.csv"
    csv.write_text("case,row\nx,1\n")
    with pytest.raises(ValueError, match="lacks column"):
        read_box_csv(csv)
    csv.write_text("case_id,row,col\nx,a,1\n")
    with pytest.raises(ValueError, match="integers"):
        read_box_csv(csv)
    csv.write_text("case_id,row,col,modality\nx,1,1,pet\n")
    with pytest.raises(ValueError, match="modality"):
        read_box_csv(csv)


def test_no_contrast_is_an_error():
    case = _case()
    data = np.where(case.volumes["t2"].data != 0, 500, 0).astype(np.float32)
    case.volumes["t2"] = Volume(data, case.volumes["t2"].affine, Path("t2.nii.gz"))
    with pytest.raises(CaseError, match="no contrast"):
        make_clips(case)


def test_settings_validation_and_provenance():
    assert ClipSettings().as_dict()["percentiles"] == [1.0, 99.0]
    json.dumps(ClipSettings().as_dict())
    for bad in ({"n_frames": 0}, {"box": "tumour"}, {"percentiles": (99, 1)}, {"large_tumour": "shrink"},
                {"delta_grid": "warp"}, {"percentile_sample": -1}):
        with pytest.raises(ValueError):
            ClipSettings(**bad)


def test_save_and_load_round_trip(tmp_path):
    cc = make_clips(_case())
    path = save_case_clips(tmp_path / "c.npz", cc)
    back = load_case_clips(path)
    assert back.case_id == cc.case_id and back.meta == json.loads(json.dumps(cc.meta))
    np.testing.assert_array_equal(stack(back), stack(cc))
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # no temporary file left
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(ValueError, match="unreadable"):
        load_case_clips(tmp_path / "bad.npz")


def test_synthetic_cases_in_every_layout(tmp_path):
    for layout in ("brats2021", "ucsf_pdgm", "rsna_dicom"):
        root = synthetic.write_cohort(tmp_path / layout, layout, n_cases=2, shape=(48, 48, 24), seed=4)
        for ref in find_cases(root):
            case = load_case(ref)
            cc = make_clips(case)
            assert stack(cc).shape == (5, 150, 128, 128)
            if case.seg is not None:
                inside, total = _tumour_in_clip(case, cc)
                assert inside == total > 0
            else:
                assert cc.meta["box_source"] == ["brain_extent"]


def test_placement_is_frozen_and_round_trips_through_the_clip_file(tmp_path):
    import dataclasses

    from mgmtfeat.clips.placement import Extent, Placement

    cc = make_clips(_case(shape=(60, 60, 30), tumour=((20, 30), (20, 30), (10, 15))),
                    ClipSettings(n_frames=16, box_size=32))
    saved = load_case_clips(save_case_clips(tmp_path / "c.npz", cc)).meta["clips"]["t1ce"]
    place = Placement.from_dict(saved)
    assert list(place.as_dict()) == ["source", "rule", "row0", "col0", "side", "slice_start", "slice_stop",
                                     "extent", "fits"]  # the keys clip files have always had
    assert place.as_dict() | {"grid_shape": saved["grid_shape"]} == saved
    assert isinstance(place.extent, Extent) and place.source == "seg"
    assert place.extent.height == place.extent.row_max - place.extent.row_min + 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        place.row0 = 0


def _box_file(tmp_path, *rows, header="case_id,row,col,slice"):
    csv = tmp_path / "boxes.csv"
    csv.write_text("\n".join([header, *rows]) + "\n")
    return csv


@pytest.mark.parametrize("corner", ["1000,1000", "-500,-500", "190,0", "0,-128"])
def test_a_csv_box_that_misses_the_image_refuses_the_case(tmp_path, corner):
    # rows run 0..189 (Y), columns 0..199 (X); a 128 box at row 190 or column -128 touches nothing
    csv = _box_file(tmp_path, f"BraTS2021_00001,{corner},")
    with pytest.raises(CaseError, match="misses the flair image of 190 rows x 200 columns") as info:
        make_clips(_case(seg=False), ClipSettings(box="csv"), read_box_csv(csv))
    assert info.value.file == str(csv) and info.value.case_id == "BraTS2021_00001"
    row, col = corner.split(",")
    assert f"line 2 (row={row}, col={col})" in info.value.reason and "upper-left corner" in info.value.reason


def test_a_csv_box_partly_outside_is_clamped_into_the_image_and_noted(tmp_path):
    case = _case(seg=False)
    inside = make_clips(case, ClipSettings(box="csv"), read_box_csv(_box_file(tmp_path, "BraTS2021_00001,0,72,80")))
    assert inside.meta["notes"] == [] and inside.meta["clips"]["t1ce"]["rule"] == "user_corner"
    csv = _box_file(tmp_path, "BraTS2021_00001,-20,150,80")
    with pytest.warns(UserWarning, match="clamped to row=0, col=72"):
        cc = make_clips(case, ClipSettings(box="csv"), read_box_csv(csv))
    assert cc.meta["box"] == [0, 72, 128]  # as the segmentation's box: inside the 190x200 image
    assert {p["rule"] for p in cc.meta["clips"].values()} == {"user_corner_clamped"}
    assert cc.meta["notes"] == [f"flair, t1, t1ce, t2: box file {csv}, line 2 (row=-20, col=150, slice=80): "
                                "box partly outside the 190x200 image, clamped to row=0, col=72"]
    np.testing.assert_array_equal(stack(cc), stack(inside))  # the same pixels, no zero padding


def test_a_csv_box_slice_outside_the_volume_refuses_the_case(tmp_path):
    csv = _box_file(tmp_path, "BraTS2021_00001,5,7,160")  # slices 0..159
    with pytest.raises(CaseError, match=r"line 2 \(row=5, col=7, slice=160\): slice 160 is outside .* 0\.\.159") as info:
        make_clips(_case(seg=False), ClipSettings(box="csv"), read_box_csv(csv))
    assert info.value.file == str(csv)
    csv = _box_file(tmp_path, "BraTS2021_00001,5,7,-1")
    with pytest.raises(CaseError, match="slice -1 is outside"):
        make_clips(_case(seg=False), ClipSettings(box="csv"), read_box_csv(csv))


def test_a_case_with_two_different_csv_boxes_is_refused(tmp_path):
    csv = _box_file(tmp_path, "BraTS2021_00001,5,7,80", "BraTS2021_00001,9,7,80")
    with pytest.raises(ValueError, match=r"two different boxes: line 2 \(row=5, col=7, slice=80\) and line 3"):
        read_box_csv(csv)
    same = read_box_csv(_box_file(tmp_path, "BraTS2021_00001,5,7,80", "BraTS2021_00001,5,7,80"))
    assert same == {("BraTS2021_00001", None): BoxSpec(5, 7, 80)}


def test_whole_brain_mode_resizes_the_brain_into_the_box_without_a_segmentation():
    case = _case(seg=False)  # brain: X 10..189, Y 10..179, Z 5..154 (frame rows 10..179, cols 10..189)
    cc = make_clips(case, ClipSettings(box="whole-brain", percentile_sample=0))
    assert cc.meta["box_source"] == ["whole_brain"] and cc.meta["settings"]["box"] == "whole-brain"
    p = cc.meta["clips"]["t1ce"]
    assert p["rule"] == "resized_brain_square" and p["side"] == 180  # the brain's larger side
    assert [p["row0"], p["col0"]] == [(10 + 180) // 2 - 90, 10]
    # 150 frames centred on the brain's slices 5..154 (centre 79), by the tumour clips' rule
    assert [p["slice_start"], p["slice_stop"]] == [4, 154]
    for m in MODALITIES:
        clip = cc.clips[m]
        assert clip.shape == (150, 128, 128)
        # content spans the brain: the whole width, and the rows of a 170-of-180 brain (5 voxels padding each side)
        cols = np.flatnonzero(clip[75].any(axis=0))
        rows = np.flatnonzero(clip[75].any(axis=1))
        assert cols[0] <= 1 and cols[-1] >= 126
        assert abs(rows[0] - 128 * 5 / 180) <= 2 and abs(rows[-1] - 128 * 175 / 180) <= 2
    # the tumour box mode on the same case is a full-resolution window that cuts the brain
    assert make_clips(case, ClipSettings(box="brain")).meta["clips"]["t1ce"]["side"] == 128


def test_whole_brain_mode_takes_a_healthy_scan_and_ignores_a_segmentation():
    case = _case(seg=True)
    cc = make_clips(case, ClipSettings(box="whole-brain"))
    assert cc.meta["box_source"] == ["whole_brain"] and cc.meta["tumour"] is None
    healthy = _case(seg=False, seed=3)
    assert make_clips(healthy, ClipSettings(box="whole-brain")).clips["flair"].any()
    blank = _case(seg=False)
    blank.volumes["t2"] = Volume(np.zeros_like(blank.volumes["t2"].data), np.eye(4), Path("t2.nii.gz"))
    with pytest.raises(CaseError, match="all zeros"):
        make_clips(blank, ClipSettings(box="whole-brain"))
