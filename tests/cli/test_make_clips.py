"""Tests for the make_clips command (and mgmtfeat.clips.dataset behind it)."""

import csv

import pytest

from mgmtfeat import MODALITIES
from mgmtfeat.data import synthetic
from mgmtfeat.clips import load_case_clips, stack, to_frames
from mgmtfeat.data.layouts import find_cases
from mgmtfeat.cli.make_clips import main
from mgmtfeat.data.volumes import load_case

SHAPE = (48, 48, 24)


@pytest.fixture
def brats(tmp_path):
    return synthetic.write_cohort(tmp_path / "brats", "brats2021", n_cases=3, shape=SHAPE, seed=11)


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_converts_a_cohort(brats, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--data", str(brats), "--out", str(out), "--quiet"]) == 0
    refs = find_cases(brats)
    for ref in refs:
        cc = load_case_clips(out / "clips" / f"{ref.case_id}.npz")
        assert stack(cc).shape == (5, 150, 128, 128) and cc.label == ref.label
        assert (out / "previews" / f"{ref.case_id}.png").is_file()
        # the box holds the whole tumour
        seg = to_frames(load_case(ref).seg.data > 0)
        r0, c0, side = cc.meta["box"]
        z0, z1 = cc.meta["frames"]
        assert seg[max(z0, 0):z1, max(r0, 0):r0 + side, max(c0, 0):c0 + side].sum() == seg.sum()
    assert [r["case_id"] for r in _rows(out / "cases.csv")] == [r.case_id for r in refs]
    assert _rows(out / "failures.csv") == []
    assert "3 converted" in capsys.readouterr().out


def test_resume_settings_guard_and_force(brats, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--data", str(brats), "--out", str(out), "--quiet", "--no-preview"]) == 0
    first = (out / "clips").stat().st_mtime_ns, sorted(p.stat().st_mtime_ns for p in (out / "clips").iterdir())
    assert main(["--data", str(brats), "--out", str(out), "--quiet", "--no-preview"]) == 0
    assert "0 converted, 3 already done" in capsys.readouterr().out
    assert sorted(p.stat().st_mtime_ns for p in (out / "clips").iterdir()) == first[1]
    # other settings in the same folder: refused without --force
    assert main(["--data", str(brats), "--out", str(out), "--quiet", "--no-preview", "--box", "brain"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert main(["--data", str(brats), "--out", str(out), "--quiet", "--no-preview", "--box", "brain",
                 "--force"]) == 0
    assert "3 converted" in capsys.readouterr().out
    cc = load_case_clips(next((out / "clips").iterdir()))
    assert cc.meta["box_source"] == ["brain_extent"]


def test_failing_case_is_reported_and_others_go_on(brats, tmp_path, capsys):
    refs = find_cases(brats)
    broken = refs[1].paths["flair"]
    raw = broken.read_bytes()
    broken.write_bytes(raw[: len(raw) // 2])  # truncated gzip
    refs[2].paths["t2"].unlink()  # missing modality
    out = tmp_path / "out"
    assert main(["--data", str(brats), "--out", str(out), "--quiet", "--video", "mp4"]) == 1
    failures = _rows(out / "failures.csv")
    assert [f["case_id"] for f in failures] == [refs[1].case_id, refs[2].case_id]
    assert failures[0]["file"] == str(broken) and "truncated or corrupt" in failures[0]["reason"]
    assert failures[1]["file"].endswith("_t2.nii.gz") and "missing" in failures[1]["reason"]
    assert "failed: case" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "clips").iterdir()) == [f"{refs[0].case_id}.npz"]
    assert sorted(p.name for p in (out / "videos" / refs[0].case_id).iterdir()) == sorted(
        f"{m}.mp4" for m in MODALITIES)
    assert not (out / "videos" / refs[1].case_id).exists() or not any((out / "videos" / refs[1].case_id).iterdir())
    leftovers = [p for p in out.rglob(".*")]
    assert leftovers == []  # nothing half-written
    assert [r["case_id"] for r in _rows(out / "cases.csv")] == [refs[0].case_id]


def test_rsna_dicom_with_box_csv_and_exclusion(tmp_path):
    root = synthetic.write_cohort(tmp_path / "rsna", "rsna_dicom", n_cases=3, shape=SHAPE, seed=12)
    refs = find_cases(root)
    boxes = tmp_path / "boxes.csv"
    boxes.write_text(f"case_id,row,col\n{refs[0].case_id},3,4\n")
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="clamped to row=0, col=0"):  # the 48x48 image is inside the 128 box
        assert main(["--data", str(root), "--out", str(out), "--quiet", "--box-csv", str(boxes),
                     "--exclude", refs[2].case_id]) == 0
    done = sorted(p.stem for p in (out / "clips").iterdir())
    assert done == [refs[0].case_id, refs[1].case_id]
    meta = load_case_clips(out / "clips" / f"{refs[0].case_id}.npz").meta
    assert meta["box_source"] == ["csv"] and meta["box"] == [0, 0, 128]  # as a segmentation's box would be
    assert load_case_clips(out / "clips" / f"{refs[1].case_id}.npz").meta["box_source"] == ["brain_extent"]
    # requiring a segmentation fails every RSNA case, with a reason
    out2 = tmp_path / "out2"
    assert main(["--data", str(root), "--out", str(out2), "--quiet", "--box", "seg"]) == 1
    assert all("segmentation is absent" in f["reason"] for f in _rows(out2 / "failures.csv"))



def test_box_csv_outside_the_image_fails_its_case_and_a_partial_box_is_clamped(brats, tmp_path):
    refs = find_cases(brats)
    boxes = tmp_path / "boxes.csv"  # images are 48x48; a 32 box at 40,-10 is partly outside
    boxes.write_text(f"case_id,row,col\n{refs[0].case_id},1000,1000\n{refs[1].case_id},40,-10\n"
                     f"{refs[2].case_id},-500,-500\n")
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="clamped"):
        code = main(["--data", str(brats), "--out", str(out), "--quiet", "--no-preview", "--box", "csv",
                     "--box-csv", str(boxes), "--box-size", "32"])
    assert code == 1
    failures = _rows(out / "failures.csv")
    assert [f["case_id"] for f in failures] == [refs[0].case_id, refs[2].case_id]
    assert all(f["file"] == str(boxes) and "misses the flair image of 48 rows x 48 columns" in f["reason"]
               for f in failures)
    assert "line 4 (row=-500, col=-500)" in failures[1]["reason"]
    assert sorted(p.stem for p in (out / "clips").iterdir()) == [refs[1].case_id]  # no blank clips stored
    cc = load_case_clips(out / "clips" / f"{refs[1].case_id}.npz")
    assert cc.meta["box"] == [16, 0, 32] and "clamped to row=16, col=0" in cc.meta["notes"][0]


def test_help_and_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--data", "--out", "--force", "--box-csv", "--large-tumour", "--delta-grid", "--video",
                   "--exclude-flagged", "--no-preview"):
        assert option in text
    assert main(["--data", str(tmp_path / "absent"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_python_dash_m_entry_point(brats, tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "mgmtfeat.make_clips", "--data", str(brats), "--out",
                           str(tmp_path / "o"), "--quiet", "--no-preview", "--exclude",
                           *[r.case_id for r in find_cases(brats)[1:]]], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "o" / "clips").iterdir())) == 1


def test_t1_t1ce_on_different_grids(tmp_path):
    root = synthetic.write_cohort(tmp_path / "rsna", "rsna_dicom", n_cases=2, shape=SHAPE, seed=13,
                                  coregistered=False)
    out = tmp_path / "out"
    # on the native grids, delta-T1 follows --delta-grid
    assert main(["--data", str(root), "--out", str(out), "--quiet", "--no-preview", "--spacing", "native"]) == 1
    failures = _rows(out / "failures.csv")
    assert len(failures) == 2 and all("T1 and T1wCE grids differ" in f["reason"] for f in failures)
    assert all(f["file"].endswith("T1w") for f in failures)
    assert main(["--data", str(root), "--out", str(tmp_path / "out2"), "--quiet", "--delta-grid", "resample",
                 "--spacing", "native"]) == 0
    cc = load_case_clips(next((tmp_path / "out2" / "clips").iterdir()))
    assert cc.meta["delta_t1"] == {"delta_grid": "t1_resampled_to_t1ce"}
    assert cc.clips["delta_t1"].any()
    # on the 1 mm clip grid (the default), T1 is resampled onto the T1wCE's grid first, and recorded
    assert main(["--data", str(root), "--out", str(tmp_path / "out3"), "--quiet", "--no-preview"]) == 0
    cc = load_case_clips(next((tmp_path / "out3" / "clips").iterdir()))
    assert cc.meta["delta_t1"] == {"delta_grid": "shared"} and list(cc.meta["geometry"]["resampled"]) == ["t1"]


def test_force_rerun_drops_stale_clips_of_a_failing_case(brats, tmp_path):
    out = tmp_path / "out"
    assert main(["--data", str(brats), "--out", str(out), "--quiet", "--no-preview"]) == 0
    ref = find_cases(brats)[0]
    ref.paths["t1"].write_bytes(b"")
    assert main(["--data", str(brats), "--out", str(out), "--quiet", "--no-preview", "--force"]) == 1
    assert not (out / "clips" / f"{ref.case_id}.npz").exists()
    assert ref.case_id not in [r["case_id"] for r in _rows(out / "cases.csv")]


def test_parallel_workers_write_exactly_the_same_folder(brats, tmp_path):
    refs = find_cases(brats)
    refs[1].paths["t2"].unlink()  # one failure, recorded once whatever runs it
    here, pool = tmp_path / "here", tmp_path / "pool"
    assert main(["--data", str(brats), "--out", str(here), "--quiet", "--no-preview"]) == 1
    assert main(["--data", str(brats), "--out", str(pool), "--quiet", "--no-preview", "--jobs", "2"]) == 1
    for name in ("cases.csv", "failures.csv", "settings.json"):
        assert (here / name).read_text() == (pool / name).read_text(), name
    assert len(_rows(pool / "failures.csv")) == 1
    for ref in (refs[0], refs[2]):
        a, b = stack(load_case_clips(here / "clips" / f"{ref.case_id}.npz")), \
            stack(load_case_clips(pool / "clips" / f"{ref.case_id}.npz"))
        assert (a == b).all()
