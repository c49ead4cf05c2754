"""Tests for mgmtfeat.synthetic: seeded cohorts in the three layouts, plausible phantoms."""

import hashlib

import numpy as np
import pandas as pd
import pydicom
import pytest

from mgmtfeat.data import synthetic
from mgmtfeat.data.layouts import find_cases
from mgmtfeat.data.volumes import load_case

SHAPE = (32, 32, 16)


def _digest(root):
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".dcm"):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_phantom_tissues_labels_and_contrasts():
    images, seg = synthetic.phantom(SHAPE, label=0, seed=1)
    assert set(images) == {"flair", "t1", "t1ce", "t2"}
    assert all(v.shape == SHAPE and v.dtype == np.int16 for v in images.values())
    assert set(np.unique(seg)) == {0, 1, 2, 4}
    brain = images["t1"] > 0
    assert brain.mean() > 0.2 and not brain[0, 0, 0]  # head-shaped, zero background
    assert np.all(brain[seg > 0])  # the tumour is inside the brain
    rim, core, oedema = seg == 4, seg == 1, seg == 2
    assert images["t1ce"][rim].mean() > 1.5 * images["t1"][rim].mean()  # enhancing rim
    assert images["t1ce"][core].mean() < images["t1ce"][rim].mean() / 2  # necrotic core is dark
    assert images["flair"][oedema].mean() > images["flair"][brain & (seg == 0)].mean()  # oedema bright


def test_label_changes_imaging():
    def core_fraction(label, seed):
        _, seg = synthetic.phantom(SHAPE, label=label, seed=seed)
        return (seg == 1).sum() / np.isin(seg, (1, 4)).sum()  # necrotic share of the tumour core

    methylated = np.mean([core_fraction(1, s) for s in range(6)])
    unmethylated = np.mean([core_fraction(0, s) for s in range(6)])
    assert methylated > unmethylated + 0.1


@pytest.mark.parametrize("layout", ["brats2021", "rsna_dicom", "ucsf_pdgm"])
def test_cohort_is_seeded_and_readable(tmp_path, layout):
    a = synthetic.write_cohort(tmp_path / "a", layout, n_cases=4, shape=SHAPE, seed=7)
    b = synthetic.write_cohort(tmp_path / "b", layout, n_cases=4, shape=SHAPE, seed=7)
    c = synthetic.write_cohort(tmp_path / "c", layout, n_cases=4, shape=SHAPE, seed=8)
    refs = find_cases(a)
    assert len(refs) == 4 and {r.layout for r in refs} == {layout}
    assert sorted(r.label for r in refs) == [0, 0, 1, 1]  # balanced
    case_a = load_case(refs[0])
    case_b = load_case(find_cases(b)[0])
    np.testing.assert_array_equal(case_a.volumes["t1ce"].data, case_b.volumes["t1ce"].data)
    assert not np.array_equal(case_a.volumes["t1ce"].data, load_case(find_cases(c)[0]).volumes["t1ce"].data) \
        or refs[0].case_id != find_cases(c)[0].case_id
    if layout != "rsna_dicom":
        assert _digest(a) == _digest(b) != _digest(c)  # byte-identical files for one seed


def test_rsna_series_are_real_dicom_in_mixed_planes(tmp_path):
    root = synthetic.write_cohort(tmp_path / "r", "rsna_dicom", n_cases=3, shape=SHAPE, seed=2)
    orientations = set()
    for path in root.glob("train/*/*/Image-1.dcm"):
        assert path.read_bytes()[128:132] == b"DICM"
        ds = pydicom.dcmread(path)
        assert ds.Modality == "MR" and ds.SOPClassUID == pydicom.uid.MRImageStorage
        orientations.add(tuple(round(float(v)) for v in ds.ImageOrientationPatient))
    assert len(list(root.glob("train/*/*/Image-1.dcm"))) == 12
    assert len(orientations) > 1
    labels = pd.read_csv(root / "train_labels.csv", dtype=str)
    assert list(labels.columns) == ["BraTS21ID", "MGMT_value"] and all(len(i) == 5 for i in labels.BraTS21ID)


def test_refuses_non_empty_root_and_bad_arguments(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file").write_text("keep me")
    with pytest.raises(FileExistsError):
        synthetic.write_cohort(tmp_path / "x", shape=SHAPE)
    with pytest.raises(ValueError, match="layout"):
        synthetic.write_cohort(tmp_path / "y", layout="nifti", shape=SHAPE)
    with pytest.raises(ValueError, match="n_cases"):
        synthetic.write_cohort(tmp_path / "z", n_cases=0, shape=SHAPE)


def test_command_line(tmp_path, capsys):
    from mgmtfeat import synthetic as command

    out = tmp_path / "ucsf"
    argv = ["--out", str(out), "--layout", "ucsf_pdgm", "--cases", "2", "--shape", "24", "24", "12"]
    assert command.main(argv) == 0
    assert len(find_cases(out)) == 2
    assert command.main(["--out", str(out), "--cases", "2"]) == 2  # refuses a non-empty folder
    assert "not empty" in capsys.readouterr().err
