"""Your own cohort: BraTS 2023+ folders and manifests as layout entries, one reader path, --modalities, bad input."""

import csv
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from mgmtfeat.cli import make_clips as make_clips_cli
from mgmtfeat.clips import ClipSettings, load_case_clips
from mgmtfeat.clips.dataset import convert_dataset
from mgmtfeat.data import synthetic
from mgmtfeat.data.layouts import LAYOUT_SPECS, LAYOUTS, MANIFEST, detect_layout, find_cases
from mgmtfeat.data.nifti import load_nifti, write_nifti

SHAPE = (40, 40, 24)
SMALL = ClipSettings(n_frames=16, box_size=32)
SMALL_ARGS = ["--frames", "16", "--box-size", "32", "--quiet", "--no-preview"]
SERIES = ("flair", "t1", "t1ce", "t2")


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """The same two synthetic cases as BraTS 2021, BraTS 2023 and RSNA DICOM folders (one seed)."""
    root = tmp_path_factory.mktemp("copies")
    return {layout: synthetic.write_cohort(root / layout, layout, n_cases=2, shape=SHAPE, seed=7)
            for layout in ("brats2021", "brats2023", "rsna_dicom")}


def _manifest(path: Path, rows: list[dict], header=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = header or list(rows[0])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([[row.get(h, "") for h in header] for row in rows])
    return path


def _manifest_of(cohort: Path, csv_path: Path, metadata: bool = True) -> Path:
    """A manifest listing a folder cohort's files by paths relative to the CSV, ids P<number>, its labels."""
    rows = []
    for ref in find_cases(cohort):
        row = {"case_id": f"P{ref.number}"}
        row.update({m: Path(os.path.relpath(p, csv_path.parent)).as_posix() for m, p in ref.paths.items()})
        if metadata:
            row.update({"mgmt": ref.label, "site": "A"})
        rows.append(row)
    return _manifest(csv_path, rows)


def _number(case_id: str) -> int:
    """The patient number in every id used here: BraTS2021_00086, BraTS-GLI-00086-000, 00086, P86."""
    return int((re.search(r"(\d{5})-\d{3}$", case_id) or re.search(r"(\d+)$", case_id)).group(1))


def _clips(out: Path) -> dict:
    """{case number: clips} of a make-clips output folder."""
    return {_number(path.stem): load_case_clips(path).clips for path in (out / "clips").glob("*.npz")}


def test_brats2023_names_detection_and_labels(copies, tmp_path):
    root = copies["brats2023"]
    assert detect_layout(root) == "brats2023"
    refs = find_cases(root)
    assert all(r.case_id.startswith("BraTS-GLI-") and r.case_id.endswith("-000") for r in refs)
    assert {p.name.split("-")[-1] for p in refs[0].paths.values()} == {"t2f.nii.gz", "t1n.nii.gz", "t1c.nii.gz",
                                                                         "t2w.nii.gz", "seg.nii.gz"}
    assert [r.label for r in refs] == [r.label for r in find_cases(copies["brats2021"])]  # from labels.csv
    seg = load_nifti(refs[0].paths["seg"], dtype=None).data
    assert 3 in seg and 4 not in seg  # enhancing tumour is 3 from BraTS 2023 on
    # every challenge's folders are recognised; ids keep the challenge and the time point
    for challenge in ("MET", "MEN", "PED", "SSA"):
        other = tmp_path / challenge
        (other / f"BraTS-{challenge}-00012-001").mkdir(parents=True)
        assert detect_layout(other) == "brats2023"
        assert find_cases(other)[0].case_id == f"BraTS-{challenge}-00012-001"
        assert find_cases(other)[0].number == 12


def test_every_layout_goes_through_the_one_reader_path(copies, tmp_path, monkeypatch):
    import mgmtfeat.clips.case as path_module
    import mgmtfeat.data.volumes as volumes
    from mgmtfeat.extraction.worker import read_clips

    seen, readers = [], []
    real_load, real_nifti, real_dicom = path_module.load_case, volumes.load_nifti, volumes.load_dicom_series
    monkeypatch.setattr(path_module, "load_case", lambda ref, **kw: seen.append(ref.layout) or real_load(ref, **kw))
    monkeypatch.setattr(volumes, "load_nifti", lambda *a, **kw: readers.append("nifti") or real_nifti(*a, **kw))
    monkeypatch.setattr(volumes, "load_dicom_series",
                        lambda *a, **kw: readers.append("dicom") or real_dicom(*a, **kw))
    ucsf = synthetic.write_cohort(tmp_path / "ucsf", "ucsf_pdgm", n_cases=2, shape=SHAPE, seed=7)
    datasets = {**copies, "ucsf_pdgm": ucsf, "manifest": _manifest_of(copies["rsna_dicom"], tmp_path / "m" / "c.csv")}
    assert set(datasets) == set(LAYOUTS) | {MANIFEST}
    for layout, data in datasets.items():
        seen.clear(), readers.clear()
        report = convert_dataset(data, tmp_path / f"out-{layout}", SMALL, preview=False, progress=False)
        assert report.ok and len(report.converted) == 2
        read_clips(find_cases(data)[0], SMALL)  # the extraction's path
        assert seen == [layout] * 3, layout
        dicom = LAYOUT_SPECS[layout].reader == "dicom" or layout == "manifest"  # this manifest lists DICOM folders
        assert set(readers) == {"dicom" if dicom else "nifti"}, layout


def test_manifest_and_brats2023_copies_give_the_brats2021_clips(copies, tmp_path):
    outs = {}
    datasets = {"brats2021": copies["brats2021"], "brats2023": copies["brats2023"],
                "manifest": _manifest_of(copies["brats2023"], tmp_path / "elsewhere" / "cohort.csv")}
    for name, data in datasets.items():
        assert make_clips_cli.main(["--data", str(data), "--out", str(tmp_path / name), *SMALL_ARGS]) == 0
        outs[name] = _clips(tmp_path / name)
    assert len(outs["brats2021"]) == 2 and outs["brats2021"].keys() == outs["brats2023"].keys() == outs["manifest"].keys()
    for name in ("brats2023", "manifest"):
        for number, clips in outs["brats2021"].items():
            assert clips.keys() == outs[name][number].keys()
            for modality, clip in clips.items():
                assert np.array_equal(outs[name][number][modality], clip), (name, number, modality)
    # DICOM series folders listed in a manifest read exactly as the RSNA layout reads them
    rsna = {"rsna_dicom": copies["rsna_dicom"], "manifest": _manifest_of(copies["rsna_dicom"], tmp_path / "r.csv")}
    made = {}
    for name, data in rsna.items():
        convert_dataset(data, tmp_path / f"dicom-{name}", SMALL, preview=False, progress=False)
        made[name] = _clips(tmp_path / f"dicom-{name}")
    for number, clips in made["rsna_dicom"].items():
        for modality, clip in clips.items():
            assert np.array_equal(made["manifest"][number][modality], clip)


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_bad_manifest_cases_are_recorded_and_the_others_go_on(copies, tmp_path):
    good = find_cases(copies["brats2021"])[0]
    files = {m: str(p) for m, p in good.paths.items()}  # absolute paths are accepted too
    seg = load_nifti(good.paths["seg"], dtype=None)
    crooked = write_nifti(tmp_path / "crooked_seg.nii.gz", seg.data[:, :, :20], seg.affine)
    rows = [
        {"case_id": "good", **files, "mgmt": "1"},
        {"case_id": "missing", **files, "t1": "nowhere/t1.nii.gz", "mgmt": "0"},
        {"case_id": "empty", **files, "t2": "", "mgmt": "0"},
        {"case_id": "twice", **files, "mgmt": "0"},
        {"case_id": "twice", **files, "mgmt": "0"},
        {"case_id": "crooked", **files, "seg": str(crooked), "mgmt": "1"},
        {"case_id": "unlabelled", **files, "mgmt": "2"},
        {"case_id": "", **files, "mgmt": "1"},
    ]
    manifest = _manifest(tmp_path / "cohort.csv", rows, ["case_id", *SERIES, "seg", "mgmt"])
    out = tmp_path / "out"
    assert make_clips_cli.main(["--data", str(manifest), "--out", str(out), *SMALL_ARGS]) == 1
    failures = {f["case_id"]: f for f in _rows(out / "failures.csv")}
    assert set(failures) == {"missing", "empty", "twice", "crooked", "unlabelled", "line9"}
    assert [r["case_id"] for r in _rows(out / "cases.csv")] == ["good"]
    assert failures["missing"]["file"].endswith("nowhere/t1.nii.gz")
    assert "t1 file (or series folder) is missing" in failures["missing"]["reason"]
    assert "relative to the manifest" in failures["missing"]["reason"]
    assert "t2 has no file" in failures["empty"]["reason"] and "--modalities" in failures["empty"]["reason"]
    assert "lines 5, 6" in failures["twice"]["reason"] and "one row" in failures["twice"]["reason"]
    assert failures["crooked"]["file"] == str(crooked) and "a mask must be on its image's grid" in \
        failures["crooked"]["reason"]
    assert failures["unlabelled"]["file"] == str(manifest) and "line 8" in failures["unlabelled"]["reason"]
    assert "outside the task's classes" in failures["unlabelled"]["reason"]
    assert "line 9: the case_id cell is empty" in failures["line9"]["reason"]
    # a series left out on purpose: the case without T2 is no longer an error
    assert make_clips_cli.main(["--data", str(manifest), "--out", str(tmp_path / "out2"), *SMALL_ARGS,
                                "--modalities", "flair,t1ce,delta_t1"]) == 1
    failed = {f["case_id"] for f in _rows(tmp_path / "out2" / "failures.csv")}
    assert failed == {"missing", "twice", "crooked", "unlabelled", "line9"}
    empty = load_case_clips(tmp_path / "out2" / "clips" / "empty.npz")
    assert set(empty.clips) == {"flair", "t1ce", "delta_t1"}
    assert empty.meta["settings"]["modalities"] == ["flair", "t1ce", "delta_t1"]


@pytest.mark.parametrize("header, message", [
    (["case_id", "flair", "t1", "T1c", "t2"], "unknown column 'T1c' names image files; rename it to t1ce"),
    (["case_id", "flair", "t1", "t1ce", "t2", "t1"], r"column\(s\) \['t1'\] appear more than once"),
    (["case_id", "flair", "t1", "t1ce", "t2", "other_scan"], "unknown column 'other_scan' names image files"),
    (["id", "flair", "t1", "t1ce", "t2"], "no case_id column"),
    (["case_id", "FLAIR", "t1", "t1ce", "t2"], "unknown column 'FLAIR' names image files; rename it to flair"),
])
def test_bad_manifest_columns_refuse_the_manifest(copies, tmp_path, capsys, header, message):
    files = [str(p) for m, p in find_cases(copies["brats2021"])[0].paths.items() if m != "seg"]
    manifest = _manifest(tmp_path / "bad.csv", [dict(zip(header, ["x", *files, files[0]]))], header)
    assert make_clips_cli.main(["--data", str(manifest), "--out", str(tmp_path / "o"), *SMALL_ARGS]) == 2
    err = capsys.readouterr().err
    assert str(manifest) in err
    assert re.search(message, err), err


def test_a_brats2023_case_lacking_a_series_fails_alone(copies, tmp_path):
    root = shutil.copytree(copies["brats2023"], tmp_path / "b23")
    first, second = find_cases(root)
    first.paths["t2"].unlink()
    out = tmp_path / "out"
    assert make_clips_cli.main(["--data", str(root), "--out", str(out), *SMALL_ARGS]) == 1
    (failure,) = _rows(out / "failures.csv")
    assert failure["case_id"] == first.case_id and failure["file"].endswith(f"{first.case_id}-t2w.nii.gz")
    assert "every BraTS 2023 case has" in failure["reason"] and "--modalities" in failure["reason"]
    assert [r["case_id"] for r in _rows(out / "cases.csv")] == [second.case_id]
    assert make_clips_cli.main(["--data", str(root), "--out", str(tmp_path / "o2"), *SMALL_ARGS,
                                "--modalities", "t1ce,delta_t1"]) == 0


def test_the_manifest_is_its_own_label_file(copies, tmp_path):
    from mgmtfeat.store.labels import read_task_labels

    manifest = _manifest_of(copies["brats2021"], tmp_path / "cohort.csv")
    refs = find_cases(manifest)
    assert [r.label for r in refs] == [r.label for r in find_cases(copies["brats2021"])]
    task = read_task_labels(manifest, [r.case_id for r in refs], label_column="mgmt")  # what cv/fit --labels read
    assert task.case_ids == tuple(r.case_id for r in refs) and list(task.y) == [r.label for r in refs]
    other = _manifest(tmp_path / "labels.csv", [{"case_id": r.case_id, "mgmt": 1} for r in refs])
    assert {r.label for r in find_cases(manifest, labels=other)} == {1}  # --labels overrides the manifest's column


def test_extract_makes_only_the_chosen_modalities(copies, tmp_path):
    from mgmtfeat.cli import extract
    from mgmtfeat.store import FeatureStore

    manifest = _manifest_of(copies["brats2021"], tmp_path / "cohort.csv")
    store = tmp_path / "store"
    assert extract.main(["--data", str(manifest), "--out", str(store), "--net", "slowfast", "--weights", "random",
                         "--net-frames", "8", "--net-size", "64", "--threads", "1", "--quiet",
                         "--frames", "16", "--box-size", "32", "--modalities", "t2,t1ce"]) == 0
    features, _, _ = FeatureStore(store).read_case("slowfast", "P" + str(find_cases(manifest)[0].number))
    assert sorted(features) == ["t1ce", "t2"] and all(v.shape == (400,) for v in features.values())
    assert FeatureStore(store).provenance("slowfast")["clips"]["modalities"] == ["t1ce", "t2"]
